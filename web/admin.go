package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
	"github.com/tessera-idm/tessera/web/view"
)

// AdminStore is what the administration pages read and change.
type AdminStore interface {
	portal.PolicyService
	portal.SetService
	portal.DynamicGroupService
	portal.CalendarService
	portal.AuditReader
	portal.AuditVerifier
	portal.SchemaService
	portal.RoleService
}

// adminPages serves /admin: policies, sets, dynamic groups, approval
// workflows, holiday calendars and the audit log, for administrators only.
type adminPages struct {
	*Server
	store AdminStore // nil when the server was built without them
}

// adminNotices are the fixed messages a redirect may ask an admin page to
// show; what was typed is never reflected through the URL.
var adminNotices = map[string]string{
	"policy-created":   i18n.Mark("The policy was created."),
	"policy-saved":     i18n.Mark("The policy was saved."),
	"policy-enabled":   i18n.Mark("The policy was enabled."),
	"policy-disabled":  i18n.Mark("The policy was disabled."),
	"policy-deleted":   i18n.Mark("The policy was deleted."),
	"set-created":      i18n.Mark("The set was created."),
	"set-saved":        i18n.Mark("The set was saved."),
	"rule-saved":       i18n.Mark("The rule was saved: the group's members are now the people it selects."),
	"rule-cleared":     i18n.Mark("The group is static again; its members stay, as ordinary members."),
	"workflow-created": i18n.Mark("The approval workflow was created."),
	"workflow-saved":   i18n.Mark("The approval workflow was saved."),
	"workflow-deleted": i18n.Mark("The approval workflow was deleted."),
	"calendar-created": i18n.Mark("The calendar was created. Add its holidays below."),
	"calendar-saved":   i18n.Mark("The calendar was saved."),
	"holiday-added":    i18n.Mark("The holiday was added."),
	"holiday-removed":  i18n.Mark("The holiday was removed."),

	"attribute-added":   i18n.Mark("The attribute was added."),
	"attribute-saved":   i18n.Mark("The attribute was saved."),
	"attribute-removed": i18n.Mark("The attribute was removed, with everyone's values of it."),
	"role-granted":      i18n.Mark("The role was granted: the person is a member of its group now."),
	"role-requested":    i18n.Mark("The grant was sent for approval; follow it in My requests."),
	"role-revoked":      i18n.Mark("The role was revoked: the person is no longer a member of its group."),
	"role-group-set":    i18n.Mark("The role is now granted through the group you chose."),
	"person-created":    i18n.Mark("The person was created."),
	"person-changed":    i18n.Mark("The change was made."),
	"review-started":    i18n.Mark("The access review started: its reviewers were told by email."),
	"review-completed":  i18n.Mark("The access review ended: the memberships decided away were removed by requests."),
}

func adminNotice(r *http.Request) string { return fixedNotice(r, adminNotices) }

// fixedNotice is the notice of notices that the request's "notice" names,
// in the reader's language; "" when it names none.
func fixedNotice(r *http.Request, notices map[string]string) string {
	if key, ok := notices[input(r).Get("notice")]; ok {
		return tr(r, key)
	}
	return ""
}

