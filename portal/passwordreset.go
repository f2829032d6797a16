package portal

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"net/netip"
	"strings"
	"time"
)

// PasswordSettings are Administration → Passwords: the policy, the gates
// of the self-service reset flow, its lockout and the expiry reminders.
type PasswordSettings struct {
	Policy PasswordPolicy
	// GatesRequired is how many methods a person proves in the reset
	// flow: 1 or 2. Staff (administrators, helpdesk) always prove 2.
	GatesRequired int
	// Methods allowed as gates, besides the helpdesk's recovery code.
	EmailCodes        bool
	AuthenticatorApps bool
	// SecurityQuestions may be registered (never by staff).
	SecurityQuestions bool
	// UnlockOnly lets a person unlock without changing the password.
	UnlockOnly bool
	// HelpdeskActsOnStaff lets the helpdesk unlock and reset
	// administrators and other helpdesk staff; otherwise only
	// administrators may.
	HelpdeskActsOnStaff bool
	// ReconfirmDays is how often people are asked to confirm their
	// methods; 0 never.
	ReconfirmDays int
	// The reset flow refuses gates for LockoutMinutes after
	// LockoutAttempts failed ones, per account and per client address,
	// without locking the directory account.
	LockoutAttempts int
	LockoutMinutes  int
	// Starting a reset mails a code to the person's addresses at most
	// ResetMailsPerPerson times an hour for each person, and at most
	// ResetMailsPerAddress times an hour from each client address, so
	// that nobody can flood a person's inbox by starting resets for them.
	// Past either, the flow starts and reads the same, without the mail.
	ResetMailsPerPerson  int
	ResetMailsPerAddress int
	// ExpiryReminderDays: people whose directory password expires within
	// this many days are emailed; 0 sends none.
	ExpiryReminderDays int
	UpdatedAt          time.Time
}

// StaffGates is what staff always prove in the reset flow.
const StaffGates = 2

// DefaultPasswordSettings are the settings before an administrator
// changes them.
func DefaultPasswordSettings() PasswordSettings {
	return PasswordSettings{Policy: DefaultPasswordPolicy(), GatesRequired: 1, EmailCodes: true, AuthenticatorApps: true,
		UnlockOnly: true, ReconfirmDays: 180, LockoutAttempts: 5, LockoutMinutes: 15, ExpiryReminderDays: 14,
		ResetMailsPerPerson: 5, ResetMailsPerAddress: 30}
}

// Validate refuses settings out of bounds.
func (s PasswordSettings) Validate() error {
	if err := s.Policy.Validate(); err != nil {
		return err
	}
	switch {
	case s.GatesRequired != 1 && s.GatesRequired != 2:
		return Errorf(EINVALID, "The number of methods required must be 1 or 2.")
	case !s.EmailCodes && !s.AuthenticatorApps:
		return Errorf(EINVALID, "Allow at least one method: emailed codes or authenticator apps.")
	case s.ReconfirmDays < 0 || s.ReconfirmDays > 730:
		return Errorf(EINVALID, "Re-confirmation must be between 0 (never) and 730 days.")
	case s.LockoutAttempts < 3 || s.LockoutAttempts > 100:
		return Errorf(EINVALID, "The reset lockout must allow between 3 and 100 failed attempts.")
	case s.LockoutMinutes < 1 || s.LockoutMinutes > 1440:
		return Errorf(EINVALID, "The reset lockout must last between 1 and 1440 minutes.")
	case s.ResetMailsPerPerson < 1 || s.ResetMailsPerPerson > 100:
		return Errorf(EINVALID, "Reset codes mailed to one person must be between 1 and 100 an hour.")
	case s.ResetMailsPerAddress < 1 || s.ResetMailsPerAddress > 10000:
		return Errorf(EINVALID, "Reset codes mailed from one client address must be between 1 and 10000 an hour.")
	case s.ExpiryReminderDays < 0 || s.ExpiryReminderDays > 90:
		return Errorf(EINVALID, "Expiry reminders must be sent between 0 (never) and 90 days ahead.")
	}
	return nil
}

// GatesFor is how many gates a person with roles proves.
func (s PasswordSettings) GatesFor(roles []Role) int {
	if isStaffRole(roles) {
		return StaffGates
	}
	return s.GatesRequired
}

// isStaffRole reports whether roles hold administrator or helpdesk.
func isStaffRole(roles []Role) bool {
	for _, r := range roles {
		if r == RoleAdmin || r == RoleHelpdesk {
			return true
		}
	}
	return false
}

// ResetBudget is the reset flow's lockout as a budget: LockoutAttempts
// failed gates, then one more every LockoutMinutes, per account and per
// client address.
func (s PasswordSettings) ResetBudget() Budget {
	return Budget{Burst: s.LockoutAttempts, Refill: time.Duration(s.LockoutMinutes) * time.Minute}
}

// Gate is a method proven in the reset flow.
type Gate string

