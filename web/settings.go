package web

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/pquerna/otp"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
	"github.com/tessera-idm/tessera/web/view"
)

// Settings → Sign-in and recovery: a person registers and removes their
// own methods (portal.MethodRegistry). Every handler acts on the signed-in
// person's methods only; the store audits each registration, check and
// removal.

// settingsNotices are the fixed messages a redirect to the page may show.
var settingsNotices = map[string]string{
	"email":     i18n.Mark("Your alternate email address is registered."),
	"totp":      i18n.Mark("Your authenticator app is registered. Tessera will ask for its code when it needs to be sure it is you."),
	"removed":   i18n.Mark("The method was removed."),
	"questions": i18n.Mark("Your security questions are registered."),
	"passkey":   i18n.Mark("Your passkey is registered. You can now sign in with it, without a password."),
	"confirmed": i18n.Mark("Thank you: your sign-in and recovery methods are confirmed."),
}

// methodPolicy says how many methods the person is asked to register (as
// many as the reset flow's gates ask them to prove) and how long they
// count as confirmed (0: for ever), from Administration → Passwords.
func (s *Server) methodPolicy(r *http.Request, v portal.Viewer) (required int, interval time.Duration, err error) {
	settings, err := s.passwordSettings(r)
	if err != nil {
		return 0, 0, err
	}
	return settings.GatesFor(v.Roles), time.Duration(settings.ReconfirmDays) * 24 * time.Hour, nil
}

// passwordSettings are Administration → Passwords, or their defaults
// where no password store is wired.
func (s *Server) passwordSettings(r *http.Request) (portal.PasswordSettings, error) {
	if s.Passwords == nil {
		return portal.DefaultPasswordSettings(), nil
	}
	return s.Passwords.PasswordSettings(r.Context())
}

// questionsAllowed reports whether v may register security questions:
// where an administrator allows them, and never for staff.
func (s *Server) questionsAllowed(r *http.Request, v portal.Viewer) (bool, error) {
	settings, err := s.passwordSettings(r)
	return settings.SecurityQuestions && !isStaff(v), err
}

// methodsNudge is what Home says about the person's methods: register
// more, or check them again.
func (s *Server) methodsNudge(r *http.Request) (view.MethodsNudge, error) {
	var n view.MethodsNudge
	if s.Methods == nil {
		return n, nil
	}
	v := viewer(r)
	ms, err := s.Methods.ListMethods(r.Context(), v.PersonID)
	if err != nil {
		return n, err
	}
	required, interval, err := s.methodPolicy(r, v)
	if err != nil {
		return n, err
	}
	n.Registered, n.Required = len(ms), required
	if len(ms) > 0 && interval > 0 {
		at, err := s.Methods.MethodsConfirmedAt(r.Context(), v.PersonID)
		if err != nil {
			return n, err
		}
		n.Reconfirm = !at.IsZero() && time.Since(at) > interval
	}
	return n, nil
}

// securityPage gathers the page's state for the signed-in person.
func (s *Server) securityPage(r *http.Request, f view.SecuritySettings) (view.SecuritySettings, error) {
	v := viewer(r)
	if s.Methods == nil {
		return f, portal.Errorf(portal.ENOTFOUND, "Sign-in and recovery methods are not available on this Tessera.")
	}
	ms, err := s.Methods.ListMethods(r.Context(), v.PersonID)
	if err != nil {
		return f, err
	}
	f.Methods = ms
	if f.Required, _, err = s.methodPolicy(r, v); err != nil {
		return f, err
	}
	f.Staff = v.Has(portal.RoleAdmin) || v.Has(portal.RoleHelpdesk)
	f.EmailEnabled = s.Codes != nil
	f.Passkeys = s.passkeysOn()
	if f.Questions, err = s.questionsAllowed(r, v); err != nil {
		return f, err
	}
	f.QuestionList = portal.SecurityQuestions
	if f.Notice == "" {
		if n, ok := settingsNotices[input(r).Get("notice")]; ok {
			f.Notice = tr(r, n)
		}
	}
	if at, err := s.Methods.MethodsConfirmedAt(r.Context(), v.PersonID); err != nil {
		return f, err
	} else if len(ms) > 0 {
		f.ConfirmedAt = at
	}
	return f, nil
}

// renderSecurity shows the page with f, or the error page.
func (s *Server) renderSecurity(w http.ResponseWriter, r *http.Request, status int, f view.SecuritySettings) {
	f, err := s.securityPage(r, f)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	renderStatus(w, r, status, view.Security(s.page(r, tr(r, "Sign-in and recovery"), "home"), f))
}

