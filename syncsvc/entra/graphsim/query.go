package graphsim

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// selectable lists the properties $select may name, by kind.
func selectable(kind, name string) bool {
	switch name {
	case "id", "createdDateTime", "deletedDateTime":
		return true
	}
	if kind == "user" {
		_, ok := userProps[name]
		return ok
	}
	return name == "mail" || name == "members" || groupProps[name] && !strings.HasSuffix(name, "@odata.bind")
}

// selectList reads $select, or gives the default properties.
func selectList(q *request, kind string) ([]string, answer, bool) {
	v := q.query.Get("$select")
	if v == "" {
		if kind == "user" {
			return defaultUserProps, answer{}, true
		}
		return defaultGroupProps, answer{}, true
	}
	var out []string
	for _, name := range strings.Split(v, ",") {
		name = strings.TrimSpace(name)
		if !selectable(kind, name) {
			return nil, badRequest(fmt.Sprintf("Could not find a property named '%s' on type 'microsoft.graph.%s'.", name, kind)), false
		}
		out = append(out, name)
	}
	if !slices.Contains(out, "id") {
		out = append([]string{"id"}, out...)
	}
	return out, answer{}, true
}

// project renders an object with the properties in sel; a property never
// set is null, as Graph shows it.
func project(o *object, kind string, sel []string) map[string]any {
	m := map[string]any{}
	for _, k := range sel {
		switch {
		case k == "id":
			m[k] = o.id
		case k == "members":
			// members@delta, in delta rounds only
		case o.props[k] != nil:
			m[k] = o.props[k]
		case k == "groupTypes" || kind == "user" && slices.Contains(collections, k):
			m[k] = []any{}
		default:
			m[k] = nil
		}
	}
	return m
}

// clause is one "property eq value" of a $filter.
type clause struct {
	prop  string
	value any // string or bool
}

// filterable are the properties $filter may test with eq, by kind: the
// ones the connector uses.
var filterable = map[string][]string{
	"user":  {"id", "userPrincipalName", "mailNickname", "onPremisesImmutableId", "displayName", "accountEnabled", "mail", "employeeId"},
	"group": {"id", "displayName", "mailNickname", "securityEnabled", "mailEnabled"},
}

// parseFilter reads clauses joined by "and" or by "or" (not both).
func parseFilter(f, kind string) (clauses []clause, or bool, a answer, ok bool) {
	unsupported := unsupportedQuery("Unsupported Query.")
	rest := strings.TrimSpace(f)
	joiner := ""
	for rest != "" {
		name, after, found := strings.Cut(rest, " ")
		if !found {
			return nil, false, unsupported, false
		}
		if !slices.Contains(filterable[kind], name) {
			return nil, false, unsupported, false
		}
		after = strings.TrimLeft(after, " ")
		op, after, found := strings.Cut(after, " ")
		if !found || op != "eq" {
			return nil, false, unsupported, false
		}
		after = strings.TrimLeft(after, " ")
		var value any
		switch {
		case strings.HasPrefix(after, "'"):
			var b strings.Builder
			i := 1
			for ; i < len(after); i++ {
				if after[i] == '\'' {
					if i+1 < len(after) && after[i+1] == '\'' {
						b.WriteByte('\'')
						i++
						continue
					}
					break
				}
				b.WriteByte(after[i])
			}
			if i >= len(after) {
				return nil, false, badRequest("Invalid filter clause: unterminated string literal."), false
			}
			value, after = b.String(), after[i+1:]
		case strings.HasPrefix(after, "true"):
			value, after = true, after[4:]
		case strings.HasPrefix(after, "false"):
			value, after = false, after[5:]
		default:
			return nil, false, unsupported, false
		}
		clauses = append(clauses, clause{name, value})
		rest = strings.TrimSpace(after)
		if rest == "" {
			break
		}
		j, after2, found := strings.Cut(rest, " ")
		if !found || (j != "and" && j != "or") || (joiner != "" && j != joiner) {
			return nil, false, unsupported, false
		}
		joiner, rest = j, strings.TrimSpace(after2)
		if rest == "" {
			return nil, false, unsupported, false
		}
	}
	return clauses, joiner == "or", answer{}, true
}

// matches reports whether o passes the clauses.
func matches(o *object, clauses []clause, or bool) bool {
	if len(clauses) == 0 {
		return true
	}
	for _, c := range clauses {
		var have any = o.props[c.prop]
		if c.prop == "id" {
			have = o.id
		}
		var ok bool
		switch v := c.value.(type) {
		case string:
			hs, _ := have.(string)
			ok = have != nil && strings.EqualFold(hs, v)
		case bool:
			hb, isBool := have.(bool)
			ok = isBool && hb == v
		}
		if ok && or {
			return true
		}
		if !ok && !or {
			return false
		}
	}
	return !or
}

// list answers GET /users or /groups with $filter, $select, $top and
// paging.
func (s *Server) list(q *request, coll string) answer {
	kind := strings.TrimSuffix(coll, "s")
	sel, a, ok := selectList(q, kind)
	if !ok {
		return a
	}
	clauses, or, a, ok := parseFilter(q.query.Get("$filter"), kind)
	if !ok {
		return a
	}
	objs := s.users
	if coll == "groups" {
		objs = s.groups
	}
	var ids []string
	for id, o := range objs {
		if o.deletedAt == nil && matches(o, clauses, or) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return s.page(q, coll, ids, func(id string) map[string]any { return project(objs[id], kind, sel) })
}

// page answers one page of ids, with @odata.nextLink while more follow.
func (s *Server) page(q *request, context string, ids []string, render func(string) map[string]any) answer {
	top := s.cfg.PageSize
	if t := q.query.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > 999 {
			return unsupportedQuery(fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and 999 inclusive.", t))
		}
		top = n
	}
	offset := 0
	if tok := q.query.Get("$skiptoken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(raw), "o:"))
		if err != nil || err2 != nil || n < 0 {
			return badRequest("Invalid skip token.")
		}
		offset = n
	}
	value := []any{}
	end := min(offset+top, len(ids))
	for _, id := range ids[min(offset, len(ids)):end] {
		value = append(value, render(id))
	}
	body := map[string]any{"@odata.context": q.base + "/$metadata#" + context, "value": value}
	if end < len(ids) {
		next := cloneValues(q.query)
		next.Set("$skiptoken", base64.RawURLEncoding.EncodeToString([]byte("o:"+strconv.Itoa(end))))
		body["@odata.nextLink"] = q.base + "/" + strings.Join(q.seg, "/") + "?" + next.Encode()
	}
	return answer{status: http.StatusOK, body: body}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
