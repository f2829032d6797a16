package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

var (
	_ portal.Authenticator = (*DB)(nil)
	_ portal.OIDCFlowStore = (*DB)(nil)
	_ portal.Housekeeper   = (*DB)(nil)
)

// Session lifetimes: absolute, and idle (extended as the person works).
const (
	SessionLifetime = 12 * time.Hour
	SessionIdle     = 2 * time.Hour
	idleSlack       = 5 * time.Minute
	oidcFlowTTL     = 10 * time.Minute
)

// dummyHash is verified against when an account does not exist, so that an
// unknown account costs the same time as a wrong password. It is made on
// first use, not at package start, so that it has the parameters of the
// hashes it stands in for (test binaries lower them in TestMain); New makes
// it, so no sign-in pays for it.
var dummyHash = sync.OnceValue(func() string { return portal.HashPassword("tessera-dummy-password") })

var errBadCredentials = portal.Errorf(portal.EUNAUTHORIZED, "The account name or password is incorrect.")

// CheckPassword verifies a local account's password. accountName may also be
// the person's email address.
func (db *DB) CheckPassword(ctx context.Context, accountName, password string) (string, error) {
	if accountName == "" || password == "" || len(accountName) > 256 || len(password) > 1024 {
		portal.VerifyPassword(dummyHash(), password)
		return "", errBadCredentials
	}
	var id, hash string
	var enabled bool
	err := db.Pool.QueryRow(ctx, `SELECT p.id, c.password_hash, p.account_enabled FROM people p
		JOIN local_credentials c ON c.person_id = p.id
		WHERE lower(p.account_name) = lower($1) OR (p.email <> '' AND lower(p.email) = lower($1))
		ORDER BY lower(p.account_name) = lower($1) DESC LIMIT 1`, accountName).Scan(&id, &hash, &enabled)
	if isNoRows(err) {
		portal.VerifyPassword(dummyHash(), password)
		return "", errBadCredentials
	} else if err != nil {
		return "", fmt.Errorf("postgres: check password: %w", err)
	}
	if !portal.VerifyPassword(hash, password) || !enabled {
		return "", errBadCredentials
	}
	return id, nil
}

// SetPassword stores an argon2id hash of password for a local account.
func (db *DB) SetPassword(ctx context.Context, personID, password string) error {
	if !validID(personID) {
		return portal.Errorf(portal.ENOTFOUND, "There is no such person.")
	}
	return db.SetLocalPasswordHash(ctx, personID, portal.HashPassword(password))
}

// matchColumns maps the attributes an external identity may be matched by
// to their column expressions (never user input in SQL).
var matchColumns = map[string]string{
	"email":        "lower(email) = lower($1) AND email <> ''",
	"upn":          "lower(email) = lower($1) AND email <> ''",
	"account_name": "lower(account_name) = lower($1)",
	"employee_id":  "employee_id = $1",
}

// matchLabels names the matching attributes as people read them.
var matchLabels = map[string]string{"email": "email", "upn": "sign-in name (UPN)", "account_name": "account name", "employee_id": "employee ID"}

