package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/workflow"
)

var _ portal.PasswordStore = (*DB)(nil)

// PasswordSettings reads Administration → Passwords.
func (db *DB) PasswordSettings(ctx context.Context) (portal.PasswordSettings, error) {
	var s portal.PasswordSettings
	err := db.Pool.QueryRow(ctx, `SELECT min_length, max_length, banned_words, gates_required, email_codes,
		authenticator_apps, security_questions, unlock_only, helpdesk_acts_on_staff, reconfirm_days,
		lockout_attempts, lockout_minutes, expiry_reminder_days, updated_at, reset_mails_per_person,
		reset_mails_per_address FROM password_settings`).
		Scan(&s.Policy.MinLength, &s.Policy.MaxLength, &s.Policy.BannedWords, &s.GatesRequired, &s.EmailCodes,
			&s.AuthenticatorApps, &s.SecurityQuestions, &s.UnlockOnly, &s.HelpdeskActsOnStaff, &s.ReconfirmDays,
			&s.LockoutAttempts, &s.LockoutMinutes, &s.ExpiryReminderDays, &s.UpdatedAt, &s.ResetMailsPerPerson,
			&s.ResetMailsPerAddress)
	if err != nil {
		return s, fmt.Errorf("postgres: password settings: %w", err)
	}
	return s, nil
}

