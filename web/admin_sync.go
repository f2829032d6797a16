package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/entra"
	"github.com/tessera-idm/tessera/syncsvc/hr"
	"github.com/tessera-idm/tessera/web/view"
)

// The sync engine's pages: each connected system's state and run profiles,
// run history, sync rules, pending exports, the connector space, and a
// preview of what a sync would do to one person.

// syncNotices are the fixed messages a redirect may ask a sync page to
// show.
var syncNotices = map[string]string{
	"rule-saved":   i18n.Mark("The sync rule was saved. The next sync applies it."),
	"retried":      i18n.Mark("The failed exports are due again; the next export run sends them."),
	"retried-none": i18n.Mark("There was no failed export to retry."),
}

// Limits of the lists the sync pages show.
const (
	runsShown           = 50
	runObjectsShown     = 500
	pendingExportsShown = 200
	csObjectsShown      = 200
)

// syncRoutes mounts the sync pages under /admin, behind requireAdmin.
func (a *adminPages) syncRoutes(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(a.requireSync, a.requireSystems)
		r.Get("/sync", a.handleSyncOverview)
		r.Get("/sync/runs/{run}", a.handleSyncRun)
		r.Get("/sync/preview", a.handleSyncPreview)
		r.Post("/sync/provision", a.handleProvisionNow)
		r.Get("/connected-systems/{id}/sync", a.handleSyncStatus)
		r.Post("/connected-systems/{id}/sync/run", a.handleStartRun)
		r.Get("/connected-systems/{id}/sync/rules/{class}", a.handleSyncRule)
		r.Post("/connected-systems/{id}/sync/rules/{class}", a.handleSaveSyncRule)
		r.Get("/connected-systems/{id}/sync/exports", a.handlePendingExports)
		r.Post("/connected-systems/{id}/sync/exports/retry", a.handleRetryExports)
		r.Get("/connected-systems/{id}/sync/connector-space", a.handleConnectorSpace)
	})
}

