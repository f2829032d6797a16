package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/web/view"
)

// Passkeys (WebAuthn): a person registers one under Settings → Sign-in and
// recovery, then signs in with it alone, without a password (a
// discoverable credential whose user verification is required, so the
// passkey is both factors). The browser's part is static/assets/js/passkey.js:
// it asks a begin endpoint for the options (JSON), runs the ceremony, and
// posts the credential's JSON in an ordinary form field, through readInput
// and the CSRF check like every other form. Each ceremony's challenge is
// kept server-side and works once.

// Ceremony kinds, as the store keeps them.
const (
	ceremonyRegister = "register"
	ceremonySignIn   = "sign_in"
	ceremonySecond   = "second_factor"
)

// newRelyingParty sets up WebAuthn for the portal's public URL. Browsers
// refuse an IP address as the relying party's ID, so a portal served at
// one (http://127.0.0.1:8080) offers no passkeys; localhost works.
func newRelyingParty(baseURL string) (*webauthn.WebAuthn, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("TESSERA_BASE_URL %q has no host name", baseURL)
	}
	if net.ParseIP(u.Hostname()) != nil {
		return nil, fmt.Errorf("TESSERA_BASE_URL %q names an IP address, which browsers refuse for passkeys; use a host name (localhost for a trial)", baseURL)
	}
	return webauthn.New(&webauthn.Config{RPID: u.Hostname(), RPDisplayName: "Tessera", RPOrigins: []string{u.Scheme + "://" + u.Host}})
}

// passkeyUser is a person as the WebAuthn library sees them.
type passkeyUser struct {
	handle        []byte
	name, display string
	creds         []webauthn.Credential
}

func (u *passkeyUser) WebAuthnID() []byte                         { return u.handle }
func (u *passkeyUser) WebAuthnName() string                       { return u.name }
func (u *passkeyUser) WebAuthnDisplayName() string                { return u.display }
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// loadPasskeyUser reads the person's handle and passkeys.
func (s *Server) loadPasskeyUser(r *http.Request, personID, name, display string) (*passkeyUser, error) {
	handle, err := s.Methods.PasskeyHandle(r.Context(), personID)
	if err != nil {
		return nil, err
	}
	keys, err := s.Methods.Passkeys(r.Context(), personID)
	if err != nil {
		return nil, err
	}
	u := &passkeyUser{handle: handle, name: name, display: display}
	for _, k := range keys {
		var c webauthn.Credential
		if err := json.Unmarshal(k.Credential, &c); err != nil {
			return nil, fmt.Errorf("passkey %s: %w", k.MethodID, err)
		}
		u.creds = append(u.creds, c)
	}
	return u, nil
}

// passkeysOn reports whether passkeys can be used here.
func (s *Server) passkeysOn() bool { return s.rp != nil && s.Methods != nil }

var errNoPasskeys = portal.Errorf(portal.ENOTFOUND, "Passkeys are not available on this Tessera.")

// writeCeremony saves the ceremony's state and sends the browser its
// options with the token that names the ceremony.
func (s *Server) writeCeremony(w http.ResponseWriter, r *http.Request, personID, kind string, options any, session *webauthn.SessionData) {
	data, err := json.Marshal(session)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	token := newToken()
	if err := s.Methods.SaveCeremony(r.Context(), token, personID, kind, data); err != nil {
		s.Error(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"ceremony": token, "options": options}) //nolint:errcheck
}

// takeCeremony returns the ceremony's state for the form that answers it.
func (s *Server) takeCeremony(r *http.Request, kind string) (string, webauthn.SessionData, error) {
	var session webauthn.SessionData
	personID, data, err := s.Methods.TakeCeremony(r.Context(), input(r).Get("ceremony"), kind)
	if err != nil {
		return "", session, err
	}
	if err := json.Unmarshal(data, &session); err != nil {
		return "", session, fmt.Errorf("passkey ceremony: %w", err)
	}
	return personID, session, nil
}

// passkeyReason is why an assertion or registration failed, for the
// audit log: the library's own words, which hold no secret.
func passkeyReason(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Details
	}
	return portal.ErrorMessageOr(err)
}

// handlePasskeyRegisterBegin sends the options for a new passkey.
func (s *Server) handlePasskeyRegisterBegin(w http.ResponseWriter, r *http.Request) {
	if !s.passkeysOn() {
		s.Error(w, r, errNoPasskeys)
		return
	}
	v := viewer(r)
	user, err := s.loadPasskeyUser(r, v.PersonID, s.totpAccount(r), v.DisplayName)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range user.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := s.rp.BeginRegistration(user,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationRequired}),
		webauthn.WithExclusions(exclude))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.writeCeremony(w, r, v.PersonID, ceremonyRegister, creation.Response, session)
}

