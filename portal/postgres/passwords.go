package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
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

// resetMailBudgets are the keys of the budgets of reset mails a start
// spends: the person's (or, for no one, the typed name's) and the client
// address's.
func resetMailBudgets(personID, name string, client netip.Addr) (who, address string) {
	who = "reset-mail:" + nameBudget(name)
	if personID != "" {
		who = "reset-mail:person:" + personID
	}
	return who, "reset-mail:" + addressBudget(client)
}

// StartReset writes the flow and its code's hash, spends a mail from the
// budgets of reset mails when both have one left, and writes the audit
// entry: the same statements whether or not the account names someone.
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
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) (err error) {
		var personID *string
		if err := tx.QueryRow(ctx, `INSERT INTO password_resets (token_hash, person_id, account, code_hash, code_expires_at, expires_at)
			VALUES ($1, (`+resetWhoSQL+`), $2, $3, $4, $5) RETURNING person_id::text`,
			st.Flow.TokenHash, account, resetCodeHash(st.Token, st.Code), now.Add(portal.CodeLifetime),
			now.Add(portal.ResetFlowLifetime), whole, name).Scan(&personID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM password_resets WHERE token_hash = ANY(ARRAY(
			SELECT token_hash FROM password_resets WHERE expires_at < $1 ORDER BY expires_at LIMIT 20 FOR UPDATE SKIP LOCKED))`, now); err != nil {
			return err
		}
		id := ""
		if personID != nil {
			id = *personID
		}
		if st.Mail, err = spendResetMail(ctx, tx, id, name, client, now); err != nil {
			return err
		}
		details := map[string]any{"account": account, "client": client.String(), "code_mailed": st.Mail}
		if personID == nil {
			return Audit(ctx, tx, "", "password_reset_started", "account", account, details)
		}
		st.Flow.PersonID = *personID
		return Audit(ctx, tx, "", "password_reset_started", "person", *personID, details)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: start reset: %w", err)
	}
	if err := db.fillFlow(ctx, &st.Flow); err != nil {
		return nil, err
	}
	return st, nil
}

// spendResetMail takes a mail from the person's (or name's) and the client
// address's budgets of reset mails when both have one left, and reports
// whether it did. A start refused a mail spends nothing: the budgets
// refill at their rate however often resets are started, and the person
// gets their codes again as soon as they do.
func spendResetMail(ctx context.Context, tx pgx.Tx, personID, name string, client netip.Addr, now time.Time) (bool, error) {
	var perPerson, perAddress int
	if err := tx.QueryRow(ctx, `SELECT reset_mails_per_person, reset_mails_per_address FROM password_settings`).
		Scan(&perPerson, &perAddress); err != nil {
		return false, err
	}
	settings := portal.PasswordSettings{ResetMailsPerPerson: perPerson, ResetMailsPerAddress: perAddress}
	personBudget, addressBudget := settings.ResetMailBudgets()
	who, address := resetMailBudgets(personID, name, client)
	whoOpen, _, err := budgetsOpen(ctx, tx, []string{who}, personBudget, now)
	if err != nil {
		return false, err
	}
	addressOpen, _, err := budgetsOpen(ctx, tx, []string{address}, addressBudget, now)
	if err != nil || !whoOpen || !addressOpen {
		return false, err
	}
	if err := spendBudgets(ctx, tx, []string{who}, personBudget, now); err != nil {
		return false, err
	}
	return true, spendBudgets(ctx, tx, []string{address}, addressBudget, now)
}

// noOne stands for the person of a flow whose account names no one, so
// that its statements are the statements of a known person's flow.
const noOne = "00000000-0000-0000-0000-000000000000"

// fillFlow reads the settings and the person behind a flow, in one query
// whether or not the account names someone: name, roles, the gates they
// need, whether they registered security questions, and where codes go
// (the profile's address, then the verified alternate ones).
func (db *DB) fillFlow(ctx context.Context, f *portal.ResetFlow) error {
	id := f.PersonID
	if id == "" {
		id = noOne
	}
	var s portal.PasswordSettings
	var name, email *string
	var roles, alternates []string
	var questions bool
	err := db.Pool.QueryRow(ctx, `SELECT s.min_length, s.max_length, s.banned_words, s.gates_required, s.email_codes,
		s.authenticator_apps, s.security_questions, s.unlock_only, s.helpdesk_acts_on_staff, s.reconfirm_days,
		s.lockout_attempts, s.lockout_minutes, s.expiry_reminder_days, s.updated_at, s.reset_mails_per_person,
		s.reset_mails_per_address, p.display_name, p.email,
		array(SELECT role FROM person_roles r WHERE r.person_id = $1 ORDER BY role),
		array(SELECT label FROM auth_methods m WHERE m.person_id = $1 AND m.kind = 'email' AND m.active
			AND lower(m.label) <> lower(coalesce(p.email, '')) ORDER BY m.created_at, m.id),
		EXISTS (SELECT 1 FROM auth_methods m WHERE m.person_id = $1 AND m.kind = 'questions' AND m.active)
		FROM password_settings s LEFT JOIN people p ON p.id = $1`, id).
		Scan(&s.Policy.MinLength, &s.Policy.MaxLength, &s.Policy.BannedWords, &s.GatesRequired, &s.EmailCodes,
			&s.AuthenticatorApps, &s.SecurityQuestions, &s.UnlockOnly, &s.HelpdeskActsOnStaff, &s.ReconfirmDays,
			&s.LockoutAttempts, &s.LockoutMinutes, &s.ExpiryReminderDays, &s.UpdatedAt, &s.ResetMailsPerPerson,
			&s.ResetMailsPerAddress, &name, &email,
			&roles, &alternates, &questions)
	if err != nil {
		return fmt.Errorf("postgres: reset flow person: %w", err)
	}
	f.Settings = s
	if name == nil {
		f.PersonID, f.Required, f.Name, f.Emails, f.Roles, f.HasQuestions = "", 0, "", nil, nil, false
		return nil
	}
	f.Name, f.HasQuestions = *name, questions
	f.Roles = f.Roles[:0]
	for _, r := range roles {
		f.Roles = append(f.Roles, portal.Role(r))
	}
	f.Required = s.GatesFor(f.Roles)
	f.Emails = nil
	if *email != "" {
		f.Emails = append(f.Emails, *email)
	}
	f.Emails = append(f.Emails, alternates...)
	return nil
}

// FindReset returns the live flow of token.
func (db *DB) FindReset(ctx context.Context, token string) (*portal.ResetFlow, error) {
	if token == "" || len(token) > 100 {
		return nil, portal.ErrResetExpired
	}
	f := &portal.ResetFlow{TokenHash: hashToken(token)}
	var personID *string
	var gates []string
	err := db.Pool.QueryRow(ctx, `SELECT person_id::text, account, gates FROM password_resets
		WHERE token_hash = $1 AND expires_at > $2`, f.TokenHash, db.now()).Scan(&personID, &f.Account, &gates)
	if isNoRows(err) {
		return nil, portal.ErrResetExpired
	} else if err != nil {
		return nil, fmt.Errorf("postgres: find reset: %w", err)
	}
	if personID != nil {
		f.PersonID = *personID
	}
	for _, g := range gates {
		f.Gates = append(f.Gates, portal.Gate(g))
	}
	if err := db.fillFlow(ctx, f); err != nil {
		return nil, err
	}
	return f, nil
}

// resetBudgets are the keys of a flow's budgets in signin_budgets: the
// person's (or, for no one, the typed name's) and the client address's,
// spent at the settings' ResetBudget.
func resetBudgets(f *portal.ResetFlow, client netip.Addr) []string {
	_, name := portal.SignInAttempt{Account: f.Account}.SignInNames()
	who := "reset:" + nameBudget(name)
	if f.PersonID != "" {
		who = "reset:person:" + f.PersonID
	}
	return []string{who, "reset:" + addressBudget(client)}
}

// BeginResetGate returns the live flow when its budgets allow a try.
func (db *DB) BeginResetGate(ctx context.Context, token string, client netip.Addr) (*portal.ResetFlow, error) {
	f, err := db.FindReset(ctx, token)
	if err != nil {
		return nil, err
	}
	ok, refused, err := budgetsOpen(ctx, db.Pool, resetBudgets(f, client), f.Settings.ResetBudget(), db.now())
	if err != nil {
		return nil, fmt.Errorf("postgres: reset budgets: %w", err)
	}
	if ok {
		return f, nil
	}
	if len(refused) > 0 {
		if err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
			return auditReset(ctx, tx, f, "password_reset_locked", map[string]any{"client": client.String()})
		}); err != nil {
			return nil, fmt.Errorf("postgres: audit reset lockout: %w", err)
		}
	}
	return nil, portal.ErrResetLocked
}

func auditReset(ctx context.Context, tx pgx.Tx, f *portal.ResetFlow, action string, details map[string]any) error {
	details["account"] = f.Account
	if f.PersonID != "" {
		return Audit(ctx, tx, "", action, "person", f.PersonID, details)
	}
	return Audit(ctx, tx, "", action, "account", f.Account, details)
}

// TryResetCode tries code as the flow's emailed code, then as one of the
// person's recovery codes. The statements are the same for no one.
func (db *DB) TryResetCode(ctx context.Context, token string, f *portal.ResetFlow, code string) (portal.Gate, error) {
	code = portal.CleanCode(code)
	if code == "" || len(code) > 32 {
		return "", portal.ErrWrongResetCode
	}
	var gate portal.Gate
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		var stored []byte
		var live bool
		err := tx.QueryRow(ctx, `SELECT code_hash, person_id IS NOT NULL AND NOT code_used AND code_expires_at > $2
			AND code_tries < $3 AND NOT 'email' = ANY(gates)
			FROM password_resets WHERE token_hash = $1 FOR UPDATE`, f.TokenHash, db.now(), portal.CodeTries).Scan(&stored, &live)
		if isNoRows(err) {
			return portal.ErrResetExpired
		} else if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare(stored, resetCodeHash(token, code)) == 1 && live {
			gate = portal.GateEmail
			if _, err := tx.Exec(ctx, `UPDATE password_resets SET code_used = true, gates = array_append(gates, 'email')
				WHERE token_hash = $1`, f.TokenHash); err != nil {
				return err
			}
		} else {
			person := f.PersonID
			if person == "" {
				person = noOne
			}
			var id int64
			err := tx.QueryRow(ctx, `UPDATE recovery_codes SET used_at = $3 WHERE person_id = $1 AND code_hash = $2
				AND used_at IS NULL AND expires_at > $3 RETURNING id`, person, portal.HashRecoveryCode(code), db.now()).Scan(&id)
			if isNoRows(err) || f.Has(portal.GateRecovery) {
				return portal.ErrWrongResetCode
			} else if err != nil {
				return err
			}
			gate = portal.GateRecovery
			if _, err := tx.Exec(ctx, `UPDATE password_resets SET gates = array_append(gates, 'recovery') WHERE token_hash = $1`,
				f.TokenHash); err != nil {
				return err
			}
		}
		return auditReset(ctx, tx, f, "password_reset_gate_passed", map[string]any{"gate": string(gate)})
	})
	if err != nil {
		return "", storeError("try reset code", err)
	}
	f.Gates = append(f.Gates, gate)
	return gate, nil
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
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM password_resets WHERE token_hash = $1`, f.TokenHash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return portal.ErrResetExpired // finished in another tab
		}
		action := "password_reset_self_service"
		if what == "unlock" {
			action = "account_unlocked_self_service"
		}
		return db.recordOutcome(ctx, tx, "", f.PersonID, action, what, results, client,
			map[string]any{"gates": f.Gates, "account": f.Account})
	})
	return storeError("finish reset", err)
}

