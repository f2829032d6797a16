package portal

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"math/big"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/text/unicode/norm"
)

// Sign-in and recovery methods are what a person registers under
// Settings → Sign-in and recovery and later proves they hold: an alternate
// email (a one-time code sent to it), an authenticator app (TOTP), a
// passkey (WebAuthn) and, where an administrator turns them on, security
// questions. The password reset flow uses them as gates, and staff use an
// authenticator app or a passkey as their second factor at sign-in.
//
// How another part of Tessera uses them (the reset flow, for example):
//
//	methods, _ := store.ListMethods(ctx, personID)       // what to offer
//	emails, _ := store.VerifiedEmails(ctx, personID)     // where a code may go
//	ch, _ := store.IssueCode(ctx, personID, CodeReset, emails[0])
//	mailer.SendCode(ctx, CodeMail{ToEmail: emails[0], Code: ch.Code, ...})
//	// ... the person types the code they received:
//	err := store.CheckCode(ctx, personID, ch.ID, typed) // single use, 5 tries
//	err = store.VerifyTOTP(ctx, personID, typed)        // ±1 step, no replay
//
// Every registration, check, success and failure is audited by the store,
// never with a code, a secret or an answer.

// MethodKind names a kind of sign-in or recovery method.
type MethodKind string

// Method kinds.
const (
	MethodEmail     MethodKind = "email"     // an alternate email address, verified by a code
	MethodTOTP      MethodKind = "totp"      // an authenticator app (RFC 6238)
	MethodPasskey   MethodKind = "passkey"   // a WebAuthn credential
	MethodQuestions MethodKind = "questions" // security questions, where allowed
)

// Label names the kind as people read it.
func (k MethodKind) Label() string {
	switch k {
	case MethodEmail:
		return Mark("Alternate email")
	case MethodTOTP:
		return Mark("Authenticator app")
	case MethodPasskey:
		return Mark("Passkey")
	case MethodQuestions:
		return Mark("Security questions")
	}
	return string(k)
}

// Method is one registered method of a person, without its secret.
type Method struct {
	ID        string
	Kind      MethodKind
	Label     string // the email address, or the name given to the app or passkey
	CreatedAt time.Time
	// LastUsedAt is when it last passed a check; zero when never.
	LastUsedAt time.Time
}

// One-time codes sent by email: NIST SP 800-63B's 10 minutes, OWASP's 6–12
// digits, and a handful of tries before the code is spent.
const (
	CodeDigits   = 8
	CodeLifetime = 10 * time.Minute
	CodeTries    = 5
	// CodesPerHour bounds the codes issued to one person for one purpose,
	// so that nobody floods a mailbox or tries code after code.
	CodesPerHour = 5
)

// Code purposes: what a one-time code, once checked, lets happen.
const (
	CodeVerifyEmail = "verify_email" // registering an alternate email
	CodeReset       = "reset"        // a gate of the password reset flow
)

// CodeChallenge is a one-time code as IssueCode returns it, the only time
// the code is seen in clear: the store keeps a hash.
type CodeChallenge struct {
	ID        string
	Code      string
	Address   string
	ExpiresAt time.Time
}

// Errors of the methods' checks. Wrong, expired, used and unknown codes all
// read the same, so that the answer tells nothing but "no".
var (
	ErrWrongCode     = Errorf(EUNAUTHORIZED, "That code is not right, or it has expired or been used. Check it, or ask for a new one.")
	ErrCodeSpent     = Errorf(ETOOMANYREQUEST, "That code was tried too many times. Ask for a new one.")
	ErrTooManyCodes  = Errorf(ETOOMANYREQUEST, "Too many codes were sent in the last hour. Wait a while and try again.")
	ErrWrongTOTP     = Errorf(EUNAUTHORIZED, "That code from your authenticator app is not right, or it was used already. Wait for the next code and try again.")
	ErrTOTPLocked    = Errorf(ETOOMANYREQUEST, "Too many wrong codes from your authenticator app. Wait two minutes and try again.")
	ErrAnswersLocked = Errorf(ETOOMANYREQUEST, "Too many wrong answers to your security questions. Wait a while and try again, or use another way.")
	ErrPasskeyPaused = Errorf(ETOOMANYREQUEST, "Too many passkey answers failed. Wait a minute and try again.")
	ErrNoSecretStore = Errorf(EINVALID, "Authenticator apps cannot be registered: Tessera has no key to encrypt their secrets with. Ask your administrator to set TESSERA_SECRET_KEY.")
)

