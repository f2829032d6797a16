package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

// MethodStore keeps people's sign-in and recovery methods (portal.Methods
// and portal.MethodRegistry), sealing authenticator secrets with a Sealer
// before they reach SQL.
type MethodStore struct {
	db *DB
	// sealer is nil without TESSERA_SECRET_KEY: emails and passkeys work,
	// authenticator apps cannot be registered or checked.
	sealer *portal.Sealer
}

var _ portal.MethodRegistry = (*MethodStore)(nil)

// NewMethodStore returns the method store of db; sealer may be nil.
func NewMethodStore(db *DB, sealer *portal.Sealer) *MethodStore {
	return &MethodStore{db: db, sealer: sealer}
}

var errNoMethod = portal.Errorf(portal.ENOTFOUND, "There is no such sign-in method.")

// secretLabel binds a sealed authenticator secret to its row.
func secretLabel(id string) string { return "auth_methods.secret:" + id }

// codeHash is what a one-time code is stored as: SHA-256 over the
// challenge's random ID and the code, so equal codes hash apart.
func codeHash(challengeID, code string) []byte {
	h := sha256.Sum256([]byte(challengeID + ":" + code))
	return h[:]
}

// finish commits tx's work, then returns the domain outcome: failed checks
// are audited and counted even though the call fails.
func (m *MethodStore) inTx(ctx context.Context, op string, f func(tx pgx.Tx) error) error {
	var outcome error
	err := pgx.BeginFunc(ctx, m.db.Pool, func(tx pgx.Tx) error {
		err := f(tx)
		if portal.ErrorCode(err) != portal.EINTERNAL && err != nil {
			outcome = err
			return nil // commit what recorded the failure
		}
		return err
	})
	if err != nil {
		return storeError(op, err)
	}
	return outcome
}

// ListMethods returns the person's active methods, oldest first.
func (m *MethodStore) ListMethods(ctx context.Context, personID string) ([]portal.Method, error) {
	if !validID(personID) {
		return nil, nil
	}
	rows, err := m.db.Pool.Query(ctx, `SELECT id, kind, label, created_at, coalesce(last_used_at, 'epoch')
		FROM auth_methods WHERE person_id = $1 AND active ORDER BY created_at, id`, personID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list methods: %w", err)
	}
	ms, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.Method, error) {
		var me portal.Method
		var kind string
		err := row.Scan(&me.ID, &kind, &me.Label, &me.CreatedAt, &me.LastUsedAt)
		me.Kind = portal.MethodKind(kind)
		if me.LastUsedAt.Equal(time.Unix(0, 0)) {
			me.LastUsedAt = time.Time{}
		}
		return me, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list methods: %w", err)
	}
	return ms, nil
}

// VerifiedEmails returns the person's alternate email addresses.
func (m *MethodStore) VerifiedEmails(ctx context.Context, personID string) ([]string, error) {
	if !validID(personID) {
		return nil, nil
	}
	rows, err := m.db.Pool.Query(ctx, `SELECT label FROM auth_methods WHERE person_id = $1 AND kind = 'email' AND active
		ORDER BY created_at, id`, personID)
	if err != nil {
		return nil, fmt.Errorf("postgres: verified emails: %w", err)
	}
	emails, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: verified emails: %w", err)
	}
	return emails, nil
}