// SavePasswordSettings changes Administration → Passwords, auditing the
// old and new values.
func (db *DB) SavePasswordSettings(ctx context.Context, v portal.Viewer, s portal.PasswordSettings) error {
	if !v.Has(portal.RoleAdmin) {
		return portal.Errorf(portal.EFORBIDDEN, "Only administrators may change the password settings.")
	}
	if err := s.Validate(); err != nil {
		return err
	}
	old, err := db.PasswordSettings(ctx)
	if err != nil {
		return err
	}
	if s.Policy.BannedWords == nil {
		s.Policy.BannedWords = []string{}
	}
	err = pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE password_settings SET min_length = $1, max_length = $2, banned_words = $3,
			gates_required = $4, email_codes = $5, authenticator_apps = $6, security_questions = $7, unlock_only = $8,
			helpdesk_acts_on_staff = $9, reconfirm_days = $10, lockout_attempts = $11, lockout_minutes = $12,
			expiry_reminder_days = $13, reset_mails_per_person = $14, reset_mails_per_address = $15, updated_at = now()`,
			s.Policy.MinLength, s.Policy.MaxLength, s.Policy.BannedWords, s.GatesRequired, s.EmailCodes,
			s.AuthenticatorApps, s.SecurityQuestions, s.UnlockOnly, s.HelpdeskActsOnStaff, s.ReconfirmDays,
			s.LockoutAttempts, s.LockoutMinutes, s.ExpiryReminderDays, s.ResetMailsPerPerson, s.ResetMailsPerAddress); err != nil {
			return err
		}
		return Audit(ctx, tx, v.PersonID, "password_settings_changed", "settings", "passwords",
			map[string]any{"old": settingsDetails(old), "new": settingsDetails(s)})
	})
	return storeError("save password settings", err)
}

func settingsDetails(s portal.PasswordSettings) map[string]any {
	return map[string]any{"min_length": s.Policy.MinLength, "max_length": s.Policy.MaxLength,
		"banned_words": len(s.Policy.BannedWords), "gates_required": s.GatesRequired, "email_codes": s.EmailCodes,
		"authenticator_apps": s.AuthenticatorApps, "security_questions": s.SecurityQuestions, "unlock_only": s.UnlockOnly,
		"helpdesk_acts_on_staff": s.HelpdeskActsOnStaff, "reconfirm_days": s.ReconfirmDays,
		"lockout_attempts": s.LockoutAttempts, "lockout_minutes": s.LockoutMinutes, "expiry_reminder_days": s.ExpiryReminderDays,
		"reset_mails_per_person": s.ResetMailsPerPerson, "reset_mails_per_address": s.ResetMailsPerAddress}
}

// resetCodeHash binds the emailed code to the browser's token, which the
// database never holds: a copy of the database does not give the code.
func resetCodeHash(token, code string) []byte {
	h := sha256.Sum256([]byte("tessera reset code\x00" + token + "\x00" + portal.CleanCode(code)))
	return h[:]
}

// resetWhoSQL finds the person an account names the way sign-in does (an
// account name, an email, or the name inside a UPN or DOMAIN\name), only
// when their account is enabled; $6 the whole account, $7 the name in it,
// both lower case.
const resetWhoSQL = `SELECT id FROM people
	WHERE account_enabled AND (lower(account_name) = $6 OR (email <> '' AND lower(email) = $6) OR lower(account_name) = $7)
	ORDER BY lower(account_name) = $6 DESC, lower(email) = $6 DESC LIMIT 1`

// noOne stands for the person when an account names no one, so that the
// statements are those of a known person's.
const noOne = "00000000-0000-0000-0000-000000000000"

// flowColumns are what a reset flow needs besides its own row, for
// flowRow: the settings (s), and the person (p, joined on the flow's
// person, all NULL for no one) with their roles, alternate addresses,
// security questions, local password and names.
var flowColumns = `s.min_length, s.max_length, s.banned_words, s.gates_required, s.email_codes,
	s.authenticator_apps, s.security_questions, s.unlock_only, s.helpdesk_acts_on_staff, s.reconfirm_days,
	s.lockout_attempts, s.lockout_minutes, s.expiry_reminder_days, s.updated_at, s.reset_mails_per_person,
	s.reset_mails_per_address, p.display_name, p.email, p.given_name, p.surname, p.account_name,
	` + rolesOf("p.id") + `,
	array(SELECT label FROM auth_methods m WHERE m.person_id = p.id AND m.kind = 'email' AND m.active
		AND lower(m.label) <> lower(p.email) ORDER BY m.created_at, m.id),
	EXISTS (SELECT 1 FROM auth_methods m WHERE m.person_id = p.id AND m.kind = 'questions' AND m.active),
	EXISTS (SELECT 1 FROM local_credentials c WHERE c.person_id = p.id)`

// flowRow scans flowColumns into a flow.
type flowRow struct {
	s                                    portal.PasswordSettings
	name, email, given, surname, account *string
	roles, alternates                    []string
	questions, local                     bool
}

func (r *flowRow) dest() []any {
	s := &r.s
	return []any{&s.Policy.MinLength, &s.Policy.MaxLength, &s.Policy.BannedWords, &s.GatesRequired, &s.EmailCodes,
		&s.AuthenticatorApps, &s.SecurityQuestions, &s.UnlockOnly, &s.HelpdeskActsOnStaff, &s.ReconfirmDays,
		&s.LockoutAttempts, &s.LockoutMinutes, &s.ExpiryReminderDays, &s.UpdatedAt, &s.ResetMailsPerPerson,
		&s.ResetMailsPerAddress, &r.name, &r.email, &r.given, &r.surname, &r.account,
		&r.roles, &r.alternates, &r.questions, &r.local}
}

// fill sets f's settings and person: their name, roles, the gates they
// need, where codes go (the profile's address, then the verified
// alternate ones) and what a new password may not be built on.
func (r *flowRow) fill(f *portal.ResetFlow) {
	f.Settings = r.s
	if r.name == nil {
		f.PersonID, f.Required, f.Name, f.Emails, f.Roles, f.HasQuestions, f.LocalPassword, f.Names = "", 0, "", nil, nil, false, false, nil
		return
	}
	f.Name, f.HasQuestions, f.LocalPassword = *r.name, r.questions, r.local
	f.Roles = nil
	for _, role := range r.roles {
		f.Roles = append(f.Roles, portal.Role(role))
	}
	f.Required = r.s.GatesFor(f.Roles)
	f.Emails = nil
	if *r.email != "" {
		f.Emails = append(f.Emails, *r.email)
	}
	f.Emails = append(f.Emails, r.alternates...)
	f.Names = personNames(*r.given, *r.surname, *r.name, *r.account, *r.email)
}

// personNames are the names a person's password may not be built on.
func personNames(given, surname, display, account, email string) []string {
	local, _, _ := strings.Cut(email, "@")
	return []string{given, surname, display, account, local}
}

// startResetSQL begins a flow in one statement: the flow and its code's
// hash ($1 the token's hash, $2 the account as typed, $3 the code's hash,
// $4 and $5 when the code and the flow expire, $6 and $7 the account and
// the name in it for resetWhoSQL, $8 the time); sweeps a few expired
// flows; spends a reset mail from the person's (or, for no one, the typed
// name's: $9) and the client address's ($10) budgets when both have one
// left, each its hourly number at once, then one more every hour divided
// by it; audits the start ($11 the client); keeps the key of the typed
// name's budget of wrong gates with the flow ($12, resetNameBudget); and returns the flow's person,
// whether a mail may go, and flowColumns. The same statement whether or
// not the account names someone. A start refused a mail spends nothing:
// the budgets refill at their rate however often resets are started.
var startResetSQL = `WITH ins AS (
	INSERT INTO password_resets (token_hash, person_id, account, code_hash, code_expires_at, expires_at, name_budget)
	VALUES ($1, (` + resetWhoSQL + `), $2, $3, $4, $5, $12) RETURNING person_id
), swept AS (
	DELETE FROM password_resets WHERE token_hash = ANY(ARRAY(
		SELECT token_hash FROM password_resets WHERE expires_at < $8::timestamptz ORDER BY expires_at LIMIT 20 FOR UPDATE SKIP LOCKED))
), budget AS (
	SELECT k.key, k.burst, 3600 / k.burst AS refill, least(k.burst, coalesce(b.tokens +
		extract(epoch FROM greatest($8::timestamptz - b.updated_at, '0s'))::float8 * k.burst / 3600, k.burst)) AS tokens
	FROM ins CROSS JOIN password_settings s
	CROSS JOIN LATERAL (VALUES (coalesce('reset-mail:person:' || ins.person_id::text, $9::text), s.reset_mails_per_person::float8),
		($10::text, s.reset_mails_per_address::float8)) AS k(key, burst)
	LEFT JOIN signin_budgets b ON b.key = k.key
), mail AS (
	SELECT bool_and(tokens >= 1) AS ok FROM budget
), spent AS (
	INSERT INTO signin_budgets AS b (key, tokens, updated_at, burst, refill_seconds)
	SELECT key, burst - 1, $8::timestamptz, burst, refill FROM budget WHERE (SELECT ok FROM mail)
	ON CONFLICT (key) DO UPDATE SET
		tokens = least(excluded.burst, b.tokens +
			extract(epoch FROM greatest(excluded.updated_at - b.updated_at, '0s'))::float8 / excluded.refill_seconds) - 1,
		updated_at = excluded.updated_at, refused_at = NULL, burst = excluded.burst, refill_seconds = excluded.refill_seconds
), audit AS (
	SELECT audit_append(NULL, 'password_reset_started', CASE WHEN ins.person_id IS NULL THEN 'account' ELSE 'person' END,
		coalesce(ins.person_id::text, $2::text), jsonb_build_object('account', $2::text, 'client', $11::text, 'code_mailed', mail.ok))
	FROM ins CROSS JOIN mail
)
SELECT ins.person_id::text, mail.ok, (SELECT count(*) FROM audit), ` + flowColumns + `
FROM ins CROSS JOIN mail CROSS JOIN password_settings s LEFT JOIN people p ON p.id = ins.person_id`

// StartReset writes the flow and its code's hash, spends a mail from the
// budgets of reset mails when both have one left, writes the audit entry
// and reads the flow's person, in one statement (startResetSQL): the same
// whether or not the account names someone.
func (db *DB) StartReset(ctx context.Context, account string, client netip.Addr) (*portal.ResetStart, error) {
	a := portal.SignInAttempt{Account: account}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	whole, name := a.SignInNames()
	raw := make([]byte, 32)
	rand.Read(raw)
	st := &portal.ResetStart{Token: base64.RawURLEncoding.EncodeToString(raw), Code: portal.NewCode()}
	st.Flow = portal.ResetFlow{TokenHash: hashToken(st.Token), Account: account}
	now := db.now()
	var personID *string
	var audited int
	var row flowRow
	err := db.Pool.QueryRow(ctx, startResetSQL, st.Flow.TokenHash, account, resetCodeHash(st.Token, st.Code),
		now.Add(portal.CodeLifetime), now.Add(portal.ResetFlowLifetime), whole, name, now,
		"reset-mail:"+nameBudget(name), "reset-mail:"+addressBudget(client), client.String(), resetNameBudget(name)).
		Scan(append([]any{&personID, &st.Mail, &audited}, row.dest()...)...)
	if err != nil {
		return nil, fmt.Errorf("postgres: start reset: %w", err)
	}
	if personID != nil {
		st.Flow.PersonID = *personID
	}
	row.fill(&st.Flow)
	return st, nil
}

// FindReset returns the live flow of token.
func (db *DB) FindReset(ctx context.Context, token string) (*portal.ResetFlow, error) {
	f, _, err := db.findReset(ctx, token, netip.Addr{}, false)
	return f, err
}

// flowBudgetsSQL checks the budgets of wrong gates of the flow whose
// token's hash is $1, as checkBudgetSQL does, at the settings'
// ResetBudget: the person's (or, for no one, the typed name's, kept with
// the flow) and the client address's ($3), at $2. For findResetSQL.
const flowBudgetsSQL = `cur AS (
	SELECT w.key, least(s.lockout_attempts::float8, coalesce(b.tokens +
		extract(epoch FROM greatest($2::timestamptz - b.updated_at, '0s'))::float8 / (s.lockout_minutes * 60)::float8,
		s.lockout_attempts::float8)) AS tokens
	FROM password_resets r CROSS JOIN password_settings s
	CROSS JOIN LATERAL (VALUES (coalesce('reset:person:' || r.person_id::text, r.name_budget)), ($3::text)) AS w(key)
	LEFT JOIN signin_budgets b ON b.key = w.key
	WHERE r.token_hash = $1 AND r.expires_at > $2::timestamptz AND w.key IS NOT NULL
), refused AS (
	UPDATE signin_budgets b SET refused_at = $2::timestamptz FROM cur
	WHERE b.key = cur.key AND cur.tokens < 1 AND b.refused_at IS NULL RETURNING b.key
)`

// findResetSQL reads the live flow of $1 at $2 with flowColumns and checks
// its budgets (flowBudgetsSQL, $3 the client address's key), in one
// statement: whether they allow a try, which were refused now for the
// first time since they ran out, and whether the flow kept its name
// budget's key (flows started before it did not).
var findResetSQL = `WITH ` + flowBudgetsSQL + `
` + flowSelectSQL + flowFromSQL

// flowSelectSQL and flowFromSQL are findResetSQL's columns and rows after
// its budgets (flowBudgetsSQL), which tryResetCodeSQL returns too: the
// flow's person, account and gates, what its budgets allow, whether it
// kept its name budget's key, and flowColumns, of the live flow of $1 at
// $2.
var flowSelectSQL = `SELECT r.person_id::text, r.account, r.gates, coalesce((SELECT bool_and(tokens >= 1) FROM cur), true),
	array(SELECT key FROM refused ORDER BY key), r.person_id IS NOT NULL OR r.name_budget IS NOT NULL, ` + flowColumns

const flowFromSQL = `
	FROM password_resets r CROSS JOIN password_settings s LEFT JOIN people p ON p.id = r.person_id
	WHERE r.token_hash = $1 AND r.expires_at > $2::timestamptz`

// readResetSQL is findResetSQL without the budgets, in the same columns.
// It is a statement of its own rather than findResetSQL with the budgets
// switched off by a parameter: PostgreSQL planned that one afresh at
// every call (a plan for the parameter's value looked cheaper than the
// generic one), 0.6 ms of planning for 0.08 ms of work, five times a
// reset; this one is planned once a connection.
var readResetSQL = `SELECT r.person_id::text, r.account, r.gates, true, '{}'::text[],
	r.person_id IS NOT NULL OR r.name_budget IS NOT NULL, ` + flowColumns + flowFromSQL

// findReset returns the live flow of token and, when budgets, whether its
// budgets of wrong gates (resetBudgets, for client) allow a try, and which
// of them were refused now for the first time.
func (db *DB) findReset(ctx context.Context, token string, client netip.Addr, budgets bool) (*portal.ResetFlow, budgetCheck, error) {
	if budgets {
		return db.readFlow(ctx, "find reset", findResetSQL, token, client, true, []any{"reset:" + addressBudget(client)})
	}
	return db.readFlow(ctx, "find reset", readResetSQL, token, client, false, nil)
}

// readFlow runs sql, a statement of findResetSQL's columns (then extra's)
// for the live flow of token ($1 its hash, $2 now, then args), and returns
// the flow and, when budgets, what its budgets allow.
func (db *DB) readFlow(ctx context.Context, what, sql, token string, client netip.Addr, budgets bool, args []any, extra ...any) (*portal.ResetFlow, budgetCheck, error) {
	var bc budgetCheck
	if token == "" || len(token) > 100 {
		return nil, bc, portal.ErrResetExpired
	}
	f := &portal.ResetFlow{TokenHash: hashToken(token)}
	var personID *string
	var gates []string
	var keyed bool
	var row flowRow
	now := db.now()
	dest := append([]any{&personID, &f.Account, &gates, &bc.ok, &bc.refused, &keyed}, row.dest()...)
	err := db.Pool.QueryRow(ctx, sql, append([]any{f.TokenHash, now}, args...)...).Scan(append(dest, extra...)...)
	if isNoRows(err) {
		return nil, bc, portal.ErrResetExpired
	} else if err != nil {
		return nil, bc, fmt.Errorf("postgres: %s: %w", what, err)
	}
	if personID != nil {
		f.PersonID = *personID
	}
	for _, g := range gates {
		f.Gates = append(f.Gates, portal.Gate(g))
	}
	row.fill(f)
	if budgets && !keyed {
		// A flow for no one started before its name budget's key was
		// kept with it: its budgets are read on their own (and
		// tryResetCodeSQL tried nothing: no one has a code to open).
		bc.ok, bc.refused, err = budgetsOpen(ctx, db.Pool, resetBudgets(f, client), f.Settings.ResetBudget(), now)
		if err != nil {
			return nil, bc, fmt.Errorf("postgres: reset budgets: %w", err)
		}
	}
	return f, bc, nil
}

// budgetCheck is what checking a flow's budgets found: whether they allow
// a try, and the keys refused now for the first time since they ran out.
type budgetCheck struct {
	ok      bool
	refused []string
}

// resetNameBudget is the key of the budget of wrong gates of a flow whose
// account names no one: the typed name's.
func resetNameBudget(name string) string { return "reset:" + nameBudget(name) }

// resetBudgets are the keys of a flow's budgets in signin_budgets: the
// person's (or, for no one, the typed name's) and the client address's,
// spent at the settings' ResetBudget. findResetSQL reads the same keys.
func resetBudgets(f *portal.ResetFlow, client netip.Addr) []string {
	_, name := portal.SignInAttempt{Account: f.Account}.SignInNames()
	who := resetNameBudget(name)
	if f.PersonID != "" {
		who = "reset:person:" + f.PersonID
	}
	return []string{who, "reset:" + addressBudget(client)}
}

// BeginResetGate returns the live flow when its budgets allow a try, read
// with them in one statement (findResetSQL).
func (db *DB) BeginResetGate(ctx context.Context, token string, client netip.Addr) (*portal.ResetFlow, error) {
	f, bc, err := db.findReset(ctx, token, client, true)
	if err != nil {
		return nil, err
	}
	if err := db.gateOpen(ctx, f, bc, client); err != nil {
		return nil, err
	}
	return f, nil
}

// gateOpen answers ErrResetLocked when the flow's budgets (bc) allow no
// try, and audits the lockout when a budget was refused now for the
// first time since it ran out.
func (db *DB) gateOpen(ctx context.Context, f *portal.ResetFlow, bc budgetCheck, client netip.Addr) error {
	if bc.ok {
		return nil
	}
	if len(bc.refused) > 0 {
		if err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
			return auditReset(ctx, tx, f, "password_reset_locked", map[string]any{"client": client.String()})
		}); err != nil {
			return fmt.Errorf("postgres: audit reset lockout: %w", err)
		}
	}
	return portal.ErrResetLocked
}

func auditReset(ctx context.Context, tx pgx.Tx, f *portal.ResetFlow, action string, details map[string]any) error {
	details["account"] = f.Account
	targetType, targetID := auditTarget(f)
	return Audit(ctx, tx, "", action, targetType, targetID, details)
}

// tryResetCodeSQL tries a code at the gate step in one statement: it
// reads the live flow of $1 at $2 with flowColumns and checks its budgets
// of wrong gates (flowBudgetsSQL, $3 the client address's key), as
// findResetSQL does; and only when they allow a try and the flow kept its
// name budget's key, it tries the code as the
// flow's emailed code ($4 its hash for the flow's token; live, not used,
// tried fewer than $5 times, and the email gate not yet proven), else as
// one of the person's recovery codes ($6 its hash; unused and unexpired,
// and spent here; none is tried when the flow has proven a recovery code
// already). It records the gate opened and audits it, and returns
// findResetSQL's columns, then the gate ("" for none) and the entries
// audited. The emailed code's hash is compared under a random salt of the
// statement's own: the requester knows the token and chooses the code,
// and the time the comparison takes must tell them nothing of the stored
// hash. The gate step read the flow and tried the code in two statements
// before, one round trip and one statement more for every reset.
var tryResetCodeSQL = `WITH ` + flowBudgetsSQL + `, attempt AS (
	SELECT token_hash, person_id, sha256(k.salt || code_hash) = sha256(k.salt || $4::bytea) AS matches,
		person_id IS NOT NULL AND NOT code_used AND code_expires_at > $2::timestamptz AND code_tries < $5
			AND NOT 'email' = ANY(gates) AS live,
		'recovery' = ANY(gates) AS had_recovery,
		CASE WHEN person_id IS NULL THEN 'account' ELSE 'person' END AS target_type,
		coalesce(person_id::text, account) AS target_id
	FROM password_resets CROSS JOIN (SELECT uuid_send(gen_random_uuid()) AS salt) k
	WHERE token_hash = $1 AND expires_at > $2::timestamptz
		AND (person_id IS NOT NULL OR name_budget IS NOT NULL)
		AND coalesce((SELECT bool_and(tokens >= 1) FROM cur), true)
	FOR UPDATE OF password_resets
), rc AS (
	UPDATE recovery_codes c SET used_at = $2::timestamptz FROM attempt
	WHERE NOT (attempt.matches AND attempt.live) AND NOT attempt.had_recovery AND c.person_id = attempt.person_id AND c.code_hash = $6
		AND c.used_at IS NULL AND c.expires_at > $2::timestamptz
	RETURNING c.id
), g AS (
	SELECT CASE WHEN attempt.matches AND attempt.live THEN 'email' WHEN EXISTS (SELECT 1 FROM rc) THEN 'recovery' END AS gate FROM attempt
), opened AS (
	UPDATE password_resets p SET code_used = p.code_used OR g.gate = 'email', gates = array_append(p.gates, g.gate)
	FROM g WHERE p.token_hash = $1 AND g.gate IS NOT NULL
	RETURNING g.gate
), audit AS (
	SELECT audit_append(NULL, 'password_reset_gate_passed', attempt.target_type, attempt.target_id, jsonb_build_object('gate', opened.gate))
	FROM opened CROSS JOIN attempt
)
` + flowSelectSQL + `,
	coalesce((SELECT gate FROM g), ''), (SELECT count(*) FROM audit)` + flowFromSQL

// TryResetCode tries code at the gate step of the flow of token, when
// its budgets allow a try (BeginResetGate's check), as the flow's emailed
// code and as one of the person's recovery codes, in one statement
// (tryResetCodeSQL): the same for no one. It returns the flow, with the
// gate opened, also when the code opened none (ErrWrongResetCode).
func (db *DB) TryResetCode(ctx context.Context, token string, client netip.Addr, code string) (*portal.ResetFlow, portal.Gate, error) {
	if code = portal.CleanCode(code); len(code) > 32 {
		// Tried as "", which opens nothing: no code is empty. A
		// parameter that switched the try off would have PostgreSQL
		// plan the statement afresh at every call (readResetSQL).
		code = ""
	}
	var gate string
	var audited int
	f, bc, err := db.readFlow(ctx, "try reset code", tryResetCodeSQL, token, client, true,
		[]any{"reset:" + addressBudget(client), resetCodeHash(token, code), portal.CodeTries, portal.HashRecoveryCode(code)}, &gate, &audited)
	if err != nil {
		return nil, "", err
	}
	if err := db.gateOpen(ctx, f, bc, client); err != nil {
		return nil, "", err
	}
	if gate == "" {
		return f, "", portal.ErrWrongResetCode
	}
	f.Gates = append(f.Gates, portal.Gate(gate))
	return f, portal.Gate(gate), nil
}

// auditTarget is what a flow's audit entries are about: the person, or the
// account as typed when it names no one.
func auditTarget(f *portal.ResetFlow) (targetType, targetID string) {
	if f.PersonID != "" {
		return "person", f.PersonID
	}
	return "account", f.Account
}

// PassResetGate records a gate proven elsewhere (an authenticator app).
func (db *DB) PassResetGate(ctx context.Context, f *portal.ResetFlow, g portal.Gate) error {
	if f.PersonID == "" || f.Has(g) {
		return portal.ErrWrongResetCode
	}
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE password_resets SET gates = array_append(gates, $2) WHERE token_hash = $1`,
			f.TokenHash, string(g)); err != nil {
			return err
		}
		return auditReset(ctx, tx, f, "password_reset_gate_passed", map[string]any{"gate": string(g)})
	})
	if err != nil {
		return fmt.Errorf("postgres: pass reset gate: %w", err)
	}
	f.Gates = append(f.Gates, g)
	return nil
}

