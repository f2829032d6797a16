package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/web/view"
)

// Self-service password reset and unlock, and a signed-in change. A new
// password goes from the form to the connected systems (portal.
// AccountSystems) and the local password store, and nowhere else: not to
// the log, the audit log, a job or an error.

// resetCookie holds the reset flow's token.
const resetCookie = "tessera_reset"

// resetMailer mails reset codes after the start page has answered, so
// that the answer, its work and its time are the same whether or not a
// code goes out (an account that names no one, spent mail budgets, a slow
// relay), and nobody waits for the relay. The code is held in this
// queue's memory only, never in a job's arguments or the database: it is
// a secret that would then outlive its use. A graceful stop mails what is
// queued (DrainResetMail); a crash loses it, and the person starts again,
// as they would had the mail gone astray. At most resetMailQueue codes
// wait; past them (a relay that is down), more are logged and dropped.
type resetMailer struct {
	mu      sync.Mutex
	queue   chan portal.CodeMail
	closed  bool // DrainResetMail was called: nothing more is queued
	ctx     context.Context
	cancel  context.CancelFunc // gives up on the mails being sent
	senders sync.WaitGroup
	pending atomic.Int64 // queued or being sent
}

// The reset mail queue's length, its senders (as many as the SMTP
// mailer's kept connections) and how long each mail may take.
const (
	resetMailQueue   = 256
	resetMailSenders = 4
	resetMailTimeout = 30 * time.Second
)

// mailResetCode queues m; false when the queue is full or draining.
func (s *Server) mailResetCode(m portal.CodeMail) bool {
	q := &s.resetCodes
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	if q.queue == nil {
		q.queue = make(chan portal.CodeMail, resetMailQueue)
		q.ctx, q.cancel = context.WithCancel(context.Background())
		for range resetMailSenders {
			q.senders.Go(func() {
				for m := range q.queue {
					ctx, cancel := context.WithTimeout(q.ctx, resetMailTimeout)
					if err := s.Codes.SendCode(ctx, m); err != nil {
						// Told to no one but the log: the page read the
						// same for every account. The person can still
						// use an authenticator or a recovery code.
						s.Logger.Error("reset code not sent", "error", err)
					}
					cancel()
					q.pending.Add(-1)
				}
			})
		}
	}
	select {
	case q.queue <- m:
		q.pending.Add(1)
		return true
	default:
		return false
	}
}

// DrainResetMail mails the reset codes still queued, once the HTTP server
// has stopped taking requests (a code queued later is refused and logged).
// When ctx ends first, the codes not yet mailed are given up and the error
// says how many: the people they were for start again. A second call
// waits as the first.
func (s *Server) DrainResetMail(ctx context.Context) error {
	q := &s.resetCodes
	q.mu.Lock()
	first := !q.closed
	q.closed = true
	if q.queue == nil {
		q.mu.Unlock()
		return nil
	}
	if first {
		close(q.queue)
	}
	q.mu.Unlock()
	done := make(chan struct{})
	go func() { q.senders.Wait(); close(done) }()
	select {
	case <-done:
		q.cancel()
		return nil
	case <-ctx.Done():
	}
	left := q.pending.Load()
	q.cancel() // the senders fail what is left at once
	<-done
	return fmt.Errorf("web: %d reset codes were not mailed before the stop: %w", left, ctx.Err())
}

// passwordsReady answers for a password page when password features are
// not wired (a test server without them) and returns false.
func (s *Server) passwordsReady(w http.ResponseWriter, r *http.Request) bool {
	if s.Passwords == nil || s.Accounts == nil {
		s.Error(w, r, portal.Errorf(portal.ENOTFOUND, "Password reset is not set up on this server."))
		return false
	}
	return true
}

func (s *Server) handleResetStartPage(w http.ResponseWriter, r *http.Request) {
	if !s.passwordsReady(w, r) {
		return
	}
	renderStatus(w, r, http.StatusOK, view.ResetStart(s.page(r, tr(r, "Reset your password"), ""), view.ResetStartForm{}))
}