// HasPasskey reports whether the person has a passkey.
func (m *MethodStore) HasPasskey(ctx context.Context, personID string) (bool, error) {
	if !validID(personID) {
		return false, nil
	}
	var has bool
	err := m.db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM auth_methods WHERE person_id = $1 AND kind = 'passkey' AND active)`,
		personID).Scan(&has)
	if err != nil {
		return false, fmt.Errorf("postgres: has passkey: %w", err)
	}
	return has, nil
}

// methodBudget is the key of a person's budget of wrong checks of one
// kind of method; none for no one.
func methodBudget(kind portal.MethodKind, personID string) []string {
	if personID == noOne {
		return nil
	}
	return []string{string(kind) + ":" + personID}
}

// checkedPerson returns personID, or noOne when it names no one: a check
// for no one runs the statements of a check for someone, so that its time
// tells nothing (the reset flow checks codes for accounts that do not
// exist), and fails.
func checkedPerson(personID string) string {
	if !validID(personID) {
		return noOne
	}
	return personID
}

// auditCheck audits a method check of personID (no one: no actor, no
// target).
func auditCheck(ctx context.Context, tx pgx.Tx, personID string, details map[string]any) error {
	if personID == noOne {
		return Audit(ctx, tx, "", "method_check", "person", "", details)
	}
	return Audit(ctx, tx, personID, "method_check", "person", personID, details)
}

// VerifyTOTP checks code against the person's authenticator apps; see
// portal.Methods. The rows are locked, so that two requests with the same
// code cannot both pass. Wrong codes spend the person's TOTPBudget.
func (m *MethodStore) VerifyTOTP(ctx context.Context, personID, code string) error {
	personID = checkedPerson(personID)
	return m.inTx(ctx, "verify totp", func(tx pgx.Tx) error {
		now := m.db.now()
		budget := methodBudget(portal.MethodTOTP, personID)
		open, _, err := budgetsOpen(ctx, tx, budget, portal.TOTPBudget, now)
		if err != nil {
			return err
		}
		if !open {
			return errors.Join(portal.ErrTOTPLocked, auditCheck(ctx, tx, personID, map[string]any{"kind": "totp", "result": "locked"}))
		}
		rows, err := tx.Query(ctx, `SELECT id, secret, last_step FROM auth_methods
			WHERE person_id = $1 AND kind = 'totp' AND active ORDER BY created_at FOR UPDATE`, personID)
		if err != nil {
			return err
		}
		type app struct {
			id       string
			secret   []byte
			lastStep int64
		}
		apps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (app, error) {
			var a app
			return a, row.Scan(&a.id, &a.secret, &a.lastStep)
		})
		if err != nil {
			return err
		}
		if len(apps) > 0 && m.sealer == nil {
			return portal.ErrNoSecretStore
		}
		for _, a := range apps {
			secret, err := m.sealer.Open(a.secret, secretLabel(a.id))
			if err != nil {
				return fmt.Errorf("authenticator %s: %w", a.id, err)
			}
			if step, ok := portal.MatchTOTP(string(secret), code, now, a.lastStep); ok {
				if _, err := tx.Exec(ctx, `UPDATE auth_methods SET last_step = $2, last_used_at = $3 WHERE id = $1`, a.id, step, now); err != nil {
					return err
				}
				return auditCheck(ctx, tx, personID, map[string]any{"kind": "totp", "method": a.id, "result": "success"})
			}
		}
		if err := spendBudgets(ctx, tx, budget, portal.TOTPBudget, now); err != nil {
			return err
		}
		return errors.Join(portal.ErrWrongTOTP, auditCheck(ctx, tx, personID, map[string]any{"kind": "totp", "result": "failure"}))
	})
}

// IssueCode makes a one-time code; see portal.Methods.
func (m *MethodStore) IssueCode(ctx context.Context, personID, purpose, address string) (portal.CodeChallenge, error) {
	var ch portal.CodeChallenge
	if !validID(personID) {
		return ch, portal.Errorf(portal.ENOTFOUND, "There is no such person.")
	}
	err := m.inTx(ctx, "issue code", func(tx pgx.Tx) error {
		now := m.db.now()
		var recent int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM one_time_codes WHERE person_id = $1 AND purpose = $2 AND created_at > $3`,
			personID, purpose, now.Add(-time.Hour)).Scan(&recent); err != nil {
			return err
		}
		if recent >= portal.CodesPerHour {
			return errors.Join(portal.ErrTooManyCodes, Audit(ctx, tx, personID, "code_refused", "person", personID,
				map[string]any{"purpose": purpose, "reason": "too many codes in an hour"}))
		}
		if _, err := tx.Exec(ctx, `UPDATE one_time_codes SET done = true WHERE person_id = $1 AND purpose = $2 AND NOT done`,
			personID, purpose); err != nil {
			return err
		}
		ch = portal.CodeChallenge{ID: newUUID(), Code: portal.NewCode(), Address: address, ExpiresAt: now.Add(portal.CodeLifetime)}
		if _, err := tx.Exec(ctx, `INSERT INTO one_time_codes (id, person_id, purpose, address, code_hash, expires_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, ch.ID, personID, purpose, address, codeHash(ch.ID, ch.Code), ch.ExpiresAt, now); err != nil {
			return err
		}
		return Audit(ctx, tx, personID, "code_issued", "person", personID,
			map[string]any{"purpose": purpose, "address": address, "challenge": ch.ID})
	})
	if err != nil {
		return portal.CodeChallenge{}, err
	}
	return ch, nil
}

// CheckCode spends a one-time code; see portal.Methods.
func (m *MethodStore) CheckCode(ctx context.Context, personID, challengeID, purpose, code string) (string, error) {
	var address string
	err := m.inTx(ctx, "check code", func(tx pgx.Tx) (err error) {
		address, err = m.checkCode(ctx, tx, personID, challengeID, purpose, code)
		return err
	})
	if err != nil {
		return "", err
	}
	return address, nil
}

// checkCode spends a code inside tx and audits the outcome; a failure's
// counting is committed by inTx.
func (m *MethodStore) checkCode(ctx context.Context, tx pgx.Tx, personID, challengeID, purpose, code string) (string, error) {
	fail := func(reason string, err error) (string, error) {
		if !validID(personID) {
			return "", err
		}
		return "", errors.Join(err, Audit(ctx, tx, personID, "code_check", "person", personID,
			map[string]any{"purpose": purpose, "challenge": challengeID, "result": "failure", "reason": reason}))
	}
	if !validID(personID) || !validID(challengeID) {
		return fail("unknown challenge", portal.ErrWrongCode)
	}
	var owner, kind, address string
	var hash []byte
	var tries int
	var done, live bool
	err := tx.QueryRow(ctx, `SELECT person_id, purpose, address, code_hash, tries, done, expires_at > $2
		FROM one_time_codes WHERE id = $1 FOR UPDATE`, challengeID, m.db.now()).
		Scan(&owner, &kind, &address, &hash, &tries, &done, &live)
	switch {
	case isNoRows(err):
		return fail("unknown challenge", portal.ErrWrongCode)
	case err != nil:
		return "", err
	case owner != personID || kind != purpose:
		return fail("another person's or purpose's challenge", portal.ErrWrongCode)
	case done:
		return fail("used or replaced", portal.ErrWrongCode)
	case !live:
		return fail("expired", portal.ErrWrongCode)
	case tries >= portal.CodeTries:
		return fail("tried too often", portal.ErrCodeSpent)
	}
	if subtle.ConstantTimeCompare(codeHash(challengeID, portal.NormalizeCode(code)), hash) != 1 {
		tries++
		if _, err := tx.Exec(ctx, `UPDATE one_time_codes SET tries = $2, done = $3 WHERE id = $1`,
			challengeID, tries, tries >= portal.CodeTries); err != nil {
			return "", err
		}
		if tries >= portal.CodeTries {
			return fail("wrong code; no tries left", portal.ErrCodeSpent)
		}
		return fail("wrong code", portal.ErrWrongCode)
	}
	if _, err := tx.Exec(ctx, `UPDATE one_time_codes SET done = true WHERE id = $1`, challengeID); err != nil {
		return "", err
	}
	return address, Audit(ctx, tx, personID, "code_check", "person", personID,
		map[string]any{"purpose": purpose, "challenge": challengeID, "result": "success"})
}

// AddVerifiedEmail registers the address a verification code was sent to,
// once the code checks out.
func (m *MethodStore) AddVerifiedEmail(ctx context.Context, personID, challengeID, code string) (portal.Method, error) {
	var me portal.Method
	err := m.inTx(ctx, "add email", func(tx pgx.Tx) error {
		address, err := m.checkCode(ctx, tx, personID, challengeID, portal.CodeVerifyEmail, code)
		if err != nil {
			return err
		}
		now := m.db.now()
		me = portal.Method{ID: newUUID(), Kind: portal.MethodEmail, Label: address, CreatedAt: now}
		tag, err := tx.Exec(ctx, `INSERT INTO auth_methods (id, person_id, kind, label, created_at) VALUES ($1, $2, 'email', $3, $4)
			ON CONFLICT (person_id, lower(label)) WHERE kind = 'email' DO NOTHING`, me.ID, personID, address, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return portal.Errorf(portal.ECONFLICT, "%s is registered already.", portal.Isolate(address))
		}
		return m.registered(ctx, tx, personID, me)
	})
	return me, err
}

// registered records a new method: the audit entry, and the person's
// methods count as confirmed now.
func (m *MethodStore) registered(ctx context.Context, tx pgx.Tx, personID string, me portal.Method) error {
	if err := m.confirm(ctx, tx, personID); err != nil {
		return err
	}
	details := map[string]any{"kind": string(me.Kind), "method": me.ID}
	if me.Kind == portal.MethodEmail {
		details["address"] = me.Label
	}
	return Audit(ctx, tx, personID, "method_registered", "person", personID, details)
}

func (m *MethodStore) confirm(ctx context.Context, tx pgx.Tx, personID string) error {
	_, err := tx.Exec(ctx, `INSERT INTO method_reviews (person_id, confirmed_at) VALUES ($1, $2)
		ON CONFLICT (person_id) DO UPDATE SET confirmed_at = excluded.confirmed_at`, personID, m.db.now())
	return err
}

// pendingTOTPLifetime is how long a shown but unconfirmed authenticator
// secret waits for its first code.
const pendingTOTPLifetime = time.Hour

// BeginTOTP makes a pending authenticator; see portal.MethodRegistry.
func (m *MethodStore) BeginTOTP(ctx context.Context, personID, accountName string) (string, string, error) {
	if m.sealer == nil {
		return "", "", portal.ErrNoSecretStore
	}
	if !validID(personID) {
		return "", "", portal.Errorf(portal.ENOTFOUND, "There is no such person.")
	}
	id, secret := newUUID(), portal.NewTOTPSecret()
	sealed, err := m.sealer.Seal([]byte(secret), secretLabel(id))
	if err != nil {
		return "", "", err
	}
	err = m.inTx(ctx, "begin totp", func(tx pgx.Tx) error {
		// One pending authenticator at a time: starting again drops the
		// one shown before.
		if _, err := tx.Exec(ctx, `DELETE FROM auth_methods WHERE person_id = $1 AND kind = 'totp' AND NOT active`, personID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO auth_methods (id, person_id, kind, label, active, secret, created_at)
			VALUES ($1, $2, 'totp', '', false, $3, $4)`, id, personID, sealed, m.db.now())
		return err
	})
	if err != nil {
		return "", "", err
	}
	return id, portal.TOTPURL(secret, accountName), nil
}