// FailResetGate counts a wrong code against the flow's code and budgets.
func (db *DB) FailResetGate(ctx context.Context, f *portal.ResetFlow, client netip.Addr) error {
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE password_resets SET code_tries = code_tries + 1 WHERE token_hash = $1`, f.TokenHash); err != nil {
			return err
		}
		if err := spendBudgets(ctx, tx, resetBudgets(f, client), f.Settings.ResetBudget(), db.now()); err != nil {
			return err
		}
		return auditReset(ctx, tx, f, "password_reset_gate_failed", map[string]any{"client": client.String()})
	})
	if err != nil {
		return fmt.Errorf("postgres: fail reset gate: %w", err)
	}
	return nil
}

// FinishReset ends the flow and, after a reset, every session of the
// person; audits what each system did; and queues the notice.
func (db *DB) FinishReset(ctx context.Context, f *portal.ResetFlow, what string, results []portal.SystemResult, client netip.Addr) error {
	if !f.Passed() {
		return portal.ErrResetExpired
	}
	action := "password_reset_self_service"
	if what == "unlock" {
		action = "account_unlocked_self_service"
	}
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		return db.recordOutcome(ctx, tx, f.TokenHash, "", f.PersonID, action, what, results, client,
			map[string]any{"gates": f.Gates, "account": f.Account})
	})
	return storeError("finish reset", err)
}

// RecordPasswordChange audits a signed-in change and queues the notice.
func (db *DB) RecordPasswordChange(ctx context.Context, personID string, results []portal.SystemResult, client netip.Addr) error {
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		return db.recordOutcome(ctx, tx, nil, personID, personID, "password_changed", "change", results, client, nil)
	})
	return storeError("record password change", err)
}

// outcomeSQL ends a reset flow ($1 its token's hash; nil for a signed-in
// change, which has none), ends every session of the person ($2) when $3
// says so, and audits the outcome ($4 the actor, $5 the action, $6 the
// details), in one statement; it returns whether the flow was there to
// end (true for a change).
const outcomeSQL = `WITH done AS (
	DELETE FROM password_resets WHERE token_hash = $1::bytea RETURNING 1
), fin AS (
	SELECT $1::bytea IS NULL OR EXISTS (SELECT 1 FROM done) AS ok
), ended AS (
	DELETE FROM sessions WHERE $3::boolean AND person_id = $2::uuid AND (SELECT ok FROM fin)
), audit AS (
	SELECT audit_append($4::uuid, $5::text, 'person', $2::uuid::text, $6::jsonb) FROM fin WHERE ok
)
SELECT (SELECT ok FROM fin), (SELECT count(*) FROM audit)`

// recordOutcome ends the flow of tokenHash (nil for none), audits what each
// system did, ends the person's sessions when a password was set somewhere
// by a reset, in one statement (outcomeSQL), and queues the notice to them.
func (db *DB) recordOutcome(ctx context.Context, tx pgx.Tx, tokenHash []byte, actorID, personID, action, what string,
	results []portal.SystemResult, client netip.Addr, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	details["client"] = client.String()
	details["systems"] = resultDetails(results)
	ok := len(portal.FailedSystems(results)) < len(results)
	endSessions := ok && what == "reset"
	event := what
	if what == "unlock" && portal.NothingChanged(results) {
		// Someone passed the person's gates: they are told, truly.
		event = "unlock_not_locked"
	}
	if endSessions {
		details["sessions_ended"] = true
	}
	var found bool
	var audited int
	if err := tx.QueryRow(ctx, outcomeSQL, tokenHash, personID, endSessions, nullable(actorID), action, details).
		Scan(&found, &audited); err != nil {
		return err
	}
	if !found {
		return portal.ErrResetExpired // finished in another tab
	}
	if !ok {
		return nil
	}
	return db.insertJob(ctx, tx, workflow.PasswordNoticeArgs{PersonID: personID, Event: event, At: db.now(),
		Client: client.String(), Failed: failedNames(results)}, nil)
}

// failedNames are the names of the systems that failed, for the notice.
func failedNames(results []portal.SystemResult) []string {
	var out []string
	for _, r := range portal.FailedSystems(results) {
		out = append(out, r.System)
	}
	return out
}

// resultDetails is what the audit log keeps of each system's outcome: the
// message people read, which never holds a password, in English for the
// audit log's readers and as a text (format and arguments) for the
// helpdesk panel, which writes it in its reader's language.
func resultDetails(results []portal.SystemResult) []map[string]any {
	out := make([]map[string]any, 0, len(results))
	for _, r := range results {
		m := map[string]any{"system": r.System, "ok": r.Err == nil}
		if r.Unchanged {
			m["unchanged"] = true
		}
		if r.Err != nil {
			m["error"] = portal.ErrorMessage(r.Err)
			m["error_text"] = portal.Reason(r.Err)
		}
		out = append(out, m)
	}
	return out
}

// IssueRecoveryCode makes a one-time recovery code, ending any earlier one.
func (db *DB) IssueRecoveryCode(ctx context.Context, v portal.Viewer, personID, reason string) (string, time.Time, error) {
	if !validID(personID) {
		return "", time.Time{}, portal.Errorf(portal.ENOTFOUND, "There is no such person.")
	}
	code := portal.NewRecoveryCode()
	expires := db.now().Add(portal.RecoveryCodeLifetime)
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE recovery_codes SET expires_at = least(expires_at, $2)
			WHERE person_id = $1 AND used_at IS NULL`, personID, db.now()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO recovery_codes (person_id, code_hash, issued_by, expires_at) VALUES ($1, $2, $3, $4)`,
			personID, portal.HashRecoveryCode(code), nullable(v.PersonID), expires); err != nil {
			return err
		}
		return Audit(ctx, tx, v.PersonID, "recovery_code_issued", "person", personID,
			map[string]any{"reason": reason, "expires_at": expires})
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("postgres: issue recovery code: %w", err)
	}
	return code, expires, nil
}

// AuditAccountAction records a helpdesk action and its outcome per system
// (none: the person has no joined account, and nothing was done); a reset
// also ends the person's sessions and notifies them.
func (db *DB) AuditAccountAction(ctx context.Context, v portal.Viewer, personID, action, reason string, results []portal.SystemResult) error {
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		details := map[string]any{"reason": reason, "systems": resultDetails(results)}
		if len(results) == 0 {
			details["nothing_done"] = "no connected system has an account joined to this person"
		}
		if action == "helpdesk_password_reset" && len(portal.FailedSystems(results)) < len(results) {
			if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE person_id = $1`, personID); err != nil {
				return err
			}
			if err := db.insertJob(ctx, tx, workflow.PasswordNoticeArgs{PersonID: personID, Event: "helpdesk_reset",
				At: db.now(), Failed: failedNames(results)}, nil); err != nil {
				return err
			}
		}
		return Audit(ctx, tx, v.PersonID, action, "person", personID, details)
	})
	return storeError("audit account action", err)
}