// Methods is what checks a person's methods: the reset flow's gates and
// the staff second factor. Implementations audit every check.
type Methods interface {
	// ListMethods returns the person's registered methods, oldest first.
	ListMethods(ctx context.Context, personID string) ([]Method, error)
	// VerifiedEmails returns the person's verified alternate email
	// addresses, oldest first.
	VerifiedEmails(ctx context.Context, personID string) ([]string, error)
	// HasPasskey reports whether the person has registered a passkey.
	HasPasskey(ctx context.Context, personID string) (bool, error)
	// VerifyTOTP checks code against the person's authenticator apps at
	// the current time step and one either side, and refuses a step that
	// one of them already accepted (RFC 6238 §5.2): ErrWrongTOTP when it
	// does not match, when it is replayed, and when the person has no app
	// or personID names no one (after the same work). Each wrong code
	// spends the person's TOTPBudget; ErrTOTPLocked while it is spent.
	VerifyTOTP(ctx context.Context, personID, code string) error
	// IssueCode makes a one-time code of CodeDigits digits for purpose, to
	// be sent to address by the caller (see CodeMailer), valid for
	// CodeLifetime; it ends any earlier live code for the same person and
	// purpose. ErrTooManyCodes past CodesPerHour.
	IssueCode(ctx context.Context, personID, purpose, address string) (CodeChallenge, error)
	// CheckCode spends code against the challenge. ErrWrongCode for a
	// wrong, expired, used or unknown code or another person's challenge;
	// ErrCodeSpent once CodeTries wrong codes were tried. A right code
	// works once. It returns the address the code was sent to.
	CheckCode(ctx context.Context, personID, challengeID, purpose, code string) (address string, err error)
	// CheckAnswers checks answers (by question) against every question the
	// person registered: ErrWrongAnswers unless all match; each wrong set
	// spends the person's QuestionsBudget, and ErrAnswersLocked while it
	// is spent.
	CheckAnswers(ctx context.Context, personID string, answers map[string]string) error
	// RegisteredQuestions returns the questions the person answered, in
	// the order of SecurityQuestions.
	RegisteredQuestions(ctx context.Context, personID string) ([]string, error)
}

// MethodRegistry registers and removes a person's own methods (the
// settings page). Every call acts on the person's own methods only.
type MethodRegistry interface {
	Methods
	// AddVerifiedEmail registers address after CheckCode accepted the code
	// of CodeVerifyEmail that was sent to it.
	AddVerifiedEmail(ctx context.Context, personID, challengeID, code string) (Method, error)
	// BeginTOTP makes a new authenticator secret for the person, kept
	// sealed and inactive until ConfirmTOTP; it returns the pending
	// method's ID and the otpauth:// URL the app scans.
	BeginTOTP(ctx context.Context, personID, accountName string) (id, url string, err error)
	// PendingTOTP returns the otpauth:// URL of a pending registration.
	PendingTOTP(ctx context.Context, personID, id, accountName string) (url string, err error)
	// ConfirmTOTP activates a pending authenticator once the person typed
	// a code it shows, under name.
	ConfirmTOTP(ctx context.Context, personID, id, name, code string) (Method, error)
	// SetSecurityAnswers registers the person's questions and answers
	// (see ValidateAnswers), replacing any earlier ones; the caller keeps
	// staff and people where questions are not allowed out.
	SetSecurityAnswers(ctx context.Context, personID string, answers map[string]string) (Method, error)
	// RemoveMethod removes one of the person's methods.
	RemoveMethod(ctx context.Context, personID, methodID string) error
	// ConfirmMethods records that the person checked their methods are
	// still right (the re-confirmation the policy asks for).
	ConfirmMethods(ctx context.Context, personID string) error
	// MethodsConfirmedAt says when the person last registered or
	// confirmed their methods; zero when never.
	MethodsConfirmedAt(ctx context.Context, personID string) (time.Time, error)
	PasskeyStore
}

// Passkey is a registered WebAuthn credential.
type Passkey struct {
	MethodID     string
	CredentialID []byte
	// Credential is the WebAuthn library's record of it (public key, sign
	// count, flags) as JSON; the portal does not look inside.
	Credential []byte
}

