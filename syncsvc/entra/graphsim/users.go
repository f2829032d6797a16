package graphsim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// retention is how long a deleted user can be restored.
const retention = 30 * 24 * time.Hour

// userProps are the user properties the simulator keeps, with their
// longest value (0: not text, or no limit that matters).
var userProps = map[string]int{
	"accountEnabled": 0, "displayName": 256, "givenName": 64, "surname": 64, "mailNickname": 64,
	"userPrincipalName": 113, "onPremisesImmutableId": 0, "jobTitle": 128, "department": 64, "companyName": 64,
	"mobilePhone": 64, "businessPhones": 0, "mail": 0, "officeLocation": 0, "preferredLanguage": 0, "usageLocation": 0,
	"employeeId": 16, "city": 128, "state": 128, "country": 128, "postalCode": 40, "streetAddress": 1024,
	"passwordPolicies": 0, "passwordProfile": 0, "otherMails": 0, "imAddresses": 0, "proxyAddresses": 0,
}

// collections are the user properties that are String collections: never
// null (an unset one reads as []).
var collections = []string{"businessPhones", "otherMails", "imAddresses", "proxyAddresses"}

// readOnlyError is Graph's answer to a write of a read-only collection:
// proxyAddresses is refused as a privilege (observed with
// User.ReadWrite.All and even Global Administrator), the others as the
// directory refuses read-only properties (microsoft-graph.md §2.2).
func readOnlyError(prop string) answer {
	if prop == "proxyAddresses" {
		return graphError(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	}
	return badRequest("Property '" + prop + "' is read-only and cannot be set.")
}

// stringList reads a String collection's JSON value.
func stringList(v any) ([]string, bool) {
	l, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// defaultUserProps are returned when there is no $select.
var defaultUserProps = []string{"id", "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
	"officeLocation", "preferredLanguage", "surname", "userPrincipalName"}

// readObject decodes a JSON object body.
func readObject(body []byte) (map[string]any, answer, bool) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, badRequest("Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format."), false
	}
	return m, answer{}, true
}

// checkUser applies the field rules to the properties of a create
// (create true) or an update of u (nil at create).
func (s *Server) checkUser(m map[string]any, u *object, create bool) (answer, bool) {
	for k := range m {
		if _, ok := userProps[k]; !ok {
			return badRequest("Property '" + k + "' does not exist as a declared property or extension property."), false
		}
	}
	if create {
		for _, k := range []string{"accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile"} {
			if m[k] == nil {
				return invalidValue(k, "User"), false
			}
		}
	}
	for k, v := range m {
		switch k {
		case "accountEnabled":
			if _, ok := v.(bool); !ok {
				return invalidValue(k, "User"), false
			}
		case "passwordProfile":
			pp, ok := v.(map[string]any)
			pw, _ := pp["password"].(string)
			if !ok || (create && pw == "") {
				return invalidValue(k, "User"), false
			}
			policies, _ := m["passwordPolicies"].(string)
			if policies == "" && u != nil {
				policies, _ = u.props["passwordPolicies"].(string)
			}
			if pw != "" && !strongPassword(pw, strings.Contains(policies, "DisableStrongPassword")) {
				return badRequest("The specified password does not comply with password complexity requirements. Please provide a different password."), false
			}
		case "imAddresses", "proxyAddresses":
			return readOnlyError(k), false
		case "businessPhones":
			// A String collection that takes one number only.
			if l, ok := stringList(v); !ok || len(l) > 1 {
				return invalidValue(k, "User"), false
			}
		case "otherMails":
			l, ok := stringList(v)
			if !ok {
				return invalidValue(k, "User"), false
			}
			for _, m := range l {
				if !isASCII(m) {
					return invalidValue(k, "User"), false
				}
			}
		default:
			str, ok := v.(string)
			if !ok && !(v == nil && k != "displayName" && k != "mailNickname" && k != "userPrincipalName") {
				return invalidValue(k, "User"), false
			}
			if max := userProps[k]; max > 0 && utf8.RuneCountInString(str) > max {
				return invalidValue(k, "User"), false
			}
			switch k {
			case "displayName":
				if strings.TrimSpace(str) == "" {
					return invalidValue(k, "User"), false
				}
			case "mailNickname":
				if !validMailNickname(str) {
					return invalidValue(k, "User"), false
				}
			case "userPrincipalName":
				_, domain, ok := splitUPN(str)
				if !ok {
					return invalidValue(k, "User"), false
				}
				if !s.verified(domain) {
					return badRequest("The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization."), false
				}
				if other := s.userByUPN(str); other != nil && other != u {
					return conflict("userPrincipalName"), false
				}
			case "onPremisesImmutableId":
				if strings.ContainsAny(str, "$_") {
					return invalidValue(k, "User"), false
				}
				if str != "" {
					if other := s.userByImmutableID(str); other != nil && other != u {
						return conflict("onPremisesImmutableId"), false
					}
				}
			case "mail":
				if !isASCII(str) {
					return invalidValue(k, "User"), false
				}
			case "usageLocation":
				if len(str) != 2 {
					return invalidValue(k, "User"), false
				}
			}
		}
	}
	return answer{}, true
}