// failSecurity shows a domain error on the page, with what was typed.
func (s *Server) failSecurity(w http.ResponseWriter, r *http.Request, f view.SecuritySettings, err error) {
	if portal.ErrorCode(err) == portal.EINTERNAL {
		s.Error(w, r, err)
		return
	}
	f.Error = errText(r, err)
	s.renderSecurity(w, r, codeStatus[portal.ErrorCode(err)], f)
}

func (s *Server) handleSecurity(w http.ResponseWriter, r *http.Request) {
	s.renderSecurity(w, r, http.StatusOK, view.SecuritySettings{})
}

// handleAddEmail sends a code to the address typed; the page then asks for
// it.
func (s *Server) handleAddEmail(w http.ResponseWriter, r *http.Request) {
	v := viewer(r)
	f := view.SecuritySettings{AltEmail: input(r).Get("alt_email")}
	if s.Codes == nil || s.Methods == nil {
		s.failSecurity(w, r, f, portal.Errorf(portal.EINVALID, "Tessera cannot send email, so alternate email addresses cannot be registered. Ask your administrator to configure email."))
		return
	}
	address, err := portal.ValidateEmail(f.AltEmail)
	if err != nil {
		s.failSecurity(w, r, f, err)
		return
	}
	emails, err := s.Methods.VerifiedEmails(r.Context(), v.PersonID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	for _, e := range emails {
		if equalFoldEmail(e, address) {
			s.failSecurity(w, r, f, portal.Errorf(portal.ECONFLICT, "%s is registered already.", portal.Isolate(address)))
			return
		}
	}
	ch, err := s.Methods.IssueCode(r.Context(), v.PersonID, portal.CodeVerifyEmail, address)
	if err != nil {
		s.failSecurity(w, r, f, err)
		return
	}
	err = s.Codes.SendCode(r.Context(), portal.CodeMail{ToName: v.DisplayName, ToEmail: address, Code: ch.Code,
		Purpose: portal.CodeVerifyEmail, ExpiresAt: ch.ExpiresAt, Language: i18n.FromContext(r.Context()).Code()})
	if err != nil {
		s.Logger.Error("send verification code", "person", v.PersonID, "to", address, "err", err)
		s.failSecurity(w, r, f, portal.Errorf(portal.EINVALID, "The mail to %s could not be sent. Check the address, or try again later.", portal.Isolate(address)))
		return
	}
	f.PendingEmail, f.Challenge = address, ch.ID
	s.renderSecurity(w, r, http.StatusOK, f)
}

func equalFoldEmail(a, b string) bool {
	return len(a) == len(b) && bytes.EqualFold([]byte(a), []byte(b))
}

// handleVerifyEmail registers the address once its code is right.
func (s *Server) handleVerifyEmail(w http.ResponseWriter, r *http.Request) {
	v := viewer(r)
	in := input(r)
	f := view.SecuritySettings{PendingEmail: in.Get("alt_email"), Challenge: in.Get("challenge")}
	if s.Methods == nil {
		s.failSecurity(w, r, f, portal.ErrWrongCode)
		return
	}
	if _, err := s.Methods.AddVerifiedEmail(r.Context(), v.PersonID, f.Challenge, in.Get("code")); err != nil {
		if portal.ErrorCode(err) != portal.EUNAUTHORIZED {
			// A spent code cannot be tried again: ask for a new one.
			f.PendingEmail, f.Challenge = "", ""
		}
		s.failSecurity(w, r, f, err)
		return
	}
	http.Redirect(w, r, "/settings/security?notice=email", http.StatusSeeOther)
}

// handleStartTOTP makes a new authenticator secret and shows its QR code.
func (s *Server) handleStartTOTP(w http.ResponseWriter, r *http.Request) {
	v := viewer(r)
	if s.Methods == nil {
		s.Error(w, r, portal.ErrNoSecretStore)
		return
	}
	id, _, err := s.Methods.BeginTOTP(r.Context(), v.PersonID, s.totpAccount(r))
	if err != nil {
		s.failSecurity(w, r, view.SecuritySettings{}, err)
		return
	}
	http.Redirect(w, r, "/settings/security/totp?setup="+url.QueryEscape(id), http.StatusSeeOther)
}

// totpAccount is the name the authenticator app lists the secret under.
func (s *Server) totpAccount(r *http.Request) string {
	v := viewer(r)
	if prof, err := s.People.FindProfile(r.Context(), v.PersonID); err == nil && prof.Person.Email != "" {
		return prof.Person.Email
	}
	return v.DisplayName
}

// handleTOTPSetup shows a pending authenticator's QR code and asks for
// the first code.
func (s *Server) handleTOTPSetup(w http.ResponseWriter, r *http.Request) {
	s.renderTOTPSetup(w, r, http.StatusOK, view.SecuritySettings{Setup: input(r).Get("setup")})
}

func (s *Server) renderTOTPSetup(w http.ResponseWriter, r *http.Request, status int, f view.SecuritySettings) {
	if s.Methods == nil {
		s.Error(w, r, portal.ErrNoSecretStore)
		return
	}
	otpauth, err := s.Methods.PendingTOTP(r.Context(), viewer(r).PersonID, f.Setup, s.totpAccount(r))
	if err != nil {
		f.Setup = ""
		s.failSecurity(w, r, f, err)
		return
	}
	key, err := otp.NewKeyFromURL(otpauth)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	img, err := key.Image(220, 220)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		s.Error(w, r, err)
		return
	}
	f.QR = "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
	f.Secret = key.Secret()
	renderStatus(w, r, status, view.TOTPSetup(s.page(r, tr(r, "Add an authenticator app"), "home"), f))
}