// Passkey checks, as audited: what the assertion was for.
const (
	PasskeySignIn       = "sign_in"
	PasskeySecondFactor = "second_factor"
)

// PasskeyStore keeps passkeys and the WebAuthn ceremonies in flight
// between the options sent to the browser and its answer.
type PasskeyStore interface {
	// PasskeyHandle returns the person's WebAuthn user handle (random,
	// never their ID), making it on first use.
	PasskeyHandle(ctx context.Context, personID string) ([]byte, error)
	// PersonByHandle returns the enabled person a user handle belongs to,
	// or EUNAUTHORIZED.
	PersonByHandle(ctx context.Context, handle []byte) (string, error)
	// Passkeys returns the person's passkeys.
	Passkeys(ctx context.Context, personID string) ([]Passkey, error)
	// AddPasskey registers a credential under name.
	AddPasskey(ctx context.Context, personID, name string, credentialID, credential []byte) (Method, error)
	// UsePasskey records a passing assertion for purpose: the updated
	// record (its sign count) and an audit entry.
	UsePasskey(ctx context.Context, personID string, credentialID, credential []byte, purpose string) error
	// BeginPasskey returns ErrPasskeyPaused while the budget of failed
	// passkeys (PasskeyBudget) that an assertion for purpose draws on is
	// spent: the client address's for a sign-in, the person's otherwise.
	BeginPasskey(ctx context.Context, personID, purpose string, client netip.Addr) error
	// FailPasskey audits an assertion or registration that did not pass
	// and spends a try of the budget BeginPasskey checks; personID is ""
	// when no person could be told.
	FailPasskey(ctx context.Context, personID, purpose, reason string, client netip.Addr) error
	// SaveCeremony keeps a ceremony's state under token for a few
	// minutes; personID is "" for a sign-in, where no one is known yet.
	SaveCeremony(ctx context.Context, token, personID, kind string, data []byte) error
	// TakeCeremony returns and deletes the ceremony of kind under token,
	// or EUNAUTHORIZED when it is unknown, expired or of another kind.
	TakeCeremony(ctx context.Context, token, kind string) (personID string, data []byte, err error)
}

// CodeMail is a one-time code on its way to an address.
type CodeMail struct {
	ToName, ToEmail string
	Code            string
	Purpose         string // CodeVerifyEmail or CodeReset
	ExpiresAt       time.Time
	// Language is the code of the language to write in: the reader's on the
	// page that asked for the code.
	Language string
}

// CodeMailer sends one-time codes by email, synchronously, so that the
// person is told at once when the mail relay refuses.
type CodeMailer interface {
	SendCode(ctx context.Context, m CodeMail) error
}

// NewCode returns a random code of CodeDigits decimal digits.
func NewCode() string {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(CodeDigits), nil)
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		panic("portal: random code: " + err.Error())
	}
	return fmt.Sprintf("%0*d", CodeDigits, n)
}

// NormalizeCode removes the spaces and dashes people type inside codes.
func NormalizeCode(code string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\u00a0' {
			return -1
		}
		return r
	}, code)
}

// ValidateEmail checks an alternate email address as a person typed it
// and returns it in the plain form it is stored and sent to.
func ValidateEmail(address string) (string, error) {
	address = strings.TrimSpace(address)
	a, err := mail.ParseAddress(address)
	if err != nil || a.Address != address || len(address) > 254 || !strings.Contains(address[strings.LastIndexByte(address, '@')+1:], ".") {
		return "", Errorf(EINVALID, "%s is not an email address. Type it as name@example.com.", Isolate(address))
	}
	return address, nil
}

// TOTP parameters: RFC 6238's defaults, which every authenticator app
// understands (Google Authenticator long ignored any other), a 160-bit key.
const (
	TOTPPeriod  = 30
	TOTPDigits  = otp.DigitsSix
	TOTPKeySize = 20
	// TOTPSkew is how many steps either side of now a code may be from.
	// Wrong codes spend TOTPBudget.
	TOTPSkew = 1
	// TOTPIssuer names Tessera in the app's list.
	TOTPIssuer = "Tessera"
)

// NewTOTPSecret returns a fresh random TOTP secret in base32, without
// padding as the otpauth format wants it.
func NewTOTPSecret() string {
	key := make([]byte, TOTPKeySize)
	rand.Read(key)
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(key)
}