// requireSync answers every sync page, and refuses every sync action, with
// the same explanation when Tessera runs without a sync engine.
func (a *adminPages) requireSync(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.Sync == nil {
			renderStatus(w, r, http.StatusServiceUnavailable, view.SyncNotConfigured(a.page(r, tr(r, "Sync engine not configured"), "admin-sync")))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// findSystem reads the connected system of the URL, or renders the error
// page and returns nil.
func (a *adminPages) findSystem(w http.ResponseWriter, r *http.Request) *portal.ConnectedSystem {
	sys, err := a.Systems.FindConnectedSystem(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.Error(w, r, err)
		return nil
	}
	return sys
}

func syncPath(id string) string { return connectedPath(id) + "/sync" }

func runPath(id int64) string { return "/admin/sync/runs/" + strconv.FormatInt(id, 10) }

// Status and runs.

func (a *adminPages) handleSyncOverview(w http.ResponseWriter, r *http.Request) {
	statuses, err := a.Sync.Status(r.Context())
	if err != nil {
		a.Error(w, r, err)
		return
	}
	runs, err := a.Sync.Runs(r.Context(), "", runsShown)
	if err != nil {
		a.Error(w, r, err)
		return
	}
	render(w, r, view.SyncOverviewPage(a.page(r, tr(r, "Sync"), "admin-sync"), view.SyncOverview{Systems: statuses, Runs: runs}))
}

func (a *adminPages) handleSyncStatus(w http.ResponseWriter, r *http.Request) {
	sys := a.findSystem(w, r)
	if sys == nil {
		return
	}
	a.renderSyncStatus(w, r, http.StatusOK, sys, view.SyncStatusView{Notice: fixedNotice(r, syncNotices)})
}

// renderSyncStatus shows sys's sync page with v's notice or error.
func (a *adminPages) renderSyncStatus(w http.ResponseWriter, r *http.Request, status int, sys *portal.ConnectedSystem, v view.SyncStatusView) {
	statuses, err := a.Sync.Status(r.Context())
	if err != nil {
		a.Error(w, r, err)
		return
	}
	i := slices.IndexFunc(statuses, func(s syncsvc.SystemStatus) bool { return s.System.ID == sys.ID })
	if i < 0 {
		a.Error(w, r, portal.Errorf(portal.ENOTFOUND, "There is no such connected system."))
		return
	}
	v.Status = statuses[i]
	if v.Runs, err = a.Sync.Runs(r.Context(), sys.ID, runsShown); err != nil {
		a.Error(w, r, err)
		return
	}
	renderStatus(w, r, status, view.SyncStatus(a.page(r, tr(r, "Sync of %s", portal.Isolate(sys.Name)), "admin-sync"), v))
}

// handleStartRun queues a run profile and shows the run's page, which
// follows it from queued to its end; the run is a River job, so it goes on
// whatever becomes of this process (a web-only one has no workers at all).
// A run that cannot start (a disabled system) is explained on the status
// page.
func (a *adminPages) handleStartRun(w http.ResponseWriter, r *http.Request) {
	sys := a.findSystem(w, r)
	if sys == nil {
		return
	}
	profile := syncsvc.RunProfile(input(r).Get("profile"))
	if !slices.Contains(syncsvc.Profiles, profile) {
		a.renderSyncStatus(w, r, http.StatusBadRequest, sys, view.SyncStatusView{
			Error: tr(r, "Choose one of the run profiles below.")})
		return
	}
	opts := syncsvc.RunOptions{Trigger: "admin",
		ConfirmDeletes: profile == syncsvc.Export && input(r).Get("confirm_deletes") == "on"}
	run, err := a.Sync.QueueRun(r.Context(), sys.ID, profile, opts)
	switch {
	case formFailed(err):
		a.renderSyncStatus(w, r, codeStatus[portal.ErrorCode(err)], sys, view.SyncStatusView{Error: errText(r, err)})
	case err != nil:
		a.Error(w, r, err)
	default:
		http.Redirect(w, r, runPath(run.ID), http.StatusSeeOther)
	}
}

// validRunKind reports whether kind is a count a run's objects may be
// filtered by; empty lists them all.
func validRunKind(kind string) bool {
	return kind == "" || slices.ContainsFunc(view.RunKinds, func(k struct{ Kind, Label string }) bool { return k.Kind == kind })
}

// handleSyncRun shows one run; htmx polling a running run gets the live
// region alone.
func (a *adminPages) handleSyncRun(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(chi.URLParam(r, "run"), 10, 64)
	if err != nil || id <= 0 {
		a.Error(w, r, portal.Errorf(portal.ENOTFOUND, "There is no such run."))
		return
	}
	kind := input(r).Get("kind")
	if !validRunKind(kind) {
		a.Error(w, r, portal.Errorf(portal.EINVALID, "A run's objects are listed by add, update, rename, move, delete, join or error, not “%s”.", kind))
		return
	}
	run, err := a.Sync.FindRun(r.Context(), id)
	if err != nil {
		a.Error(w, r, err)
		return
	}
	v := view.RunView{Run: *run, Kind: kind, Limit: runObjectsShown}
	// A run writes its objects when it finishes.
	if run.Done() {
		if v.Objects, err = a.Sync.RunObjects(r.Context(), id, kind, runObjectsShown); err != nil {
			a.Error(w, r, err)
			return
		}
	}
	p := a.page(r, tr(r, "%s of %s", tr(r, run.Profile.Label()), portal.Isolate(run.SystemName)), "admin-sync")
	if isFragment(r) {
		render(w, r, view.RunDetail(p, v))
		return
	}
	render(w, r, view.RunPage(p, v))
}

// Sync rules.

// syncClass reads the class of the URL, or renders the error page.
func (a *adminPages) syncClass(w http.ResponseWriter, r *http.Request) (syncsvc.ObjectClass, bool) {
	switch c := syncsvc.ObjectClass(chi.URLParam(r, "class")); c {
	case syncsvc.ObjectUser, syncsvc.ObjectGroup:
		return c, true
	}
	a.Error(w, r, portal.Errorf(portal.ENOTFOUND, "Sync rules are for users or groups."))
	return "", false
}

func (a *adminPages) renderSyncRule(w http.ResponseWriter, r *http.Request, status int, f view.SyncRuleForm) {
	title := tr(r, "User sync rule of %s", portal.Isolate(f.System.Name))
	if f.Class == syncsvc.ObjectGroup {
		title = tr(r, "Group sync rule of %s", portal.Isolate(f.System.Name))
	}
	renderStatus(w, r, status, view.SyncRuleEdit(a.page(r, title, "admin-sync"), f))
}

// suggestedRule is the rule a system without one starts from: its type's
// own default (AD's under the first OU in scope, or the whole domain;
// Entra ID's named in its first verified domain, or the tenant's initial
// one). ok is false when the type has none for class (an HR source holds
// no groups).
func suggestedRule(sys *portal.ConnectedSystem, class syncsvc.ObjectClass) (rule syncsvc.SyncRule, ok bool) {
	switch sys.Type {
	case portal.SystemEntra:
		if class == syncsvc.ObjectGroup {
			return entra.DefaultGroupRule(sys.ID), true
		}
		domain := ""
		if len(sys.Entra.VerifiedDomains) > 0 {
			domain = sys.Entra.VerifiedDomains[0]
		}
		return entra.DefaultUserRule(sys.ID, domain), true
	case portal.SystemHR:
		if class == syncsvc.ObjectGroup {
			return syncsvc.SyncRule{SystemID: sys.ID, Class: class}, false
		}
		return hr.DefaultRule(sys.ID), true
	}
	base := sys.BaseDN
	if len(sys.OUs) > 0 && sys.OUs[0] != "" {
		base = sys.OUs[0]
	}
	if class == syncsvc.ObjectGroup {
		return syncsvc.DefaultGroupRule(sys.ID, base), true
	}
	return syncsvc.DefaultUserRule(sys.ID, base), true
}

func (a *adminPages) handleSyncRule(w http.ResponseWriter, r *http.Request) {
	sys := a.findSystem(w, r)
	if sys == nil {
		return
	}
	class, ok := a.syncClass(w, r)
	if !ok {
		return
	}
	rules, err := a.Sync.SyncRules(r.Context(), sys.ID)
	if err != nil {
		a.Error(w, r, err)
		return
	}
	var f view.SyncRuleForm
	if i := slices.IndexFunc(rules, func(sr syncsvc.SyncRule) bool { return sr.Class == class }); i >= 0 {
		f = syncRuleForm(*sys, rules[i])
		if !rules[i].SchemaError.IsZero() {
			f.SchemaError = i18n.FromContext(r.Context()).Text(rules[i].SchemaError)
		}
	} else {
		rule, ok := suggestedRule(sys, class)
		f = syncRuleForm(*sys, rule)
		f.Suggested = ok
	}
	f.Notice = fixedNotice(r, syncNotices)
	a.renderSyncRule(w, r, http.StatusOK, f)
}

// handleSaveSyncRule saves the rule as typed, or shows the form again, as
// typed, with what is wrong and on which line.
func (a *adminPages) handleSaveSyncRule(w http.ResponseWriter, r *http.Request) {
	sys := a.findSystem(w, r)
	if sys == nil {
		return
	}
	class, ok := a.syncClass(w, r)
	if !ok {
		return
	}
	f := syncRuleFormFrom(r, *sys, class)
	rule, lines, err := syncRuleFromForm(f)
	if err == nil {
		err = a.Sync.SaveSyncRule(r.Context(), viewer(r), rule)
		err = lines.locate(err)
	}
	if formFailed(err) {
		f.Error = errText(r, err)
		if saved, ferr := a.Sync.SyncRules(r.Context(), sys.ID); ferr == nil {
			f.Suggested = !slices.ContainsFunc(saved, func(sr syncsvc.SyncRule) bool { return sr.Class == class })
		}
		a.renderSyncRule(w, r, codeStatus[portal.ErrorCode(err)], f)
		return
	} else if err != nil {
		a.Error(w, r, err)
		return
	}
	http.Redirect(w, r, syncPath(sys.ID)+"/rules/"+url.PathEscape(string(class))+"?notice=rule-saved", http.StatusSeeOther)
}

// syncRuleForm fills the editor from a rule, one join rule or flow a line.
func syncRuleForm(sys portal.ConnectedSystem, sr syncsvc.SyncRule) view.SyncRuleForm {
	f := view.SyncRuleForm{System: sys, Class: sr.Class, UpdatedAt: sr.UpdatedAt, Scope: sr.Scope, Projection: sr.Projection,
		Provision: sr.Provision, DNTemplate: sr.DNTemplate, InitialPassword: sr.InitialPassword, EnableOnCreate: sr.EnableOnCreate,
		Deprovision: string(sr.Deprovision), DeprovisionOU: sr.DeprovisionOU, DeleteAfterDays: strconv.Itoa(sr.DeleteAfterDays)}
	for _, j := range sr.JoinRules {
		f.JoinRules += j.CS + " = " + j.MV + "\n"
	}
	for _, in := range sr.Inbound {
		f.Inbound += fmt.Sprintf("%s <- %d: %s\n", in.MV, in.Precedence, in.Expr)
	}
	for _, out := range sr.Outbound {
		if out.InitialOnly {
			f.Outbound += "initial "
		}
		f.Outbound += out.CS + " = " + out.Expr + "\n"
	}
	return f
}

// syncRuleFormFrom reads the editor's fields as typed.
func syncRuleFormFrom(r *http.Request, sys portal.ConnectedSystem, class syncsvc.ObjectClass) view.SyncRuleForm {
	v := input(r).Get
	f := view.SyncRuleForm{System: sys, Class: class, Scope: input(r).Get("scope"), JoinRules: input(r).Get("join_rules"),
		Projection: input(r).Get("projection") == "on", Outbound: input(r).Get("outbound"),
		Provision: input(r).Get("provision") == "on", DNTemplate: v("dn_template"), Deprovision: v("deprovision")}
	if class == syncsvc.ObjectUser {
		f.Inbound = input(r).Get("inbound")
		f.InitialPassword = v("initial_password")
		f.EnableOnCreate = input(r).Get("enable_on_create") == "on"
		f.DeprovisionOU = v("deprovision_ou")
		f.DeleteAfterDays = v("delete_after_days")
	}
	return f
}

// ruleLines are the form's line numbers of each join rule and flow, to
// turn the engine's "Outbound flow 3" into the line the admin typed it on.
type ruleLines struct {
	joins, inbound, outbound []int
}

// locate rewrites an engine message about the nth join rule or flow to
// name the list and line it was typed on.
func (l ruleLines) locate(err error) error {
	if portal.ErrorCode(err) != portal.EINVALID {
		return err
	}
	// The engine names the item by its first argument, a Text such as
	// "Join rule %d" or "Inbound flow %d (%s)"; that argument is swapped
	// for the list and line, and the message stays translatable.
	var e *portal.Error
	if !errors.As(err, &e) {
		return err
	}
	_, args := e.MessageFormat()
	if len(args) == 0 {
		return err
	}
	item, ok := args[0].(portal.Text)
	if !ok {
		return err
	}
	format, itemArgs := item.MessageFormat()
	if len(itemArgs) == 0 {
		return err
	}
	n, _ := itemArgs[0].(int)
	var lines []int
	var list portal.Text
	switch format {
	case "Join rule %d":
		lines, list = l.joins, portal.Textf("Join rules")
	case "Inbound flow %d", "Inbound flow %d (%s)":
		lines, list = l.inbound, portal.Textf("Inbound flows")
	case "Outbound flow %d", "Outbound flow %d (%s)":
		lines, list = l.outbound, portal.Textf("Outbound flows")
	default:
		return err
	}
	if n < 1 || n > len(lines) {
		return err
	}
	where := portal.Textf("%s, line %d", list, lines[n-1])
	if len(itemArgs) > 1 {
		where = portal.Textf("%s, line %d (%s)", list, lines[n-1], itemArgs[1])
	}
	return e.WithArg(0, where)
}

// syncRuleFromForm parses the editor's fields into a rule for the engine,
// which checks the rest (names, CEL, DNs).
func syncRuleFromForm(f view.SyncRuleForm) (syncsvc.SyncRule, ruleLines, error) {
	sr := syncsvc.SyncRule{SystemID: f.System.ID, Class: f.Class, Scope: strings.TrimSpace(f.Scope), Projection: f.Projection,
		Provision: f.Provision, DNTemplate: f.DNTemplate, InitialPassword: f.InitialPassword, EnableOnCreate: f.EnableOnCreate,
		Deprovision: syncsvc.Deprovisioning(f.Deprovision), DeprovisionOU: f.DeprovisionOU}
	var l ruleLines
	for _, x := range []struct {
		value string
		what  portal.Text
		max   int
	}{{sr.Scope, portal.Textf("The scope"), 4096}, {sr.DNTemplate, portal.Textf("The DN template"), 2048},
		{sr.DeprovisionOU, portal.Textf("The OU for disabled accounts"), 2048}} {
		if len(x.value) > x.max {
			return sr, l, portal.Errorf(portal.EINVALID, "%s is too long: use at most %d characters.", x.what, x.max)
		}
	}
	var err error
	if sr.JoinRules, l.joins, err = parseJoinRules(f.JoinRules); err != nil {
		return sr, l, err
	}
	if sr.Inbound, l.inbound, err = parseInbound(f.Inbound); err != nil {
		return sr, l, err
	}
	if sr.Outbound, l.outbound, err = parseOutbound(f.Outbound); err != nil {
		return sr, l, err
	}
	if sr.DeleteAfterDays, err = number(f.DeleteAfterDays, portal.Textf("The number of days after which disabled accounts are deleted")); err != nil {
		return sr, l, err
	}
	return sr, l, nil
}

// ruleLinesOf calls fn with each line of text that is neither blank nor a
// # comment, numbered from 1, and stops at fn's first error.
func ruleLinesOf(text string, fn func(n int, line string) error) error {
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := fn(i+1, line); err != nil {
			return err
		}
	}
	return nil
}

// parseJoinRules reads one "csAttribute = mvAttribute" a line.
func parseJoinRules(text string) (rules []syncsvc.JoinRule, lines []int, err error) {
	err = ruleLinesOf(text, func(n int, line string) error {
		cs, mv, ok := strings.Cut(line, "=")
		cs, mv = strings.TrimSpace(cs), strings.TrimSpace(mv)
		if !ok || cs == "" || mv == "" || strings.Contains(mv, "=") {
			return portal.Errorf(portal.EINVALID, "Join rules, line %d: write “csAttribute = mvAttribute”, such as employeeID = employeeId, not “%s”.", n, line)
		}
		rules, lines = append(rules, syncsvc.JoinRule{CS: cs, MV: mv}), append(lines, n)
		return nil
	})
	return rules, lines, err
}

// parseInbound reads one "mvAttribute <- precedence: expression" a line.
func parseInbound(text string) (flows []syncsvc.InboundFlow, lines []int, err error) {
	err = ruleLinesOf(text, func(n int, line string) error {
		mv, rest, ok := strings.Cut(line, "<-")
		prec, expr, ok2 := strings.Cut(rest, ":")
		mv, prec, expr = strings.TrimSpace(mv), strings.TrimSpace(prec), strings.TrimSpace(expr)
		if !ok || !ok2 || mv == "" || expr == "" {
			return portal.Errorf(portal.EINVALID, "Inbound flows, line %d: write “mvAttribute <- precedence: expression”, such as phone <- 100: cs.telephoneNumber, not “%s”.", n, line)
		}
		p, err := strconv.Atoi(prec)
		if err != nil || p < 0 {
			return portal.Errorf(portal.EINVALID, "Inbound flows, line %d: the precedence must be a whole number from 0 up (the lowest wins), not “%s”.", n, prec)
		}
		flows, lines = append(flows, syncsvc.InboundFlow{MV: mv, Expr: expr, Precedence: p}), append(lines, n)
		return nil
	})
	return flows, lines, err
}

// parseOutbound reads one "csAttribute = expression" a line, or
// "initial csAttribute = expression" for a flow written only at creation.
func parseOutbound(text string) (flows []syncsvc.OutboundFlow, lines []int, err error) {
	err = ruleLinesOf(text, func(n int, line string) error {
		left, expr, ok := strings.Cut(line, "=")
		words, expr := strings.Fields(left), strings.TrimSpace(expr)
		f := syncsvc.OutboundFlow{Expr: expr}
		switch {
		case len(words) == 1:
			f.CS = words[0]
		case len(words) == 2 && strings.EqualFold(words[0], "initial"):
			f.CS, f.InitialOnly = words[1], true
		default:
			ok = false
		}
		if !ok || expr == "" {
			return portal.Errorf(portal.EINVALID, "Outbound flows, line %d: write “csAttribute = expression”, or “initial csAttribute = expression” to write it only when Tessera creates the object, not “%s”.", n, line)
		}
		flows, lines = append(flows, f), append(lines, n)
		return nil
	})
	return flows, lines, err
}

// Pending exports.

func (a *adminPages) handlePendingExports(w http.ResponseWriter, r *http.Request) {
	sys := a.findSystem(w, r)
	if sys == nil {
		return
	}
	errorsOnly := input(r).Get("errors") == "1"
	list, err := a.Sync.PendingExports(r.Context(), sys.ID, errorsOnly, pendingExportsShown)
	if err != nil {
		a.Error(w, r, err)
		return
	}
	title := tr(r, "Pending exports to %s", portal.Isolate(sys.Name))
	if errorsOnly {
		title = tr(r, "Export errors of %s", portal.Isolate(sys.Name))
	}
	render(w, r, view.PendingExports(a.page(r, title, "admin-sync"), view.PendingExportsView{System: *sys, ErrorsOnly: errorsOnly,
		Exports: list, Limit: pendingExportsShown, Notice: fixedNotice(r, syncNotices)}))
}

// handleRetryExports makes one failed export (cs set) or all of them due
// now.
func (a *adminPages) handleRetryExports(w http.ResponseWriter, r *http.Request) {
	sys := a.findSystem(w, r)
	if sys == nil {
		return
	}
	var csID int64
	if s := input(r).Get("cs"); s != "" {
		var err error
		if csID, err = strconv.ParseInt(s, 10, 64); err != nil || csID <= 0 {
			a.Error(w, r, portal.Errorf(portal.EINVALID, "That is not an export this page listed."))
			return
		}
	}
	n, err := a.Sync.RetryExports(r.Context(), viewer(r), sys.ID, csID)
	if err != nil {
		a.Error(w, r, err)
		return
	}
	notice := "retried"
	if n == 0 {
		notice = "retried-none"
	}
	http.Redirect(w, r, syncPath(sys.ID)+"/exports?errors=1&notice="+notice, http.StatusSeeOther)
}

// Connector space.

func (a *adminPages) handleConnectorSpace(w http.ResponseWriter, r *http.Request) {
	sys := a.findSystem(w, r)
	if sys == nil {
		return
	}
	q := input(r)
	v := view.ConnectorSpaceView{System: *sys, Unjoined: q.Get("unjoined") == "on", Filter: strings.TrimSpace(q.Get("q")),
		Limit: csObjectsShown}
	status := http.StatusOK
	if len(v.Filter) > 256 {
		v.Error, status = tr(r, "Search with at most 256 characters of a DN."), http.StatusBadRequest
	} else {
		var err error
		if v.Objects, err = a.Sync.ConnectorSpace(r.Context(), sys.ID, v.Unjoined, v.Filter, csObjectsShown); err != nil {
			a.Error(w, r, err)
			return
		}
	}
	renderStatus(w, r, status, view.ConnectorSpacePage(a.page(r, tr(r, "Connector space of %s", portal.Isolate(sys.Name)), "admin-sync"), v))
}

// Preview.

// handleSyncPreview finds a person by account name or email and shows what
// a full sync would do to them; it changes nothing, so it is a GET.
func (a *adminPages) handleSyncPreview(w http.ResponseWriter, r *http.Request) {
	v := view.SyncPreviewView{Person: input(r).Get("person")}
	status := http.StatusOK
	if v.Person != "" {
		ref, err := a.People.FindPersonByName(r.Context(), v.Person)
		switch portal.ErrorCode(err) {
		case "":
			v.Found = &ref
			if v.Previews, err = a.Sync.PreviewPerson(r.Context(), ref.ID); err != nil {
				a.Error(w, r, err)
				return
			}
		case portal.EINVALID, portal.ENOTFOUND:
			v.Error, status = errText(r, err), codeStatus[portal.ErrorCode(err)]
		default:
			a.Error(w, r, err)
			return
		}
	}
	renderStatus(w, r, status, view.SyncPreviewPage(a.page(r, tr(r, "Sync preview"), "admin-sync-preview"), v))
}

// handleProvisionNow syncs one person into every connected system and
// exports the result at once (Entra Cloud Sync's provisioning on demand,
// for every system), then shows each step and the preview as it is now.
func (a *adminPages) handleProvisionNow(w http.ResponseWriter, r *http.Request) {
	v := view.SyncPreviewView{Person: input(r).Get("person")}
	ref, err := a.People.FindPersonByName(r.Context(), v.Person)
	switch portal.ErrorCode(err) {
	case "":
	case portal.EINVALID, portal.ENOTFOUND:
		v.Error = errText(r, err)
		renderStatus(w, r, codeStatus[portal.ErrorCode(err)], view.SyncPreviewPage(a.page(r, tr(r, "Sync preview"), "admin-sync-preview"), v))
		return
	default:
		a.Error(w, r, err)
		return
	}
	v.Found = &ref
	if v.Steps, err = a.Sync.ProvisionPerson(r.Context(), ref.ID); err != nil {
		a.Error(w, r, err)
		return
	}
	v.Provisioned = true
	if v.Previews, err = a.Sync.PreviewPerson(r.Context(), ref.ID); err != nil {
		a.Error(w, r, err)
		return
	}
	renderStatus(w, r, http.StatusOK, view.SyncPreviewPage(a.page(r, tr(r, "Sync preview"), "admin-sync-preview"), v))
}
