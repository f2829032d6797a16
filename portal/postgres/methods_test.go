package postgres_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
)

// totpCode is what an authenticator app with secret shows at t.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: portal.TOTPPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	require.NoError(t, err)
	return code
}

// secretOf reads the secret out of an otpauth:// URL, as an app does.
func secretOf(t *testing.T, otpauth string) string {
	t.Helper()
	u, err := url.Parse(otpauth)
	require.NoError(t, err)
	require.Equal(t, "otpauth", u.Scheme)
	require.Equal(t, "totp", u.Host)
	return u.Query().Get("secret")
}

// auditDetails returns the details of the person's audit entries with
// action, oldest first.
func auditDetails(t *testing.T, db *postgres.DB, personID, action string) []string {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `SELECT details::text FROM audit_log WHERE target_id = $1 AND action = $2 ORDER BY id`,
		personID, action)
	require.NoError(t, err)
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

func TestOneTimeCodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	c := &clock{now: time.Now()}
	db.Clock = c.Now
	store := postgres.NewMethodStore(db, newSealer(t))
	zoe, ada := demoViewer(t, org, "zoe").PersonID, demoViewer(t, org, "ada").PersonID
	var issued []string

	t.Run("a right code registers the address, once", func(t *testing.T) {
		ch, err := store.IssueCode(ctx, zoe, portal.CodeVerifyEmail, "zoe.home@example.net")
		require.NoError(t, err)
		issued = append(issued, ch.Code)
		require.Len(t, ch.Code, portal.CodeDigits)
		require.WithinDuration(t, c.Now().Add(portal.CodeLifetime), ch.ExpiresAt, time.Second)
		m, err := store.AddVerifiedEmail(ctx, zoe, ch.ID, ch.Code[:4]+" "+ch.Code[4:])
		require.NoError(t, err, "spaces inside a code are ignored")
		require.Equal(t, portal.MethodEmail, m.Kind)
		emails, err := store.VerifiedEmails(ctx, zoe)
		require.NoError(t, err)
		require.Equal(t, []string{"zoe.home@example.net"}, emails)

		_, err = store.CheckCode(ctx, zoe, ch.ID, portal.CodeVerifyEmail, ch.Code)
		require.ErrorIs(t, err, portal.ErrWrongCode, "a used code is refused")
		confirmed, err := store.MethodsConfirmedAt(ctx, zoe)
		require.NoError(t, err)
		require.WithinDuration(t, c.Now(), confirmed, time.Second)
	})

	t.Run("five wrong tries spend the code", func(t *testing.T) {
		ch, err := store.IssueCode(ctx, zoe, portal.CodeReset, "zoe.home@example.net")
		require.NoError(t, err)
		issued = append(issued, ch.Code)
		wrong := "00000000"
		if ch.Code == wrong {
			wrong = "11111111"
		}
		for i := 1; i < portal.CodeTries; i++ {
			_, err := store.CheckCode(ctx, zoe, ch.ID, portal.CodeReset, wrong)
			require.ErrorIs(t, err, portal.ErrWrongCode, "try %d", i)
		}
		_, err = store.CheckCode(ctx, zoe, ch.ID, portal.CodeReset, wrong)
		require.ErrorIs(t, err, portal.ErrCodeSpent)
		_, err = store.CheckCode(ctx, zoe, ch.ID, portal.CodeReset, ch.Code)
		require.Error(t, err, "the right code after the tries ran out")
		require.Equal(t, portal.EUNAUTHORIZED, portal.ErrorCode(err))
	})

	t.Run("an expired code is refused", func(t *testing.T) {
		ch, err := store.IssueCode(ctx, zoe, portal.CodeReset, "zoe.home@example.net")
		require.NoError(t, err)
		issued = append(issued, ch.Code)
		c.advance(portal.CodeLifetime + time.Second)
		_, err = store.CheckCode(ctx, zoe, ch.ID, portal.CodeReset, ch.Code)
		require.ErrorIs(t, err, portal.ErrWrongCode)
	})

	t.Run("a code for another person or purpose is refused, and a newer code replaces an older one", func(t *testing.T) {
		ch, err := store.IssueCode(ctx, ada, portal.CodeReset, "ada.home@example.net")
		require.NoError(t, err)
		issued = append(issued, ch.Code)
		_, err = store.CheckCode(ctx, zoe, ch.ID, portal.CodeReset, ch.Code)
		require.ErrorIs(t, err, portal.ErrWrongCode)
		_, err = store.AddVerifiedEmail(ctx, ada, ch.ID, ch.Code)
		require.ErrorIs(t, err, portal.ErrWrongCode, "a reset code does not register an address")
		newer, err := store.IssueCode(ctx, ada, portal.CodeReset, "ada.home@example.net")
		require.NoError(t, err)
		issued = append(issued, newer.Code)
		_, err = store.CheckCode(ctx, ada, ch.ID, portal.CodeReset, ch.Code)
		require.ErrorIs(t, err, portal.ErrWrongCode)
		addr, err := store.CheckCode(ctx, ada, newer.ID, portal.CodeReset, newer.Code)
		require.NoError(t, err)
		require.Equal(t, "ada.home@example.net", addr)
	})

	t.Run("codes per hour are bounded", func(t *testing.T) {
		c.advance(2 * time.Hour)
		for range portal.CodesPerHour {
			ch, err := store.IssueCode(ctx, zoe, portal.CodeVerifyEmail, "other@example.net")
			require.NoError(t, err)
			issued = append(issued, ch.Code)
		}
		_, err := store.IssueCode(ctx, zoe, portal.CodeVerifyEmail, "other@example.net")
		require.ErrorIs(t, err, portal.ErrTooManyCodes)
		c.advance(time.Hour)
		_, err = store.IssueCode(ctx, zoe, portal.CodeVerifyEmail, "other@example.net")
		require.NoError(t, err)
	})

	t.Run("codes are audited, never stored or audited in clear", func(t *testing.T) {
		checks := strings.Join(auditDetails(t, db, zoe, "code_check"), "\n")
		require.Contains(t, checks, `"result": "success"`)
		require.Contains(t, checks, `"reason": "expired"`)
		require.Contains(t, checks, `"reason": "wrong code; no tries left"`)
		var dump string
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT coalesce(string_agg(t::text, ' '), '') FROM (
			SELECT details::text AS t FROM audit_log UNION ALL SELECT encode(code_hash, 'escape') || address FROM one_time_codes) x`).Scan(&dump))
		for _, code := range issued {
			require.NotContains(t, dump, code)
		}
	})
}

func TestAuthenticatorApps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	c := &clock{now: time.Unix(1_900_000_000, 0)} // the start of a time step
	db.Clock = c.Now
	store := postgres.NewMethodStore(db, newSealer(t))
	zoe, ada := demoViewer(t, org, "zoe").PersonID, demoViewer(t, org, "ada").PersonID

	require.ErrorIs(t, store.VerifyTOTP(ctx, zoe, "123456"), portal.ErrWrongTOTP, "no app registered")
	_, _, err := postgres.NewMethodStore(db, nil).BeginTOTP(ctx, zoe, "zoe")
	require.ErrorIs(t, err, portal.ErrNoSecretStore)

	id, otpauth, err := store.BeginTOTP(ctx, zoe, "zoe@tessera.example")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(otpauth, "otpauth://totp/Tessera:zoe@tessera.example?"), otpauth)
	secret := secretOf(t, otpauth)
	require.Len(t, secret, 32, "160 bits in base32")
	again, err := store.PendingTOTP(ctx, zoe, id, "zoe@tessera.example")
	require.NoError(t, err)
	require.Equal(t, secret, secretOf(t, again))
	_, err = store.PendingTOTP(ctx, ada, id, "ada")
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err), "another person's setup")

	var sealed []byte
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT secret FROM auth_methods WHERE id = $1", id).Scan(&sealed))
	require.NotContains(t, string(sealed), secret, "the secret is sealed")
	list, err := store.ListMethods(ctx, zoe)
	require.NoError(t, err)
	require.Empty(t, list, "a pending app is no method yet")

	wrong := totpCode(t, secret, c.Now().Add(-5*time.Minute))
	_, err = store.ConfirmTOTP(ctx, zoe, id, "Phone", wrong)
	require.ErrorIs(t, err, portal.ErrWrongTOTP)
	code := totpCode(t, secret, c.Now())
	m, err := store.ConfirmTOTP(ctx, zoe, id, "Phone", code)
	require.NoError(t, err)
	require.Equal(t, "Phone", m.Label)

	t.Run("the code that confirmed it is used", func(t *testing.T) {
		require.ErrorIs(t, store.VerifyTOTP(ctx, zoe, code), portal.ErrWrongTOTP)
	})
	t.Run("one step either side, each once", func(t *testing.T) {
		next := totpCode(t, secret, c.Now().Add(portal.TOTPPeriod*time.Second))
		require.NoError(t, store.VerifyTOTP(ctx, zoe, next), "the next step, for a clock ahead")
		require.ErrorIs(t, store.VerifyTOTP(ctx, zoe, next), portal.ErrWrongTOTP, "replayed")
		c.advance(3 * portal.TOTPPeriod * time.Second)
		prev := totpCode(t, secret, c.Now().Add(-portal.TOTPPeriod*time.Second))
		require.NoError(t, store.VerifyTOTP(ctx, zoe, prev), "the step before, for a clock behind")
		require.ErrorIs(t, store.VerifyTOTP(ctx, zoe, totpCode(t, secret, c.Now().Add(-2*portal.TOTPPeriod*time.Second))),
			portal.ErrWrongTOTP, "two steps back is too old")
		require.ErrorIs(t, store.VerifyTOTP(ctx, ada, totpCode(t, secret, c.Now())), portal.ErrWrongTOTP, "zoe's app is not ada's")
	})
	t.Run("guessing is stopped, for a while", func(t *testing.T) {
		c.advance(time.Hour)
		right := totpCode(t, secret, c.Now())
		guess := "000000"
		if right == guess {
			guess = "111111"
		}
		for range portal.TOTPBudget.Burst {
			require.ErrorIs(t, store.VerifyTOTP(ctx, zoe, guess), portal.ErrWrongTOTP)
		}
		require.ErrorIs(t, store.VerifyTOTP(ctx, zoe, right), portal.ErrTOTPLocked, "even the right code waits")
		// A token bucket, not a lockout: one more try after one refill,
		// and a wrong one spends it again at once.
		c.advance(portal.TOTPBudget.Refill)
		require.ErrorIs(t, store.VerifyTOTP(ctx, zoe, guess), portal.ErrWrongTOTP)
		require.ErrorIs(t, store.VerifyTOTP(ctx, zoe, totpCode(t, secret, c.Now())), portal.ErrTOTPLocked)
		c.advance(portal.TOTPBudget.Refill)
		require.NoError(t, store.VerifyTOTP(ctx, zoe, totpCode(t, secret, c.Now())))
		require.ErrorIs(t, store.VerifyTOTP(ctx, "", guess), portal.ErrWrongTOTP, "no one, after the same work")
	})
	t.Run("audited without codes", func(t *testing.T) {
		checks := strings.Join(auditDetails(t, db, zoe, "method_check"), "\n")
		require.Contains(t, checks, `"result": "success"`)
		require.Contains(t, checks, `"result": "failure"`)
		require.Contains(t, checks, `"result": "locked"`)
		require.NotContains(t, checks, code)
		require.Len(t, auditDetails(t, db, zoe, "method_registered"), 1)
		require.Len(t, auditDetails(t, db, zoe, "method_registration_failed"), 1)
	})
	t.Run("removed by its owner only", func(t *testing.T) {
		require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(store.RemoveMethod(ctx, ada, m.ID)))
		require.NoError(t, store.RemoveMethod(ctx, zoe, m.ID))
		list, err := store.ListMethods(ctx, zoe)
		require.NoError(t, err)
		require.Empty(t, list)
		c.advance(time.Minute)
		require.ErrorIs(t, store.VerifyTOTP(ctx, zoe, totpCode(t, secret, c.Now())), portal.ErrWrongTOTP)
		require.Len(t, auditDetails(t, db, zoe, "method_removed"), 1)
	})
}

func TestSecurityAnswers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	store := postgres.NewMethodStore(db, nil)
	zoe := demoViewer(t, org, "zoe").PersonID
	q := portal.SecurityQuestions

	_, err := store.SetSecurityAnswers(ctx, zoe, map[string]string{q[0]: "Rex", q[1]: "Paris"})
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err), "three questions")
	_, err = store.SetSecurityAnswers(ctx, zoe, map[string]string{q[0]: "Rex", q[1]: "rex!", q[2]: "Golf"})
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err), "different answers")
	_, err = store.SetSecurityAnswers(ctx, zoe, map[string]string{q[0]: "Rex", q[1]: "ab", q[2]: "Golf"})
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err), "at least three letters")
	_, err = store.SetSecurityAnswers(ctx, zoe, map[string]string{q[0]: "Rex", "Who are you?": "Paris", q[2]: "Golf"})
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err), "questions from the list")

	m, err := store.SetSecurityAnswers(ctx, zoe, map[string]string{q[0]: "Rex", q[1]: "New  York", q[2]: "ＶＷ Golf"})
	require.NoError(t, err)
	require.Equal(t, portal.MethodQuestions, m.Kind)
	var stored string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT string_agg(answer_hash, ' ') FROM security_answers`).Scan(&stored))
	require.Contains(t, stored, "$argon2id$")
	for _, clear := range []string{"Rex", "rex", "york", "golf"} {
		require.NotContains(t, stored, clear)
	}

	require.NoError(t, store.CheckAnswers(ctx, zoe, map[string]string{q[0]: " REX ", q[1]: "new york.", q[2]: "vw golf"}),
		"case, spaces, punctuation and width do not matter")
	require.ErrorIs(t, store.CheckAnswers(ctx, zoe, map[string]string{q[0]: "Rex", q[1]: "Boston", q[2]: "vw golf"}), portal.ErrWrongAnswers)
	require.ErrorIs(t, store.CheckAnswers(ctx, zoe, map[string]string{q[0]: "Rex"}), portal.ErrWrongAnswers, "every question")
	require.ErrorIs(t, store.CheckAnswers(ctx, demoViewer(t, org, "mateo").PersonID, map[string]string{q[0]: "Rex"}), portal.ErrWrongAnswers)
	qs, err := store.RegisteredQuestions(ctx, zoe)
	require.NoError(t, err)
	require.Equal(t, q[:3], qs, "in the list's order")
	// Answers have a budget of their own: the authenticator's is untouched.
	for range portal.QuestionsBudget.Burst - 2 {
		require.ErrorIs(t, store.CheckAnswers(ctx, zoe, map[string]string{}), portal.ErrWrongAnswers)
	}
	require.ErrorIs(t, store.CheckAnswers(ctx, zoe, map[string]string{q[0]: "rex", q[1]: "new york", q[2]: "vw golf"}), portal.ErrAnswersLocked,
		"guessing is stopped for a while")
	require.ErrorIs(t, store.VerifyTOTP(ctx, zoe, "000000"), portal.ErrWrongTOTP, "the authenticator's budget is its own")
	require.NotContains(t, strings.Join(auditDetails(t, db, zoe, "method_check"), " "), "rex")
}