// TOTPURL returns the otpauth:// URL that an authenticator app scans for
// secret, labelled "Tessera:accountName".
func TOTPURL(secret, accountName string) string {
	q := url.Values{"secret": {secret}, "issuer": {TOTPIssuer}, "algorithm": {"SHA1"},
		"digits": {strconv.Itoa(int(TOTPDigits))}, "period": {strconv.Itoa(TOTPPeriod)}}
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + TOTPIssuer + ":" + totpAccount(accountName), RawQuery: q.Encode()}
	return u.String()
}

// totpAccount keeps a colon out of the label's account part, which the
// otpauth format forbids.
func totpAccount(name string) string {
	name = strings.ReplaceAll(name, ":", " ")
	if name == "" {
		name = "account"
	}
	return name
}

// TOTPStep returns the RFC 6238 time step of t.
func TOTPStep(t time.Time) int64 { return t.Unix() / TOTPPeriod }

// MatchTOTP reports the time step within TOTPSkew of now at which code is
// what secret shows, and only a step after lastStep, so that a code used
// once is refused again (RFC 6238 §5.2). Every step is computed and
// compared in constant time.
func MatchTOTP(secret, code string, now time.Time, lastStep int64) (step int64, ok bool) {
	code = NormalizeCode(code)
	if len(code) != int(TOTPDigits) {
		return 0, false
	}
	cur := TOTPStep(now)
	for s := cur - TOTPSkew; s <= cur+TOTPSkew; s++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*TOTPPeriod, 0),
			totp.ValidateOpts{Period: TOTPPeriod, Digits: TOTPDigits, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && s > lastStep && !ok {
			step, ok = s, true
		}
	}
	return step, ok
}

// Security questions, only where Administration → Passwords allows them
// and never for staff. NIST SP 800-63B counts them as no authenticator,
// so they are one gate among others, never the only way back in.
var SecurityQuestions = []string{
	Mark("What was the name of your first pet?"),
	Mark("In what city or town were you born?"),
	Mark("What was the first concert you went to?"),
	Mark("What was the make and model of your first car?"),
	Mark("What is the name of the street you grew up on?"),
	Mark("What was your childhood nickname?"),
	Mark("What was the name of your first school?"),
	Mark("What is the first name of your oldest cousin?"),
}

// A person registers QuestionsRequired questions, each answer
// AnswerMinRunes to AnswerMaxRunes long once normalised (Entra's 3–40).
const (
	QuestionsRequired = 3
	AnswerMinRunes    = 3
	AnswerMaxRunes    = 40
)

// ErrWrongAnswers answers any wrong set of answers alike.
var ErrWrongAnswers = Errorf(EUNAUTHORIZED, "The answers do not match the ones you registered.")

// NormalizeAnswer is what an answer is hashed and compared as: NFKC,
// lower case, letters and digits only, single spaces, so that "New  York"
// and "new york." match.
func NormalizeAnswer(a string) string {
	a = strings.ToLower(norm.NFKC.String(a))
	var b strings.Builder
	space := false
	for _, r := range a {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		case unicode.IsSpace(r) || unicode.IsPunct(r):
			space = true
		}
	}
	return b.String()
}

// ValidateAnswers checks a registration: QuestionsRequired different
// questions from SecurityQuestions, each with a different answer of the
// right length. It returns the answers normalised, by question.
func ValidateAnswers(answers map[string]string) (map[string]string, error) {
	if len(answers) != QuestionsRequired {
		return nil, Errorf(EINVALID, "Choose %d different questions.", QuestionsRequired)
	}
	out := make(map[string]string, len(answers))
	seen := map[string]bool{}
	for q, a := range answers {
		if !slices.Contains(SecurityQuestions, q) {
			return nil, Errorf(EINVALID, "Choose the questions from the list.")
		}
		n := NormalizeAnswer(a)
		if l := utf8.RuneCountInString(n); l < AnswerMinRunes || l > AnswerMaxRunes {
			return nil, Errorf(EINVALID, "Each answer must be %d to %d letters or digits long.", AnswerMinRunes, AnswerMaxRunes)
		}
		if seen[n] {
			return nil, Errorf(EINVALID, "Give a different answer to each question.")
		}
		seen[n] = true
		out[q] = n
	}
	return out, nil
}
