package web

import (
	"context"
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

// Connected systems: the directories the sync service works with. Bind
// passwords go from the form to the store (which seals them) or to the
// tester, and never back into a page.

// connectedNotices are the fixed messages a redirect may ask these pages
// to show.
var connectedNotices = map[string]string{
	"created": i18n.Mark("The connected system was saved. Use “Test connection” to check it."),
	"saved":   i18n.Mark("The connected system was saved."),
	"deleted": i18n.Mark("The connected system was deleted."),
}

// connectionTestTimeout bounds one "Test connection", every domain
// controller included.
const connectionTestTimeout = 45 * time.Second

// connectedRoutes mounts the connected system pages under /admin, behind
// requireAdmin.
func (a *adminPages) connectedRoutes(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(a.requireSystems)
		r.Get("/connected-systems", a.handleConnectedSystems)
		r.Get("/connected-systems/new", a.handleNewConnectedSystem)
		r.Post("/connected-systems", a.handleCreateConnectedSystem)
		r.Post("/connected-systems/test", a.handleTestConnectedSystem)
		r.Get("/connected-systems/{id}", a.handleEditConnectedSystem)
		r.Post("/connected-systems/{id}", a.handleUpdateConnectedSystem)
		r.Post("/connected-systems/{id}/test", a.handleTestConnectedSystem)
		r.Post("/connected-systems/{id}/delete", a.handleDeleteConnectedSystem)
	})
}

