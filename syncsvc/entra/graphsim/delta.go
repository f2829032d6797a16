package graphsim

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// deltaLifetime is how long a delta token lasts for directory objects.
const deltaLifetime = 7 * 24 * time.Hour

// deltaState is what a delta or skip token carries: the server folds the
// first call's query parameters into it.
type deltaState struct {
	Gen    int      `json:"g"`
	Kind   string   `json:"k"`
	Select []string `json:"s,omitempty"`
	IDs    []string `json:"f,omitempty"` // $filter id eq ... or ...
	From   int64    `json:"from"`        // -1: the first round
	To     int64    `json:"to"`          // the change counter the round reports up to
	Offset int      `json:"o,omitempty"`
	Issued int64    `json:"t"`
}

func encodeState(st deltaState) string {
	b, _ := json.Marshal(st)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeState(tok string) (deltaState, bool) {
	var st deltaState
	b, err := base64.RawURLEncoding.DecodeString(tok)
	return st, err == nil && json.Unmarshal(b, &st) == nil
}

func syncStateNotFound() answer {
	return graphError(http.StatusBadRequest, "syncStateNotFound",
		"The sync state generation is not found. The delta token is expired and data must be synchronized again.")
}

// delta answers GET /users/delta and /groups/delta.
func (s *Server) delta(q *request, coll string) answer {
	kind := strings.TrimSuffix(coll, "s")
	var st deltaState
	tok := q.query.Get("$deltatoken")
	if tok == "" {
		tok = q.query.Get("$skiptoken")
	}
	switch {
	case tok == "latest":
		st = deltaState{Gen: s.generation, Kind: coll, From: s.seq, To: s.seq, Issued: q.now.Unix()}
		return answer{status: http.StatusOK, body: map[string]any{"@odata.context": q.base + "/$metadata#" + coll,
			"value": []any{}, "@odata.deltaLink": q.base + "/" + coll + "/delta?" + url.Values{"$deltatoken": {encodeState(st)}}.Encode()}}
	case tok != "":
		var ok bool
		if st, ok = decodeState(tok); !ok || st.Kind != coll {
			return badRequest("Invalid delta token.")
		}
		if st.Gen != s.generation || q.now.Sub(time.Unix(st.Issued, 0)) > deltaLifetime {
			return syncStateNotFound()
		}
		if q.query.Get("$deltatoken") != "" {
			// A new round: from where the last one ended to now.
			st.From, st.To, st.Offset = st.To, s.seq, 0
		}
	default:
		for k := range q.query {
			if k != "$select" && k != "$filter" {
				return unsupportedQuery("Unsupported Query.")
			}
		}
		sel, a, ok := selectList(q, kind)
		if !ok {
			return a
		}
		st = deltaState{Gen: s.generation, Kind: coll, Select: sel, From: -1, To: s.seq, Issued: q.now.Unix()}
		if f := q.query.Get("$filter"); f != "" {
			clauses, or, a, ok := parseFilter(f, kind)
			if !ok {
				return a
			}
			for _, c := range clauses {
				v, isText := c.value.(string)
				if c.prop != "id" || !isText || (!or && len(clauses) > 1) {
					return unsupportedQuery("Unsupported Query.")
				}
				st.IDs = append(st.IDs, strings.ToLower(v))
			}
			if len(st.IDs) > 50 {
				return unsupportedQuery("Unsupported Query.")
			}
		}
	}
	entries := s.deltaEntries(st)
	end := min(st.Offset+s.cfg.PageSize, len(entries))
	value := []any{}
	for _, e := range entries[min(st.Offset, len(entries)):end] {
		value = append(value, e)
	}
	body := map[string]any{"@odata.context": q.base + "/$metadata#" + coll + "(" + strings.Join(st.Select, ",") + ")", "value": value}
	if end < len(entries) {
		next := st
		next.Offset = end
		body["@odata.nextLink"] = q.base + "/" + coll + "/delta?" + url.Values{"$skiptoken": {encodeState(next)}}.Encode()
	} else {
		done := st
		done.Offset, done.Issued = 0, q.now.Unix()
		body["@odata.deltaLink"] = q.base + "/" + coll + "/delta?" + url.Values{"$deltatoken": {encodeState(done)}}.Encode()
	}
	return answer{status: http.StatusOK, body: body}
}

// deltaEntries lists what a round reports, sorted by id so that pages of
// one round stay stable: in the first round every object that exists; in
// later ones each object changed within (From, To], removals as @removed
// (reason "changed" for a soft-deleted user, "deleted" for good). Objects
// are shown in their latest state.
func (s *Server) deltaEntries(st deltaState) []map[string]any {
	kind := strings.TrimSuffix(st.Kind, "s")
	objs := s.users
	if st.Kind == "groups" {
		objs = s.groups
	}
	wanted := func(id string) bool { return len(st.IDs) == 0 || slices.Contains(st.IDs, id) }
	// Membership of the round is decided by change numbers alone, so that
	// later changes do not shift its pages.
	var ids []string
	for id, o := range objs {
		if wanted(id) && (st.From < 0 && o.created <= st.To || st.From >= 0 && o.changedIn(st.From, st.To)) {
			ids = append(ids, id)
		}
	}
	gone := map[string]bool{}
	if st.From >= 0 {
		for _, t := range s.tombstones {
			if t.kind == st.Kind && t.seq > st.From && t.seq <= st.To && wanted(t.id) && objs[t.id] == nil {
				ids = append(ids, t.id)
				gone[t.id] = true
			}
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	out := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		o := objs[id]
		switch {
		case gone[id] || o == nil:
			out = append(out, map[string]any{"id": id, "@removed": map[string]any{"reason": "deleted"}})
		case o.deletedAt != nil:
			out = append(out, map[string]any{"id": id, "@removed": map[string]any{"reason": "changed"}})
		default:
			m := project(o, kind, st.Select)
			if kind == "group" && slices.Contains(st.Select, "members") {
				if md := s.membersDelta(o, st); len(md) > 0 {
					m["members@delta"] = md
				}
			}
			out = append(out, m)
		}
	}
	return out
}

// membersDelta lists a group's member changes of the round (every member
// in the first round); a removed member, or a deleted user, shows
// @removed with reason "deleted".
func (s *Server) membersDelta(g *object, st deltaState) []map[string]any {
	var ids []string
	for id, ms := range g.members {
		if st.From < 0 && ms.present || st.From >= 0 && ms.seq > st.From && ms.seq <= st.To {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var out []map[string]any
	for _, id := range ids {
		m := map[string]any{"@odata.type": "#microsoft.graph.user", "id": id}
		if u := s.users[id]; !g.members[id].present || u == nil || u.deletedAt != nil {
			m["@removed"] = map[string]any{"reason": "deleted"}
		}
		out = append(out, m)
	}
	return out
}