// handleResetStart begins a flow for the account typed, queues the code for
// its addresses unless the budgets of reset mails are spent (resetMailer),
// and goes to the code step: the same answer, the same statements and the
// same time whether or not the account names someone, and whether or not
// it mails.
func (s *Server) handleResetStart(w http.ResponseWriter, r *http.Request) {
	if !s.passwordsReady(w, r) {
		return
	}
	account := input(r).Get("account")
	st, err := s.Passwords.StartReset(r.Context(), account, s.clientAddr(r))
	if portal.ErrorCode(err) == portal.EINVALID {
		renderStatus(w, r, http.StatusBadRequest, view.ResetStart(s.page(r, tr(r, "Reset your password"), ""),
			view.ResetStartForm{Error: errText(r, err)}))
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	if st.Flow.PersonID != "" && st.Mail && st.Flow.Settings.EmailCodes && s.Codes != nil {
		for _, to := range st.Flow.Emails {
			if !s.mailResetCode(portal.CodeMail{ToName: st.Flow.Name, ToEmail: to, Code: st.Code, Purpose: portal.CodeReset,
				ExpiresAt: time.Now().Add(portal.CodeLifetime), Language: i18n.FromContext(r.Context()).Code()}) {
				s.Logger.Error("reset code not sent: the mail queue is full, or the server is stopping", "person", st.Flow.PersonID)
			}
		}
	}
	s.setCookie(w, resetCookie, st.Token, int(portal.ResetFlowLifetime/time.Second))
	http.Redirect(w, r, "/password/reset/verify", http.StatusSeeOther)
}

// resetFlow returns the flow of the browser's cookie, or answers that it
// expired and returns nil.
func (s *Server) resetFlow(w http.ResponseWriter, r *http.Request) *portal.ResetFlow {
	f, err := s.Passwords.FindReset(r.Context(), s.cookie(r, resetCookie))
	if err != nil {
		s.resetFailed(w, r, err)
		return nil
	}
	return f
}

// resetFailed answers an expired or locked flow with the start page.
func (s *Server) resetFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch portal.ErrorCode(err) {
	case portal.EUNAUTHORIZED, portal.ETOOMANYREQUEST:
		status := http.StatusUnauthorized
		if portal.ErrorCode(err) == portal.ETOOMANYREQUEST {
			status = http.StatusTooManyRequests
		}
		renderStatus(w, r, status, view.ResetStart(s.page(r, tr(r, "Reset your password"), ""),
			view.ResetStartForm{Error: errText(r, err)}))
	default:
		s.Error(w, r, err)
	}
}

func (s *Server) handleResetVerifyPage(w http.ResponseWriter, r *http.Request) {
	if !s.passwordsReady(w, r) {
		return
	}
	f := s.resetFlow(w, r)
	if f == nil {
		return
	}
	if f.Passed() {
		http.Redirect(w, r, "/password/reset/new", http.StatusSeeOther)
		return
	}
	s.renderVerify(w, r, http.StatusOK, f, "")
}

// verifyForm tells how many gates remain only once one was proven, and
// then offers the person's security questions where they may be a gate.
func (s *Server) verifyForm(ctx context.Context, f *portal.ResetFlow, msg string) (view.ResetVerifyForm, error) {
	v := view.ResetVerifyForm{Error: msg}
	if len(f.Gates) > 0 {
		v.Passed, v.Required = len(f.Gates), f.Required
	}
	if f.Offers(portal.GateQuestions) && s.Methods != nil {
		qs, err := s.Methods.RegisteredQuestions(ctx, f.PersonID)
		if err != nil {
			return v, err
		}
		v.Questions = qs
	}
	return v, nil
}

// renderVerify shows the gate step.
func (s *Server) renderVerify(w http.ResponseWriter, r *http.Request, status int, f *portal.ResetFlow, msg string) {
	form, err := s.verifyForm(r.Context(), f, msg)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	renderStatus(w, r, status, view.ResetVerify(s.page(r, tr(r, "Reset your password"), ""), form))
}