// HasLocalPassword reports whether the person signs in with a local password.
func (db *DB) HasLocalPassword(ctx context.Context, personID string) (bool, error) {
	if !validID(personID) {
		return false, nil
	}
	var ok bool
	err := db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM local_credentials WHERE person_id = $1)`, personID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("postgres: has local password: %w", err)
	}
	return ok, nil
}

// SetLocalPassword replaces a local password (SetPassword hashes it).
func (db *DB) SetLocalPassword(ctx context.Context, personID, password string) error {
	return db.SetPassword(ctx, personID, password)
}

// SetLocalPasswordHash replaces a local password by its argon2id hash.
func (db *DB) SetLocalPasswordHash(ctx context.Context, personID, hash string) error {
	if !validID(personID) {
		return portal.Errorf(portal.ENOTFOUND, "There is no such person.")
	}
	if !strings.HasPrefix(hash, "$argon2id$") {
		return fmt.Errorf("postgres: set password hash: not an argon2id hash")
	}
	_, err := db.Pool.Exec(ctx, `INSERT INTO local_credentials (person_id, password_hash) VALUES ($1, $2)
		ON CONFLICT (person_id) DO UPDATE SET password_hash = excluded.password_hash, updated_at = now()`, personID, hash)
	if err != nil {
		return fmt.Errorf("postgres: set password hash: %w", err)
	}
	return nil
}

// EndSessions ends every session of the person.
func (db *DB) EndSessions(ctx context.Context, personID string) error {
	if _, err := db.Pool.Exec(ctx, `DELETE FROM sessions WHERE person_id = $1`, personID); err != nil {
		return fmt.Errorf("postgres: end sessions: %w", err)
	}
	return nil
}

// NoticeRecipients returns the person's name, language and time zone,
// and every address they registered (the profile's, then the verified
// alternate ones from Settings → Sign-in and recovery), for notices after
// a reset or change.
func (db *DB) NoticeRecipients(ctx context.Context, personID string) (portal.NoticeRecipient, error) {
	var to portal.NoticeRecipient
	var email string
	var alternates []string
	err := db.Pool.QueryRow(ctx, `SELECT p.display_name, p.email, coalesce(ps.language, ''), coalesce(ps.time_zone, ''),
			array(SELECT label FROM auth_methods m WHERE m.person_id = p.id AND m.kind = 'email' AND m.active
				AND lower(m.label) <> lower(p.email) ORDER BY m.created_at, m.id)
		FROM people p LEFT JOIN person_settings ps ON ps.person_id = p.id WHERE p.id = $1`, personID).
		Scan(&to.Name, &email, &to.Language, &to.TimeZone, &alternates)
	if isNoRows(err) {
		return to, nil
	} else if err != nil {
		return to, fmt.Errorf("postgres: notice recipients: %w", err)
	}
	if email != "" {
		to.Emails = append(to.Emails, email)
	}
	to.Emails = append(to.Emails, alternates...)
	return to, nil
}

// Reminded reports whether a reminder of e's expiry was sent.
func (db *DB) Reminded(ctx context.Context, e portal.ExpiringPassword) (bool, error) {
	var ok bool
	err := db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM password_reminders
		WHERE person_id = $1 AND system_id = $2 AND expires_at = $3)`, e.PersonID, e.SystemID, e.Expires.Truncate(time.Minute)).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("postgres: reminded: %w", err)
	}
	return ok, nil
}