// The gates.
const (
	GateEmail    Gate = "email"    // a code emailed to the person's addresses
	GateTOTP     Gate = "totp"     // a code from their authenticator app
	GateRecovery Gate = "recovery" // a one-time recovery code from the helpdesk
	// GateQuestions: the person's security questions, where the settings
	// allow them, never for staff, and only as a second gate: NIST SP
	// 800-63B counts them as no authenticator, so they are never the
	// only way back in.
	GateQuestions Gate = "questions"
)

// The reset flow mails a code as the methods do (NewCode: CodeDigits
// digits, valid CodeLifetime, spent after CodeTries wrong ones). A flow
// lives ResetFlowLifetime. A recovery code is longer (60 bits) and lives
// an hour, long enough to be read out on the phone and typed.
const (
	ResetFlowLifetime    = 30 * time.Minute
	RecoveryCodeLifetime = time.Hour
)

// ResetFlow is a self-service reset in progress, as the store keeps it.
type ResetFlow struct {
	// TokenHash identifies the flow; the browser holds the token.
	TokenHash []byte
	// PersonID is "" when the account named no one: the flow goes on all
	// the same, and no gate ever opens.
	PersonID string
	Account  string
	Gates    []Gate
	// Required is how many gates the person must prove (0 for no one).
	Required int
	Roles    []Role
	Name     string
	// Emails are where the code went: the profile's address and the
	// verified alternate ones.
	Emails []string
	// Settings are Administration → Passwords as the flow read them.
	Settings PasswordSettings
	// HasQuestions: the person registered security questions.
	HasQuestions bool
	// LocalPassword: the person has a local password, which a reset sets
	// too.
	LocalPassword bool
	// Names are what the new password may not be built on (as
	// PasswordStore.PersonNames returns them), read with the flow so that
	// checking a password asks the store nothing more.
	Names []string
}

// Offers reports whether the flow may open gate g now: the settings allow
// it, it was not proven already, and security questions only after
// another gate, for people who are not staff and registered them.
func (f *ResetFlow) Offers(g Gate) bool {
	if f.Has(g) {
		return false
	}
	switch g {
	case GateEmail:
		return f.Settings.EmailCodes
	case GateTOTP:
		return f.Settings.AuthenticatorApps
	case GateRecovery:
		return true
	case GateQuestions:
		return f.Settings.SecurityQuestions && f.HasQuestions && !isStaffRole(f.Roles) && len(f.Gates) > 0 && !f.Passed()
	}
	return false
}

// Passed reports whether the flow has proven every gate it needs.
func (f *ResetFlow) Passed() bool { return f.PersonID != "" && len(f.Gates) >= f.Required }

// Has reports whether gate was proven.
func (f *ResetFlow) Has(g Gate) bool {
	for _, x := range f.Gates {
		if x == g {
			return true
		}
	}
	return false
}

// ErrResetExpired answers a flow that is over, unknown or expired.
var ErrResetExpired = Errorf(EUNAUTHORIZED, "This password reset has expired. Start again.")

// ErrResetLocked answers gate attempts once the flow's budget is spent.
var ErrResetLocked = Errorf(ETOOMANYREQUEST, "Too many wrong codes. Password reset is paused for this account and from this address; try again later, or call the helpdesk. Your account itself is not locked by this.")

// ErrWrongResetCode answers every code that opens no gate, whatever the
// reason (wrong, expired, used, another account's, no such account).
var ErrWrongResetCode = Errorf(EUNAUTHORIZED, "That code is not right, or it has expired or been used. Check it and try again.")

// ResetStart is a new reset flow: the token for the browser, and the code
// to email to Emails (none when the account named no one).
type ResetStart struct {
	Token string
	Code  string
	Flow  ResetFlow
	// Mail is false when the budgets of reset mails (ResetMailsPerPerson,
	// ResetMailsPerAddress) of the person or of the client address are spent: the code is not
	// mailed, and the requester is told nothing different.
	Mail bool
}

