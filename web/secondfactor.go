package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/web/view"
)

// Staff second factor: administrators and helpdesk agents who signed in
// with a password (local or directory) must also give a code from their
// authenticator app or use their passkey before any page serves them
// (Config.StaffSecondFactor, on by default). A passkey sign-in is both
// factors already; an OIDC sign-in counts when the provider's amr or acr
// claims say it asked for more than a password (OIDCConfig.MFAAMR,
// MFAACR). Until then the session reaches only the second step, the
// settings page to register a first authenticator (when they have none),
// and sign-out.

// isStaff reports whether v holds a role the second factor guards.
func isStaff(v portal.Viewer) bool { return v.Has(portal.RoleAdmin) || v.Has(portal.RoleHelpdesk) }

// needsSecondFactor reports whether the session must still give one.
func (s *Server) needsSecondFactor(sess *portal.Session) bool {
	return s.Config.StaffSecondFactor && sess != nil && sess.SecondFactor == "" && isStaff(sess.Viewer)
}

// secondFactorMethods says which second factors the person has.
func (s *Server) secondFactorMethods(r *http.Request, personID string) (totp, passkey bool, err error) {
	if s.Methods == nil {
		return false, false, nil
	}
	ms, err := s.Methods.ListMethods(r.Context(), personID)
	if err != nil {
		return false, false, err
	}
	for _, m := range ms {
		totp = totp || m.Kind == portal.MethodTOTP
		passkey = passkey || m.Kind == portal.MethodPasskey
	}
	return totp, passkey && s.passkeysOn(), nil
}

// enrolmentPaths are what a staff session without a second factor may
// reach while it has none registered: the settings page, to add one.
var enrolmentPaths = []string{"/settings/security", "/settings/security/totp", "/settings/security/totp/confirm",
	"/settings/security/passkey/begin", "/settings/security/passkey"}

// requireSecondFactor sends a staff session that still owes its second
// factor to the second step.
func (s *Server) requireSecondFactor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess := sessionFrom(r)
		if !s.needsSecondFactor(sess) || strings.HasPrefix(r.URL.Path, "/signin/verify") {
			next.ServeHTTP(w, r)
			return
		}
		if slices.Contains(enrolmentPaths, r.URL.Path) {
			totp, passkey, err := s.secondFactorMethods(r, sess.Viewer.PersonID)
			if err != nil {
				s.Error(w, r, err)
				return
			}
			if !totp && !passkey {
				next.ServeHTTP(w, r)
				return
			}
		}
		target := "/signin/verify"
		if r.Method == http.MethodGet && r.URL.RequestURI() != "/" {
			target += "?next=" + url.QueryEscape(r.URL.RequestURI())
		}
		if r.Header.Get("HX-Request") == "true" {
			w.Header().Set("HX-Redirect", target)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	})
}

// enrolled lets a staff session that owed its second factor, and could
// only register its first authenticator, count the one just registered:
// registering it proved the person holds it. (Only the first: with one
// registered, requireSecondFactor keeps the settings page closed.)
func (s *Server) enrolled(r *http.Request, factor string) error {
	if !s.needsSecondFactor(sessionFrom(r)) {
		return nil
	}
	return s.markSecondFactor(r, factor)
}

// markSecondFactor records the factor the session's person just gave.
func (s *Server) markSecondFactor(r *http.Request, factor string) error {
	return s.Auth.SetSecondFactor(r.Context(), s.cookie(r, "tessera_session"), factor)
}