// MarkReminded records an expiry reminder, once per account and expiry.
// It is written after the mail went: a crash in between reminds twice
// rather than never.
func (db *DB) MarkReminded(ctx context.Context, e portal.ExpiringPassword) error {
	_, err := db.Pool.Exec(ctx, `INSERT INTO password_reminders (person_id, system_id, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, e.PersonID, e.SystemID, e.Expires.Truncate(time.Minute))
	if err != nil {
		return fmt.Errorf("postgres: mark reminded: %w", err)
	}
	return nil
}

// PersonRoles returns the person's portal roles.
func (db *DB) PersonRoles(ctx context.Context, personID string) ([]portal.Role, error) {
	if !validID(personID) {
		return nil, portal.Errorf(portal.ENOTFOUND, "There is no such person.")
	}
	var roles []portal.Role
	if err := db.Pool.QueryRow(ctx, `SELECT `+rolesOf("$1::uuid"), personID).Scan(&roles); err != nil {
		return nil, fmt.Errorf("postgres: person roles: %w", err)
	}
	return roles, nil
}

// PersonNames returns the names a person's password may not be built on.
func (db *DB) PersonNames(ctx context.Context, personID string) ([]string, error) {
	if !validID(personID) {
		return nil, portal.Errorf(portal.ENOTFOUND, "There is no such person.")
	}
	var given, surname, display, account, email string
	err := db.Pool.QueryRow(ctx, `SELECT given_name, surname, display_name, account_name, email FROM people WHERE id = $1`,
		personID).Scan(&given, &surname, &display, &account, &email)
	if isNoRows(err) {
		return nil, portal.Errorf(portal.ENOTFOUND, "There is no such person.")
	} else if err != nil {
		return nil, fmt.Errorf("postgres: person names: %w", err)
	}
	return personNames(given, surname, display, account, email), nil
}

// passwordEventsSQL reads a person's latest password events ($1), with
// the actor's name, through the partial index of
// migrations/0044_password_events.sql, whose predicate it repeats.
var passwordEventsSQL = `SELECT a.at, a.action, coalesce(p.display_name, ''), coalesce(a.details->>'reason', ''),
	coalesce(a.details->>'client', ''), coalesce(a.details->'systems', '[]')
	FROM audit_log a LEFT JOIN people p ON p.id = a.actor_id
	WHERE a.target_type = 'person' AND a.target_id = $1 AND a.action IN (` + quotedList(portal.PasswordEventActions) + `)
	ORDER BY a.id DESC LIMIT 10`

// quotedList writes constant words as an SQL list of literals.
func quotedList(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "'" + strings.ReplaceAll(w, "'", "''") + "'"
	}
	return strings.Join(q, ", ")
}

// PasswordEvents returns the person's latest password events, newest
// first.
func (db *DB) PasswordEvents(ctx context.Context, personID string) ([]portal.PasswordEvent, error) {
	if !validID(personID) {
		return nil, portal.Errorf(portal.ENOTFOUND, "There is no such person.")
	}
	rows, err := db.Pool.Query(ctx, passwordEventsSQL, personID)
	if err != nil {
		return nil, fmt.Errorf("postgres: password events: %w", err)
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.PasswordEvent, error) {
		var e portal.PasswordEvent
		var systems []byte
		if err := row.Scan(&e.At, &e.Action, &e.Actor, &e.Reason, &e.Client, &systems); err != nil {
			return e, err
		}
		var kept []struct {
			System    string       `json:"system"`
			OK        bool         `json:"ok"`
			Unchanged bool         `json:"unchanged"`
			Error     string       `json:"error"`
			ErrorText *portal.Text `json:"error_text"`
		}
		if err := json.Unmarshal(systems, &kept); err != nil {
			return e, err
		}
		for _, k := range kept {
			o := portal.SystemOutcome{System: k.System, OK: k.OK, Unchanged: k.Unchanged}
			switch {
			case k.ErrorText != nil:
				o.Error = *k.ErrorText
			case k.Error != "":
				o.Error = portal.Textf("%s", k.Error) // kept in English only
			}
			e.Systems = append(e.Systems, o)
		}
		return e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: password events: %w", err)
	}
	return events, nil
}