// pendingSecret opens the secret of the person's pending authenticator id.
func (m *MethodStore) pendingSecret(ctx context.Context, q pgx.Tx, personID, id string) (string, error) {
	errGone := portal.Errorf(portal.ENOTFOUND, "That authenticator setup has expired. Start again.")
	if m.sealer == nil {
		return "", portal.ErrNoSecretStore
	}
	if !validID(personID) || !validID(id) {
		return "", errGone
	}
	var sealed []byte
	err := q.QueryRow(ctx, `SELECT secret FROM auth_methods WHERE id = $1 AND person_id = $2 AND kind = 'totp' AND NOT active
		AND created_at > $3 FOR UPDATE`, id, personID, m.db.now().Add(-pendingTOTPLifetime)).Scan(&sealed)
	if isNoRows(err) {
		return "", errGone
	} else if err != nil {
		return "", err
	}
	secret, err := m.sealer.Open(sealed, secretLabel(id))
	if err != nil {
		return "", fmt.Errorf("authenticator %s: %w", id, err)
	}
	return string(secret), nil
}

// PendingTOTP returns the otpauth:// URL of a pending authenticator.
func (m *MethodStore) PendingTOTP(ctx context.Context, personID, id, accountName string) (string, error) {
	var url string
	err := m.inTx(ctx, "pending totp", func(tx pgx.Tx) error {
		secret, err := m.pendingSecret(ctx, tx, personID, id)
		url = portal.TOTPURL(secret, accountName)
		return err
	})
	return url, err
}

