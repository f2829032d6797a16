package portal

import (
	"context"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sign-in budgets slow password guessing without letting a stranger lock a
// person out. Each person (whichever of their names was typed), each name
// that names no one, and each client address has a budget of SignInBurst
// failed password sign-ins that refills one every SignInRefill. A browser
// that has signed in as a person before (a signed device cookie) draws only
// on a budget of its own for that person, as Entra's smart lockout keeps
// familiar and unfamiliar locations apart.
const (
	SignInBurst  = 10
	SignInRefill = 6 * time.Second // 10 a minute once the burst is spent
)

// Budget is a token bucket of failed attempts at guessing one secret:
// Burst failures at once, then one more every Refill. Unlike a lockout, a
// spent budget never locks anyone out for long: it lets attempts through
// at the refill rate, which is what makes guessing hopeless.
type Budget struct {
	Burst  int
	Refill time.Duration
}

// The budgets of each kind of secret, each its own, so that guessing one
// kind spends nothing of another.
var (
	// SignInBudget: password sign-ins (see SignInBurst).
	SignInBudget = Budget{Burst: SignInBurst, Refill: SignInRefill}
	// TOTPBudget: wrong authenticator codes of one person, 10 then one
	// every 90 s (40 an hour): at 3 codes in 10^6 a try, years of
	// guessing, while a person whose codes someone else spent waits a
	// minute and a half for their next try.
	TOTPBudget = Budget{Burst: 10, Refill: 90 * time.Second}
	// QuestionsBudget: wrong sets of security answers of one person,
	// Entra's 5 an hour.
	QuestionsBudget = Budget{Burst: 5, Refill: 12 * time.Minute}
	// PasskeyBudget: passkey assertions that fail, per client address
	// (sign-in) or per person (second factor). A passkey cannot be
	// guessed; this bounds the work a flood of forged answers costs.
	PasskeyBudget = Budget{Burst: 20, Refill: 3 * time.Second}
)

// SignInAttempt is one password sign-in as the budgets see it.
type SignInAttempt struct {
	Method  string     // "local" or "ldap"
	Account string     // as typed: an account name, email, UPN or DOMAIN\name
	Address netip.Addr // the client's address
	// Device and DevicePerson come from a valid device cookie: this browser
	// signed in as DevicePerson before. Both empty for any other browser.
	Device       string
	DevicePerson string
}

// ErrTooManySignIns answers an attempt whose budget is spent, whether or
// not the account exists.
var ErrTooManySignIns = Errorf(ETOOMANYREQUEST, "Too many failed sign-in attempts. Wait a minute and try again.")

// Validate refuses an account that is not text a person could have typed
// (invalid UTF-8, control characters such as NUL, over 256 bytes).
func (a SignInAttempt) Validate() error {
	if len(a.Account) > 256 || !utf8.ValidString(a.Account) ||
		strings.ContainsFunc(a.Account, unicode.IsControl) {
		return Errorf(EINVALID, "The account name is not valid: it is too long or holds characters that cannot be typed.")
	}
	return nil
}

// SignInNames returns what the typed account is looked up by: the whole of
// it, and the account name inside it (name in DOMAIN\name and in
// name@suffix, which is how a UPN is made), both in lower case.
func (a SignInAttempt) SignInNames() (whole, name string) {
	whole = strings.ToLower(strings.TrimSpace(a.Account))
	name = whole
	if i := strings.LastIndexByte(name, '\\'); i >= 0 {
		name = name[i+1:]
	} else if i := strings.LastIndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	return whole, name
}

// SignInTicket is an attempt that BeginSignIn let through: the budgets a
// wrong password spends.
type SignInTicket struct {
	Attempt SignInAttempt
	// PersonID is the person the account names; "" when it names no one.
	PersonID string
	// KnownDevice: the browser signed in as PersonID before, and Budgets is
	// its own budget alone.
	KnownDevice bool
	Budgets     []string
}

// SignInGuard keeps the sign-in budgets, shared by every web process. Only
// failures spend: any number of people may sign in at once from one
// address, however slow the directory is to answer.
type SignInGuard interface {
	// BeginSignIn looks up whom the account names and checks every budget
	// the attempt draws on, in one round trip. When any is spent it
	// returns ErrTooManySignIns; the first refusal after a budget runs out
	// is audited. The work is the same for an account that exists and one
	// that does not.
	BeginSignIn(ctx context.Context, a SignInAttempt) (*SignInTicket, error)
	// FailSignIn records a wrong password: one try from each budget, and
	// an audit entry (with the account as typed, never the password).
	FailSignIn(ctx context.Context, t *SignInTicket) error
}