func (s *Server) renderSecondFactor(w http.ResponseWriter, r *http.Request, status int, errMsg string) {
	v := viewer(r)
	totp, passkey, err := s.secondFactorMethods(r, v.PersonID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	f := view.SecondFactorForm{Next: safeNext(input(r).Get("next")), TOTP: totp, Passkey: passkey, Error: errMsg}
	if f.Next == "/" {
		f.Next = ""
	}
	renderStatus(w, r, status, view.SecondFactor(s.page(r, tr(r, "Confirm it is you"), ""), f))
}

func (s *Server) handleSecondFactorPage(w http.ResponseWriter, r *http.Request) {
	if !s.needsSecondFactor(sessionFrom(r)) {
		http.Redirect(w, r, safeNext(input(r).Get("next")), http.StatusSeeOther)
		return
	}
	s.renderSecondFactor(w, r, http.StatusOK, "")
}

// handleSecondFactorTOTP checks a code from the person's authenticator app.
func (s *Server) handleSecondFactorTOTP(w http.ResponseWriter, r *http.Request) {
	v := viewer(r)
	if s.Methods == nil {
		s.Error(w, r, portal.ErrWrongTOTP)
		return
	}
	if err := s.Methods.VerifyTOTP(r.Context(), v.PersonID, input(r).Get("code")); err != nil {
		if portal.ErrorCode(err) == portal.EINTERNAL {
			s.Error(w, r, err)
			return
		}
		s.Logger.Info("second factor failed", "person", v.PersonID, "factor", "totp", "client", s.clientAddr(r))
		s.renderSecondFactor(w, r, codeStatus[portal.ErrorCode(err)], errText(r, err))
		return
	}
	if err := s.markSecondFactor(r, "totp"); err != nil {
		s.Error(w, r, err)
		return
	}
	http.Redirect(w, r, safeNext(input(r).Get("next")), http.StatusSeeOther)
}

// handleSecondFactorPasskeyBegin sends the options of an assertion with
// one of the person's own passkeys.
func (s *Server) handleSecondFactorPasskeyBegin(w http.ResponseWriter, r *http.Request) {
	if !s.passkeysOn() {
		s.Error(w, r, errNoPasskeys)
		return
	}
	v := viewer(r)
	user, err := s.loadPasskeyUser(r, v.PersonID, "", v.DisplayName)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	var allow []protocol.CredentialDescriptor
	for _, c := range user.creds {
		allow = append(allow, c.Descriptor())
	}
	// Discoverable, so that one check serves both ways in; the list
	// keeps the browser to this person's passkeys.
	assertion, session, err := s.rp.BeginDiscoverableLogin(webauthn.WithAllowedCredentials(allow),
		webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.writeCeremony(w, r, v.PersonID, ceremonySecond, assertion.Response, session)
}

// handleSecondFactorPasskey checks the assertion against the person's
// own passkeys.
func (s *Server) handleSecondFactorPasskey(w http.ResponseWriter, r *http.Request) {
	if !s.passkeysOn() {
		s.Error(w, r, errNoPasskeys)
		return
	}
	v := viewer(r)
	if _, err := s.verifyAssertion(r, ceremonySecond, v.PersonID); err != nil {
		if portal.ErrorCode(err) == portal.EINTERNAL {
			s.Error(w, r, err)
			return
		}
		s.Logger.Info("second factor failed", "person", v.PersonID, "factor", "passkey", "client", s.clientAddr(r))
		s.renderSecondFactor(w, r, codeStatus[portal.ErrorCode(err)], errText(r, err))
		return
	}
	if err := s.markSecondFactor(r, "passkey"); err != nil {
		s.Error(w, r, err)
		return
	}
	http.Redirect(w, r, safeNext(input(r).Get("next")), http.StatusSeeOther)
}

// SecondFactorClaims reports whether the provider's claims say it checked
// more than a password: an amr value (RFC 8176) or the acr value that the
// configuration names.
func (c OIDCConfig) SecondFactorClaims(claims map[string]any) bool {
	if amr, ok := claims["amr"].([]any); ok {
		for _, v := range amr {
			if s, ok := v.(string); ok && slices.Contains(c.MFAAMR, s) {
				return true
			}
		}
	}
	acr, _ := claims["acr"].(string)
	return acr != "" && slices.Contains(c.MFAACR, acr)
}