// handleResetVerify checks a code: the emailed one, a recovery code, or an
// authenticator's. Each wrong one spends the flow's budgets. An account
// that names no one goes through the same statements, to the same answer.
func (s *Server) handleResetVerify(w http.ResponseWriter, r *http.Request) {
	if !s.passwordsReady(w, r) {
		return
	}
	code := input(r).Get("code")
	f, _, err := s.Passwords.TryResetCode(r.Context(), s.cookie(r, resetCookie), s.clientAddr(r), code)
	if f == nil {
		s.resetFailed(w, r, err)
		return
	}
	if err == portal.ErrWrongResetCode && f.Offers(portal.GateTOTP) && s.Methods != nil {
		// Not the emailed code nor a recovery code: perhaps an
		// authenticator's. Checked for no one too (VerifyTOTP does the
		// same work and fails), so that the time tells nothing. A paused
		// authenticator reads as a wrong code: the page tells nothing.
		switch terr := s.Methods.VerifyTOTP(r.Context(), f.PersonID, code); portal.ErrorCode(terr) {
		case "":
			err = s.Passwords.PassResetGate(r.Context(), f, portal.GateTOTP)
		case portal.EUNAUTHORIZED, portal.ETOOMANYREQUEST:
		default:
			s.Error(w, r, terr)
			return
		}
	}
	s.gateAnswered(w, r, f, err, portal.ErrWrongResetCode)
}

// gateAnswered goes on after a gate was tried: to the new password once
// every gate is proven, back to the gate step otherwise; a wrong answer
// (wrong) spends the flow's budgets.
func (s *Server) gateAnswered(w http.ResponseWriter, r *http.Request, f *portal.ResetFlow, err, wrong error) {
	if err == nil {
		if f.Passed() {
			http.Redirect(w, r, "/password/reset/new", http.StatusSeeOther)
			return
		}
		s.renderVerify(w, r, http.StatusOK, f, "")
		return
	}
	if err != wrong {
		s.resetFailed(w, r, err)
		return
	}
	client := s.clientAddr(r)
	// Counted even when the client hangs up first.
	if err := s.Passwords.FailResetGate(context.WithoutCancel(r.Context()), f, client); err != nil {
		s.Error(w, r, err)
		return
	}
	s.Logger.Info("reset gate failed", "person", f.PersonID, "client", client)
	s.renderVerify(w, r, http.StatusUnauthorized, f, errText(r, wrong))
}