// handlePasskeyRegister checks the new credential and registers it.
func (s *Server) handlePasskeyRegister(w http.ResponseWriter, r *http.Request) {
	if !s.passkeysOn() {
		s.Error(w, r, errNoPasskeys)
		return
	}
	v := viewer(r)
	fail := func(reason string, err error) {
		if ferr := s.Methods.FailPasskey(r.Context(), v.PersonID, ceremonyRegister, reason, s.clientAddr(r)); ferr != nil {
			s.Error(w, r, ferr)
			return
		}
		s.failSecurity(w, r, view.SecuritySettings{}, err)
	}
	personID, session, err := s.takeCeremony(r, ceremonyRegister)
	if err != nil {
		fail("unknown or expired ceremony", err)
		return
	}
	if personID != v.PersonID {
		fail("another person's ceremony", portal.Errorf(portal.EFORBIDDEN, "That passkey request belongs to someone else."))
		return
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes([]byte(input(r).Get("credential")))
	if err != nil {
		fail(passkeyReason(err), portal.Errorf(portal.EINVALID, "Your browser's answer could not be read. Try again."))
		return
	}
	user, err := s.loadPasskeyUser(r, v.PersonID, s.totpAccount(r), v.DisplayName)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	cred, err := s.rp.CreateCredential(user, session, parsed)
	if err != nil {
		fail(passkeyReason(err), portal.Errorf(portal.EINVALID, "The passkey could not be verified. Try again."))
		return
	}
	record, err := json.Marshal(cred)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if _, err := s.Methods.AddPasskey(r.Context(), v.PersonID, input(r).Get("name"), cred.ID, record); err != nil {
		s.failSecurity(w, r, view.SecuritySettings{}, err)
		return
	}
	if err := s.enrolled(r, "passkey"); err != nil {
		s.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings/security?notice=passkey", http.StatusSeeOther)
}

// handlePasskeySignInBegin sends the options of a sign-in with any
// passkey this site knows (the browser lists them).
func (s *Server) handlePasskeySignInBegin(w http.ResponseWriter, r *http.Request) {
	if !s.passkeysOn() {
		s.Error(w, r, errNoPasskeys)
		return
	}
	assertion, session, err := s.rp.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.writeCeremony(w, r, "", ceremonySignIn, assertion.Response, session)
}

// verifyAssertion checks the posted assertion against the ceremony of
// kind; personID, when given, is the only person it may be from. It
// records the use, or audits the failure, and returns whose passkey it
// was.
func (s *Server) verifyAssertion(r *http.Request, kind, personID string) (string, error) {
	errBad := portal.Errorf(portal.EUNAUTHORIZED, "The passkey could not be verified. Try again, or sign in another way.")
	client := s.clientAddr(r)
	fail := func(who, reason string) (string, error) {
		// Counted even when the client hangs up first.
		return "", errors.Join(errBad, s.Methods.FailPasskey(context.WithoutCancel(r.Context()), who, kind, reason, client))
	}
	if err := s.Methods.BeginPasskey(r.Context(), personID, kind, client); err != nil {
		return "", err
	}
	owner, session, err := s.takeCeremony(r, kind)
	if err != nil {
		if portal.ErrorCode(err) == portal.EINTERNAL {
			return "", err
		}
		return fail(personID, "unknown or expired ceremony")
	}
	if owner != personID {
		return fail(personID, "another person's ceremony")
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(input(r).Get("credential")))
	if err != nil {
		return fail(personID, passkeyReason(err))
	}
	var who string
	user, cred, err := s.rp.ValidatePasskeyLogin(func(rawID, handle []byte) (webauthn.User, error) {
		id, err := s.Methods.PersonByHandle(r.Context(), handle)
		if err != nil {
			return nil, err
		}
		if personID != "" && id != personID {
			return nil, portal.Errorf(portal.EUNAUTHORIZED, "another person's passkey")
		}
		who = id
		return s.loadPasskeyUser(r, id, "", "")
	}, session, parsed)
	if err != nil || user == nil {
		return fail(who, passkeyReason(err))
	}
	if cred.Authenticator.CloneWarning {
		return fail(who, "the sign count went back: the passkey may have been copied")
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return "", err
	}
	if err := s.Methods.UsePasskey(r.Context(), who, cred.ID, record, kind); err != nil {
		if portal.ErrorCode(err) == portal.EINTERNAL {
			return "", err
		}
		return fail(who, errText(r, err))
	}
	return who, nil
}

// handlePasskeySignIn signs in with a passkey alone.
func (s *Server) handlePasskeySignIn(w http.ResponseWriter, r *http.Request) {
	f := s.signInForm(r)
	if !s.passkeysOn() {
		s.Error(w, r, errNoPasskeys)
		return
	}
	personID, err := s.verifyAssertion(r, ceremonySignIn, "")
	if err != nil {
		if portal.ErrorCode(err) == portal.EINTERNAL {
			s.Error(w, r, err)
			return
		}
		s.Logger.Info("passkey sign-in failed", "client", s.clientAddr(r))
		f.Error = errText(r, err)
		s.renderSignIn(w, r, codeStatus[portal.ErrorCode(err)], f)
		return
	}
	s.startSession(w, r, personID, "passkey", f.Next, "")
}