// adminRoutes mounts the administration pages, served by s.Admin.
func (s *Server) adminRoutes(r chi.Router) {
	a := &adminPages{Server: s}
	a.store = s.Admin
	r.Use(a.requireAdmin)
	r.Get("/", a.handleHome)

	r.Get("/passwords", s.handlePasswordSettingsPage)
	r.Post("/passwords", s.handlePasswordSettings)

	r.Get("/policies", a.handlePolicies)
	r.Get("/policies/new", a.handleNewPolicy)
	r.Post("/policies", a.handleCreatePolicy)
	r.Get("/policies/{id}", a.handleEditPolicy)
	r.Post("/policies/{id}", a.handleUpdatePolicy)
	r.Post("/policies/{id}/enable", a.handleEnablePolicy)
	r.Post("/policies/{id}/disable", a.handleDisablePolicy)
	r.Post("/policies/{id}/delete", a.handleDeletePolicy)

	r.Get("/sets", a.handleSets)
	r.Get("/sets/new", a.handleNewSet)
	r.Post("/sets", a.handleCreateSet)
	r.Get("/sets/{id}", a.handleEditSet)
	r.Post("/sets/{id}", a.handleUpdateSet)
	r.Post("/rules/preview", a.handlePreviewRule)
	r.Get("/groups", a.handleAdminGroups)
	r.Get("/groups/{id}/rule", a.handleGroupRule)
	r.Post("/groups/{id}/rule", a.handleSaveGroupRule)

	r.Get("/workflows", a.handleWorkflows)
	r.Get("/workflows/new", a.handleNewWorkflow)
	r.Post("/workflows", a.handleCreateWorkflow)
	r.Get("/workflows/{id}", a.handleEditWorkflow)
	r.Post("/workflows/{id}", a.handleUpdateWorkflow)
	r.Post("/workflows/{id}/delete", a.handleDeleteWorkflow)

	r.Get("/calendars", a.handleCalendars)
	r.Get("/calendars/new", a.handleNewCalendar)
	r.Post("/calendars", a.handleCreateCalendar)
	r.Get("/calendars/{id}", a.handleEditCalendar)
	r.Post("/calendars/{id}", a.handleUpdateCalendar)
	r.Post("/calendars/{id}/holidays", a.handleAddHoliday)
	r.Post("/calendars/{id}/holidays/{day}/remove", a.handleRemoveHoliday)

	r.Get("/audit", a.handleAudit)
	r.Post("/audit/verify", a.handleVerifyAudit)
	a.connectedRoutes(r)
	a.syncRoutes(r)
	a.requestRoutes(r)
	a.hrRoutes(r)
	a.schemaRoutes(r)
	a.roleRoutes(r)
	a.peopleRoutes(r)
	a.reviewRoutes(r)
}

