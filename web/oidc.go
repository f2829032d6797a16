package web

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tessera-idm/tessera/portal"
)

// OIDCConfig configures "Sign in with <Name>" through an OpenID provider.
type OIDCConfig struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// Name is shown on the button, e.g. "Microsoft Entra ID".
	Name string
	// MatchClaim is the ID token claim that identifies the person, e.g.
	// "email", "upn", "preferred_username" or "employee_id".
	MatchClaim string
	// MatchAttribute is the person attribute the claim must equal: email,
	// upn, account_name or employee_id.
	MatchAttribute string
	Scopes         []string
	// MFAAMR are the amr claim values (RFC 8176) that count as the staff
	// second factor, e.g. "mfa", "otp", "hwk" (TESSERA_OIDC_MFA_AMR).
	MFAAMR []string
	// MFAACR are the acr claim values that do (TESSERA_OIDC_MFA_ACR).
	MFAACR []string
}

// Enabled reports whether OIDC sign-in is configured.
func (c OIDCConfig) Enabled() bool { return c.Issuer != "" && c.ClientID != "" }

// Validate reports configuration mistakes in words an operator can act on.
func (c OIDCConfig) Validate() error {
	if !c.Enabled() {
		if c.Issuer != "" || c.ClientID != "" {
			return portal.Errorf(portal.EINVALID, "OIDC needs both TESSERA_OIDC_ISSUER and TESSERA_OIDC_CLIENT_ID.")
		}
		return nil
	}
	switch c.MatchAttribute {
	case "email", "upn", "account_name", "employee_id":
	default:
		return portal.Errorf(portal.EINVALID, "TESSERA_OIDC_MATCH_ATTRIBUTE must be email, upn, account_name or employee_id, not %q.", c.MatchAttribute)
	}
	if c.MatchClaim == "" {
		return portal.Errorf(portal.EINVALID, "TESSERA_OIDC_MATCH_CLAIM must name an ID token claim, such as email.")
	}
	return nil
}

// oidcClient discovers the provider on first use (so Tessera starts even
// while the provider is down) and keeps it once found.
type oidcClient struct {
	cfg         OIDCConfig
	redirectURL string

	mu       sync.Mutex
	provider *oidc.Provider
}

func newOIDCClient(cfg OIDCConfig, baseURL string) *oidcClient {
	return &oidcClient{cfg: cfg, redirectURL: strings.TrimRight(baseURL, "/") + "/signin/oidc/callback"}
}

func (c *oidcClient) oauth(ctx context.Context) (*oidc.Provider, *oauth2.Config, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.provider == nil {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		p, err := oidc.NewProvider(ctx, c.cfg.Issuer)
		if err != nil {
			return nil, nil, fmt.Errorf("oidc: discover %s: %w", c.cfg.Issuer, err)
		}
		c.provider = p
	}
	scopes := append([]string{oidc.ScopeOpenID}, c.cfg.Scopes...)
	return c.provider, &oauth2.Config{ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret,
		Endpoint: c.provider.Endpoint(), RedirectURL: c.redirectURL, Scopes: scopes}, nil
}

var errOIDCUnavailable = portal.Errorf(portal.EINTERNAL, "The sign-in provider cannot be reached right now. Try again in a moment, or sign in with your password.")

func (s *Server) handleOIDCStart(w http.ResponseWriter, r *http.Request) {
	if s.oidc == nil {
		s.Error(w, r, portal.Errorf(portal.ENOTFOUND, "Single sign-on is not configured here."))
		return
	}
	_, oc, err := s.oidc.oauth(r.Context())
	if err != nil {
		s.Logger.Error("oidc discovery", "err", err)
		f := s.signInForm(r)
		f.Error = errText(r, errOIDCUnavailable)
		s.renderSignIn(w, r, http.StatusBadGateway, f)
		return
	}
	flow := portal.OIDCFlow{State: newToken(), Nonce: newToken(), CodeVerifier: oauth2.GenerateVerifier(),
		ReturnTo: safeNext(input(r).Get("next"))}
	if err := s.Flows.SaveOIDCFlow(r.Context(), flow); err != nil {
		s.Error(w, r, err)
		return
	}
	// The state is also bound to this browser, so a callback link made by
	// someone else cannot sign this browser in as them.
	s.setCookie(w, "tessera_oidc", flow.State, int((10 * time.Minute).Seconds()))
	http.Redirect(w, r, oc.AuthCodeURL(flow.State, oidc.Nonce(flow.Nonce), oauth2.S256ChallengeOption(flow.CodeVerifier)), http.StatusFound)
}

