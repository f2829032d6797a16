package portal

import (
	"context"
	"time"
)

// Session is a signed-in browser session, stored server-side.
type Session struct {
	Viewer Viewer
	Method string // "local", "oidc", "ldap" or "passkey"
	// SecondFactor is the second factor the sign-in gave: "" none, "totp",
	// "passkey" (a passkey sign-in is one on its own) or "oidc" (the
	// provider's amr or acr claims vouched for one).
	SecondFactor string
	CSRFToken    string
	ExpiresAt    time.Time
	// PendingApprovals counts the approvals waiting for the person, for the
	// badge in the header, up to MaxBadgeCount+1: the badge says "99+"
	// beyond, so that a manager with a thousand waiting does not have them
	// counted at every request. It is -1 when FindSession was not asked to
	// count them.
	PendingApprovals int
}

// MaxBadgeCount is the highest count a badge shows; more reads "99+".
const MaxBadgeCount = 99

// Authenticator checks credentials and manages sessions.
type Authenticator interface {
	// SignInGuard keeps the budgets of failed sign-ins that every password
	// check draws on.
	SignInGuard
	// CheckPassword returns the person whose local account name and password
	// match. Unknown accounts and wrong passwords give the same EUNAUTHORIZED
	// error after the same amount of work.
	CheckPassword(ctx context.Context, accountName, password string) (string, error)
	// FindPersonByAttribute returns the ID of the one person whose attribute
	// (email, account_name, employee_id or upn) equals value.
	FindPersonByAttribute(ctx context.Context, attribute, value string) (string, error)
	// CreateSession starts a session for personID, who signed in with
	// method from the client address client (empty when there is none, as
	// for a session a tool opens), and returns its secret token. The audit
	// entry records both, as a failed sign-in's does.
	CreateSession(ctx context.Context, personID, method, client string) (token string, err error)
	// FindSession returns the live session for token, or EUNAUTHORIZED.
	// With badge it counts the approvals waiting for the person too
	// (Session.PendingApprovals); a request that shows no page (a form's
	// POST, answered with a redirect) does without: the count was most of
	// the lookup's work.
	FindSession(ctx context.Context, token string, badge bool) (*Session, error)
	// SetSecondFactor records that the session's person gave a second
	// factor (see Session.SecondFactor), audited.
	SetSecondFactor(ctx context.Context, token, factor string) error
	// DeleteSession ends the session for token.
	DeleteSession(ctx context.Context, token string) error
}

// OIDCFlow is an OpenID Connect sign-in in flight, between the redirect to
// the provider and its callback.
type OIDCFlow struct {
	State        string
	Nonce        string
	CodeVerifier string
	ReturnTo     string
}

// OIDCFlowStore keeps OIDC flows server-side for a few minutes.
type OIDCFlowStore interface {
	SaveOIDCFlow(ctx context.Context, f OIDCFlow) error
	// TakeOIDCFlow returns and deletes the flow for state, or EUNAUTHORIZED
	// when it is unknown or expired.
	TakeOIDCFlow(ctx context.Context, state string) (*OIDCFlow, error)
}

// Housekeeper removes expired sessions and sign-ins in flight.
type Housekeeper interface {
	// RemoveExpired deletes what has expired and says how many rows went.
	RemoveExpired(ctx context.Context) (int64, error)
}
