package web

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/web/view"
)

// The helpdesk panel: a person's accounts read live from each connected
// system, and the actions policy allows, each with a reason, audited.

// accountPanel loads the panel for personID, or answers (403, 404) and
// returns nil. Only the helpdesk and administrators see it.
func (s *Server) accountPanel(w http.ResponseWriter, r *http.Request, personID string) *view.AccountPanel {
	v := viewer(r)
	if !v.SeesPrivileged() {
		s.Error(w, r, portal.Errorf(portal.EFORBIDDEN, "Only the helpdesk and administrators may see a person's accounts."))
		return nil
	}
	prof, err := s.People.FindProfile(r.Context(), personID)
	if err != nil {
		s.Error(w, r, err)
		return nil
	}
	roles, err := s.Passwords.PersonRoles(r.Context(), personID)
	if err != nil {
		s.Error(w, r, err)
		return nil
	}
	settings, err := s.Passwords.PasswordSettings(r.Context())
	if err != nil {
		s.Error(w, r, err)
		return nil
	}
	staff := slices.Contains(roles, portal.RoleAdmin) || slices.Contains(roles, portal.RoleHelpdesk)
	a := &view.AccountPanel{PersonID: prof.Person.ID, Name: prof.Person.DisplayName,
		MayAct: v.Has(portal.RoleAdmin) || !staff || settings.HelpdeskActsOnStaff}
	return a
}

// loadStates reads the accounts' state live, and the latest password
// events from the audit log.
func (s *Server) loadStates(ctx context.Context, a *view.AccountPanel) error {
	states, err := s.Accounts.AccountStates(ctx, a.PersonID)
	if err != nil {
		return err
	}
	a.States = states
	if a.LocalPassword, err = s.Passwords.HasLocalPassword(ctx, a.PersonID); err != nil {
		return err
	}
	a.Events, err = s.Passwords.PasswordEvents(ctx, a.PersonID)
	return err
}

func (s *Server) handleAccountPanel(w http.ResponseWriter, r *http.Request) {
	if !s.passwordsReady(w, r) {
		return
	}
	a := s.accountPanel(w, r, chi.URLParam(r, "id"))
	if a == nil {
		return
	}
	if err := s.loadStates(r.Context(), a); err != nil {
		s.Error(w, r, err)
		return
	}
	render(w, r, view.Account(s.page(r, tr(r, "Accounts of %s", portal.Isolate(a.Name)), "people"), *a))
}

// handleAccountAction runs one helpdesk action: unlock, reset to a
// temporary password that must be changed, issue a recovery code, enable
// or disable.
func (s *Server) handleAccountAction(w http.ResponseWriter, r *http.Request) {
	if !s.passwordsReady(w, r) {
		return
	}
	a := s.accountPanel(w, r, chi.URLParam(r, "id"))
	if a == nil {
		return
	}
	ctx := r.Context()
	v := viewer(r)
	page := s.page(r, tr(r, "Accounts of %s", portal.Isolate(a.Name)), "people")
	reason := input(r).Get("reason")
	action := input(r).Get("action")
	status := http.StatusOK
	switch {
	case !a.MayAct:
		s.Error(w, r, portal.Errorf(portal.EFORBIDDEN, "Only administrators may act on the accounts of administrators and helpdesk staff."))
		return
	case reason == "" || len(reason) > 500:
		a.Error, status = tr(r, "Give a reason, of at most 500 characters: it goes into the audit log."), http.StatusBadRequest
	default:
		var results []portal.SystemResult
		var err error
		auditAction := ""
		switch action {
		case "unlock":
			results, err = s.Accounts.Unlock(ctx, a.PersonID)
			auditAction, a.Done = "helpdesk_unlock", tr(r, "Unlock:")
		case "enable", "disable":
			results, err = s.Accounts.SetEnabled(ctx, a.PersonID, action == "enable")
			auditAction, a.Done = "helpdesk_"+action, tr(r, "Disable:")
			if action == "enable" {
				a.Done = tr(r, "Enable:")
			}
		case "reset":
			// A temporary password from the generator: the helpdesk reads
			// it out; it must be changed at the next sign-in.
			temp := temporaryPassword()
			results, err = s.setEverywhere(ctx, a.PersonID, temp, portal.ResetOptions{Unlock: true, MustChange: true},
				s.hashLocal(func() (bool, error) { return s.Passwords.HasLocalPassword(ctx, a.PersonID) }, temp))
			auditAction, a.Done = "helpdesk_password_reset", tr(r, "Reset to a temporary password, to be changed at the next sign-in:")
			if err == nil && len(portal.FailedSystems(results)) < len(results) {
				a.Secret, a.SecretLabel = temp, tr(r, "The temporary password")
			}
		case "recovery":
			code, expires, err := s.Passwords.IssueRecoveryCode(ctx, v, a.PersonID, reason)
			if err != nil {
				s.Error(w, r, err)
				return
			}
			s.Logger.Info("recovery code issued", "person", a.PersonID, "by", v.PersonID)
			a.Done = tr(r, "A one-time recovery code was issued.")
			a.Secret, a.SecretLabel, a.SecretExpires = code, tr(r, "The recovery code"), expires
		default:
			s.Error(w, r, portal.Errorf(portal.EINVALID, "Choose an action."))
			return
		}
		if err != nil {
			s.Error(w, r, err)
			return
		}
		if auditAction != "" {
			// Audited whatever came of it: an action that found nothing to
			// act on is still a helpdesk's act on a person, with a reason.
			if err := s.Passwords.AuditAccountAction(context.WithoutCancel(ctx), v, a.PersonID, auditAction, reason, results); err != nil {
				s.Error(w, r, err)
				return
			}
			if len(results) == 0 {
				a.Error, a.Done = tr(r, "No connected system has an account joined to this person: nothing was done."), ""
				status = http.StatusConflict
			}
			a.Results = results
			s.Logger.Info("helpdesk account action", "action", auditAction, "person", a.PersonID, "by", v.PersonID,
				"failed_systems", len(portal.FailedSystems(results)))
		}
	}
	if err := s.loadStates(ctx, a); err != nil {
		s.Error(w, r, err)
		return
	}
	renderStatus(w, r, status, view.Account(page, *a))
}