// ConfirmTOTP activates a pending authenticator when code is right; the
// step it matched counts as used.
func (m *MethodStore) ConfirmTOTP(ctx context.Context, personID, id, name, code string) (portal.Method, error) {
	var me portal.Method
	if name == "" {
		name = "Authenticator app"
	}
	if len(name) > 100 {
		return me, portal.Errorf(portal.EINVALID, "The name is too long: at most 100 characters.")
	}
	err := m.inTx(ctx, "confirm totp", func(tx pgx.Tx) error {
		secret, err := m.pendingSecret(ctx, tx, personID, id)
		if err != nil {
			return err
		}
		now := m.db.now()
		step, ok := portal.MatchTOTP(secret, code, now, 0)
		if !ok {
			return errors.Join(portal.ErrWrongTOTP, Audit(ctx, tx, personID, "method_registration_failed", "person", personID,
				map[string]any{"kind": "totp", "method": id, "reason": "wrong code"}))
		}
		if _, err := tx.Exec(ctx, `UPDATE auth_methods SET active = true, label = $3, last_step = $4, created_at = $5
			WHERE id = $1 AND person_id = $2`, id, personID, name, step, now); err != nil {
			return err
		}
		me = portal.Method{ID: id, Kind: portal.MethodTOTP, Label: name, CreatedAt: now}
		return m.registered(ctx, tx, personID, me)
	})
	return me, err
}