// handleResetQuestions checks the person's answers to their security
// questions, offered only as a second gate to people who are not staff
// (portal.ResetFlow.Offers). Each wrong set spends the flow's budgets and
// the person's QuestionsBudget.
func (s *Server) handleResetQuestions(w http.ResponseWriter, r *http.Request) {
	if !s.passwordsReady(w, r) {
		return
	}
	f, err := s.Passwords.BeginResetGate(r.Context(), s.cookie(r, resetCookie), s.clientAddr(r))
	if err != nil {
		s.resetFailed(w, r, err)
		return
	}
	if !f.Offers(portal.GateQuestions) || s.Methods == nil {
		s.Error(w, r, portal.Errorf(portal.EFORBIDDEN, "Security questions cannot be used for this step. Use a code instead."))
		return
	}
	questions, err := s.Methods.RegisteredQuestions(r.Context(), f.PersonID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	in := input(r)
	answers := make(map[string]string, len(questions))
	for i, q := range questions {
		answers[q] = in.Get("answer_" + strconv.Itoa(i+1))
	}
	switch aerr := s.Methods.CheckAnswers(r.Context(), f.PersonID, answers); portal.ErrorCode(aerr) {
	case "":
		err = s.Passwords.PassResetGate(r.Context(), f, portal.GateQuestions)
	case portal.EUNAUTHORIZED, portal.ETOOMANYREQUEST:
		err = portal.ErrWrongAnswers
	default:
		s.Error(w, r, aerr)
		return
	}
	s.gateAnswered(w, r, f, err, portal.ErrWrongAnswers)
}

// passedFlow returns the flow when every gate it needs was proven;
// otherwise it answers and returns nil.
func (s *Server) passedFlow(w http.ResponseWriter, r *http.Request) *portal.ResetFlow {
	f := s.resetFlow(w, r)
	if f == nil {
		return nil
	}
	if !f.Passed() {
		http.Redirect(w, r, "/password/reset/verify", http.StatusSeeOther)
		return nil
	}
	return f
}

// pwSubject is whose new password is checked, with what the checks need
// besides the directories' rules: the settings and the person's names. A
// reset flow has read them already (flowSubject); a signed-in person's
// are read (s.subject).
type pwSubject struct {
	personID string
	settings portal.PasswordSettings
	names    []string
}

// flowSubject is the reset flow's person, as the flow read them.
func flowSubject(f *portal.ResetFlow) pwSubject {
	return pwSubject{personID: f.PersonID, settings: f.Settings, names: f.Names}
}

// subject reads the password settings and the names of personID.
func (s *Server) subject(ctx context.Context, personID string) (pwSubject, error) {
	settings, err := s.Passwords.PasswordSettings(ctx)
	if err != nil {
		return pwSubject{}, err
	}
	names, err := s.Passwords.PersonNames(ctx, personID)
	if err != nil {
		return pwSubject{}, err
	}
	return pwSubject{personID: personID, settings: settings, names: names}, nil
}

// newPasswordForm fills the form with the policy and the directories'
// rules for the person.
func (s *Server) newPasswordForm(ctx context.Context, who pwSubject, action, check string) (view.NewPasswordForm, error) {
	rules, err := s.Accounts.PasswordRules(ctx, who.personID)
	if err != nil {
		return view.NewPasswordForm{}, err
	}
	f := view.NewPasswordForm{Action: action, Check: check, MinLength: who.settings.Policy.MinLength}
	for _, d := range rules {
		f.Rules = append(f.Rules, texts(ctx, d.Explain())...)
	}
	return f, nil
}

func (s *Server) handleResetNewPage(w http.ResponseWriter, r *http.Request) {
	if !s.passwordsReady(w, r) {
		return
	}
	flow := s.passedFlow(w, r)
	if flow == nil {
		return
	}
	f, err := s.newPasswordForm(r.Context(), flowSubject(flow), "/password/reset/new", "/password/reset/check")
	if err != nil {
		s.Error(w, r, err)
		return
	}
	f.Name, f.UnlockOnly = flow.Name, flow.Settings.UnlockOnly
	renderStatus(w, r, http.StatusOK, view.NewPassword(s.page(r, tr(r, "Choose a new password"), ""), f))
}

// handlePasswordCheck is the live feedback while a new password is typed:
// in the reset flow (for the flow's person) and signed in (for oneself).
func (s *Server) handlePasswordCheck(w http.ResponseWriter, r *http.Request) {
	if !s.passwordsReady(w, r) {
		return
	}
	var who pwSubject
	if sess := sessionFrom(r); sess != nil && r.URL.Path == "/password/change/check" {
		var err error
		if who, err = s.subject(r.Context(), sess.Viewer.PersonID); err != nil {
			s.Error(w, r, err)
			return
		}
	} else {
		flow := s.passedFlow(w, r)
		if flow == nil {
			return
		}
		who = flowSubject(flow)
	}
	password := input(r).Get("new_password")
	c, err := s.checkPassword(r.Context(), who, password)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	c = c.WithStrength(password, who.names)
	renderStatus(w, r, http.StatusOK, view.PasswordFeedback(texts(r.Context(), c.Problems), c.Strength, i18n.FromContext(r.Context()).Text(c.Hint)))
}

// checkPassword applies the policy and the person's directories' rules.
func (s *Server) checkPassword(ctx context.Context, who pwSubject, password string) (portal.PasswordCheck, error) {
	rules, err := s.Accounts.PasswordRules(ctx, who.personID)
	if err != nil {
		return portal.PasswordCheck{}, err
	}
	return who.settings.Policy.Check(password, who.names, rules), nil
}

// handleResetNew sets the new password everywhere the person has one, or
// only unlocks, then ends the flow and (after a reset) every session.
func (s *Server) handleResetNew(w http.ResponseWriter, r *http.Request) {
	if !s.passwordsReady(w, r) {
		return
	}
	flow := s.passedFlow(w, r)
	if flow == nil {
		return
	}
	// The accounts the new password is checked for are those it is set
	// in, read once.
	ctx := syncsvc.ReadAccountsOnce(r.Context())
	client := s.clientAddr(r)
	in := input(r)
	if in.Get("action") == "unlock" {
		if !flow.Settings.UnlockOnly {
			s.Error(w, r, portal.Errorf(portal.EFORBIDDEN, "Unlocking without a new password is turned off; choose a new password."))
			return
		}
		results, err := s.Accounts.Unlock(ctx, flow.PersonID)
		if err != nil {
			s.Error(w, r, err)
			return
		}
		if err := s.Passwords.FinishReset(context.WithoutCancel(ctx), flow, "unlock", results, client); err != nil {
			s.resetFailed(w, r, err)
			return
		}
		s.setCookie(w, resetCookie, "", -1)
		if len(results) == 0 {
			// No system where the person has an account can unlock it
			// (none joined, or only Entra ID, whose lockout Graph cannot
			// end): nothing was done, and the page must not say otherwise.
			s.Logger.Info("nothing to unlock (self-service unlock)", "person", flow.PersonID, "client", client)
			render(w, r, view.PasswordDone(s.page(r, tr(r, "Nothing to unlock"), ""), view.PasswordOutcome{Title: tr(r, "There was nothing to unlock"),
				Lead: tr(r, "None of your accounts is in a system where Tessera can unlock it, so nothing was changed. If you cannot sign in, start again and choose a new password, or ask the helpdesk.")}))
			return
		}
		if portal.NothingChanged(results) {
			s.Logger.Info("account not locked (self-service unlock)", "person", flow.PersonID, "client", client)
			render(w, r, view.PasswordDone(s.page(r, tr(r, "Account not locked"), ""), view.PasswordOutcome{Title: tr(r, "Your account was not locked"),
				Lead:    tr(r, "Your account was not locked, so nothing was changed. If you still cannot sign in, start again and choose a new password."),
				Results: results, SignIn: true}))
			return
		}
		s.Logger.Info("account unlocked (self-service)", "person", flow.PersonID, "client", client)
		render(w, r, view.PasswordDone(s.page(r, tr(r, "Account unlocked"), ""), view.PasswordOutcome{Title: tr(r, "Your account is unlocked"),
			Lead: outcomeLead(r, i18n.Mark("Your account was unlocked"), results), Results: results, SignIn: true}))
		return
	}
	// The form is built again only when it is shown again: reading the
	// directories' rules costs a round trip to each.
	form := func() (view.NewPasswordForm, bool) {
		f, err := s.newPasswordForm(ctx, flowSubject(flow), "/password/reset/new", "/password/reset/check")
		if err != nil {
			s.Error(w, r, err)
			return f, false
		}
		f.Name, f.UnlockOnly = flow.Name, flow.Settings.UnlockOnly
		return f, true
	}
	password := in.Get("new_password")
	var refused view.NewPasswordForm
	if s.refuseNewPassword(ctx, flowSubject(flow), password, in.Get("confirm_password"), &refused) {
		f, ok := form()
		if !ok {
			return
		}
		f.Error, f.Problems = refused.Error, refused.Problems
		renderStatus(w, r, http.StatusBadRequest, view.NewPassword(s.page(r, tr(r, "Choose a new password"), ""), f))
		return
	}
	// Hashed for the local password, when the person has one, while the
	// systems take the password: hashed once, and only once accepted.
	local := s.hashLocal(func() (bool, error) { return flow.LocalPassword, nil }, password)
	results, err := s.setEverywhere(ctx, flow.PersonID, password, portal.ResetOptions{Unlock: true}, local)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if len(results) == 0 || len(portal.FailedSystems(results)) == len(results) {
		// Nothing was set: the person may try another password.
		f, ok := form()
		if !ok {
			return
		}
		status := http.StatusBadRequest
		f.Error = outcomeLead(r, "", results)
		for _, res := range results {
			f.Problems = append(f.Problems, errText(r, res.Err))
		}
		if len(results) == 0 {
			status, f.Error = http.StatusConflict, tr(r, "You have no account whose password Tessera can set. Call the helpdesk.")
		}
		renderStatus(w, r, status, view.NewPassword(s.page(r, tr(r, "Choose a new password"), ""), f))
		return
	}
	if err := s.Passwords.FinishReset(context.WithoutCancel(ctx), flow, "reset", results, client); err != nil {
		s.resetFailed(w, r, err)
		return
	}
	s.setCookie(w, resetCookie, "", -1)
	s.setCookie(w, "tessera_session", "", -1)
	s.Logger.Info("password reset (self-service)", "person", flow.PersonID, "client", client,
		"failed_systems", len(portal.FailedSystems(results)))
	render(w, r, view.PasswordDone(s.page(r, tr(r, "Password reset"), ""), view.PasswordOutcome{Title: tr(r, "Your password is reset"),
		Lead:    outcomeLead(r, i18n.Mark("Your new password is set and your account unlocked. Every Tessera session you had was ended"), results),
		Results: results, SignIn: true}))
}

// refuseNewPassword checks the confirmation and the policy, and fills the
// form's problems; true when the password may not be set.
func (s *Server) refuseNewPassword(ctx context.Context, who pwSubject, password, confirm string, f *view.NewPasswordForm) bool {
	if password != confirm {
		f.Error = i18n.T(ctx, "The two new passwords are not the same. Type them again.")
		return true
	}
	c, err := s.checkPassword(ctx, who, password)
	if err != nil {
		f.Error = i18n.FromContext(ctx).Error(err)
		return true
	}
	if !c.OK() {
		f.Problems = texts(ctx, c.Problems)
		f.Error = i18n.T(ctx, "That password cannot be used; see why below.")
		return true
	}
	return false
}

// localHash is a person's new local password being hashed (argon2id,
// the slowest step of a reset) while the rest of the reset goes on: the
// checks, the directories' round trips, the systems' writes. Its goroutine
// never outlives the request: every handler that starts one waits for it.
type localHash struct {
	done chan struct{}
	has  bool // the person has a local password
	hash string
	err  error
}

// hashLocal starts hashing password when has says the person has a local
// password.
func (s *Server) hashLocal(has func() (bool, error), password string) *localHash {
	l := &localHash{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		if l.has, l.err = has(); l.err == nil && l.has {
			l.hash = portal.HashPassword(password)
		}
	}()
	return l
}

// wait waits for the hash.
func (l *localHash) wait() { <-l.done }

// setEverywhere resets the password in every connected system where the
// person has an account and, when they have one, their local password,
// from local (hashLocal's, started as early as the caller could): the
// person waits for the slowest of the hash and the systems, not for their
// sum.
func (s *Server) setEverywhere(ctx context.Context, personID, password string, o portal.ResetOptions, local *localHash) ([]portal.SystemResult, error) {
	results, err := s.Accounts.ResetPassword(ctx, personID, password, o)
	local.wait()
	if err != nil {
		return nil, err
	}
	if local.err != nil {
		return nil, local.err
	}
	if !local.has {
		return results, nil
	}
	res := portal.SystemResult{System: i18n.Mark("Tessera sign-in")}
	if err := s.Passwords.SetLocalPasswordHash(ctx, personID, local.hash); err != nil {
		s.Logger.Error("local password not set", "person", personID, "error", err)
		res.Err = portal.Errorf(portal.EINTERNAL, "Tessera sign-in: setting the password could not be done.")
	}
	return append(results, res), nil
}

// outcomeLead says in one sentence, in the reader's language, what
// happened (done, a key) and what did not.
func outcomeLead(r *http.Request, done string, results []portal.SystemResult) string {
	failed := portal.FailedSystems(results)
	switch {
	case len(failed) == 0:
		return tr(r, done) + "."
	case len(failed) == len(results):
		return tr(r, "Nothing was changed: every system refused or did not answer. See why below.")
	default:
		names := make([]string, len(failed))
		for i, f := range failed {
			names[i] = portal.Isolate(f.System)
		}
		return tr(r, "%s, except in %s, which refused or did not answer (see below). The helpdesk can see this too.", tr(r, done), strings.Join(names, ", "))
	}
}

// texts writes domain texts in the reader's language.
func texts(ctx context.Context, ts []portal.Text) []string {
	p := i18n.FromContext(ctx)
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = p.Text(t)
	}
	return out
}

