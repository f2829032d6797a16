package graphsim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// groupProps are the group properties the simulator keeps.
var groupProps = map[string]bool{
	"displayName": true, "description": true, "mailNickname": true, "mailEnabled": true, "securityEnabled": true,
	"groupTypes": true, "members@odata.bind": true, "owners@odata.bind": true,
}

var defaultGroupProps = []string{"id", "createdDateTime", "description", "displayName", "groupTypes", "mail", "mailEnabled",
	"mailNickname", "securityEnabled"}

// maxBind is how many relationships one request may bind.
const maxBind = 20

// bindIDs reads the object ids of an @odata.bind list, which names each
// object as https://graph.microsoft.com/v1.0/users/{id} (group-post-groups)
// or .../directoryObjects/{id} (group-update): by its object id, never by
// a userPrincipalName.
func bindIDs(v any) ([]string, bool) {
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	var ids []string
	for _, e := range list {
		u, ok := e.(string)
		if !ok {
			return nil, false
		}
		id, ok := refID(u, "/users", "/directoryObjects")
		if !ok {
			return nil, false
		}
		ids = append(ids, id)
	}
	return ids, true
}

// refID reads the object id at the end of a reference URL whose collection
// is one of kinds. Graph documents references by object id only (a member
// added by reference is .../directoryObjects/{id}, group-post-members), so
// anything else, a userPrincipalName included, is an invalid object
// identifier here.
func refID(u string, kinds ...string) (string, bool) {
	i := strings.LastIndex(u, "/")
	if i < 0 || !isObjectID(u[i+1:]) {
		return "", false
	}
	for _, k := range kinds {
		if strings.HasSuffix(u[:i], k) {
			return strings.ToLower(u[i+1:]), true
		}
	}
	return "", false
}

// isObjectID reports whether s is an object id: a GUID in its text form.
func isObjectID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}

func (s *Server) checkGroup(m map[string]any, create bool) (answer, bool) {
	for k := range m {
		if !groupProps[k] {
			return badRequest("Property '" + k + "' does not exist as a declared property or extension property."), false
		}
	}
	if create {
		for _, k := range []string{"displayName", "mailNickname", "mailEnabled", "securityEnabled"} {
			if m[k] == nil {
				return invalidValue(k, "Group"), false
			}
		}
		types, _ := m["groupTypes"].([]any)
		if m["mailEnabled"] != false || m["securityEnabled"] != true || len(types) > 0 {
			return badRequest("Only security groups (mailEnabled false, securityEnabled true, no groupTypes) are simulated."), false
		}
	}
	for k, v := range m {
		switch k {
		case "displayName":
			if s, ok := v.(string); !ok || strings.TrimSpace(s) == "" || utf8.RuneCountInString(s) > 256 {
				return invalidValue(k, "Group"), false
			}
		case "description":
			if s, ok := v.(string); v != nil && (!ok || utf8.RuneCountInString(s) > 1024) {
				return invalidValue(k, "Group"), false
			}
		case "mailNickname":
			if s, ok := v.(string); !ok || !validMailNickname(s) {
				return invalidValue(k, "Group"), false
			}
		}
	}
	return answer{}, true
}

func (s *Server) createGroup(q *request) answer {
	m, a, ok := readObject(q.body)
	if !ok {
		return a
	}
	if a, ok := s.checkGroup(m, true); !ok {
		return a
	}
	members, owners, a, ok := s.binds(m)
	if !ok {
		return a
	}
	if len(members)+len(owners) > maxBind {
		return badRequest(fmt.Sprintf("A group can be created with at most %d owners and members; add the others afterwards.", maxBind))
	}
	g := &object{id: newID(), props: map[string]any{}, members: map[string]memberState{}}
	for k, v := range m {
		if !strings.HasSuffix(k, "@odata.bind") {
			g.props[k] = v
		}
	}
	g.props["groupTypes"] = []any{}
	g.props["createdDateTime"] = q.now.UTC().Format(time.RFC3339)
	s.groups[g.id] = g
	s.touch(g)
	for _, id := range members {
		s.seq++
		g.members[id] = memberState{present: true, seq: s.seq}
	}
	body := project(g, "group", defaultGroupProps)
	body["@odata.context"] = q.base + "/$metadata#groups/$entity"
	return answer{status: http.StatusCreated, body: body}
}

