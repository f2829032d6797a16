package portal

import (
	"context"
	"time"
)

// AccountState is a person's account in one connected system, read live
// from it (the helpdesk panel, the reset flow).
type AccountState struct {
	System   string // the connected system's name
	SystemID string
	DN       string
	Enabled  bool
	// Locked is AD's computed lockout (bit 0x10 of
	// msDS-User-Account-Control-Computed), not lockoutTime, which stays
	// set after the lockout ends.
	Locked           bool
	BadPasswordCount int
	// PasswordLastSet is zero when the password must be changed at the
	// next sign-in (pwdLastSet 0).
	PasswordLastSet time.Time
	MustChange      bool
	// PasswordExpires is zero when the password never expires.
	PasswordExpires time.Time
	// Err says why the system could not be read (a domain error, shown
	// in the reader's language); the rest is then unknown.
	Err error
}

// ResetOptions are what a reset does besides setting the password.
type ResetOptions struct {
	// Unlock clears a lockout in the same operation (AD: a reset alone
	// leaves lockoutTime set).
	Unlock bool
	// MustChange makes the person choose a new password at the next
	// sign-in (AD: pwdLastSet 0), for a helpdesk's temporary password.
	MustChange bool
}

// SystemResult is what one connected system did with an account action.
type SystemResult struct {
	System string
	// Err is nil on success; otherwise a portal error whose message names
	// the system and, for a refused password, the rule in plain words.
	Err error
	// Unchanged: the system had nothing to do (an unlock of an account
	// that was not locked there).
	Unchanged bool
}

// NothingChanged reports whether every system succeeded without changing
// anything (and there was at least one).
func NothingChanged(results []SystemResult) bool {
	for _, r := range results {
		if r.Err != nil || !r.Unchanged {
			return false
		}
	}
	return len(results) > 0
}

// AccountSystems acts on a person's accounts in every connected system
// where they have one (joined to them), synchronously: a password goes
// from the caller straight to the systems and is kept nowhere. Each method
// returns one result per system; none when the person has no account.
type AccountSystems interface {
	// AccountStates reads each account's state live.
	AccountStates(ctx context.Context, personID string) ([]AccountState, error)
	// PasswordRules reads each system's password rules for the person's
	// account, to check a password before it is sent.
	PasswordRules(ctx context.Context, personID string) ([]DirectoryRules, error)
	// ResetPassword sets a new password without the old one (an
	// administrator's reset: AD skips history and minimum age).
	ResetPassword(ctx context.Context, personID, password string, o ResetOptions) ([]SystemResult, error)
	// ChangePassword changes the password as the person would, with the
	// current one, so that history and minimum age apply.
	ChangePassword(ctx context.Context, personID, current, password string) ([]SystemResult, error)
	// Unlock clears lockouts, keeping the password.
	Unlock(ctx context.Context, personID string) ([]SystemResult, error)
	// SetEnabled enables or disables the accounts.
	SetEnabled(ctx context.Context, personID string, enabled bool) ([]SystemResult, error)
}

// FailedSystems returns the results that failed.
func FailedSystems(results []SystemResult) []SystemResult {
	var out []SystemResult
	for _, r := range results {
		if r.Err != nil {
			out = append(out, r)
		}
	}
	return out
}

// PasswordEvent is one thing done to a person's password or accounts, as
// the audit log keeps it (a self-service reset or unlock, a change, a
// helpdesk action): the helpdesk panel shows the latest, with what each
// system did, so that a reset one system refused is seen there.
type PasswordEvent struct {
	At time.Time
	// Action is the audit log's action (PasswordEventActions).
	Action string
	// Actor is who acted, by name; "" when the person acted themselves,
	// without signing in.
	Actor  string
	Reason string // the helpdesk's reason, when it acted
	Client string // the client's address
	// Systems is what each connected system did; none for an action on no
	// system (a recovery code issued).
	Systems []SystemOutcome
}

// SystemOutcome is what one system did, as the audit log keeps it.
type SystemOutcome struct {
	System    string
	OK        bool
	Unchanged bool
	// Error says why it failed, in the reader's language when it was kept
	// as a text (older entries: English).
	Error Text
}

// PasswordEventActions are the audit actions the helpdesk panel lists.
// migrations/0044_password_events.sql indexes the same list: change both
// together.
var PasswordEventActions = []string{"password_reset_self_service", "account_unlocked_self_service", "password_changed",
	"helpdesk_unlock", "helpdesk_enable", "helpdesk_disable", "helpdesk_password_reset", "recovery_code_issued"}