func (s *Server) handlePasswordChangePage(w http.ResponseWriter, r *http.Request) {
	if !s.passwordsReady(w, r) {
		return
	}
	who, err := s.subject(r.Context(), viewer(r).PersonID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	f, err := s.newPasswordForm(r.Context(), who, "/password/change", "/password/change/check")
	if err != nil {
		s.Error(w, r, err)
		return
	}
	f.Current = true
	render(w, r, view.NewPassword(s.page(r, tr(r, "Change your password"), ""), f))
}

// handlePasswordChange changes the signed-in person's password with the
// current one: in AD as a user change (history and minimum age apply), and
// the local password after checking the current one. A wrong current
// password spends the sign-in budgets, as at sign-in.
func (s *Server) handlePasswordChange(w http.ResponseWriter, r *http.Request) {
	if !s.passwordsReady(w, r) {
		return
	}
	// The accounts the new password is checked for are those it is set
	// in, read once (not the list PasswordRules keeps for a minute for the
	// pages: an account joined since would be set without its rules).
	ctx := syncsvc.ReadAccountsOnce(r.Context())
	v := viewer(r)
	in := input(r)
	who, err := s.subject(ctx, v.PersonID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	f, err := s.newPasswordForm(ctx, who, "/password/change", "/password/change/check")
	if err != nil {
		s.Error(w, r, err)
		return
	}
	f.Current = true
	page := s.page(r, tr(r, "Change your password"), "")
	password, current := in.Get("new_password"), in.Get("current_password")
	if s.refuseNewPassword(ctx, who, password, in.Get("confirm_password"), &f) {
		renderStatus(w, r, http.StatusBadRequest, view.NewPassword(page, f))
		return
	}
	prof, err := s.People.FindProfile(ctx, v.PersonID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	t, err := s.Auth.BeginSignIn(ctx, portal.SignInAttempt{Method: "change", Account: prof.Person.AccountName, Address: s.clientAddr(r)})
	if err != nil {
		s.Error(w, r, err)
		return
	}
	local, err := s.Passwords.HasLocalPassword(ctx, v.PersonID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if local {
		if id, err := s.Auth.CheckPassword(ctx, prof.Person.AccountName, current); err != nil || id != v.PersonID {
			s.failChange(w, r, t, page, f)
			return
		}
	}
	results, err := s.Accounts.ChangePassword(ctx, v.PersonID, current, password)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if len(results) == 0 && !local {
		f.Error = tr(r, "You have no password Tessera can change: you sign in through your organisation's provider.")
		renderStatus(w, r, http.StatusConflict, view.NewPassword(page, f))
		return
	}
	if len(results) > 0 && len(portal.FailedSystems(results)) == len(results) {
		// Any system's word counts (they come in no particular order):
		// a wrong current password spends the sign-in budgets.
		if slices.ContainsFunc(results, func(res portal.SystemResult) bool {
			return strings.Contains(portal.ErrorMessage(res.Err), "current password is not right")
		}) {
			s.failChange(w, r, t, page, f)
			return
		}
		f.Error = outcomeLead(r, "", results)
		for _, res := range results {
			f.Problems = append(f.Problems, errText(r, res.Err))
		}
		renderStatus(w, r, http.StatusBadRequest, view.NewPassword(page, f))
		return
	}
	if local {
		err := s.Passwords.SetLocalPassword(ctx, v.PersonID, password)
		if err != nil {
			s.Logger.Error("local password not set", "person", v.PersonID, "error", err)
			err = portal.Errorf(portal.EINTERNAL, "Tessera sign-in: setting the password could not be done.")
		}
		results = append(results, portal.SystemResult{System: i18n.Mark("Tessera sign-in"), Err: err})
	}
	if err := s.Passwords.RecordPasswordChange(context.WithoutCancel(ctx), v.PersonID, results, s.clientAddr(r)); err != nil {
		s.Error(w, r, err)
		return
	}
	s.Logger.Info("password changed", "person", v.PersonID, "failed_systems", len(portal.FailedSystems(results)))
	render(w, r, view.PasswordDone(page, view.PasswordOutcome{Title: tr(r, "Your password is changed"),
		Lead: outcomeLead(r, i18n.Mark("Your password is changed"), results), Results: results}))
}

// failChange counts a wrong current password against the sign-in budgets.
func (s *Server) failChange(w http.ResponseWriter, r *http.Request, t *portal.SignInTicket, page view.Page, f view.NewPasswordForm) {
	if err := s.Auth.FailSignIn(context.WithoutCancel(r.Context()), t); err != nil {
		s.Error(w, r, err)
		return
	}
	f.Error = tr(r, "The current password is not right.")
	renderStatus(w, r, http.StatusUnauthorized, view.NewPassword(page, f))
}
