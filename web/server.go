// Package web serves Tessera's pages: routing, sessions, authentication
// (local, OIDC, LDAP bind), CSRF protection, security headers and metrics.
package web

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/static"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/hr"
)

// Config is what the web tier needs to know about its deployment.
type Config struct {
	// BaseURL is the public URL of the portal, e.g. https://id.example.com.
	BaseURL string
	// SecureCookies marks cookies Secure; true whenever BaseURL is https.
	SecureCookies bool
	OIDC          OIDCConfig
	// DirectoryMatch is the person attribute a directory account is matched
	// by: employee_id (the default), account_name, email or upn.
	DirectoryMatch string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For or
	// Forwarded header names the client (TESSERA_TRUSTED_PROXIES); from
	// any other peer those headers are ignored.
	TrustedProxies []netip.Prefix
	// StaffSecondFactor makes administrators and helpdesk agents who sign
	// in with a password also give a code from an authenticator app or a
	// passkey (TESSERA_STAFF_SECOND_FACTOR, on unless the demo relaxes it).
	StaffSecondFactor bool
	// DeviceKey signs the device cookies that let a browser that signed in
	// as a person before keep a sign-in budget of its own; derived from
	// TESSERA_SECRET_KEY. Empty: a random key of this process.
	DeviceKey []byte
}

// Server is the HTTP front of the portal.
type Server struct {
	Config Config
	Logger *slog.Logger
	People portal.PersonService
	Groups portal.GroupService
	Auth   portal.Authenticator
	Flows  portal.OIDCFlowStore
	// Directory, when set, offers sign-in with a directory (AD) account.
	Directory portal.DirectoryAuthenticator
	// Requests is the request pipeline: joins, approvals, profile changes.
	Requests portal.RequestService
	// Admin serves the administration pages: policies, workflows,
	// calendars, the audit log.
	Admin AdminStore
	// Reviews runs access reviews: administrators start them, owners and
	// managers decide; nil: the review pages say they are not set up.
	Reviews portal.AccessReviewService
	// Systems stores the connected systems the sync service works with;
	// Tester tries their settings ("Test connection").
	Systems portal.ConnectedSystemService
	Tester  portal.ConnectionTester
	// Sync is the sync engine behind the sync pages; nil: they say it is
	// not configured and run nothing.
	Sync *syncsvc.Engine
	// HR receives and applies HR files (the HR source pages); nil: those
	// pages say it is not configured.
	HR *hr.Service
	// Methods keeps people's sign-in and recovery methods (alternate
	// emails, authenticator apps, passkeys): the settings page registers
	// them, the reset flow and the staff second factor check them.
	Methods portal.MethodRegistry
	// Codes mails one-time codes; nil when email is not configured, and
	// alternate emails then cannot be registered.
	Codes portal.CodeMailer
	// Passwords keeps the password settings, reset flows and recovery
	// codes; Accounts acts on people's accounts in the connected systems.
	// Either nil: the password pages say they are not set up. The reset
	// flow mails its codes through Codes and checks authenticator apps
	// through Methods.
	Passwords portal.PasswordStore
	Accounts  portal.AccountSystems
	// Ready reports whether the service can serve (database reachable,
	// migrations current).
	Ready func(ctx context.Context) error
	// Registry receives the HTTP metrics; nil means a private registry.
	Registry *prometheus.Registry
	// MetricsElsewhere leaves /metrics off the portal's own routes, for a
	// deployment that serves it on an address of its own
	// (TESSERA_METRICS_LISTEN) so that it need not be public.
	MetricsElsewhere bool

	oidc    *oidcClient
	metrics *httpMetrics
	// resetCodes mails reset codes after the answer has gone.
	resetCodes resetMailer
	// rp is the WebAuthn relying party; nil when passkeys cannot work
	// here (no method store, or a base URL that is an IP address).
	rp *webauthn.WebAuthn
}