// FindPersonByAttribute returns the single enabled person whose attribute
// equals value.
func (db *DB) FindPersonByAttribute(ctx context.Context, attribute, value string) (string, error) {
	cond, ok := matchColumns[attribute]
	if !ok {
		return "", portal.Errorf(portal.EINVALID, "People cannot be matched by %q; use email, upn, account_name or employee_id.", attribute)
	}
	if value == "" {
		return "", portal.Errorf(portal.EUNAUTHORIZED, "Your identity provider did not send the attribute Tessera matches people by.")
	}
	rows, err := db.Pool.Query(ctx, "SELECT id FROM people WHERE account_enabled AND "+cond+" LIMIT 2", value)
	if err != nil {
		return "", fmt.Errorf("postgres: find person by %s: %w", attribute, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("postgres: find person by %s: %w", attribute, err)
	}
	switch len(ids) {
	case 0:
		return "", portal.Errorf(portal.EUNAUTHORIZED, "You signed in as %s, but no one in Tessera has that %s. Ask your administrator to add you.", value, matchLabels[attribute])
	case 1:
		return ids[0], nil
	}
	return "", portal.Errorf(portal.EUNAUTHORIZED, "More than one person in Tessera has the %s %s; ask your administrator to correct it.", matchLabels[attribute], value)
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// CreateSession starts a session and records the sign-in in the audit log.
func (db *DB) CreateSession(ctx context.Context, personID, method, client string) (string, error) {
	token := randomToken()
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		now := time.Now()
		second := ""
		if method == "passkey" {
			second = "passkey" // something the person has, unlocked by what they know or are
		}
		if _, err := tx.Exec(ctx, `INSERT INTO sessions (token_hash, person_id, method, csrf_token, expires_at, idle_until, second_factor)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, hashToken(token), personID, method, randomToken(),
			now.Add(SessionLifetime), now.Add(SessionIdle), second); err != nil {
			return err
		}
		// Expired sessions of this person are cleared as they sign in again.
		if _, err := tx.Exec(ctx, "DELETE FROM sessions WHERE person_id = $1 AND (expires_at < now() OR idle_until < now())", personID); err != nil {
			return err
		}
		details := map[string]any{"method": method}
		if client != "" {
			details["client"] = client
		}
		return Audit(ctx, tx, personID, "sign_in", "person", personID, details)
	})
	if err != nil {
		return "", fmt.Errorf("postgres: create session: %w", err)
	}
	return token, nil
}

// findSessionSQL reads a live session by its token's hash, with what every
// request needs of its person; findSessionBadgeSQL counts the approvals
// waiting for them too. (Two statements, not one taking a flag: each keeps
// its own plan.)
var findSessionSQL, findSessionBadgeSQL = sessionSQL("-1"), sessionSQL(countPendingApprovals("s.person_id", portal.MaxBadgeCount+1))

func sessionSQL(pending string) string {
	return `SELECT s.person_id, p.display_name, s.method, s.second_factor, s.csrf_token, s.expires_at, s.idle_until,
			` + rolesOf("s.person_id") + `,
			` + pending + `, coalesce(ps.time_zone, ''), coalesce(ps.language, '')
		FROM sessions s JOIN people p ON p.id = s.person_id LEFT JOIN person_settings ps ON ps.person_id = s.person_id
		WHERE s.token_hash = $1 AND s.expires_at > now() AND s.idle_until > now() AND p.account_enabled`
}

// rolesOf is the array of the portal roles of the person whose id is the
// SQL expression person, in role order: every reader of a person's roles
// (the session, the reset flow, PersonRoles) uses it. The roles are looked
// for in the groups that grant one (role_groups, a row a role), by
// group_members' key: through the person_roles view the planner went
// through every group the person is a member of, a person in many groups
// paying for each on every request (OFFSET 0 keeps the EXISTS a subplan,
// TestSessionRolesByRoleGroup). (In the reset flow's statements it once
// made each execution JIT-compiled, 0.4-1.8 s a call: Open turns JIT off.)
func rolesOf(person string) string {
	return `array(SELECT rg.role FROM role_groups rg WHERE EXISTS (SELECT FROM group_members m
				WHERE m.group_id = rg.group_id AND m.person_id = ` + person + ` OFFSET 0) ORDER BY rg.role)`
}

var errNoSession = portal.Errorf(portal.EUNAUTHORIZED, "Your session has ended. Please sign in again.")

// FindSession returns the live session for token and extends its idle
// timeout at most once every few minutes.
func (db *DB) FindSession(ctx context.Context, token string, badge bool) (*portal.Session, error) {
	if token == "" || len(token) > 100 {
		return nil, errNoSession
	}
	h := hashToken(token)
	s := &portal.Session{}
	var idleUntil time.Time
	var roles []string
	sql := findSessionSQL
	if badge {
		sql = findSessionBadgeSQL
	}
	err := db.Pool.QueryRow(ctx, sql, h).
		Scan(&s.Viewer.PersonID, &s.Viewer.DisplayName, &s.Method, &s.SecondFactor, &s.CSRFToken, &s.ExpiresAt, &idleUntil, &roles, &s.PendingApprovals,
			&s.Viewer.TimeZone, &s.Viewer.Language)
	if isNoRows(err) {
		return nil, errNoSession
	} else if err != nil {
		return nil, fmt.Errorf("postgres: find session: %w", err)
	}
	for _, r := range roles {
		s.Viewer.Roles = append(s.Viewer.Roles, portal.Role(r))
	}
	if time.Until(idleUntil) < SessionIdle-idleSlack {
		if _, err := db.Pool.Exec(ctx, "UPDATE sessions SET idle_until = $2 WHERE token_hash = $1", h, time.Now().Add(SessionIdle)); err != nil {
			return nil, fmt.Errorf("postgres: extend session: %w", err)
		}
	}
	return s, nil
}

// SetSecondFactor records the second factor a session's person gave.
func (db *DB) SetSecondFactor(ctx context.Context, token, factor string) error {
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		var personID string
		err := tx.QueryRow(ctx, `UPDATE sessions SET second_factor = $2 WHERE token_hash = $1 AND expires_at > now()
			RETURNING person_id`, hashToken(token), factor).Scan(&personID)
		if isNoRows(err) {
			return errNoSession
		} else if err != nil {
			return err
		}
		return Audit(ctx, tx, personID, "second_factor", "person", personID, map[string]any{"factor": factor})
	})
	return storeError("set second factor", err)
}

// DeleteSession ends a session and records the sign-out.
func (db *DB) DeleteSession(ctx context.Context, token string) error {
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		var personID string
		err := tx.QueryRow(ctx, "DELETE FROM sessions WHERE token_hash = $1 RETURNING person_id", hashToken(token)).Scan(&personID)
		if isNoRows(err) {
			return nil
		} else if err != nil {
			return err
		}
		return Audit(ctx, tx, personID, "sign_out", "person", personID, nil)
	})
	if err != nil {
		return fmt.Errorf("postgres: delete session: %w", err)
	}
	return nil
}

// ExpireSession ends a session at once, as if its time had run out (used by
// tests and by administrators revoking access).
func (db *DB) ExpireSession(ctx context.Context, token string) error {
	if _, err := db.Pool.Exec(ctx, "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE token_hash = $1", hashToken(token)); err != nil {
		return fmt.Errorf("postgres: expire session: %w", err)
	}
	return nil
}

// SaveOIDCFlow stores a sign-in in flight, keyed by a hash of its state.
func (db *DB) SaveOIDCFlow(ctx context.Context, f portal.OIDCFlow) error {
	_, err := db.Pool.Exec(ctx, `WITH gone AS (DELETE FROM oidc_flows WHERE expires_at < now())
		INSERT INTO oidc_flows (state_hash, nonce, code_verifier, return_to, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		hashToken(f.State), f.Nonce, f.CodeVerifier, f.ReturnTo, time.Now().Add(oidcFlowTTL))
	if err != nil {
		return fmt.Errorf("postgres: save oidc flow: %w", err)
	}
	return nil
}

// TakeOIDCFlow returns and deletes the flow for state; each state works once.
func (db *DB) TakeOIDCFlow(ctx context.Context, state string) (*portal.OIDCFlow, error) {
	f := &portal.OIDCFlow{State: state}
	var live bool
	err := db.Pool.QueryRow(ctx, `DELETE FROM oidc_flows WHERE state_hash = $1 RETURNING nonce, code_verifier, return_to, expires_at > now()`,
		hashToken(state)).Scan(&f.Nonce, &f.CodeVerifier, &f.ReturnTo, &live)
	if isNoRows(err) || (err == nil && !live) {
		return nil, portal.Errorf(portal.EUNAUTHORIZED, "That sign-in link has expired or was already used. Please sign in again.")
	} else if err != nil {
		return nil, fmt.Errorf("postgres: take oidc flow: %w", err)
	}
	return f, nil
}

// RemoveExpired deletes expired sessions, OIDC sign-ins in flight,
// guessing budgets that have refilled at their own rate (which are as good
// as no row), and what the sign-in methods no longer need: one-time codes
// after a day, WebAuthn ceremonies and authenticator setups never
// confirmed.
func (db *DB) RemoveExpired(ctx context.Context) (int64, error) {
	var n int64
	err := db.Pool.QueryRow(ctx, `WITH s AS (DELETE FROM sessions WHERE expires_at < now() OR idle_until < now() RETURNING 1),
			f AS (DELETE FROM oidc_flows WHERE expires_at < now() RETURNING 1),
			b AS (DELETE FROM signin_budgets WHERE tokens + extract(epoch FROM greatest($1::timestamptz - updated_at, '0s'))::float8 / refill_seconds >= burst RETURNING 1),
			c AS (DELETE FROM one_time_codes WHERE created_at < $1::timestamptz - interval '1 day' RETURNING 1),
			w AS (DELETE FROM webauthn_ceremonies WHERE expires_at < $1 RETURNING 1),
			p AS (DELETE FROM auth_methods WHERE NOT active AND created_at < $1::timestamptz - $2::interval RETURNING 1)
		SELECT (SELECT count(*) FROM s) + (SELECT count(*) FROM f) + (SELECT count(*) FROM b) + (SELECT count(*) FROM c)
			+ (SELECT count(*) FROM w) + (SELECT count(*) FROM p)`,
		db.now(), pendingTOTPLifetime).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres: remove expired: %w", err)
	}
	return n, nil
}
