package web

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
	"github.com/tessera-idm/tessera/web/view"
)

// notices are the fixed messages a redirect may ask a page to show; user
// text is never reflected through the URL.
var notices = map[string]string{
	"joined":        i18n.Mark("You joined this group."),
	"left":          i18n.Mark("You left this group."),
	"requested":     i18n.Mark("Your request was sent to the group's owners. You can follow it here."),
	"added":         i18n.Mark("The member was added."),
	"removed":       i18n.Mark("The member was removed."),
	"owner":         i18n.Mark("The owners were changed."),
	"canceled":      i18n.Mark("Your request was canceled."),
	"submitted":     i18n.Mark("Your request was sent for approval. You can follow it here."),
	"decided":       i18n.Mark("Your decision was recorded."),
	"deputy":        i18n.Mark("Your deputy is set."),
	"undeputy":      i18n.Mark("The deputy period was removed."),
	"group-created": i18n.Mark("The group was created."),
	"group-saved":   i18n.Mark("The group was changed."),
	"reviewed":      i18n.Mark("Your decisions were recorded. They take effect when the review ends."),
}

func notice(r *http.Request) string {
	if n, ok := notices[input(r).Get("notice")]; ok {
		return tr(r, n)
	}
	return ""
}

func (s *Server) renderGroup(w http.ResponseWriter, r *http.Request, status int, groupID string, a view.GroupActions) {
	v := viewer(r)
	d, err := s.Groups.FindGroup(r.Context(), groupID, offsetParam(r), 0)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if a.Access, err = s.Requests.GroupAccess(r.Context(), v, groupID); err != nil {
		s.Error(w, r, err)
		return
	}
	renderStatus(w, r, status, view.GroupPage(s.page(r, portal.Isolate(d.Group.DisplayName), "groups"), d, a))
}

func (s *Server) handleGroup(w http.ResponseWriter, r *http.Request) {
	s.renderGroup(w, r, http.StatusOK, chi.URLParam(r, "id"), view.GroupActions{Notice: notice(r)})
}