func (a *adminPages) requireSystems(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.Systems == nil {
			a.Error(w, r, errors.New("web: the connected systems store is not configured"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *adminPages) handleConnectedSystems(w http.ResponseWriter, r *http.Request) {
	cs, err := a.Systems.ListConnectedSystems(r.Context())
	if err != nil {
		a.Error(w, r, err)
		return
	}
	render(w, r, view.ConnectedSystemList(a.page(r, tr(r, "Connected systems"), "admin-connected"), cs,
		!a.Systems.CanSealSecrets(), fixedNotice(r, connectedNotices)))
}

func (a *adminPages) renderConnected(w http.ResponseWriter, r *http.Request, status int, f view.ConnectedSystemForm) {
	f.System.BindPassword = "" // never into a page
	f.NoKey = !a.Systems.CanSealSecrets()
	title := tr(r, "New connected system")
	if f.System.ID != "" {
		title = tr(r, "Edit connected system")
	}
	if f.System.Type == portal.SystemEntra {
		// The AD systems whose objectGUIDs can anchor Entra users.
		all, err := a.Systems.ListConnectedSystems(r.Context())
		if err != nil {
			a.Error(w, r, err)
			return
		}
		for _, c := range all {
			if c.Type == portal.SystemAD {
				f.ADSystems = append(f.ADSystems, c)
			}
		}
	}
	if f.System.ID != "" && a.Sync != nil {
		// A rule the system's schema refuses stays in sight here, where
		// "Test connection" read that schema, until the rule is changed.
		rules, err := a.Sync.SyncRules(r.Context(), f.System.ID)
		if err != nil {
			a.Error(w, r, err)
			return
		}
		for _, sr := range rules {
			if !sr.SchemaError.IsZero() {
				f.RuleErrors = append(f.RuleErrors, view.RuleError{Class: sr.Class, Why: i18n.FromContext(r.Context()).Text(sr.SchemaError)})
			}
		}
	}
	renderStatus(w, r, status, view.ConnectedSystemEdit(a.page(r, title, "admin-connected"), f))
}

// connectedForm fills the editor from a stored system.
func connectedForm(c *portal.ConnectedSystem) view.ConnectedSystemForm {
	f := view.ConnectedSystemForm{System: *c, Hosts: strings.Join(c.Hosts, "\n"), Port: strconv.Itoa(c.Port),
		OUs: strings.Join(c.OUs, "\n"), DeletionThreshold: strconv.Itoa(c.DeletionThreshold),
		DeltaMinutes:    strconv.Itoa(int((c.DeltaInterval + time.Minute - 1) / time.Minute)),
		VerifiedDomains: strings.Join(c.Entra.VerifiedDomains, "\n")}
	if c.Entra.WriteBudget > 0 {
		f.WriteBudget = strconv.Itoa(c.Entra.WriteBudget)
	}
	return f
}

func (a *adminPages) handleNewConnectedSystem(w http.ResponseWriter, r *http.Request) {
	sys := portal.ConnectedSystem{Type: portal.SystemAD, TLSMode: portal.TLSLDAPS, Enabled: true}
	if input(r).Get("type") == string(portal.SystemEntra) {
		sys.Type = portal.SystemEntra
	}
	a.renderConnected(w, r, http.StatusOK, view.ConnectedSystemForm{Port: "636",
		DeletionThreshold: strconv.Itoa(portal.DefaultDeletionThreshold),
		DeltaMinutes:      strconv.Itoa(int(portal.DefaultDeltaInterval / time.Minute)),
		System:            sys})
}

func (a *adminPages) handleEditConnectedSystem(w http.ResponseWriter, r *http.Request) {
	c, err := a.Systems.FindConnectedSystem(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.Error(w, r, err)
		return
	}
	f := connectedForm(c)
	f.Notice = fixedNotice(r, connectedNotices)
	a.renderConnected(w, r, http.StatusOK, f)
}

// connectedFromForm reads the editor's fields, keeping them as typed for
// the form, and the system they describe.
func connectedFromForm(r *http.Request, id string) (view.ConnectedSystemForm, portal.ConnectedSystem, error) {
	f := view.ConnectedSystemForm{Hosts: input(r).Get("hosts"), Port: input(r).Get("port"),
		OUs: input(r).Get("ous")}
	c := portal.ConnectedSystem{
		ID: id, Name: input(r).Get("name"), Type: portal.SystemAD,
		Hosts:   strings.FieldsFunc(f.Hosts, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' || r == '\r' }),
		TLSMode: portal.TLSMode(input(r).Get("tls_mode")), CACertPEM: input(r).Get("ca_cert_pem"),
		BindUser: input(r).Get("bind_user"), BindPassword: input(r).Get("bind_password"),
		BaseDN: input(r).Get("base_dn"), OUs: strings.Split(strings.ReplaceAll(f.OUs, "\r", ""), "\n"),
		Enabled: input(r).Get("enabled") == "on", Staging: input(r).Get("staging") == "on",
	}
	f.DeletionThreshold = input(r).Get("deletion_threshold")
	f.DeltaMinutes = input(r).Get("delta_minutes")
	var err error
	if input(r).Get("type") == string(portal.SystemEntra) {
		f.VerifiedDomains, f.WriteBudget = input(r).Get("verified_domains"), input(r).Get("write_budget")
		c.Type, c.Hosts, c.OUs = portal.SystemEntra, nil, nil
		c.Entra = portal.EntraSettings{TenantID: input(r).Get("tenant_id"), ClientID: input(r).Get("client_id"),
			VerifiedDomains: strings.FieldsFunc(f.VerifiedDomains, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\r' }),
			AuthorityURL:    input(r).Get("authority_url"), GraphURL: input(r).Get("graph_url"),
			SoftMatch: input(r).Get("soft_match") == "on", AnchorSystemID: input(r).Get("anchor_system_id")}
		f.System = c
		if f.WriteBudget != "" {
			if c.Entra.WriteBudget, err = number(f.WriteBudget, portal.Textf("The write budget")); err != nil {
				return f, c, err
			}
		}
	} else if c.Port, err = number(f.Port, portal.Textf("The port")); err != nil {
		f.System = c
		return f, c, err
	}
	f.System = c
	if c.DeletionThreshold, err = number(f.DeletionThreshold, portal.Textf("The deletion threshold")); err != nil {
		return f, c, err
	}
	minutes, err := number(f.DeltaMinutes, portal.Textf("The delta sync interval"))
	if err != nil {
		return f, c, err
	}
	if minutes < 0 || minutes > 1440 {
		return f, c, portal.Errorf(portal.EINVALID, "The delta sync interval must be from 0 (none) to 1440 minutes.")
	}
	c.DeltaInterval = time.Duration(minutes) * time.Minute
	return f, c, nil
}

func (a *adminPages) handleCreateConnectedSystem(w http.ResponseWriter, r *http.Request) {
	a.saveConnected(w, r, "")
}

func (a *adminPages) handleUpdateConnectedSystem(w http.ResponseWriter, r *http.Request) {
	a.saveConnected(w, r, chi.URLParam(r, "id"))
}

// saveConnected creates (id empty) or updates a connected system, showing
// the form again with what was typed, but not the password, when refused.
func (a *adminPages) saveConnected(w http.ResponseWriter, r *http.Request, id string) {
	f, c, err := connectedFromForm(r, id)
	var saved *portal.ConnectedSystem
	notice := "created"
	if err == nil && id == "" {
		saved, err = a.Systems.CreateConnectedSystem(r.Context(), viewer(r), c)
	} else if err == nil {
		saved, err = a.Systems.UpdateConnectedSystem(r.Context(), viewer(r), c)
		notice = "saved"
	}
	if formFailed(err) {
		f.Error = errText(r, err)
		a.renderConnectedAgain(w, r, codeStatus[portal.ErrorCode(err)], f)
		return
	} else if err != nil {
		a.Error(w, r, err)
		return
	}
	http.Redirect(w, r, connectedPath(saved.ID)+"?notice="+notice, http.StatusSeeOther)
}

// renderConnectedAgain shows the form as typed, with whether a saved
// system has a password (which the form does not carry).
func (a *adminPages) renderConnectedAgain(w http.ResponseWriter, r *http.Request, status int, f view.ConnectedSystemForm) {
	if f.System.ID != "" {
		saved, err := a.Systems.FindConnectedSystem(r.Context(), f.System.ID)
		if err != nil {
			a.Error(w, r, err)
			return
		}
		f.System.HasPassword = saved.HasPassword
	}
	a.renderConnected(w, r, status, f)
}

func connectedPath(id string) string { return "/admin/connected-systems/" + id }

// handleTestConnectedSystem tries the settings as typed, saved or not. A
// saved system tested without a new password uses its stored one, but only
// against the hosts and port it was saved with.
func (a *adminPages) handleTestConnectedSystem(w http.ResponseWriter, r *http.Request) {
	if a.Tester == nil {
		a.Error(w, r, errors.New("web: no connection tester is configured"))
		return
	}
	id := chi.URLParam(r, "id")
	f, c, err := connectedFromForm(r, id)
	if err == nil {
		err = c.Validate()
	}
	if err == nil && id != "" && c.BindPassword == "" {
		var saved *portal.ConnectedSystem
		if saved, err = a.Systems.FindConnectedSystem(r.Context(), id); err == nil && !saved.SameDestination(c) {
			err = portal.ErrPasswordForNewDestination
		}
	}
	if formFailed(err) {
		f.Error = errText(r, err)
		a.renderConnectedAgain(w, r, codeStatus[portal.ErrorCode(err)], f)
		return
	} else if err != nil {
		a.Error(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), connectionTestTimeout)
	defer cancel()
	if err := a.Tester.TestConnection(ctx, c); err != nil {
		// The directory's own text is what administrators search for; it
		// holds no password.
		f.TestError = i18n.FromContext(r.Context()).Text(portal.ReasonOr(err))
	} else if c.ID != "" && a.Sync != nil {
		// A saved system that answers also gives its attribute limits,
		// which requests are checked against from now on.
		if err := a.Sync.ReadAttributeLimits(ctx, c.ID); err != nil {
			f.TestError = tr(r, "Connected, but the directory's schema could not be read: %s", i18n.FromContext(r.Context()).Text(portal.ReasonOr(err)))
		} else {
			f.TestOK = true
		}
	} else {
		f.TestOK = true
	}
	f.PasswordTyped = c.BindPassword != ""
	a.renderConnectedAgain(w, r, http.StatusOK, f)
}

func (a *adminPages) handleDeleteConnectedSystem(w http.ResponseWriter, r *http.Request) {
	if err := a.Systems.DeleteConnectedSystem(r.Context(), viewer(r), chi.URLParam(r, "id")); err != nil {
		a.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/connected-systems?notice=deleted", http.StatusSeeOther)
}