// handleConfirmTOTP activates the pending authenticator when its code is
// right.
func (s *Server) handleConfirmTOTP(w http.ResponseWriter, r *http.Request) {
	in := input(r)
	f := view.SecuritySettings{Setup: in.Get("setup"), TOTPName: in.Get("name")}
	if s.Methods == nil {
		s.Error(w, r, portal.ErrNoSecretStore)
		return
	}
	if _, err := s.Methods.ConfirmTOTP(r.Context(), viewer(r).PersonID, f.Setup, f.TOTPName, in.Get("code")); err != nil {
		if portal.ErrorCode(err) == portal.EINTERNAL || portal.ErrorCode(err) == portal.ENOTFOUND {
			s.failSecurity(w, r, view.SecuritySettings{}, err)
			return
		}
		f.Error = errText(r, err)
		s.renderTOTPSetup(w, r, codeStatus[portal.ErrorCode(err)], f)
		return
	}
	if err := s.enrolled(r, "totp"); err != nil {
		s.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings/security?notice=totp", http.StatusSeeOther)
}

func (s *Server) handleRemoveMethod(w http.ResponseWriter, r *http.Request) {
	if s.Methods == nil {
		s.Error(w, r, portal.Errorf(portal.ENOTFOUND, "There is no such sign-in method."))
		return
	}
	if err := s.Methods.RemoveMethod(r.Context(), viewer(r).PersonID, input(r).Get("method")); err != nil {
		s.failSecurity(w, r, view.SecuritySettings{}, err)
		return
	}
	http.Redirect(w, r, "/settings/security?notice=removed", http.StatusSeeOther)
}

func (s *Server) handleConfirmMethods(w http.ResponseWriter, r *http.Request) {
	if s.Methods == nil {
		s.Error(w, r, portal.Errorf(portal.ENOTFOUND, "Sign-in and recovery methods are not available on this Tessera."))
		return
	}
	if err := s.Methods.ConfirmMethods(r.Context(), viewer(r).PersonID); err != nil {
		s.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings/security?notice=confirmed", http.StatusSeeOther)
}

// handleSetQuestions registers the person's security questions, where
// allowed.
func (s *Server) handleSetQuestions(w http.ResponseWriter, r *http.Request) {
	v := viewer(r)
	allowed, err := s.questionsAllowed(r, v)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if !allowed || s.Methods == nil {
		s.failSecurity(w, r, view.SecuritySettings{}, portal.Errorf(portal.EFORBIDDEN,
			"Security questions are not used here: they are turned off, or you are an administrator or helpdesk agent, whose answers would be too easy to find out."))
		return
	}
	in := input(r)
	answers := map[string]string{}
	for i := 1; i <= portal.QuestionsRequired; i++ {
		n := strconv.Itoa(i)
		if q := in.Get("question_" + n); q != "" {
			answers[q] = in.Get("answer_" + n)
		}
	}
	if _, err := s.Methods.SetSecurityAnswers(r.Context(), v.PersonID, answers); err != nil {
		s.failSecurity(w, r, view.SecuritySettings{}, err)
		return
	}
	http.Redirect(w, r, "/settings/security?notice=questions", http.StatusSeeOther)
}
