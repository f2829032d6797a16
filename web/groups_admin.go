package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/web/view"
)

// Creating, changing and deleting a group: each is a request under policy
// (administrators always may; owners change their groups; others where a
// policy grants it), so the server decides, never the link shown.

func (s *Server) handleNewGroupPage(w http.ResponseWriter, r *http.Request) {
	f := view.GroupForm{Type: string(portal.GroupSecurity), JoinPolicy: string(portal.JoinOwnerApproval)}
	if v := viewer(r); !v.Has(portal.RoleAdmin) {
		// Who asks usually owns what they create.
		f.Owners = v.DisplayName
		if p, err := s.People.FindProfile(r.Context(), v.PersonID); err == nil && p.Person.AccountName != "" {
			f.Owners = p.Person.AccountName
		}
	}
	renderStatus(w, r, http.StatusOK, view.GroupEdit(s.page(r, tr(r, "New group"), "groups"), f))
}

// groupForm reads the group form as typed.
func groupForm(r *http.Request, id string) view.GroupForm {
	in := input(r)
	return view.GroupForm{ID: id, Name: in.Get("name"), DisplayName: in.Get("display_name"), Description: in.Get("description"),
		Type: in.Get("group_type"), JoinPolicy: in.Get("join_policy"), Owners: in.Get("owners"), Expires: in.Get("expires"),
		MembershipDays: in.Get("membership_days"), Justification: in.Get("justification")}
}

// groupSpec turns the form into a spec, resolving the owners it names.
func (s *Server) groupSpec(r *http.Request, f view.GroupForm, withOwners bool) (portal.GroupSpec, error) {
	g := portal.GroupSpec{Name: f.Name, DisplayName: f.DisplayName, Description: f.Description, Type: portal.GroupType(f.Type),
		JoinPolicy: portal.JoinPolicy(f.JoinPolicy)}
	if f.Expires != "" {
		d, err := portal.ParseDate(f.Expires)
		if err != nil {
			return g, err
		}
		g.ExpiresAt = &d
	}
	if f.MembershipDays != "" {
		n, err := strconv.Atoi(f.MembershipDays)
		if err != nil {
			return g, portal.Errorf(portal.EINVALID, "Memberships last a whole number of days, not “%s”.", f.MembershipDays)
		}
		g.MembershipDays = n
	}
	if !withOwners {
		return g, nil
	}
	names := portal.ParseNames(f.Owners)
	if len(names) > portal.MaxGroupOwners {
		return g, portal.Errorf(portal.EINVALID, "Name at most %d owners; add more once the group exists.", portal.MaxGroupOwners)
	}
	for _, name := range names {
		p, err := s.People.FindPersonByName(r.Context(), name)
		if err != nil {
			if portal.ErrorCode(err) == portal.ENOTFOUND {
				return g, portal.Errorf(portal.EINVALID, "%s", portal.Reason(err))
			}
			return g, err
		}
		g.Owners = append(g.Owners, p.ID)
	}
	return g, nil
}

// submitGroup sends a group request from the form, or shows the form again
// with what was wrong.
func (s *Server) submitGroup(w http.ResponseWriter, r *http.Request, f view.GroupForm, title string, n portal.NewRequest) {
	req, err := s.Requests.Submit(r.Context(), viewer(r), n)
	if err != nil {
		s.groupFormFailed(w, r, f, title, err)
		return
	}
	switch {
	case req.Status == portal.StatusAuthorizing:
		http.Redirect(w, r, "/requests/"+req.ID+"?notice=submitted", http.StatusSeeOther)
	case n.Operation == portal.OpCreateGroup:
		// The request names the group it created.
		done, _, err := s.Requests.FindRequest(r.Context(), viewer(r), req.ID)
		if err != nil {
			s.Error(w, r, err)
			return
		}
		http.Redirect(w, r, "/groups/"+done.GroupID+"?notice=group-created", http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/groups/"+n.GroupID+"?notice=group-saved", http.StatusSeeOther)
	}
}

func (s *Server) groupFormFailed(w http.ResponseWriter, r *http.Request, f view.GroupForm, title string, err error) {
	if portal.ErrorCode(err) == portal.EINTERNAL || portal.ErrorCode(err) == portal.ENOTFOUND {
		s.Error(w, r, err)
		return
	}
	f.Error = errText(r, err)
	renderStatus(w, r, codeStatus[portal.ErrorCode(err)], view.GroupEdit(s.page(r, title, "groups"), f))
}

func (s *Server) handleCreateGroup(w http.ResponseWriter, r *http.Request) {
	f := groupForm(r, "")
	g, err := s.groupSpec(r, f, true)
	if err != nil {
		s.groupFormFailed(w, r, f, tr(r, "New group"), err)
		return
	}
	s.submitGroup(w, r, f, tr(r, "New group"), portal.NewRequest{Operation: portal.OpCreateGroup, Changes: g.Changes(), Justification: f.Justification})
}

func (s *Server) handleEditGroupPage(w http.ResponseWriter, r *http.Request) {
	d, err := s.Groups.FindGroup(r.Context(), chi.URLParam(r, "id"), 0, 1)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	g := d.Group
	f := view.GroupForm{ID: g.ID, Name: g.Name, DisplayName: g.DisplayName, Description: g.Description, Type: string(g.Type),
		JoinPolicy: string(g.JoinPolicy), Role: g.Role}
	if g.ExpiresAt != nil {
		// The stored instant is the end of the last day, in UTC.
		f.Expires = portal.DateOf(g.ExpiresAt.UTC().AddDate(0, 0, -1)).String()
	}
	if g.MembershipDays > 0 {
		f.MembershipDays = strconv.Itoa(g.MembershipDays)
	}
	renderStatus(w, r, http.StatusOK, view.GroupEdit(s.page(r, tr(r, "Change %s", portal.Isolate(g.DisplayName)), "groups"), f))
}

func (s *Server) handleUpdateGroup(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	f := groupForm(r, id)
	title := tr(r, "Change %s", portal.Isolate(strings.TrimSpace(f.DisplayName)))
	g, err := s.groupSpec(r, f, false)
	if err != nil {
		s.groupFormFailed(w, r, f, title, err)
		return
	}
	s.submitGroup(w, r, f, title, portal.NewRequest{Operation: portal.OpUpdateGroup, GroupID: id, Changes: g.Changes(),
		Justification: f.Justification})
}

func (s *Server) handleDeleteGroup(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	n := portal.NewRequest{Operation: portal.OpDeleteGroup, GroupID: id, Justification: input(r).Get("justification")}
	req, err := s.Requests.Submit(r.Context(), viewer(r), n)
	if err != nil {
		if portal.ErrorCode(err) == portal.EINTERNAL || portal.ErrorCode(err) == portal.ENOTFOUND {
			s.Error(w, r, err)
			return
		}
		s.renderGroup(w, r, codeStatus[portal.ErrorCode(err)], id, view.GroupActions{Error: errText(r, err)})
		return
	}
	// The group is gone (or going): its request's page tells how it went.
	http.Redirect(w, r, "/requests/"+req.ID+"?notice=submitted", http.StatusSeeOther)
}