// RemoveMethod removes one of the person's methods.
func (m *MethodStore) RemoveMethod(ctx context.Context, personID, methodID string) error {
	if !validID(personID) || !validID(methodID) {
		return errNoMethod
	}
	return m.inTx(ctx, "remove method", func(tx pgx.Tx) error {
		var kind, label string
		err := tx.QueryRow(ctx, `DELETE FROM auth_methods WHERE id = $1 AND person_id = $2 AND active RETURNING kind, label`,
			methodID, personID).Scan(&kind, &label)
		if isNoRows(err) {
			return errNoMethod
		} else if err != nil {
			return err
		}
		details := map[string]any{"kind": kind, "method": methodID}
		if kind == string(portal.MethodEmail) {
			details["address"] = label
		}
		return Audit(ctx, tx, personID, "method_removed", "person", personID, details)
	})
}

// ConfirmMethods records that the person checked their methods.
func (m *MethodStore) ConfirmMethods(ctx context.Context, personID string) error {
	if !validID(personID) {
		return portal.Errorf(portal.ENOTFOUND, "There is no such person.")
	}
	return m.inTx(ctx, "confirm methods", func(tx pgx.Tx) error {
		if err := m.confirm(ctx, tx, personID); err != nil {
			return err
		}
		return Audit(ctx, tx, personID, "methods_confirmed", "person", personID, nil)
	})
}

// MethodsConfirmedAt says when the person last registered or confirmed
// their methods.
func (m *MethodStore) MethodsConfirmedAt(ctx context.Context, personID string) (time.Time, error) {
	var at time.Time
	if !validID(personID) {
		return at, nil
	}
	err := m.db.Pool.QueryRow(ctx, `SELECT confirmed_at FROM method_reviews WHERE person_id = $1`, personID).Scan(&at)
	if isNoRows(err) {
		return time.Time{}, nil
	} else if err != nil {
		return at, fmt.Errorf("postgres: methods confirmed at: %w", err)
	}
	return at, nil
}

// ceremonyLifetime bounds a WebAuthn ceremony: the browser's own timeout
// is five minutes.
const ceremonyLifetime = 5 * time.Minute

// PasskeyHandle returns the person's WebAuthn user handle.
func (m *MethodStore) PasskeyHandle(ctx context.Context, personID string) ([]byte, error) {
	if !validID(personID) {
		return nil, portal.Errorf(portal.ENOTFOUND, "There is no such person.")
	}
	handle := make([]byte, 32)
	rand.Read(handle)
	var got []byte
	err := m.db.Pool.QueryRow(ctx, `WITH ins AS (INSERT INTO webauthn_handles (person_id, handle) VALUES ($1, $2)
			ON CONFLICT (person_id) DO NOTHING RETURNING handle)
		SELECT handle FROM ins UNION ALL SELECT handle FROM webauthn_handles WHERE person_id = $1`, personID, handle).Scan(&got)
	if err != nil {
		return nil, fmt.Errorf("postgres: passkey handle: %w", err)
	}
	return got, nil
}