// PasswordStore keeps the password settings, the reset flows and the
// recovery codes, and audits what happens to them. No method takes a
// password.
type PasswordStore interface {
	PasswordSettings(ctx context.Context) (PasswordSettings, error)
	SavePasswordSettings(ctx context.Context, v Viewer, s PasswordSettings) error

	// StartReset begins a flow for account (an account name, UPN or
	// email) with a fresh code, and spends a mail from the budgets of
	// reset mails when they allow one (ResetStart.Mail); the same work
	// whether or not it names someone.
	StartReset(ctx context.Context, account string, client netip.Addr) (*ResetStart, error)
	// BeginResetGate returns the live flow of token, or ErrResetExpired,
	// or ErrResetLocked when its budgets (the person's or the account
	// name's, and the client address's) are spent.
	BeginResetGate(ctx context.Context, token string, client netip.Addr) (*ResetFlow, error)
	// TryResetCode is BeginResetGate and then, when the budgets allow a
	// try, code tried as the emailed code and as a recovery code, in one
	// step: it records the gate opened and returns the flow with it, or
	// the flow and ErrWrongResetCode when none (nil and BeginResetGate's
	// errors when no try was allowed).
	TryResetCode(ctx context.Context, token string, client netip.Addr, code string) (*ResetFlow, Gate, error)
	// PassResetGate records a gate proven elsewhere (an authenticator).
	PassResetGate(ctx context.Context, f *ResetFlow, g Gate) error
	// FailResetGate spends one try of each budget of the flow and audits it.
	FailResetGate(ctx context.Context, f *ResetFlow, client netip.Addr) error
	// FindReset returns the live flow of token, or ErrResetExpired.
	FindReset(ctx context.Context, token string) (*ResetFlow, error)
	// FinishReset ends the flow after the systems were acted on (what is
	// "reset" or "unlock"): it ends all the person's sessions for a reset,
	// audits the outcome per system and queues the notice to their
	// addresses.
	FinishReset(ctx context.Context, f *ResetFlow, what string, results []SystemResult, client netip.Addr) error

	// RecordPasswordChange audits a signed-in change and queues its notice.
	RecordPasswordChange(ctx context.Context, personID string, results []SystemResult, client netip.Addr) error
	// IssueRecoveryCode makes a one-time recovery code for personID,
	// valid RecoveryCodeLifetime, returned this once; audited with reason.
	IssueRecoveryCode(ctx context.Context, v Viewer, personID, reason string) (code string, expires time.Time, err error)
	// AuditAccountAction records a helpdesk action on a person's accounts.
	AuditAccountAction(ctx context.Context, v Viewer, personID, action, reason string, results []SystemResult) error
	// HasLocalPassword reports whether the person has a local password.
	HasLocalPassword(ctx context.Context, personID string) (bool, error)
	// SetLocalPassword replaces the person's local password.
	SetLocalPassword(ctx context.Context, personID, password string) error
	// SetLocalPasswordHash replaces the person's local password by its
	// hash, made by HashPassword.
	SetLocalPasswordHash(ctx context.Context, personID, hash string) error
	// EndSessions ends every session of the person.
	EndSessions(ctx context.Context, personID string) error
	// PersonNames returns the names a person's password may not be
	// built on: given name, surname, display name, account name, the
	// email's local part.
	PersonNames(ctx context.Context, personID string) ([]string, error)
	// PersonRoles returns the person's portal roles.
	PersonRoles(ctx context.Context, personID string) ([]Role, error)
	// PasswordEvents returns the latest PasswordEvents of the person,
	// newest first.
	PasswordEvents(ctx context.Context, personID string) ([]PasswordEvent, error)
}

// NewRecoveryCode returns a random recovery code of 12 characters from an
// alphabet without look-alikes (60 bits), grouped by 4 for reading aloud.
func NewRecoveryCode() string {
	b := make([]byte, 8)
	rand.Read(b)
	s := base32.NewEncoding("ABCDEFGHJKLMNPQRSTUVWXYZ23456789").WithPadding(base32.NoPadding).EncodeToString(b)[:12]
	return s[:4] + "-" + s[4:8] + "-" + s[8:]
}

// CleanCode removes the spaces and dashes people type inside codes
// (NormalizeCode), and upper-cases recovery codes.
func CleanCode(code string) string { return strings.ToUpper(NormalizeCode(code)) }

// HashRecoveryCode is how a recovery code is kept: 60 random bits need no
// salt to be out of reach of guessing.
func HashRecoveryCode(code string) []byte {
	h := sha256.Sum256([]byte("tessera recovery code\x00" + CleanCode(code)))
	return h[:]
}

// PasswordNotices finds where a person's password notices go.
type PasswordNotices interface {
	// NoticeRecipients returns the person's name, language and time zone,
	// and every address they registered (the profile's and the verified
	// alternate ones).
	NoticeRecipients(ctx context.Context, personID string) (NoticeRecipient, error)
}

// NoticeRecipient is who a password notice goes to, and how it is written
// for them.
type NoticeRecipient struct {
	Name string
	// Language and TimeZone are the person's choices ("" for none:
	// English, UTC).
	Language, TimeZone string
	Emails             []string
}

// ExpiringPassword is a person's directory password that expires soon.
type ExpiringPassword struct {
	PersonID, Name, Email string
	// Language and TimeZone are the person's choices, for the reminder.
	Language, TimeZone string
	SystemID, System   string
	Expires            time.Time
}

// ExpiringAccounts finds the passwords that expire soon, in every
// connected system.
type ExpiringAccounts interface {
	ExpiringPasswords(ctx context.Context, within time.Duration) ([]ExpiringPassword, error)
}

// PasswordReminders records the expiry reminders sent.
type PasswordReminders interface {
	PasswordSettings(ctx context.Context) (PasswordSettings, error)
	// Reminded reports whether e was reminded of already.
	Reminded(ctx context.Context, e ExpiringPassword) (bool, error)
	// MarkReminded records that a reminder of e was sent.
	MarkReminded(ctx context.Context, e ExpiringPassword) error
}