// splitUPN checks a userPrincipalName against Entra's rules: alias@domain,
// no accented letters, the alias's characters, no '.' just before '@',
// at most 113 characters, 64 before the '@' and 48 after.
func splitUPN(upn string) (alias, domain string, ok bool) {
	alias, domain, found := strings.Cut(upn, "@")
	if !found || strings.Contains(domain, "@") || alias == "" || domain == "" || len(upn) > 113 || len(alias) > 64 ||
		len(domain) > 48 || strings.HasSuffix(alias, ".") || !isASCII(upn) {
		return "", "", false
	}
	for _, c := range alias {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("'.-_!#^~", c)) {
			return "", "", false
		}
	}
	for _, c := range domain {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return "", "", false
		}
	}
	return alias, domain, true
}

// validMailNickname follows the documented group rule, the likely model
// for users: ASCII, none of @ ( ) \ [ ] " ; : < > , or space.
func validMailNickname(s string) bool {
	if s == "" || len(s) > 64 || !isASCII(s) {
		return false
	}
	return !strings.ContainsAny(s, "@()\\[]\";:<>, ") && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// strongPassword is Entra's cloud password policy: 8 to 256 characters of
// the allowed set and, unless the strong rule is off, three of the four
// classes.
func strongPassword(pw string, weakAllowed bool) bool {
	if len(pw) < 8 || len(pw) > 256 {
		return false
	}
	var lower, upper, digit, symbol bool
	for _, c := range pw {
		switch {
		case c >= 'a' && c <= 'z':
			lower = true
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= '0' && c <= '9':
			digit = true
		case strings.ContainsRune("@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<> ", c):
			symbol = true
		default:
			return false // Unicode and control characters are refused
		}
	}
	n := 0
	for _, b := range []bool{lower, upper, digit, symbol} {
		if b {
			n++
		}
	}
	return weakAllowed || n >= 3
}

// userByUPN finds a user that is not deleted by userPrincipalName
// (ignoring case): a deleted user's UPN can be taken, and its restore
// then conflicts.
func (s *Server) userByUPN(upn string) *object {
	return s.byUPN[strings.ToLower(upn)]
}

func (s *Server) userByImmutableID(id string) *object {
	return s.byImmID[id]
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// liveUser finds a user that is not deleted by id or userPrincipalName.
func (s *Server) liveUser(key string) *object {
	if u := s.users[strings.ToLower(key)]; u != nil && u.deletedAt == nil {
		return u
	}
	if strings.Contains(key, "@") {
		return s.userByUPN(key)
	}
	return nil
}

func (s *Server) createUser(q *request) answer {
	m, a, ok := readObject(q.body)
	if !ok {
		return a
	}
	if a, ok := s.checkUser(m, nil, true); !ok {
		return a
	}
	u := &object{id: newID(), props: map[string]any{}}
	for k, v := range m {
		u.props[k] = v
	}
	pp := m["passwordProfile"].(map[string]any)
	u.password = str(pp["password"])
	u.props["passwordProfile"] = map[string]any{"forceChangePasswordNextSignIn": pp["forceChangePasswordNextSignIn"] == true,
		"forceChangePasswordNextSignInWithMfa": pp["forceChangePasswordNextSignInWithMfa"] == true, "password": nil}
	u.props["createdDateTime"] = q.now.UTC().Format(time.RFC3339)
	followMail(u)
	s.users[u.id] = u
	s.touch(u)
	s.index(u)
	body := project(u, "user", defaultUserProps)
	body["@odata.context"] = q.base + "/$metadata#users/$entity"
	return answer{status: http.StatusCreated, body: body}
}

func (s *Server) getUser(q *request, key string) answer {
	u := s.liveUser(key)
	if u == nil {
		return notFound(key)
	}
	sel, a, ok := selectList(q, "user")
	if !ok {
		return a
	}
	body := project(u, "user", sel)
	body["@odata.context"] = q.base + "/$metadata#users/$entity"
	return answer{status: http.StatusOK, body: body}
}

func (s *Server) updateUser(q *request, key string) answer {
	u := s.liveUser(key)
	if u == nil {
		return notFound(key)
	}
	m, a, ok := readObject(q.body)
	if !ok {
		return a
	}
	if a, ok := s.checkUser(m, u, false); !ok {
		return a
	}
	for k, v := range m {
		if k == "passwordProfile" {
			pp := v.(map[string]any)
			if pw := str(pp["password"]); pw != "" {
				u.password = pw
			}
			cur, _ := u.props["passwordProfile"].(map[string]any)
			if cur == nil {
				cur = map[string]any{"password": nil}
			}
			for _, f := range []string{"forceChangePasswordNextSignIn", "forceChangePasswordNextSignInWithMfa"} {
				if b, ok := pp[f].(bool); ok {
					cur[f] = b
				}
			}
			u.props["passwordProfile"] = cur
			continue
		}
		u.props[k] = v
	}
	if _, ok := m["mail"]; ok {
		followMail(u)
	}
	s.touch(u)
	s.index(u)
	return answer{status: http.StatusNoContent}
}

// followMail puts the user's mail into proxyAddresses as the primary SMTP
// address, as Graph documents for a change of mail: the former primary
// stays as a secondary (smtp:) address.
func followMail(u *object) {
	mail := str(u.props["mail"])
	if mail == "" {
		return
	}
	old, _ := stringList(u.props["proxyAddresses"])
	out := []any{"SMTP:" + mail}
	for _, a := range old {
		if rest, ok := strings.CutPrefix(a, "SMTP:"); ok {
			a = "smtp:" + rest
		}
		if !strings.EqualFold(a, "smtp:"+mail) {
			out = append(out, a)
		}
	}
	u.props["proxyAddresses"] = out
}

// deleteUser moves the user to deleted items, restorable for 30 days.
func (s *Server) deleteUser(q *request, key string) answer {
	u := s.liveUser(key)
	if u == nil {
		return notFound(key)
	}
	t := q.now
	u.deletedAt = &t
	u.props["deletedDateTime"] = t.UTC().Format(time.RFC3339)
	s.touch(u)
	s.index(u)
	// Its memberships show as removed; a restore brings them back.
	for _, g := range s.groups {
		if ms, ok := g.members[u.id]; ok && ms.present {
			s.seq++
			g.members[u.id] = memberState{present: false, seq: s.seq}
			g.mark(s.seq)
			u.restoreGroups = append(u.restoreGroups, g.id)
		}
	}
	return answer{status: http.StatusNoContent}
}

// purgeExpired deletes for good the users deleted more than 30 days ago.
func (s *Server) purgeExpired(now time.Time) {
	for id, u := range s.deleted {
		if now.Sub(*u.deletedAt) > retention {
			s.purgeUser(id)
		}
	}
}

func (s *Server) purgeUser(id string) {
	u := s.users[id]
	delete(s.users, id)
	if u != nil {
		s.index(u)
	}
	s.seq++
	s.tombstones = append(s.tombstones, tombstone{kind: "users", id: id, seq: s.seq})
	for _, g := range s.groups {
		delete(g.members, id)
	}
}

func (s *Server) listDeleted(q *request) answer {
	sel, a, ok := selectList(q, "user")
	if !ok {
		return a
	}
	if q.query.Get("$select") == "" {
		sel = append(sel, "deletedDateTime")
	}
	var ids []string
	for id := range s.deleted {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return s.page(q, "directory/deletedItems/microsoft.graph.user", ids, func(id string) map[string]any { return project(s.users[id], "user", sel) })
}

func (s *Server) getDeleted(q *request, id string) answer {
	u := s.users[strings.ToLower(id)]
	if u == nil || u.deletedAt == nil {
		return notFound(id)
	}
	body := project(u, "user", append(slices.Clone(defaultUserProps), "deletedDateTime"))
	body["@odata.type"] = "#microsoft.graph.user"
	body["@odata.context"] = q.base + "/$metadata#directoryObjects/$entity"
	return answer{status: http.StatusOK, body: body}
}

// restore brings a deleted user back: 200 with the directoryObject.
func (s *Server) restore(q *request, id string) answer {
	u := s.users[strings.ToLower(id)]
	if u == nil || u.deletedAt == nil {
		return notFound(id)
	}
	if s.userByUPN(str(u.props["userPrincipalName"])) != nil {
		return conflict("userPrincipalName")
	}
	u.deletedAt = nil
	delete(u.props, "deletedDateTime")
	s.touch(u)
	s.index(u)
	for _, gid := range u.restoreGroups {
		if g := s.groups[gid]; g != nil {
			s.seq++
			g.members[u.id] = memberState{present: true, seq: s.seq}
			g.mark(s.seq)
		}
	}
	u.restoreGroups = nil
	body := project(u, "user", defaultUserProps)
	body["@odata.type"] = "#microsoft.graph.user"
	body["@odata.context"] = q.base + "/$metadata#directoryObjects/$entity"
	return answer{status: http.StatusOK, body: body}
}

// purge deletes a deleted item for good.
func (s *Server) purge(id string) answer {
	u := s.users[strings.ToLower(id)]
	if u == nil || u.deletedAt == nil {
		return notFound(id)
	}
	s.purgeUser(u.id)
	return answer{status: http.StatusNoContent}
}

func (s *Server) organization(q *request) answer {
	var domains []map[string]any
	for i, d := range s.domains() {
		domains = append(domains, map[string]any{"name": d, "isInitial": i == 0, "isDefault": i == 0, "type": "Managed",
			"capabilities": "Email, OfficeCommunicationsOnline"})
	}
	return answer{status: http.StatusOK, body: map[string]any{
		"@odata.context": q.base + "/$metadata#organization",
		"value":          []any{map[string]any{"id": s.cfg.TenantID, "displayName": "Simulated tenant", "verifiedDomains": domains}},
	}}
}