// requireAdmin lets only administrators through, whatever the page; the
// check is here on the server, not in which links the menu shows.
func (a *adminPages) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !viewer(r).Has(portal.RoleAdmin) {
			a.Error(w, r, portal.Errorf(portal.EFORBIDDEN, "Only administrators can open the administration pages."))
			return
		}
		if a.store == nil {
			a.Error(w, r, errors.New("web: the administration services are not configured"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// formFailed reports whether err should be shown on the form rather than
// as an error page: a problem with what was typed, not a missing page or a
// fault of ours.
func formFailed(err error) bool {
	switch portal.ErrorCode(err) {
	case portal.EINVALID, portal.ECONFLICT:
		return true
	}
	return false
}

func (a *adminPages) handleHome(w http.ResponseWriter, r *http.Request) {
	render(w, r, view.AdminHome(a.page(r, tr(r, "Administration"), "admin")))
}

// Policies.

func (a *adminPages) handlePolicies(w http.ResponseWriter, r *http.Request) {
	ps, err := a.store.ListPolicies(r.Context())
	if err != nil {
		a.Error(w, r, err)
		return
	}
	render(w, r, view.PolicyList(a.page(r, tr(r, "Policies"), "admin-policies"), ps, adminNotice(r)))
}

func (a *adminPages) renderPolicy(w http.ResponseWriter, r *http.Request, status int, f view.PolicyForm) {
	schema, err := a.store.Schema(r.Context())
	if err != nil {
		a.Error(w, r, err)
		return
	}
	f.Attributes = schema.Requestable()
	if f.Workflows, err = a.store.ListWorkflows(r.Context()); err != nil {
		a.Error(w, r, err)
		return
	}
	if f.Sets, err = a.store.ListSets(r.Context()); err != nil {
		a.Error(w, r, err)
		return
	}
	title := tr(r, "New policy")
	if f.Policy.ID != "" {
		title = tr(r, "Edit policy")
	}
	renderStatus(w, r, status, view.PolicyEdit(a.page(r, title, "admin-policies"), f))
}

func (a *adminPages) handleNewPolicy(w http.ResponseWriter, r *http.Request) {
	a.renderPolicy(w, r, http.StatusOK, view.PolicyForm{Policy: portal.Policy{
		Enabled: true, Notify: true, Operation: portal.OpAddMember, Requestor: portal.RequestorSelf}})
}

func (a *adminPages) handleEditPolicy(w http.ResponseWriter, r *http.Request) {
	p, err := a.store.FindPolicy(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.Error(w, r, err)
		return
	}
	a.renderPolicy(w, r, http.StatusOK, view.PolicyForm{Policy: *p})
}

func policyFromForm(r *http.Request) portal.Policy {
	p := portal.Policy{
		Name:        input(r).Get("name"),
		Description: input(r).Get("description"),
		Enabled:     input(r).Get("enabled") == "on",
		Operation:   portal.Operation(input(r).Get("operation")),
		Requestor:   portal.Requestor(input(r).Get("requestor")),
		// Normalize drops the set unless the requestor is a set.
		RequestorSetID: input(r).Get("requestor_set"),
		Attributes:     input(r)["attributes"],
		WorkflowID:     input(r).Get("workflow"),
		Notify:         input(r).Get("notify") == "on",
	}
	for _, j := range input(r)["targets"] {
		p.TargetJoinPolicies = append(p.TargetJoinPolicies, portal.JoinPolicy(j))
	}
	return p
}

func (a *adminPages) handleCreatePolicy(w http.ResponseWriter, r *http.Request) {
	a.savePolicy(w, r, "")
}

func (a *adminPages) handleUpdatePolicy(w http.ResponseWriter, r *http.Request) {
	a.savePolicy(w, r, chi.URLParam(r, "id"))
}

// savePolicy creates (id empty) or updates a policy from the form, showing
// the form again with what was typed when it is refused.
func (a *adminPages) savePolicy(w http.ResponseWriter, r *http.Request, id string) {
	p := policyFromForm(r)
	p.ID = id
	var err error
	notice := "policy-created"
	if id == "" {
		_, err = a.store.CreatePolicy(r.Context(), viewer(r), p)
	} else {
		_, err = a.store.UpdatePolicy(r.Context(), viewer(r), p)
		notice = "policy-saved"
	}
	if formFailed(err) {
		a.renderPolicy(w, r, codeStatus[portal.ErrorCode(err)], view.PolicyForm{Policy: p, Error: errText(r, err)})
		return
	} else if err != nil {
		a.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/policies?notice="+notice, http.StatusSeeOther)
}

func (a *adminPages) handleEnablePolicy(w http.ResponseWriter, r *http.Request) {
	a.setPolicyEnabled(w, r, true)
}

func (a *adminPages) handleDisablePolicy(w http.ResponseWriter, r *http.Request) {
	a.setPolicyEnabled(w, r, false)
}

func (a *adminPages) setPolicyEnabled(w http.ResponseWriter, r *http.Request, enabled bool) {
	if err := a.store.SetPolicyEnabled(r.Context(), viewer(r), chi.URLParam(r, "id"), enabled); err != nil {
		a.Error(w, r, err)
		return
	}
	notice := "policy-disabled"
	if enabled {
		notice = "policy-enabled"
	}
	http.Redirect(w, r, "/admin/policies?notice="+notice, http.StatusSeeOther)
}

func (a *adminPages) handleDeletePolicy(w http.ResponseWriter, r *http.Request) {
	if err := a.store.DeletePolicy(r.Context(), viewer(r), chi.URLParam(r, "id")); err != nil {
		a.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/policies?notice=policy-deleted", http.StatusSeeOther)
}

// Approval workflows.

func (a *adminPages) handleWorkflows(w http.ResponseWriter, r *http.Request) {
	ws, err := a.store.ListWorkflows(r.Context())
	if err != nil {
		a.Error(w, r, err)
		return
	}
	render(w, r, view.WorkflowList(a.page(r, tr(r, "Approval workflows"), "admin-workflows"), ws, adminNotice(r)))
}

func (a *adminPages) renderWorkflow(w http.ResponseWriter, r *http.Request, status int, f view.WorkflowForm) {
	var err error
	if f.Calendars, err = a.store.ListCalendars(r.Context()); err != nil {
		a.Error(w, r, err)
		return
	}
	if f.Sets, err = a.store.ListSets(r.Context()); err != nil {
		a.Error(w, r, err)
		return
	}
	title := tr(r, "New approval workflow")
	if f.ID != "" {
		title = tr(r, "Edit approval workflow")
	}
	renderStatus(w, r, status, view.WorkflowEdit(a.page(r, title, "admin-workflows"), f))
}

func (a *adminPages) handleNewWorkflow(w http.ResponseWriter, r *http.Request) {
	a.renderWorkflow(w, r, http.StatusOK, view.WorkflowForm{Source: string(portal.ApproversManager), Threshold: "any", N: "1",
		Deadline: "days", DeadlineDays: "5", ReminderHours: "24", Outcome: string(portal.TimeoutDeny)})
}

func (a *adminPages) handleEditWorkflow(w http.ResponseWriter, r *http.Request) {
	wf, err := a.store.FindWorkflow(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.Error(w, r, err)
		return
	}
	a.renderWorkflow(w, r, http.StatusOK, workflowForm(wf))
}

// workflowForm fills the editor from a stored workflow.
func workflowForm(wf *portal.ApprovalWorkflow) view.WorkflowForm {
	f := view.WorkflowForm{ID: wf.ID, Name: wf.Name, Source: string(wf.ApproverSource), Approvers: namesOf(wf.Approvers),
		ApproverSet: wf.ApproverSetID, Threshold: string(wf.Threshold), N: strconv.Itoa(wf.ThresholdN), Deadline: "none", CalendarID: wf.CalendarID,
		Escalation: namesOf(wf.Escalation), Outcome: string(wf.TimeoutOutcome), Policies: wf.Policies}
	switch {
	case wf.DeadlineHours != 0:
		f.Deadline, f.DeadlineHours = "hours", strconv.Itoa(wf.DeadlineHours)
	case wf.DeadlineBusinessDays != 0:
		f.Deadline, f.DeadlineDays = "days", strconv.Itoa(wf.DeadlineBusinessDays)
	}
	if wf.ReminderHours != 0 {
		f.ReminderHours = strconv.Itoa(wf.ReminderHours)
	}
	return f
}

func namesOf(people []portal.NamedPerson) string {
	names := make([]string, len(people))
	for i, p := range people {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

func workflowFormFrom(r *http.Request, id string) view.WorkflowForm {
	v := input(r).Get
	return view.WorkflowForm{ID: id, Name: input(r).Get("name"), Source: v("source"), Approvers: input(r).Get("approvers"),
		ApproverSet: v("approver_set"), Threshold: v("threshold"), N: v("n"), Deadline: v("deadline"), DeadlineHours: v("deadline_hours"),
		DeadlineDays: v("deadline_days"), CalendarID: v("calendar"), ReminderHours: v("reminder_hours"),
		Escalation: input(r).Get("escalation"), Outcome: v("outcome")}
}

// number reads a whole number typed in a form; blank is zero. what names
// the field in a sentence, a Text so that the catalogue finds its key and
// the message reads in the person's language.
func number(s string, what portal.Text) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, portal.Errorf(portal.EINVALID, "%s must be a whole number, not “%s”.", what, s)
	}
	return n, nil
}

// approvalWorkflow turns the editor's fields into a workflow for the store,
// which checks it.
func approvalWorkflow(f view.WorkflowForm) (portal.ApprovalWorkflow, error) {
	wf := portal.ApprovalWorkflow{ID: f.ID, Name: f.Name, ApproverSource: portal.ApproverSource(f.Source),
		Approvers: portal.NamedPeople(portal.ParseNames(f.Approvers)), ApproverSetID: f.ApproverSet, Threshold: portal.Threshold(f.Threshold),
		Escalation: portal.NamedPeople(portal.ParseNames(f.Escalation)), TimeoutOutcome: portal.TimeoutOutcome(f.Outcome)}
	var err error
	if wf.Threshold == portal.ThresholdN {
		if wf.ThresholdN, err = number(f.N, portal.Textf("The number of approvals needed")); err != nil {
			return wf, err
		}
	}
	switch f.Deadline {
	case "hours":
		if wf.DeadlineHours, err = number(f.DeadlineHours, portal.Textf("The deadline in hours")); err != nil {
			return wf, err
		} else if wf.DeadlineHours == 0 {
			return wf, portal.Errorf(portal.EINVALID, "Give the deadline's number of hours, or choose no deadline.")
		}
	case "days":
		if wf.DeadlineBusinessDays, err = number(f.DeadlineDays, portal.Textf("The deadline in business days")); err != nil {
			return wf, err
		} else if wf.DeadlineBusinessDays == 0 {
			return wf, portal.Errorf(portal.EINVALID, "Give the deadline's number of business days, or choose no deadline.")
		}
		wf.CalendarID = f.CalendarID
	case "", "none":
	default:
		return wf, portal.Errorf(portal.EINVALID, "Choose no deadline, a deadline in hours, or one in business days.")
	}
	if wf.ReminderHours, err = number(f.ReminderHours, portal.Textf("The reminder")); err != nil {
		return wf, err
	}
	return wf, nil
}

func (a *adminPages) handleCreateWorkflow(w http.ResponseWriter, r *http.Request) {
	a.saveWorkflow(w, r, "")
}

func (a *adminPages) handleUpdateWorkflow(w http.ResponseWriter, r *http.Request) {
	a.saveWorkflow(w, r, chi.URLParam(r, "id"))
}

func (a *adminPages) saveWorkflow(w http.ResponseWriter, r *http.Request, id string) {
	f := workflowFormFrom(r, id)
	wf, err := approvalWorkflow(f)
	notice := "workflow-created"
	if err == nil && id == "" {
		_, err = a.store.CreateWorkflow(r.Context(), viewer(r), wf)
	} else if err == nil {
		_, err = a.store.UpdateWorkflow(r.Context(), viewer(r), wf)
		notice = "workflow-saved"
	}
	if formFailed(err) {
		f.Error = errText(r, err)
		if id != "" {
			if saved, ferr := a.store.FindWorkflow(r.Context(), id); ferr == nil {
				f.Policies = saved.Policies
			}
		}
		a.renderWorkflow(w, r, codeStatus[portal.ErrorCode(err)], f)
		return
	} else if err != nil {
		a.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/workflows?notice="+notice, http.StatusSeeOther)
}

// handleDeleteWorkflow deletes a workflow, or shows why it cannot be (a
// policy uses it, or requests wait on it) on its page.
func (a *adminPages) handleDeleteWorkflow(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	err := a.store.DeleteWorkflow(r.Context(), viewer(r), id)
	if portal.ErrorCode(err) == portal.ECONFLICT {
		wf, ferr := a.store.FindWorkflow(r.Context(), id)
		if ferr != nil {
			a.Error(w, r, ferr)
			return
		}
		f := workflowForm(wf)
		f.Error = errText(r, err)
		a.renderWorkflow(w, r, http.StatusConflict, f)
		return
	} else if err != nil {
		a.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/workflows?notice=workflow-deleted", http.StatusSeeOther)
}

// Holiday calendars.

func (a *adminPages) handleCalendars(w http.ResponseWriter, r *http.Request) {
	cs, err := a.store.ListCalendars(r.Context())
	if err != nil {
		a.Error(w, r, err)
		return
	}
	render(w, r, view.CalendarList(a.page(r, tr(r, "Holiday calendars"), "admin-calendars"), cs, adminNotice(r)))
}

func (a *adminPages) renderCalendar(w http.ResponseWriter, r *http.Request, status int, f view.CalendarForm) {
	title := tr(r, "New holiday calendar")
	if f.ID != "" {
		title = tr(r, "Edit holiday calendar")
	}
	renderStatus(w, r, status, view.CalendarEdit(a.page(r, title, "admin-calendars"), f))
}

func (a *adminPages) handleNewCalendar(w http.ResponseWriter, r *http.Request) {
	f := view.CalendarForm{TimeZone: "UTC"}
	f.Weekend[time.Saturday], f.Weekend[time.Sunday] = true, true
	a.renderCalendar(w, r, http.StatusOK, f)
}

// calendarForm fills the editor from a stored calendar.
func calendarForm(c *portal.Calendar) view.CalendarForm {
	f := view.CalendarForm{ID: c.ID, Name: c.Name, TimeZone: c.TimeZone.String(), Holidays: c.Holidays}
	for _, d := range c.Weekend {
		f.Weekend[d] = true
	}
	return f
}

// findCalendarForm reads calendar id into the editor, or renders the error
// page and returns nil.
func (a *adminPages) findCalendarForm(w http.ResponseWriter, r *http.Request, id string) *view.CalendarForm {
	c, err := a.store.FindCalendar(r.Context(), id)
	if err != nil {
		a.Error(w, r, err)
		return nil
	}
	f := calendarForm(c)
	return &f
}

func (a *adminPages) handleEditCalendar(w http.ResponseWriter, r *http.Request) {
	f := a.findCalendarForm(w, r, chi.URLParam(r, "id"))
	if f == nil {
		return
	}
	f.Notice = adminNotice(r)
	a.renderCalendar(w, r, http.StatusOK, *f)
}

func (a *adminPages) handleCreateCalendar(w http.ResponseWriter, r *http.Request) {
	a.saveCalendar(w, r, "")
}

func (a *adminPages) handleUpdateCalendar(w http.ResponseWriter, r *http.Request) {
	a.saveCalendar(w, r, chi.URLParam(r, "id"))
}

func (a *adminPages) saveCalendar(w http.ResponseWriter, r *http.Request, id string) {
	f := view.CalendarForm{ID: id, Name: input(r).Get("name"), TimeZone: input(r).Get("time_zone")}
	c := portal.Calendar{ID: id, Name: f.Name, Weekend: []time.Weekday{}} // none ticked: no weekend
	for _, d := range input(r)["weekend"] {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 || n > 6 {
			a.Error(w, r, portal.Errorf(portal.EINVALID, "%q is not a day of the week.", d))
			return
		}
		f.Weekend[n] = true
		c.Weekend = append(c.Weekend, time.Weekday(n))
	}
	fail := func(err error) {
		if !formFailed(err) {
			a.Error(w, r, err)
			return
		}
		f.Error = errText(r, err)
		if id != "" {
			// Show the holidays, which this form does not change.
			if saved, ferr := a.store.FindCalendar(r.Context(), id); ferr == nil {
				f.Holidays = saved.Holidays
			}
		}
		a.renderCalendar(w, r, codeStatus[portal.ErrorCode(err)], f)
	}
	var err error
	if c.TimeZone, err = portal.LoadTimeZone(f.TimeZone); err != nil {
		fail(err)
		return
	}
	if id == "" {
		saved, err := a.store.CreateCalendar(r.Context(), viewer(r), c)
		if err != nil {
			fail(err)
			return
		}
		http.Redirect(w, r, "/admin/calendars/"+saved.ID+"?notice=calendar-created", http.StatusSeeOther)
		return
	}
	if _, err := a.store.UpdateCalendar(r.Context(), viewer(r), c); err != nil {
		fail(err)
		return
	}
	http.Redirect(w, r, "/admin/calendars/"+id+"?notice=calendar-saved", http.StatusSeeOther)
}

func (a *adminPages) handleAddHoliday(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	day, name := input(r).Get("day"), input(r).Get("holiday_name")
	d, err := portal.ParseDate(day)
	if err == nil {
		err = a.store.AddHoliday(r.Context(), viewer(r), id, portal.Holiday{Date: d, Name: name})
	}
	if formFailed(err) {
		f := a.findCalendarForm(w, r, id)
		if f == nil {
			return
		}
		f.HolidayDay, f.HolidayName, f.HolidayError = day, name, errText(r, err)
		a.renderCalendar(w, r, codeStatus[portal.ErrorCode(err)], *f)
		return
	} else if err != nil {
		a.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/calendars/"+id+"?notice=holiday-added", http.StatusSeeOther)
}

func (a *adminPages) handleRemoveHoliday(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	d, err := portal.ParseDate(chi.URLParam(r, "day"))
	if err == nil {
		err = a.store.RemoveHoliday(r.Context(), viewer(r), id, d)
	}
	if err != nil {
		a.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/calendars/"+id+"?notice=holiday-removed", http.StatusSeeOther)
}

// Audit log.

func (a *adminPages) renderAudit(w http.ResponseWriter, r *http.Request, av view.AuditView, offset int) {
	var err error
	status := http.StatusOK
	av.Entries, err = a.store.ListAudit(r.Context(), portal.AuditFilter{Action: av.Action, Actor: av.Actor}, offset)
	if portal.ErrorCode(err) == portal.EINVALID {
		av.Error, status = errText(r, err), http.StatusBadRequest
	} else if err != nil {
		a.Error(w, r, err)
		return
	}
	renderStatus(w, r, status, view.AuditLog(a.page(r, tr(r, "Audit log"), "admin-audit"), av))
}

func (a *adminPages) handleAudit(w http.ResponseWriter, r *http.Request) {
	q := input(r)
	a.renderAudit(w, r, view.AuditView{Action: q.Get("action"), Actor: q.Get("actor")}, offsetParam(r))
}

// handleVerifyAudit checks the whole hash chain and shows the report above
// the newest entries.
func (a *adminPages) handleVerifyAudit(w http.ResponseWriter, r *http.Request) {
	report, err := a.store.VerifyAudit(r.Context())
	if err != nil {
		a.Error(w, r, err)
		return
	}
	a.renderAudit(w, r, view.AuditView{Report: &report}, 0)
}