// temporaryPassword makes a password to read out on the phone: four
// random words' worth of entropy as groups of letters and digits (about
// 80 bits), which every directory's complexity rule accepts.
func temporaryPassword() string {
	c := portal.NewRecoveryCode() + "-" + portal.NewRecoveryCode()
	return "Tmp-" + strings.ToLower(c[:4]) + c[4:]
}

func (s *Server) handlePasswordSettingsPage(w http.ResponseWriter, r *http.Request) {
	if !s.passwordsReady(w, r) {
		return
	}
	st, err := s.Passwords.PasswordSettings(r.Context())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	render(w, r, view.PasswordSettings(s.page(r, tr(r, "Passwords"), "admin-passwords"),
		view.PasswordSettingsForm{S: st, Banned: strings.Join(st.Policy.BannedWords, "\n"), Saved: input(r).Get("saved") != ""}))
}

// handlePasswordSettings saves Administration → Passwords.
func (s *Server) handlePasswordSettings(w http.ResponseWriter, r *http.Request) {
	if !s.passwordsReady(w, r) {
		return
	}
	in := input(r)
	num := func(name string) int {
		n, err := strconv.Atoi(in.Get(name))
		if err != nil {
			return -1 // refused by Validate, with the field's own words
		}
		return n
	}
	st := portal.PasswordSettings{
		Policy:        portal.PasswordPolicy{MinLength: num("min_length"), MaxLength: num("max_length")},
		GatesRequired: num("gates_required"), EmailCodes: in.Get("email_codes") != "",
		AuthenticatorApps: in.Get("authenticator_apps") != "", SecurityQuestions: in.Get("security_questions") != "",
		UnlockOnly: in.Get("unlock_only") != "", HelpdeskActsOnStaff: in.Get("helpdesk_acts_on_staff") != "",
		ReconfirmDays: num("reconfirm_days"), LockoutAttempts: num("lockout_attempts"), LockoutMinutes: num("lockout_minutes"),
		ExpiryReminderDays: num("expiry_reminder_days"), ResetMailsPerPerson: num("reset_mails_per_person"),
		ResetMailsPerAddress: num("reset_mails_per_address"),
	}
	for _, line := range strings.Split(in.Get("banned_words"), "\n") {
		if w := strings.TrimSpace(line); w != "" {
			st.Policy.BannedWords = append(st.Policy.BannedWords, w)
		}
	}
	if err := s.Passwords.SavePasswordSettings(r.Context(), viewer(r), st); err != nil {
		if portal.ErrorCode(err) != portal.EINVALID {
			s.Error(w, r, err)
			return
		}
		renderStatus(w, r, http.StatusBadRequest, view.PasswordSettings(s.page(r, tr(r, "Passwords"), "admin-passwords"),
			view.PasswordSettingsForm{S: st, Banned: in.Get("banned_words"), Error: errText(r, err)}))
		return
	}
	http.Redirect(w, r, "/admin/passwords?saved=1", http.StatusSeeOther)
}