func (s *Server) handleOIDCCallback(w http.ResponseWriter, r *http.Request) {
	if s.oidc == nil {
		s.Error(w, r, portal.Errorf(portal.ENOTFOUND, "Single sign-on is not configured here."))
		return
	}
	f := s.signInForm(r)
	fail := func(status int, msg string) {
		f.Error = msg
		s.renderSignIn(w, r, status, f)
	}
	q := input(r)
	state := q.Get("state")
	cookieState := s.cookie(r, "tessera_oidc")
	s.setCookie(w, "tessera_oidc", "", -1)
	if e := q.Get("error"); e != "" {
		s.Logger.Info("oidc refused", "error", e, "description", q.Get("error_description"))
		fail(http.StatusUnauthorized, tr(r, "The sign-in provider did not sign you in (%s). Please try again.", e))
		return
	}
	if state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(cookieState)) != 1 {
		fail(http.StatusUnauthorized, tr(r, "This sign-in did not start in this browser, or it took too long. Please sign in again."))
		return
	}
	flow, err := s.Flows.TakeOIDCFlow(r.Context(), state)
	if err != nil {
		fail(http.StatusUnauthorized, errText(r, err))
		return
	}
	f.Next = flow.ReturnTo
	provider, oc, err := s.oidc.oauth(r.Context())
	if err != nil {
		s.Logger.Error("oidc discovery", "err", err)
		fail(http.StatusBadGateway, errText(r, errOIDCUnavailable))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	tok, err := oc.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(flow.CodeVerifier))
	if err != nil {
		s.Logger.Warn("oidc code exchange", "err", err)
		fail(http.StatusUnauthorized, tr(r, "The sign-in provider did not confirm your sign-in. Please try again."))
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: s.Config.OIDC.ClientID}).Verify(ctx, raw)
	if err != nil || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(flow.Nonce)) != 1 {
		s.Logger.Warn("oidc id token rejected", "err", err)
		fail(http.StatusUnauthorized, tr(r, "The sign-in provider's answer could not be verified. Please try again."))
		return
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		fail(http.StatusUnauthorized, tr(r, "The sign-in provider's answer could not be read. Please try again."))
		return
	}
	if _, ok := claims[s.Config.OIDC.MatchClaim]; !ok {
		// Providers that also issue an access token may keep the claims of
		// the email and profile scopes out of the ID token and give them
		// only from UserInfo (OpenID Connect Core 5.4), as providers built
		// on zitadel/oidc do unless configured otherwise.
		if err := s.oidcUserInfoClaims(ctx, provider, tok, idt.Subject, claims); err != nil {
			s.Logger.Warn("oidc userinfo", "err", err)
			fail(http.StatusUnauthorized, tr(r, "The sign-in provider's answer could not be verified. Please try again."))
			return
		}
	}
	value, _ := claims[s.Config.OIDC.MatchClaim].(string)
	if s.Config.OIDC.MatchClaim == "email" && isFalse(claims["email_verified"]) {
		// Anyone may type any address into an account at some providers;
		// an address the provider has not verified identifies no one.
		s.Logger.Info("oidc email not verified", "subject", idt.Subject)
		fail(http.StatusForbidden, tr(r, "Your sign-in provider has not verified the email address %s, so Tessera cannot sign you in with it. Verify it with your provider, or ask your administrator.", value))
		return
	}
	personID, err := s.Auth.FindPersonByAttribute(r.Context(), s.Config.OIDC.MatchAttribute, value)
	if err != nil {
		if portal.ErrorCode(err) == portal.EINTERNAL {
			s.Error(w, r, err)
			return
		}
		s.Logger.Info("oidc person not found", "claim", s.Config.OIDC.MatchClaim, "subject", idt.Subject)
		fail(http.StatusForbidden, errText(r, err))
		return
	}
	second := ""
	if s.Config.OIDC.SecondFactorClaims(claims) {
		second = "oidc"
	}
	s.startSession(w, r, personID, "oidc", flow.ReturnTo, second)
}

// oidcUserInfoClaims adds to claims the UserInfo claims that the ID token
// lacks. A provider without a UserInfo endpoint adds nothing; UserInfo about
// another subject than the ID token's is refused (OpenID Connect Core 5.3.2).
func (s *Server) oidcUserInfoClaims(ctx context.Context, provider *oidc.Provider, tok *oauth2.Token, subject string, claims map[string]any) error {
	if provider.UserInfoEndpoint() == "" {
		return nil
	}
	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return err
	}
	if info.Subject != subject {
		return fmt.Errorf("userinfo subject %q is not the ID token's %q", info.Subject, subject)
	}
	var more map[string]any
	if err := info.Claims(&more); err != nil {
		return err
	}
	for k, v := range more {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
	return nil
}

// isFalse reports whether a boolean claim is present and false; some
// providers send booleans as strings.
func isFalse(v any) bool {
	switch v := v.(type) {
	case bool:
		return !v
	case string:
		return strings.EqualFold(v, "false")
	}
	return false
}
