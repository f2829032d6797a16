package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tessera-idm/tessera/portal"
)

var _ portal.SignInGuard = (*DB)(nil)

// Budget keys (see migrations/0010_signin_budgets.sql). An attempt from a
// browser not known for the person draws on the client's address, on the
// account name inside what was typed (known or not, so that two spellings
// share a budget the same way whether or not anyone has that name, and the
// budgets tell nothing about which accounts exist) and, when the account
// names a person, on that person's budget, whichever of their names it was.

// addressBudget counts IPv6 clients by /64, the block one host or home
// usually has to itself.
func addressBudget(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "addr:" + p.String()
	}
	return "addr:" + a.String()
}

// nameBudget keeps only a hash of the name: people sometimes type their
// password into the account field.
func nameBudget(name string) string {
	h := sha256.Sum256([]byte("tessera sign-in name\x00" + name))
	return "name:" + hex.EncodeToString(h[:16])
}

// deviceBudget is the budget of a browser that signed in as personID before.
func deviceBudget(device, personID string) string { return "device:" + device + ":" + personID }

// checkSignInSQL resolves the account to a person and checks every budget
// the attempt draws on, in one statement; it spends nothing. The person's
// budget key is 'person:' || id. Budgets found spent are marked refused, so
// that only the first refusal of a lockout is audited.
//
// $1 the typed account and $2 the account name inside it (both lower case),
// $3 its name budget, $4 the address budget, $5 the device budget and $6 the
// device cookie's person (empty without one), $7 the burst, $8 seconds per
// refill, $9 the time (DB.Clock, which tests stop).
const checkSignInSQL = `WITH who AS (
	SELECT (SELECT id::text FROM people
		WHERE lower(account_name) = $1 OR (email <> '' AND lower(email) = $1) OR lower(account_name) = $2
		ORDER BY lower(account_name) = $1 DESC, lower(email) = $1 DESC LIMIT 1) AS person_id
), want AS (
	SELECT DISTINCT unnest(CASE WHEN $5 <> '' AND who.person_id = $6 THEN ARRAY[$5]
		ELSE array_remove(ARRAY[$4, $3, 'person:' || who.person_id], NULL) END) AS key
	FROM who
), cur AS (
	SELECT w.key, least($7::float8, coalesce(b.tokens +
		extract(epoch FROM greatest($9::timestamptz - b.updated_at, '0s'))::float8 / $8::float8, $7::float8)) AS tokens
	FROM want w LEFT JOIN signin_budgets b ON b.key = w.key
), refused AS (
	UPDATE signin_budgets b SET refused_at = $9::timestamptz FROM cur
	WHERE b.key = cur.key AND cur.tokens < 1 AND b.refused_at IS NULL
	RETURNING b.key
)
SELECT coalesce(who.person_id, ''), coalesce((SELECT bool_and(tokens >= 1) FROM cur), true),
	array(SELECT key FROM want ORDER BY key), array(SELECT key FROM refused ORDER BY key)
FROM who`

// BeginSignIn checks every budget the attempt draws on, or refuses with
// portal.ErrTooManySignIns when any is spent.
func (db *DB) BeginSignIn(ctx context.Context, a portal.SignInAttempt) (*portal.SignInTicket, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	whole, name := a.SignInNames()
	device := ""
	if a.Device != "" && validID(a.DevicePerson) {
		device = deviceBudget(a.Device, a.DevicePerson)
	}
	t := &portal.SignInTicket{Attempt: a}
	var ok bool
	var refused []string
	err := db.Pool.QueryRow(ctx, checkSignInSQL, whole, name, nameBudget(name), addressBudget(a.Address),
		device, a.DevicePerson, float64(portal.SignInBurst), portal.SignInRefill.Seconds(), db.now()).
		Scan(&t.PersonID, &ok, &t.Budgets, &refused)
	if err != nil {
		return nil, fmt.Errorf("postgres: begin sign-in: %w", err)
	}
	t.KnownDevice = device != "" && len(t.Budgets) == 1 && t.Budgets[0] == device
	if ok {
		return t, nil
	}
	if len(refused) > 0 {
		// The first refusal since these budgets ran out; later ones are
		// only logged (by the web tier), so a flood does not flood the log.
		details := signInDetails(t)
		details["budgets"] = budgetKinds(refused)
		if err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
			return auditSignIn(ctx, tx, t, "sign_in_refused", details)
		}); err != nil {
			return nil, fmt.Errorf("postgres: audit refused sign-in (budgets %v of %q): %w", refused, a.Account, err)
		}
	}
	return t, portal.ErrTooManySignIns
}