// groupRequest submits a membership request from a group page; a refusal
// is shown on the page with what was typed.
func (s *Server) groupRequest(w http.ResponseWriter, r *http.Request, n portal.NewRequest, a view.GroupActions, done string) {
	req, err := s.Requests.Submit(r.Context(), viewer(r), n)
	if err != nil {
		if portal.ErrorCode(err) == portal.EINTERNAL {
			s.Error(w, r, err)
			return
		}
		a.Error = errText(r, err)
		s.renderGroup(w, r, codeStatus[portal.ErrorCode(err)], n.GroupID, a)
		return
	}
	if req.Status == portal.StatusAuthorizing {
		http.Redirect(w, r, "/requests/"+req.ID+"?notice=requested", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/groups/"+n.GroupID+"?notice="+done, http.StatusSeeOther)
}

func (s *Server) handleJoin(w http.ResponseWriter, r *http.Request) {
	v := viewer(r)
	s.groupRequest(w, r, portal.NewRequest{Operation: portal.OpAddMember, GroupID: chi.URLParam(r, "id"), PersonID: v.PersonID},
		view.GroupActions{}, "joined")
}

func (s *Server) handleRequestJoin(w http.ResponseWriter, r *http.Request) {
	v := viewer(r)
	just := input(r).Get("justification")
	a := view.GroupActions{Justification: just}
	if just == "" {
		a.Error = tr(r, "Say why you need to join; the owners decide on it.")
		s.renderGroup(w, r, http.StatusBadRequest, chi.URLParam(r, "id"), a)
		return
	}
	s.groupRequest(w, r, portal.NewRequest{Operation: portal.OpAddMember, GroupID: chi.URLParam(r, "id"), PersonID: v.PersonID,
		Justification: just}, a, "requested")
}

func (s *Server) handleLeave(w http.ResponseWriter, r *http.Request) {
	v := viewer(r)
	s.groupRequest(w, r, portal.NewRequest{Operation: portal.OpRemoveMember, GroupID: chi.URLParam(r, "id"), PersonID: v.PersonID},
		view.GroupActions{}, "left")
}

func (s *Server) handleAddMember(w http.ResponseWriter, r *http.Request) {
	groupID := chi.URLParam(r, "id")
	a := view.GroupActions{AddMember: input(r).Get("member"), AddUntil: input(r).Get("until")}
	fail := func(err error) {
		if portal.ErrorCode(err) == portal.EINTERNAL {
			s.Error(w, r, err)
			return
		}
		a.Error = errText(r, err)
		s.renderGroup(w, r, codeStatus[portal.ErrorCode(err)], groupID, a)
	}
	person, err := s.People.FindPersonByName(r.Context(), a.AddMember)
	if err != nil {
		fail(err)
		return
	}
	n := portal.NewRequest{Operation: portal.OpAddMember, GroupID: groupID, PersonID: person.ID}
	if a.AddUntil != "" {
		until, err := time.Parse(time.DateOnly, a.AddUntil)
		if err != nil {
			fail(portal.Errorf(portal.EINVALID, "The end date must be a date such as 2027-03-31."))
			return
		}
		n.MemberUntil = &until
	}
	s.groupRequest(w, r, n, a, "added")
}

func (s *Server) handleAddOwner(w http.ResponseWriter, r *http.Request) {
	groupID := chi.URLParam(r, "id")
	a := view.GroupActions{AddOwner: input(r).Get("owner")}
	person, err := s.People.FindPersonByName(r.Context(), a.AddOwner)
	if err != nil {
		if portal.ErrorCode(err) == portal.EINTERNAL {
			s.Error(w, r, err)
			return
		}
		a.Error = errText(r, err)
		s.renderGroup(w, r, codeStatus[portal.ErrorCode(err)], groupID, a)
		return
	}
	s.groupRequest(w, r, portal.NewRequest{Operation: portal.OpAddOwner, GroupID: groupID, PersonID: person.ID}, a, "owner")
}

func (s *Server) handleRemoveOwner(w http.ResponseWriter, r *http.Request) {
	s.groupRequest(w, r, portal.NewRequest{Operation: portal.OpRemoveOwner, GroupID: chi.URLParam(r, "id"),
		PersonID: chi.URLParam(r, "person")}, view.GroupActions{}, "owner")
}

func (s *Server) handleRemoveMember(w http.ResponseWriter, r *http.Request) {
	s.groupRequest(w, r, portal.NewRequest{Operation: portal.OpRemoveMember, GroupID: chi.URLParam(r, "id"),
		PersonID: chi.URLParam(r, "person")}, view.GroupActions{}, "removed")
}

func (s *Server) handleMyRequests(w http.ResponseWriter, r *http.Request) {
	res, err := s.Requests.MyRequests(r.Context(), viewer(r), offsetParam(r))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	v := view.RequestListView{Requests: res, Now: time.Now()}
	p := s.page(r, tr(r, "My requests"), "requests")
	if isFragment(r) {
		render(w, r, view.RequestListLive(p, v))
		return
	}
	render(w, r, view.RequestList(p, v))
}

func (s *Server) handleRequest(w http.ResponseWriter, r *http.Request) {
	v := viewer(r)
	d, err := s.Requests.FindRequestDetail(r.Context(), v, chi.URLParam(r, "id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	req := &d.Request
	rv := view.RequestView{Detail: d, Notice: notice(r), Now: time.Now(), Admin: v.Has(portal.RoleAdmin),
		CanCancel: req.Status == portal.StatusAuthorizing && req.RequesterID == v.PersonID}
	if rv.Changes, err = s.changeValues(r.Context(), req.Changes); err != nil {
		s.Error(w, r, err)
		return
	}
	if rv.Lists, err = s.listChanges(r.Context(), v, d); err != nil {
		s.Error(w, r, err)
		return
	}
	p := s.page(r, i18n.FromContext(r.Context()).Text(req.SummaryText()), "requests")
	if isFragment(r) {
		render(w, r, view.RequestLive(p, rv))
		return
	}
	render(w, r, view.RequestPage(p, rv))
}

func (s *Server) handleCancel(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if err := s.Requests.Cancel(r.Context(), viewer(r), id); err != nil {
		s.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/requests/"+id+"?notice=canceled", http.StatusSeeOther)
}

// approvalFilter reads My approvals' filter from the query.
func approvalFilter(r *http.Request) portal.ApprovalFilter {
	in := input(r)
	return portal.ApprovalFilter{Requester: in.Get("requester"), Group: in.Get("group"), Kind: portal.Operation(in.Get("kind")),
		Due: in.Get("due"), Sort: in.Get("sort"), Offset: offsetParam(r)}
}

func (s *Server) renderApprovals(w http.ResponseWriter, r *http.Request, status int, note, errMsg string) {
	v := viewer(r)
	f := approvalFilter(r)
	page, err := s.Requests.MyApprovals(r.Context(), v, f)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if err := f.Normalize(); err != nil {
		s.Error(w, r, err) // MyApprovals accepted it: cannot happen
		return
	}
	p := s.page(r, tr(r, "My approvals"), "approvals")
	// Unfiltered, the list counts them all. Otherwise the session's count
	// holds for a GET unless it stopped at the badge's limit; after a
	// decision (a POST) page counted them all, after it.
	waiting := p.PendingApprovals
	switch {
	case !f.Filtered() && (len(page.Items) > 0 || f.Offset == 0):
		waiting = page.Total
	case showsBadge(r) && waiting > portal.MaxBadgeCount:
		if waiting, err = s.Requests.CountMyApprovals(r.Context(), v); err != nil {
			s.Error(w, r, err)
			return
		}
	}
	p.PendingApprovals = waiting
	renderStatus(w, r, status, view.ApprovalList(p, view.ApprovalsView{Page: page, Filter: f, Waiting: waiting,
		Notice: note, Error: errMsg, Now: time.Now()}))
}

func (s *Server) handleApprovals(w http.ResponseWriter, r *http.Request) {
	note := notice(r)
	// After a bulk decision: how many were decided, from its redirect.
	if verb := input(r).Get("notice"); verb == "approved" || verb == "rejected" {
		if n, err := strconv.Atoi(input(r).Get("n")); err == nil && n > 0 && n <= portal.MaxBulkDecisions {
			note = plural(n, "request") + " " + verb + "."
		}
	}
	s.renderApprovals(w, r, http.StatusOK, note, "")
}

// handleBulkDecide applies one decision to every selected approval and
// reports each that could not be decided.
func (s *Server) handleBulkDecide(w http.ResponseWriter, r *http.Request) {
	var ids []string // each once, in the order of the page
	for _, id := range input(r)["id"] {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	approve := input(r).Get("decision") == "approve"
	reason := input(r).Get("reason")
	if len(ids) == 0 {
		s.renderApprovals(w, r, http.StatusBadRequest, "", tr(r, "Select at least one request."))
		return
	}
	if len(ids) > portal.MaxBulkDecisions {
		s.renderApprovals(w, r, http.StatusBadRequest, "", fmt.Sprintf("Decide on at most %d requests at once.", portal.MaxBulkDecisions))
		return
	}
	errs, err := s.Requests.DecideMany(r.Context(), viewer(r), ids, approve, reason)
	if portal.ErrorCode(err) == portal.EINVALID {
		s.renderApprovals(w, r, http.StatusBadRequest, "", errText(r, err))
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	var problems []string
	done := 0
	for _, err := range errs {
		if err != nil {
			problems = append(problems, errText(r, err))
			continue
		}
		done++
	}
	verb := "approved"
	if !approve {
		verb = "rejected"
	}
	if len(problems) == 0 {
		// Post/Redirect/Get, as for one decision: the list is shown by the
		// page load that follows (with the filter kept), so reloading it
		// never sends the decisions again, and the decision itself costs
		// no rendering of the approvals still waiting.
		f := approvalFilter(r)
		if f.Normalize() != nil {
			f = portal.ApprovalFilter{}
		}
		loc, sep := view.ApprovalsURL(f, f.Offset), "?"
		if strings.Contains(loc, "?") {
			sep = "&"
		}
		http.Redirect(w, r, loc+sep+url.Values{"notice": {verb}, "n": {strconv.Itoa(done)}}.Encode(), http.StatusSeeOther)
		return
	}
	note := ""
	if done > 0 {
		note = plural(done, "request") + " " + verb + "."
	}
	s.renderApprovals(w, r, http.StatusBadRequest, note, strings.Join(uniq(problems), " "))
}

// renderApproval shows one approval with what its approver needs to
// decide: the request, current and new values, the group, its owners and
// how many members it has, the policy, when it was asked and when it is
// due. A decided approval is shown too, without the buttons.
func (s *Server) renderApproval(w http.ResponseWriter, r *http.Request, status int, errMsg string) {
	v := viewer(r)
	it, open, err := s.Requests.FindApproval(r.Context(), v, chi.URLParam(r, "id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	d, err := s.Requests.FindRequestDetail(r.Context(), v, it.Request.ID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	av := view.ApprovalView{ApprovalID: it.ApprovalID, Detail: d, Open: open, OnBehalfOf: it.OnBehalfOf,
		PolicyLink: v.Has(portal.RoleAdmin) && d.Request.PolicyID != "", Error: errMsg, Now: time.Now()}
	req := &d.Request
	if req.GroupID != "" {
		// The group's description, owners and member count; no members.
		if av.Group, err = s.Groups.FindGroup(r.Context(), req.GroupID, 0, 1); err != nil {
			s.Error(w, r, err)
			return
		}
	}
	if len(req.Changes) > 0 {
		prof, err := s.People.FindProfile(r.Context(), req.PersonID)
		if err != nil {
			s.Error(w, r, err)
			return
		}
		schema, err := s.People.Schema(r.Context())
		if err != nil {
			s.Error(w, r, err)
			return
		}
		current := personValues(prof)
		for _, name := range slices.Sorted(maps.Keys(req.Changes)) {
			a, ok := schema.Lookup(name)
			if !ok {
				continue // validated at submission: the schema lost it since
			}
			c := view.AttributeChange{Label: a.Label, New: req.Changes[name], Hidden: !a.VisibleTo(v, req.PersonID),
				Multi: a.Type == portal.TypeStrings}
			if !c.Hidden {
				c.Current = current[name]
				if a.Core() {
					c.Current = a.Text(&prof.Person)
				}
				if a.Type == portal.TypeReference && a.Core() {
					// The manager's ID; an extra reference's name came with
					// the profile.
					c.Current, err = s.personName(r.Context(), c.Current)
				}
			}
			if a.Type == portal.TypeReference && !c.Hidden && err == nil {
				c.New, err = s.personName(r.Context(), c.New)
			}
			if err != nil {
				s.Error(w, r, err)
				return
			}
			av.Changes = append(av.Changes, c)
		}
	}
	summary := i18n.FromContext(r.Context()).Text(req.SummaryText())
	title := tr(r, "Approve: %s", summary)
	if !open {
		title = summary
	}
	renderStatus(w, r, status, view.ApprovalPage(s.page(r, title, "approvals"), av))
}

func (s *Server) handleApproval(w http.ResponseWriter, r *http.Request) {
	s.renderApproval(w, r, http.StatusOK, "")
}

func (s *Server) handleDecide(w http.ResponseWriter, r *http.Request) {
	approve := input(r).Get("decision") == "approve"
	err := s.Requests.Decide(r.Context(), viewer(r), chi.URLParam(r, "id"), approve, input(r).Get("reason"))
	if err != nil {
		if portal.ErrorCode(err) == portal.EINVALID {
			s.renderApproval(w, r, http.StatusBadRequest, errText(r, err))
			return
		}
		s.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/approvals?notice=decided", http.StatusSeeOther)
}

func (s *Server) handleProfileEdit(w http.ResponseWriter, r *http.Request) {
	v := viewer(r)
	prof, err := s.People.FindProfile(r.Context(), v.PersonID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	schema, err := s.People.Schema(r.Context())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	f := view.ProfileEditForm{Values: personValues(prof), Core: portal.CoreSchema().Editable(), Extras: editableExtras(schema, v),
		Action: "/profile/edit"}
	if r.Method == http.MethodPost {
		if err := s.submitEdits(r, v.PersonID, &f); err != nil {
			s.Error(w, r, err)
			return
		}
	}
	render(w, r, view.ProfileEdit(s.page(r, tr(r, "Edit my profile"), "home"), &prof.Person, f))
}

// handlePersonEdit lets administrators and helpdesk change another
// person's attributes, core and extra (those the viewer sees of them),
// each as a request under the policies that grant it to them.
func (s *Server) handlePersonEdit(w http.ResponseWriter, r *http.Request) {
	v := viewer(r)
	if !v.SeesPrivileged() {
		s.Error(w, r, portal.Errorf(portal.EFORBIDDEN, "Only administrators and helpdesk change other people's attributes."))
		return
	}
	id := chi.URLParam(r, "id")
	prof, err := s.People.FindProfile(r.Context(), id)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	schema, err := s.People.Schema(r.Context())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	prof.Redact(v)
	f := view.ProfileEditForm{Values: personValues(prof), Core: portal.CoreSchema().Editable(), Action: "/people/" + id + "/edit",
		Subject: prof.Person.DisplayName}
	for _, a := range schema.Extra() {
		if a.VisibleTo(v, id) {
			f.Extras = append(f.Extras, a)
		}
	}
	if r.Method == http.MethodPost {
		if err := s.submitEdits(r, id, &f); err != nil {
			s.Error(w, r, err)
			return
		}
	}
	render(w, r, view.ProfileEdit(s.page(r, tr(r, "Edit %s", portal.Isolate(prof.Person.DisplayName)), "people"), &prof.Person, f))
}

// submitEdits submits the changes the edit form f posted of the person
// personID: each changed attribute its own request, so that what policy
// grants at once is done at once and the rest waits for approval. A field
// the form did not send is left as it is: only a field sent empty clears
// an attribute. What happened to each is in f.Results; only an internal
// error is returned.
func (s *Server) submitEdits(r *http.Request, personID string, f *view.ProfileEditForm) error {
	v, in := viewer(r), input(r)
	type edit struct {
		attr portal.Attribute
		sent []string
	}
	var edits []edit
	for _, a := range f.Core {
		edits = append(edits, edit{a, in[a.Name]})
	}
	for _, a := range f.Extras {
		edits = append(edits, edit{a, in[view.ExtraField(a.Name)]})
	}
	printer := i18n.FromContext(r.Context())
	for _, e := range edits {
		a := e.attr
		label := printer.Name(a.Label)
		if len(e.sent) == 0 {
			continue
		}
		val := e.sent[0]
		if a.Type == portal.TypeStrings {
			// One field a value; the empty ones hold none.
			val = portal.JoinValues(portal.SplitValues(strings.Join(e.sent, "\n")))
		}
		if val == f.Values[a.Name] {
			continue
		}
		f.Values[a.Name] = val
		if a.Type == portal.TypeReference && strings.TrimSpace(val) != "" {
			// A person is named by account name or email, and asked
			// for by ID.
			ref, err := s.People.FindPersonByName(r.Context(), val)
			if portal.ErrorCode(err) == portal.ENOTFOUND {
				f.Results = append(f.Results, tr(r, "%s: %s", label, errText(r, portal.Errorf(portal.EINVALID, "No one has the account name or email “%s”.", val))))
				continue
			} else if err != nil {
				return err
			}
			val, f.Values[a.Name] = ref.ID, ref.DisplayName
		}
		req, err := s.Requests.Submit(r.Context(), v, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: personID,
			Changes: map[string]string{a.Name: val}, Justification: in.Get("justification")})
		switch {
		case portal.ErrorCode(err) == portal.EINTERNAL:
			return err
		case err != nil:
			f.Results = append(f.Results, tr(r, "%s: %s", label, errText(r, err)))
		case req.Status == portal.StatusAuthorizing:
			f.Results = append(f.Results, tr(r, "%s: sent for approval; follow it in My requests.", label))
		default:
			f.Results = append(f.Results, tr(r, "%s: changed.", label))
		}
	}
	if len(f.Results) == 0 {
		f.Results = []string{tr(r, "Nothing changed.")}
	}
	return nil
}

// personValues holds the person's current value of each attribute the
// profile edit form offers: the core ones, and the extra ones they have (a
// reference as the name of the person it names).
func personValues(prof *portal.Profile) map[string]string {
	values := map[string]string{}
	for _, a := range portal.CoreSchema().Editable() {
		values[a.Name] = a.Text(&prof.Person)
	}
	for _, a := range prof.Attributes {
		values[a.Name] = a.Value
		if a.Type == portal.TypeReference {
			values[a.Name] = a.RefName
		}
	}
	return values
}

// personName is the name of the person whose ID is id, as a change to a
// reference shows it: id itself when no one has it (any more), "" for "".
func (s *Server) personName(ctx context.Context, id string) (string, error) {
	if id == "" {
		return "", nil
	}
	p, err := s.People.FindProfile(ctx, id)
	if portal.ErrorCode(err) == portal.ENOTFOUND {
		return id, nil
	} else if err != nil {
		return "", err
	}
	return p.Person.DisplayName, nil
}

// changeValues are the new values of changes that name a person (the
// manager, a reference attribute), as the name of that person.
func (s *Server) changeValues(ctx context.Context, changes map[string]string) (map[string]string, error) {
	if len(changes) == 0 {
		return nil, nil
	}
	schema, err := s.People.Schema(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for name, v := range changes {
		if a, ok := schema.Lookup(name); ok && a.Type == portal.TypeReference {
			if out[name], err = s.personName(ctx, v); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// listChanges are the multi-valued attributes a request changes, with the
// values they had where v may see them: those the commit replaced (its
// audit entry), or the person's values while the request waits.
func (s *Server) listChanges(ctx context.Context, v portal.Viewer, d *portal.RequestDetail) (map[string]view.ListChange, error) {
	req := &d.Request
	if len(req.Changes) == 0 {
		return nil, nil
	}
	schema, err := s.People.Schema(ctx)
	if err != nil {
		return nil, err
	}
	var out map[string]view.ListChange
	var current map[string]string
	for name, val := range req.Changes {
		a, ok := schema.Lookup(name)
		if !ok || a.Type != portal.TypeStrings {
			continue
		}
		l := view.ListChange{After: portal.SplitValues(val)}
		if old, ok := d.Replaced[name]; ok && a.VisibleTo(v, req.PersonID) {
			l.Before, l.Known = portal.SplitValues(old), true
		} else if req.Status == portal.StatusAuthorizing && a.VisibleTo(v, req.PersonID) {
			if current == nil {
				prof, err := s.People.FindProfile(ctx, req.PersonID)
				if err != nil {
					return nil, err
				}
				current = personValues(prof)
			}
			l.Before, l.Known = portal.SplitValues(current[name]), true
		}
		if out == nil {
			out = map[string]view.ListChange{}
		}
		out[name] = l
	}
	return out, nil
}

// editableExtras are the extra attributes v may ask to change on their own
// profile: editable, and visible to them. A policy still decides.
func editableExtras(schema *portal.Schema, v portal.Viewer) []portal.Attribute {
	var out []portal.Attribute
	for _, a := range schema.Extra() {
		if a.Editable && a.VisibleTo(v, v.PersonID) {
			out = append(out, a)
		}
	}
	return out
}

func (s *Server) renderDeputy(w http.ResponseWriter, r *http.Request, status int, errMsg, who, from, to string) {
	ds, err := s.Requests.MyDeputies(r.Context(), viewer(r))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	renderStatus(w, r, status, view.DeputySettings(s.page(r, tr(r, "Deputy"), "approvals"), ds, errMsg, notice(r), who, from, to))
}

func (s *Server) handleDeputy(w http.ResponseWriter, r *http.Request) {
	s.renderDeputy(w, r, http.StatusOK, "", "", "", "")
}

func (s *Server) handleSetDeputy(w http.ResponseWriter, r *http.Request) {
	who, from, to := input(r).Get("deputy"), input(r).Get("from"), input(r).Get("to")
	fail := func(err error) {
		if portal.ErrorCode(err) == portal.EINTERNAL {
			s.Error(w, r, err)
			return
		}
		s.renderDeputy(w, r, codeStatus[portal.ErrorCode(err)], errText(r, err), who, from, to)
	}
	starts, err1 := time.Parse(time.DateOnly, from)
	ends, err2 := time.Parse(time.DateOnly, to)
	if err1 != nil || err2 != nil {
		fail(portal.Errorf(portal.EINVALID, "Give both days as dates."))
		return
	}
	person, err := s.People.FindPersonByName(r.Context(), who)
	if err != nil {
		fail(err)
		return
	}
	if err := s.Requests.SetDeputy(r.Context(), viewer(r), person.ID, starts, ends); err != nil {
		fail(err)
		return
	}
	http.Redirect(w, r, "/settings/deputy?notice=deputy", http.StatusSeeOther)
}

func (s *Server) handleRemoveDeputy(w http.ResponseWriter, r *http.Request) {
	starts, err := time.Parse(time.DateOnly, input(r).Get("starts"))
	if err != nil {
		s.Error(w, r, portal.Errorf(portal.EINVALID, "That deputy period does not exist."))
		return
	}
	if err := s.Requests.RemoveDeputy(r.Context(), viewer(r), starts); err != nil {
		s.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings/deputy?notice=undeputy", http.StatusSeeOther)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func uniq(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