// Handler builds the router with every route and middleware.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.Registry == nil {
		s.Registry = prometheus.NewRegistry()
	}
	if len(s.Config.DeviceKey) == 0 {
		// Device cookies then last as long as this process, and no other
		// process reads them: known browsers are strangers after a restart.
		s.Logger.Warn("TESSERA_SECRET_KEY is not set: device cookies of sign-in budgets are signed with a key of this process only")
		s.Config.DeviceKey = make([]byte, 32)
		rand.Read(s.Config.DeviceKey)
	}
	s.metrics = newHTTPMetrics(s.Registry)
	if s.Methods != nil {
		rp, err := newRelyingParty(s.Config.BaseURL)
		if err != nil {
			s.Logger.Warn("passkeys are off", "reason", err)
		}
		s.rp = rp
	}
	if s.Config.OIDC.Enabled() {
		s.oidc = newOIDCClient(s.Config.OIDC, s.Config.BaseURL)
	}

	r := chi.NewRouter()
	r.Use(s.recoverer, s.securityHeaders, s.metrics.middleware, s.logRequests)
	r.Get("/healthz", s.handleHealthz)
	r.Get("/readyz", s.handleReadyz)
	if !s.MetricsElsewhere {
		r.Handle("/metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}))
	}
	r.Handle("/static/*", static.Handler())
	r.Get("/favicon.ico", static.Favicon)

	s.scimRoutes(r)
	r.Group(func(r chi.Router) {
		r.Use(s.loadSession, s.readInput, s.csrf)
		r.Get("/signin", s.handleSignInPage)
		r.Post("/signin", s.handleSignIn)
		r.Post("/signin/ldap", s.handleDirectorySignIn)
		r.Post("/signin/passkey/begin", s.handlePasskeySignInBegin)
		r.Post("/signin/passkey", s.handlePasskeySignIn)
		r.Get("/signin/oidc", s.handleOIDCStart)
		r.Get("/signin/oidc/callback", s.handleOIDCCallback)
		r.Post("/signout", s.handleSignOut)
		r.Get("/password/reset", s.handleResetStartPage)
		r.Post("/password/reset", s.handleResetStart)
		r.Get("/password/reset/verify", s.handleResetVerifyPage)
		r.Post("/password/reset/verify", s.handleResetVerify)
		r.Post("/password/reset/questions", s.handleResetQuestions)
		r.Get("/password/reset/new", s.handleResetNewPage)
		r.Post("/password/reset/new", s.handleResetNew)
		r.Post("/password/reset/check", s.handlePasswordCheck)

		r.Group(func(r chi.Router) {
			r.Use(s.requireSignIn, s.requireSecondFactor)
			r.Get("/signin/verify", s.handleSecondFactorPage)
			r.Post("/signin/verify", s.handleSecondFactorTOTP)
			r.Post("/signin/verify/passkey/begin", s.handleSecondFactorPasskeyBegin)
			r.Post("/signin/verify/passkey", s.handleSecondFactorPasskey)
			r.Get("/", s.handleHome)
			r.Get("/people", s.handlePeople)
			r.Get("/people/{id}", s.handleProfile)
			r.Get("/people/{id}/account", s.handleAccountPanel)
			r.Post("/people/{id}/account", s.handleAccountAction)
			r.Get("/password/change", s.handlePasswordChangePage)
			r.Post("/password/change", s.handlePasswordChange)
			r.Post("/password/change/check", s.handlePasswordCheck)
			r.Get("/org", s.handleOrgChart)
			r.Get("/org/{id}", s.handleOrgChart)
			r.Get("/groups", s.handleGroups)
			r.Get("/groups/new", s.handleNewGroupPage)
			r.Post("/groups/new", s.handleCreateGroup)
			r.Get("/groups/{id}", s.handleGroup)
			r.Get("/groups/{id}/edit", s.handleEditGroupPage)
			r.Post("/groups/{id}/edit", s.handleUpdateGroup)
			r.Post("/groups/{id}/delete", s.handleDeleteGroup)
			r.Post("/groups/{id}/join", s.handleJoin)
			r.Post("/groups/{id}/request", s.handleRequestJoin)
			r.Post("/groups/{id}/leave", s.handleLeave)
			r.Post("/groups/{id}/members", s.handleAddMember)
			r.Post("/groups/{id}/members/{person}/remove", s.handleRemoveMember)
			r.Post("/groups/{id}/owners", s.handleAddOwner)
			r.Post("/groups/{id}/owners/{person}/remove", s.handleRemoveOwner)
			r.Get("/requests", s.handleMyRequests)
			r.Get("/requests/{id}", s.handleRequest)
			r.Post("/requests/{id}/cancel", s.handleCancel)
			r.Get("/reviews", s.handleReviews)
			r.Get("/reviews/{id}", s.handleReview)
			r.Get("/reviews/{id}/export", s.handleExportReview)
			r.Post("/reviews/{id}", s.handleDecideReview)
			r.Get("/approvals", s.handleApprovals)
			r.Post("/approvals", s.handleBulkDecide)
			r.Get("/approvals/{id}", s.handleApproval)
			r.Post("/approvals/{id}", s.handleDecide)
			r.Get("/profile/edit", s.handleProfileEdit)
			r.Post("/profile/edit", s.handleProfileEdit)
			r.Get("/people/{id}/edit", s.handlePersonEdit)
			r.Post("/people/{id}/edit", s.handlePersonEdit)
			r.Get("/settings/time-zone", s.handleTimeZone)
			r.Post("/settings/time-zone", s.handleSetTimeZone)
			r.Get("/settings/language", s.handleLanguage)
			r.Post("/settings/language", s.handleSetLanguage)
			r.Get("/settings/deputy", s.handleDeputy)
			r.Post("/settings/deputy", s.handleSetDeputy)
			r.Post("/settings/deputy/remove", s.handleRemoveDeputy)
			r.Get("/settings/security", s.handleSecurity)
			r.Post("/settings/security/email", s.handleAddEmail)
			r.Post("/settings/security/email/verify", s.handleVerifyEmail)
			r.Post("/settings/security/totp", s.handleStartTOTP)
			r.Get("/settings/security/totp", s.handleTOTPSetup)
			r.Post("/settings/security/totp/confirm", s.handleConfirmTOTP)
			r.Post("/settings/security/passkey/begin", s.handlePasskeyRegisterBegin)
			r.Post("/settings/security/passkey", s.handlePasskeyRegister)
			r.Post("/settings/security/questions", s.handleSetQuestions)
			r.Post("/settings/security/remove", s.handleRemoveMethod)
			r.Post("/settings/security/confirm", s.handleConfirmMethods)
			r.Route("/admin", s.adminRoutes)
		})
		r.NotFound(s.handleNotFound)
		r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
			s.Error(w, r, portal.Errorf(portal.EINVALID, "That action is not allowed here."))
		})
	})
	return r
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.Ready != nil {
		if err := s.Ready(ctx); err != nil {
			s.Logger.Warn("not ready", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready: " + err.Error() + "\n"))
			return
		}
	}
	w.Write([]byte("ready\n"))
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	s.Error(w, r, portal.Errorf(portal.ENOTFOUND, "There is no page at this address."))
}