var errUnknownPasskey = portal.Errorf(portal.EUNAUTHORIZED, "That passkey is not registered in Tessera, or its account is disabled.")

// PersonByHandle returns the enabled person whose user handle it is.
func (m *MethodStore) PersonByHandle(ctx context.Context, handle []byte) (string, error) {
	var id string
	err := m.db.Pool.QueryRow(ctx, `SELECT h.person_id FROM webauthn_handles h JOIN people p ON p.id = h.person_id
		WHERE h.handle = $1 AND p.account_enabled`, handle).Scan(&id)
	if isNoRows(err) {
		return "", errUnknownPasskey
	} else if err != nil {
		return "", fmt.Errorf("postgres: person by handle: %w", err)
	}
	return id, nil
}

// Passkeys returns the person's passkeys.
func (m *MethodStore) Passkeys(ctx context.Context, personID string) ([]portal.Passkey, error) {
	if !validID(personID) {
		return nil, nil
	}
	rows, err := m.db.Pool.Query(ctx, `SELECT id, credential_id, credential::text FROM auth_methods
		WHERE person_id = $1 AND kind = 'passkey' AND active ORDER BY created_at`, personID)
	if err != nil {
		return nil, fmt.Errorf("postgres: passkeys: %w", err)
	}
	ps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.Passkey, error) {
		var p portal.Passkey
		var cred string
		err := row.Scan(&p.MethodID, &p.CredentialID, &cred)
		p.Credential = []byte(cred)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: passkeys: %w", err)
	}
	return ps, nil
}

// AddPasskey registers a passkey.
func (m *MethodStore) AddPasskey(ctx context.Context, personID, name string, credentialID, credential []byte) (portal.Method, error) {
	var me portal.Method
	if name == "" {
		name = "Passkey"
	}
	if len(name) > 100 {
		return me, portal.Errorf(portal.EINVALID, "The name is too long: at most 100 characters.")
	}
	err := m.inTx(ctx, "add passkey", func(tx pgx.Tx) error {
		now := m.db.now()
		me = portal.Method{ID: newUUID(), Kind: portal.MethodPasskey, Label: name, CreatedAt: now}
		_, err := tx.Exec(ctx, `INSERT INTO auth_methods (id, person_id, kind, label, credential_id, credential, created_at)
			VALUES ($1, $2, 'passkey', $3, $4, $5::jsonb, $6)`, me.ID, personID, name, credentialID, string(credential), now)
		if isUniqueViolation(err) {
			return portal.Errorf(portal.ECONFLICT, "That passkey is registered already.")
		} else if err != nil {
			return err
		}
		return m.registered(ctx, tx, personID, me)
	})
	return me, err
}

// UsePasskey records a passing assertion.
func (m *MethodStore) UsePasskey(ctx context.Context, personID string, credentialID, credential []byte, purpose string) error {
	return m.inTx(ctx, "use passkey", func(tx pgx.Tx) error {
		var id string
		err := tx.QueryRow(ctx, `UPDATE auth_methods SET credential = $3::jsonb, last_used_at = $4
			WHERE person_id = $1 AND credential_id = $2 AND kind = 'passkey' AND active RETURNING id`,
			personID, credentialID, string(credential), m.db.now()).Scan(&id)
		if isNoRows(err) {
			return errUnknownPasskey
		} else if err != nil {
			return err
		}
		return Audit(ctx, tx, personID, "method_check", "person", personID,
			map[string]any{"kind": "passkey", "method": id, "purpose": purpose, "result": "success"})
	})
}