// checkBudgetSQL reports whether every budget in $1 has a try left (the
// burst $2, seconds per refill $3, the time $4) and marks the budgets found
// spent as refused, returning those whose first refusal this is: one
// refusal per lockout is audited, not each of a flood. It spends nothing.
const checkBudgetSQL = `WITH cur AS (
	SELECT w.key, least($2::float8, coalesce(b.tokens +
		extract(epoch FROM greatest($4::timestamptz - b.updated_at, '0s'))::float8 / $3::float8, $2::float8)) AS tokens
	FROM unnest($1::text[]) AS w(key) LEFT JOIN signin_budgets b ON b.key = w.key
), refused AS (
	UPDATE signin_budgets b SET refused_at = $4::timestamptz FROM cur
	WHERE b.key = cur.key AND cur.tokens < 1 AND b.refused_at IS NULL RETURNING b.key
) SELECT coalesce(bool_and(tokens >= 1), true), array(SELECT key FROM refused ORDER BY key) FROM cur`

// spendBudgetSQL takes one try from each budget in $1 and sweeps a few
// budgets of any kind that have refilled, each at its own rate (SKIP
// LOCKED: never waiting for another attempt). Attempts checked at once may
// all fail: each takes its try from the row as it is then, so the count is
// exact and the budget goes below zero, to refill from there. $2 the burst,
// $3 seconds per refill, $4 the time.
const spendBudgetSQL = `WITH spent AS (
	INSERT INTO signin_budgets AS b (key, tokens, updated_at, burst, refill_seconds)
	SELECT unnest($1::text[]), $2::float8 - 1, $4::timestamptz, $2::float8, $3::float8
	ON CONFLICT (key) DO UPDATE SET
		tokens = least($2::float8, b.tokens +
			extract(epoch FROM greatest($4::timestamptz - b.updated_at, '0s'))::float8 / $3::float8) - 1,
		updated_at = $4::timestamptz, refused_at = NULL, burst = $2::float8, refill_seconds = $3::float8
), swept AS (
	DELETE FROM signin_budgets WHERE key = ANY(ARRAY(
		SELECT key FROM signin_budgets
		WHERE key <> ALL($1::text[]) AND updated_at < $4::timestamptz - make_interval(secs => burst * refill_seconds)
			AND tokens + extract(epoch FROM $4::timestamptz - updated_at)::float8 / refill_seconds >= burst
		ORDER BY updated_at LIMIT 20 FOR UPDATE SKIP LOCKED))
)
SELECT 1`

// execQuerier is a pool or a transaction.
type execQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// budgetsOpen reports whether every budget in keys has a try left under
// b, and which of them were refused now for the first time since they ran
// out. No keys is always open, after the same statement.
func budgetsOpen(ctx context.Context, q execQuerier, keys []string, b portal.Budget, now time.Time) (ok bool, refused []string, err error) {
	if keys == nil {
		keys = []string{}
	}
	err = q.QueryRow(ctx, checkBudgetSQL, keys, float64(b.Burst), b.Refill.Seconds(), now).Scan(&ok, &refused)
	if err != nil {
		return false, nil, fmt.Errorf("check budgets: %w", err)
	}
	return ok, refused, nil
}

// spendBudgets takes one try from each budget in keys under b. No keys
// spends nothing, after the same statement.
func spendBudgets(ctx context.Context, q execQuerier, keys []string, b portal.Budget, now time.Time) error {
	if keys == nil {
		keys = []string{}
	}
	if _, err := q.Exec(ctx, spendBudgetSQL, keys, float64(b.Burst), b.Refill.Seconds(), now); err != nil {
		return fmt.Errorf("spend budgets: %w", err)
	}
	return nil
}

// FailSignIn takes one try from each of the attempt's budgets and audits
// the failure, in one transaction.
func (db *DB) FailSignIn(ctx context.Context, t *portal.SignInTicket) error {
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if err := spendBudgets(ctx, tx, t.Budgets, portal.SignInBudget, db.now()); err != nil {
			return err
		}
		return auditSignIn(ctx, tx, t, "sign_in_failed", signInDetails(t))
	})
	if err != nil {
		return fmt.Errorf("postgres: fail sign-in: %w", err)
	}
	return nil
}

// auditSignIn appends a failed or refused sign-in: no one acted as anyone,
// so there is no actor; the target is the person the account names, or the
// account as typed when it names no one.
func auditSignIn(ctx context.Context, tx pgx.Tx, t *portal.SignInTicket, action string, details map[string]any) error {
	if t.PersonID != "" {
		return Audit(ctx, tx, "", action, "person", t.PersonID, details)
	}
	return Audit(ctx, tx, "", action, "account", t.Attempt.Account, details)
}

// signInDetails is what the audit log keeps of an attempt: never the
// password, which never reaches this package.
func signInDetails(t *portal.SignInTicket) map[string]any {
	return map[string]any{"method": t.Attempt.Method, "account": t.Attempt.Account,
		"client": t.Attempt.Address.String(), "known_device": t.KnownDevice}
}

// budgetKinds names budgets by kind (address, name, person, device) for the
// audit log, without the hashes and ids they are keyed by.
func budgetKinds(keys []string) []string {
	kinds := make([]string, 0, len(keys))
	for _, k := range keys {
		kind, _, _ := strings.Cut(k, ":")
		if kind == "addr" {
			kind = "address"
		}
		kinds = append(kinds, kind)
	}
	return kinds
}