// binds reads members@odata.bind and owners@odata.bind: every object must
// exist (all or nothing).
func (s *Server) binds(m map[string]any) (members, owners []string, a answer, ok bool) {
	for _, k := range []string{"members@odata.bind", "owners@odata.bind"} {
		v, present := m[k]
		if !present {
			continue
		}
		ids, ok := bindIDs(v)
		if !ok {
			return nil, nil, badRequest("Invalid object identifier in " + k + "."), false
		}
		for i, id := range ids {
			u := s.liveUser(id)
			if u == nil {
				return nil, nil, notFound(id), false
			}
			ids[i] = u.id
		}
		if k == "members@odata.bind" {
			members = ids
		} else {
			owners = ids
		}
	}
	return members, owners, answer{}, true
}

func (s *Server) group(id string) *object { return s.groups[strings.ToLower(id)] }

func (s *Server) getGroup(q *request, id string) answer {
	g := s.group(id)
	if g == nil {
		return notFound(id)
	}
	sel, a, ok := selectList(q, "group")
	if !ok {
		return a
	}
	body := project(g, "group", sel)
	body["@odata.context"] = q.base + "/$metadata#groups/$entity"
	return answer{status: http.StatusOK, body: body}
}

// updateGroup changes properties, and adds up to 20 members with
// members@odata.bind, all or nothing.
func (s *Server) updateGroup(q *request, id string) answer {
	g := s.group(id)
	if g == nil {
		return notFound(id)
	}
	m, a, ok := readObject(q.body)
	if !ok {
		return a
	}
	if a, ok := s.checkGroup(m, false); !ok {
		return a
	}
	for _, k := range []string{"mailEnabled", "securityEnabled", "groupTypes"} {
		if _, ok := m[k]; ok {
			return badRequest("The property '" + k + "' of a security group cannot be changed.")
		}
	}
	members, _, a, ok := s.binds(m)
	if !ok {
		return a
	}
	if len(members) > maxBind {
		return badRequest(fmt.Sprintf("At most %d members can be added in one request.", maxBind))
	}
	for _, id := range members {
		if g.members[id].present {
			return alreadyMember()
		}
	}
	for k, v := range m {
		if !strings.HasSuffix(k, "@odata.bind") {
			g.props[k] = v
		}
	}
	for _, id := range members {
		s.seq++
		g.members[id] = memberState{present: true, seq: s.seq}
	}
	s.touch(g)
	return answer{status: http.StatusNoContent}
}

func alreadyMember() answer {
	return badRequest("One or more added object references already exist for the following modified properties: 'members'.")
}

// deleteGroup deletes a security group for good: Graph keeps only
// Microsoft 365 groups in deleted items.
func (s *Server) deleteGroup(id string) answer {
	g := s.group(id)
	if g == nil {
		return notFound(id)
	}
	delete(s.groups, g.id)
	s.seq++
	s.tombstones = append(s.tombstones, tombstone{kind: "groups", id: g.id, seq: s.seq})
	return answer{status: http.StatusNoContent}
}

func (s *Server) listMembers(q *request, id string) answer {
	g := s.group(id)
	if g == nil {
		return notFound(id)
	}
	ids := s.presentMembers(g)
	return s.page(q, "directoryObjects", ids, func(id string) map[string]any {
		m := project(s.users[id], "user", []string{"id", "displayName", "userPrincipalName"})
		m["@odata.type"] = "#microsoft.graph.user"
		return m
	})
}

// presentMembers lists a group's members that are not deleted, sorted.
func (s *Server) presentMembers(g *object) []string {
	var ids []string
	for id, ms := range g.members {
		if u := s.users[id]; ms.present && u != nil && u.deletedAt == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (s *Server) addMember(q *request, id string) answer {
	g := s.group(id)
	if g == nil {
		return notFound(id)
	}
	m, a, ok := readObject(q.body)
	if !ok {
		return a
	}
	ref, _ := m["@odata.id"].(string)
	mid, ok := refID(ref, "/directoryObjects")
	if !ok {
		return badRequest("Invalid object identifier '" + ref + "'.")
	}
	u := s.liveUser(mid)
	if u == nil {
		return notFound(mid)
	}
	if g.members[mid].present {
		return alreadyMember()
	}
	s.seq++
	g.members[mid] = memberState{present: true, seq: s.seq}
	g.mark(s.seq)
	return answer{status: http.StatusNoContent}
}

func (s *Server) removeMember(id, member string) answer {
	g := s.group(id)
	if g == nil {
		return notFound(id)
	}
	mid := strings.ToLower(member)
	if !g.members[mid].present {
		return notFound(member)
	}
	s.seq++
	g.members[mid] = memberState{present: false, seq: s.seq}
	g.mark(s.seq)
	return answer{status: http.StatusNoContent}
}