// passkeyBudget is the budget a passkey for purpose draws on: the client
// address's for a sign-in, where no one is known yet; the person's
// otherwise.
func passkeyBudget(personID, purpose string, client netip.Addr) []string {
	if purpose == portal.PasskeySignIn {
		return []string{"passkey:" + addressBudget(client)}
	}
	if !validID(personID) {
		return nil
	}
	return []string{"passkey:person:" + personID}
}

// BeginPasskey refuses while the passkey budget is spent.
func (m *MethodStore) BeginPasskey(ctx context.Context, personID, purpose string, client netip.Addr) error {
	open, refused, err := budgetsOpen(ctx, m.db.Pool, passkeyBudget(personID, purpose, client), portal.PasskeyBudget, m.db.now())
	if err != nil {
		return fmt.Errorf("postgres: begin passkey: %w", err)
	}
	if open {
		return nil
	}
	if len(refused) > 0 {
		// The first refusal of a lockout is audited, not each of a flood.
		err := m.inTx(ctx, "refuse passkey", func(tx pgx.Tx) error {
			return Audit(ctx, tx, "", "method_check", "person", personOrNone(personID),
				map[string]any{"kind": "passkey", "purpose": purpose, "result": "locked", "client": client.String()})
		})
		if err != nil {
			return err
		}
	}
	return portal.ErrPasskeyPaused
}

func personOrNone(personID string) string {
	if validID(personID) {
		return personID
	}
	return ""
}

// FailPasskey audits a passkey that did not pass and spends its budget.
func (m *MethodStore) FailPasskey(ctx context.Context, personID, purpose, reason string, client netip.Addr) error {
	return m.inTx(ctx, "fail passkey", func(tx pgx.Tx) error {
		if err := spendBudgets(ctx, tx, passkeyBudget(personID, purpose, client), portal.PasskeyBudget, m.db.now()); err != nil {
			return err
		}
		target := personOrNone(personID)
		return Audit(ctx, tx, target, "method_check", "person", target,
			map[string]any{"kind": "passkey", "purpose": purpose, "result": "failure", "reason": reason, "client": client.String()})
	})
}

// SaveCeremony keeps a WebAuthn ceremony in flight.
func (m *MethodStore) SaveCeremony(ctx context.Context, token, personID, kind string, data []byte) error {
	_, err := m.db.Pool.Exec(ctx, `WITH gone AS (DELETE FROM webauthn_ceremonies WHERE expires_at < $5)
		INSERT INTO webauthn_ceremonies (token_hash, person_id, kind, data, expires_at) VALUES ($1, $2, $3, $4, $6)`,
		hashToken(token), nullable(personID), kind, data, m.db.now(), m.db.now().Add(ceremonyLifetime))
	if err != nil {
		return fmt.Errorf("postgres: save ceremony: %w", err)
	}
	return nil
}

// TakeCeremony returns and deletes a ceremony; each works once.
func (m *MethodStore) TakeCeremony(ctx context.Context, token, kind string) (string, []byte, error) {
	var personID *string
	var data []byte
	var live bool
	var got string
	err := m.db.Pool.QueryRow(ctx, `DELETE FROM webauthn_ceremonies WHERE token_hash = $1
		RETURNING person_id::text, kind, data, expires_at > $2`, hashToken(token), m.db.now()).Scan(&personID, &got, &data, &live)
	if isNoRows(err) || (err == nil && (!live || got != kind)) {
		return "", nil, portal.Errorf(portal.EUNAUTHORIZED, "That passkey request has expired or was already used. Try again.")
	} else if err != nil {
		return "", nil, fmt.Errorf("postgres: take ceremony: %w", err)
	}
	if personID == nil {
		return "", data, nil
	}
	return *personID, data, nil
}