// RecordPasswordChange audits a signed-in change and queues the notice.
func (db *DB) RecordPasswordChange(ctx context.Context, personID string, results []portal.SystemResult, client netip.Addr) error {
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		return db.recordOutcome(ctx, tx, personID, personID, "password_changed", "change", results, client, nil)
	})
	return storeError("record password change", err)
}

// recordOutcome audits what each system did, ends the person's sessions
// when a password was set somewhere, and queues the notice to them.
func (db *DB) recordOutcome(ctx context.Context, tx pgx.Tx, actorID, personID, action, what string,
	results []portal.SystemResult, client netip.Addr, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	details["client"] = client.String()
	details["systems"] = resultDetails(results)
	ok := len(portal.FailedSystems(results)) < len(results)
	if ok && what == "reset" {
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE person_id = $1`, personID); err != nil {
			return err
		}
		details["sessions_ended"] = true
	}
	if err := Audit(ctx, tx, actorID, action, "person", personID, details); err != nil {
		return err
	}
	if !ok {
		return nil
	}
	return db.insertJob(ctx, tx, workflow.PasswordNoticeArgs{PersonID: personID, Event: what, At: db.now(),
		Client: client.String()}, nil)
}

// resultDetails is what the audit log keeps of each system's outcome: the
// message people read, which never holds a password.
func resultDetails(results []portal.SystemResult) []map[string]any {
	out := make([]map[string]any, 0, len(results))
	for _, r := range results {
		m := map[string]any{"system": r.System, "ok": r.Err == nil}
		if r.Err != nil {
			m["error"] = portal.ErrorMessage(r.Err)
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

// AuditAccountAction records a helpdesk action and its outcome per system;
// a reset also ends the person's sessions and notifies them.
func (db *DB) AuditAccountAction(ctx context.Context, v portal.Viewer, personID, action, reason string, results []portal.SystemResult) error {
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		details := map[string]any{"reason": reason, "systems": resultDetails(results)}
		if action == "helpdesk_password_reset" && len(portal.FailedSystems(results)) < len(results) {
			if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE person_id = $1`, personID); err != nil {
				return err
			}
			if err := db.insertJob(ctx, tx, workflow.PasswordNoticeArgs{PersonID: personID, Event: "helpdesk_reset",
				At: db.now()}, nil); err != nil {
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
// and every address they registered, for notices after a reset or change.
func (db *DB) NoticeRecipients(ctx context.Context, personID string) (portal.NoticeRecipient, error) {
	var to portal.NoticeRecipient
	var email string
	err := db.Pool.QueryRow(ctx, `SELECT p.display_name, p.email, coalesce(ps.language, ''), coalesce(ps.time_zone, '')
		FROM people p LEFT JOIN person_settings ps ON ps.person_id = p.id WHERE p.id = $1`, personID).
		Scan(&to.Name, &email, &to.Language, &to.TimeZone)
	if isNoRows(err) {
		return to, nil
	} else if err != nil {
		return to, fmt.Errorf("postgres: notice recipients: %w", err)
	}
	if email != "" {
		to.Emails = append(to.Emails, email)
	}
	// And the alternate addresses the person verified (Settings → Sign-in
	// and recovery).
	rows, err := db.Pool.Query(ctx, `SELECT label FROM auth_methods WHERE person_id = $1 AND kind = 'email' AND active
		AND lower(label) <> lower($2) ORDER BY created_at, id`, personID, email)
	if err != nil {
		return to, fmt.Errorf("postgres: notice recipients: %w", err)
	}
	alternates, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return to, fmt.Errorf("postgres: notice recipients: %w", err)
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
	rows, err := db.Pool.Query(ctx, `SELECT role FROM person_roles WHERE person_id = $1 ORDER BY role`, personID)
	if err != nil {
		return nil, fmt.Errorf("postgres: person roles: %w", err)
	}
	roles, err := pgx.CollectRows(rows, pgx.RowTo[portal.Role])
	if err != nil {
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
	local, _, _ := strings.Cut(email, "@")
	return []string{given, surname, display, account, local}, nil
}