// SetSecurityAnswers registers questions and argon2id hashes of the
// normalised answers; the hashing waits for argon2id's slots.
func (m *MethodStore) SetSecurityAnswers(ctx context.Context, personID string, answers map[string]string) (portal.Method, error) {
	var me portal.Method
	if !validID(personID) {
		return me, portal.Errorf(portal.ENOTFOUND, "There is no such person.")
	}
	normal, err := portal.ValidateAnswers(answers)
	if err != nil {
		return me, err
	}
	hashes := make(map[string]string, len(normal))
	for q, a := range normal {
		hashes[q] = portal.HashPassword(a)
	}
	err = m.inTx(ctx, "set security answers", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM auth_methods WHERE person_id = $1 AND kind = 'questions'`, personID); err != nil {
			return err
		}
		now := m.db.now()
		me = portal.Method{ID: newUUID(), Kind: portal.MethodQuestions, Label: fmt.Sprintf("%d questions", len(hashes)), CreatedAt: now}
		if _, err := tx.Exec(ctx, `INSERT INTO auth_methods (id, person_id, kind, label, created_at) VALUES ($1, $2, 'questions', $3, $4)`,
			me.ID, personID, me.Label, now); err != nil {
			return err
		}
		for q, h := range hashes {
			if _, err := tx.Exec(ctx, `INSERT INTO security_answers (method_id, question, answer_hash) VALUES ($1, $2, $3)`, me.ID, q, h); err != nil {
				return err
			}
		}
		return m.registered(ctx, tx, personID, me)
	})
	return me, err
}

// RegisteredQuestions returns the questions the person answered, in
// the list's order; none for no one.
func (m *MethodStore) RegisteredQuestions(ctx context.Context, personID string) ([]string, error) {
	if !validID(personID) {
		return nil, nil
	}
	rows, err := m.db.Pool.Query(ctx, `SELECT a.question FROM security_answers a JOIN auth_methods m ON m.id = a.method_id
		WHERE m.person_id = $1 AND m.kind = 'questions' AND m.active`, personID)
	if err != nil {
		return nil, fmt.Errorf("postgres: registered questions: %w", err)
	}
	qs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: registered questions: %w", err)
	}
	slices.SortFunc(qs, func(a, b string) int {
		return slices.Index(portal.SecurityQuestions, a) - slices.Index(portal.SecurityQuestions, b)
	})
	return qs, nil
}

// CheckAnswers checks answers against the person's registered ones; wrong
// sets spend the person's QuestionsBudget.
func (m *MethodStore) CheckAnswers(ctx context.Context, personID string, answers map[string]string) error {
	personID = checkedPerson(personID)
	return m.inTx(ctx, "check answers", func(tx pgx.Tx) error {
		now := m.db.now()
		budget := methodBudget(portal.MethodQuestions, personID)
		open, _, err := budgetsOpen(ctx, tx, budget, portal.QuestionsBudget, now)
		if err != nil {
			return err
		}
		if !open {
			return errors.Join(portal.ErrAnswersLocked, auditCheck(ctx, tx, personID, map[string]any{"kind": "questions", "result": "locked"}))
		}
		rows, err := tx.Query(ctx, `SELECT a.question, a.answer_hash FROM security_answers a JOIN auth_methods m ON m.id = a.method_id
			WHERE m.person_id = $1 AND m.kind = 'questions' AND m.active`, personID)
		if err != nil {
			return err
		}
		registered := map[string]string{}
		var q, h string
		if _, err := pgx.ForEachRow(rows, []any{&q, &h}, func() error { registered[q] = h; return nil }); err != nil {
			return err
		}
		ok := len(registered) > 0
		if !ok {
			// As much hashing as a person with questions costs.
			for range portal.QuestionsRequired {
				portal.VerifyPassword("", "")
			}
		}
		for q, h := range registered {
			// Every answer is hashed, right or wrong, so the time tells
			// nothing about which one was wrong.
			ok = portal.VerifyPassword(h, portal.NormalizeAnswer(answers[q])) && ok
		}
		if ok {
			_, err := tx.Exec(ctx, `UPDATE auth_methods SET last_used_at = $2 WHERE person_id = $1 AND kind = 'questions'`, personID, now)
			if err != nil {
				return err
			}
			return auditCheck(ctx, tx, personID, map[string]any{"kind": "questions", "result": "success"})
		}
		if err := spendBudgets(ctx, tx, budget, portal.QuestionsBudget, now); err != nil {
			return err
		}
		return errors.Join(portal.ErrWrongAnswers, auditCheck(ctx, tx, personID, map[string]any{"kind": "questions", "result": "failure"}))
	})
}
