package ad

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
)

var _ syncsvc.PasswordConnector = (*Connector)(nil)

// Bits of msDS-User-Account-Control-Computed, which AD computes at read
// time: lockoutTime stays set after a lockout has ended, this does not.
const (
	uacComputedLockout         = 0x10
	uacComputedPasswordExpired = 0x800000
	uacDontExpirePassword      = 0x10000
)

// ResetPassword sets password as an administrator's reset (replace
// unicodePwd), and in the same modify clears a lockout or makes the
// password one to change at the next sign-in: one operation, so that the
// account is never left with the new password but still locked. A reset
// alone leaves lockoutTime as it was, so an unlocking reset writes
// lockoutTime 0 (with which AD and Samba zero badPwdCount) whether or not
// it is set: unlike Unlock, which must not write to an account that is not
// locked, a reset changes the object anyway, and reading lockoutTime first
// would cost the directory a search and the person a round trip on every
// reset. A service account allowed to reset passwords but not to write
// lockoutTime (a narrower delegation) is refused the whole modify; then
// the reset is made as before that: lockoutTime read, and written only
// when set.
func (c *Connector) ResetPassword(ctx context.Context, dn, password string, o portal.ResetOptions) error {
	conn, err := c.tlsConn(ctx)
	if err != nil {
		return err
	}
	modify := func(unlock bool) error {
		req := ldap.NewModifyRequest(dn, nil)
		req.Replace("unicodePwd", []string{unicodePwd(password)})
		if unlock {
			req.Replace("lockoutTime", []string{"0"})
		}
		if o.MustChange {
			req.Replace("pwdLastSet", []string{"0"})
		}
		sent(reqModify)
		return wrap("set password of", dn, conn.Modify(req))
	}
	err = modify(o.Unlock)
	var e *Error
	if o.Unlock && errors.As(err, &e) && e.ResultCode == ldap.LDAPResultInsufficientAccessRights {
		// A refused modify changed nothing: the reset alone, with the
		// lockout cleared only when there is one (which that account
		// cannot do either, and is told so).
		set, rerr := c.lockoutSet(ctx, dn)
		if rerr != nil {
			return rerr
		}
		err = modify(set)
	}
	return passwordError(err)
}

// ChangePassword changes the password as its owner does: one modify that
// deletes the current value and adds the new one, so that AD checks the
// current password and applies history and minimum age (a replace would be
// a reset, which skips both).
func (c *Connector) ChangePassword(ctx context.Context, dn, current, password string) error {
	conn, err := c.tlsConn(ctx)
	if err != nil {
		return err
	}
	req := ldap.NewModifyRequest(dn, nil)
	req.Delete("unicodePwd", []string{unicodePwd(current)})
	req.Add("unicodePwd", []string{unicodePwd(password)})
	sent(reqModify)
	return passwordError(wrap("change password of", dn, conn.Modify(req)))
}

// RequireChange sets or clears "must change password at next sign-in":
// pwdLastSet 0, or -1 (now), the only two values AD accepts.
func (c *Connector) RequireChange(ctx context.Context, dn string, must bool) error {
	conn, err := c.ldapConn(ctx)
	if err != nil {
		return err
	}
	v := "-1"
	if must {
		v = "0"
	}
	req := ldap.NewModifyRequest(dn, nil)
	req.Replace("pwdLastSet", []string{v})
	sent(reqModify)
	return wrap("set must-change of", dn, conn.Modify(req))
}

// tlsConn is the connection a password may cross: never a plain one,
// which AD would refuse as well.
func (c *Connector) tlsConn(ctx context.Context) (*ldap.Conn, error) {
	conn, err := c.ldapConn(ctx)
	if err != nil {
		return nil, err
	}
	if _, ok := conn.TLSConnectionState(); !ok {
		return nil, errors.New("ad: refusing to send a password without TLS")
	}
	return conn, nil
}

var accountStateAttributes = []string{"userAccountControl", "msDS-User-Account-Control-Computed", "badPwdCount",
	"pwdLastSet", "msDS-UserPasswordExpiryTimeComputed", "msDS-ResultantPSO"}

// AccountState reads the account at dn live.
func (c *Connector) AccountState(ctx context.Context, dn string) (portal.AccountState, error) {
	e, err := c.read(ctx, dn, accountStateAttributes...)
	if err != nil {
		return portal.AccountState{}, err
	}
	return accountState(e), nil
}

func accountState(e *ldap.Entry) portal.AccountState {
	num := func(name string) int64 {
		n, _ := strconv.ParseInt(e.GetAttributeValue(name), 10, 64)
		return n
	}
	uac, computed := num("userAccountControl"), num("msDS-User-Account-Control-Computed")
	s := portal.AccountState{DN: e.DN, Enabled: uac&uacAccountDisable == 0, Locked: computed&uacComputedLockout != 0,
		BadPasswordCount: int(num("badPwdCount"))}
	if last := num("pwdLastSet"); last == 0 {
		s.MustChange = uac&uacDontExpirePassword == 0
	} else {
		s.PasswordLastSet = fileTime(last)
	}
	// 0x7FFFFFFFFFFFFFFF means never; 0 means now (must change).
	if exp := num("msDS-UserPasswordExpiryTimeComputed"); exp > 0 && exp < 1<<62 {
		s.PasswordExpires = fileTime(exp)
	}
	return s
}

// fileTime converts a Windows FILETIME (100 ns since 1601) to a time.
func fileTime(ft int64) time.Time {
	const epochDiff = 116444736000000000 // 1601 to 1970 in 100 ns
	return time.Unix(0, (ft-epochDiff)*100).UTC()
}

// interval converts AD's negative 100 ns intervals (maxPwdAge and the
// like) to a duration; the "never" value is 0.
func interval(v string) time.Duration {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n >= 0 || n == -1<<63 {
		return 0
	}
	return time.Duration(-n) * 100
}

// PasswordRules reads the rules AD applies to the account at dn: its
// resultant password settings object when one applies, otherwise the
// domain's policy.
func (c *Connector) PasswordRules(ctx context.Context, dn string) (portal.DirectoryRules, error) {
	e, err := c.read(ctx, dn, "msDS-ResultantPSO")
	if err != nil {
		return portal.DirectoryRules{}, err
	}
	if pso := e.GetAttributeValue("msDS-ResultantPSO"); pso != "" {
		p, err := c.read(ctx, pso, "cn", "msDS-MinimumPasswordLength", "msDS-PasswordComplexityEnabled",
			"msDS-PasswordHistoryLength", "msDS-MinimumPasswordAge", "msDS-MaximumPasswordAge")
		if err != nil {
			return portal.DirectoryRules{}, err
		}
		minLen, _ := strconv.Atoi(p.GetAttributeValue("msDS-MinimumPasswordLength"))
		history, _ := strconv.Atoi(p.GetAttributeValue("msDS-PasswordHistoryLength"))
		return portal.DirectoryRules{MinLength: minLen, HistoryLength: history, PSO: p.GetAttributeValue("cn"),
			Complexity: strings.EqualFold(p.GetAttributeValue("msDS-PasswordComplexityEnabled"), "TRUE"),
			MinAge:     interval(p.GetAttributeValue("msDS-MinimumPasswordAge")),
			MaxAge:     interval(p.GetAttributeValue("msDS-MaximumPasswordAge"))}, nil
	}
	if time.Since(c.domainRulesAt) < domainRulesFor {
		return c.domainRules, nil
	}
	d, err := c.read(ctx, c.cfg.BaseDN, "minPwdLength", "pwdProperties", "pwdHistoryLength", "minPwdAge", "maxPwdAge")
	if err != nil {
		return portal.DirectoryRules{}, err
	}
	minLen, _ := strconv.Atoi(d.GetAttributeValue("minPwdLength"))
	history, _ := strconv.Atoi(d.GetAttributeValue("pwdHistoryLength"))
	props, _ := strconv.Atoi(d.GetAttributeValue("pwdProperties"))
	c.domainRules = portal.DirectoryRules{MinLength: minLen, HistoryLength: history, Complexity: props&1 != 0, // DOMAIN_PASSWORD_COMPLEX
		MinAge: interval(d.GetAttributeValue("minPwdAge")), MaxAge: interval(d.GetAttributeValue("maxPwdAge"))}
	c.domainRulesAt = time.Now()
	return c.domainRules, nil
}

// domainRulesFor is how long the domain's rules are taken as read: they
// explain and pre-check, and AD checks again when the password arrives.
const domainRulesFor = time.Minute

var tooShort = regexp.MustCompile(`longer than (\d+) characters`)

// passwordError turns AD's refusal of a password into plain words that
// name the rule (an EINVALID portal error, without the system's name) (AD answers 19, constraint violation, with a Win32 code and
// Samba's or Windows' text); other errors are returned as they are. The
// *Error stays in the chain for errors.Is and the administrators' logs.
func passwordError(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	diag := strings.ToLower(e.Diagnostic)
	var msg string
	switch {
	case strings.HasPrefix(diag, "00000056"):
		msg = "the current password is not right"
	case strings.HasPrefix(diag, "00000775"):
		msg = "the account is locked out, and a locked account cannot change its own password; reset it instead, which unlocks it"
	case strings.Contains(diag, "too short"):
		if m := tooShort.FindStringSubmatch(diag); m != nil {
			msg = "it is too short: the domain asks for at least " + m[1] + " characters"
		} else {
			msg = "it is too short for the domain's policy"
		}
	case strings.Contains(diag, "complexity"):
		msg = "it does not meet the domain's complexity rule: characters of at least 3 kinds (capital letters, small letters, digits, symbols, other letters)"
	case strings.Contains(diag, "history"):
		msg = "it is one of the recent passwords the domain remembers; choose one you have not used before"
	case strings.Contains(diag, "too young"):
		msg = "the password was changed too recently: the domain's minimum password age has not passed yet"
	case strings.HasPrefix(diag, "0000052d"):
		msg = "it does not meet the domain's password policy (length, complexity, history or minimum age)"
	case e.ResultCode == ldap.LDAPResultInsufficientAccessRights:
		msg = "Tessera's service account is not allowed to set passwords there; an administrator must grant it the Reset Password right"
	case e.ResultCode == ldap.LDAPResultUnwillingToPerform:
		msg = "the directory would not do it (" + e.Diagnostic + ")"
	default:
		return err
	}
	// The portal error comes first in the chain, so that the person reads
	// the plain words; the *Error stays for errors.Is and the logs.
	return fmt.Errorf("%w: %w", portal.Errorf(portal.EINVALID, "%s", msg), e)
}

// expiringFilter selects enabled users whose password can expire and has
// been set: not ACCOUNTDISABLE (2), not DONT_EXPIRE_PASSWD (65536), and
// not "must change" (pwdLastSet 0).
const expiringFilter = "(&(objectCategory=person)(objectClass=user)" +
	"(!(userAccountControl:1.2.840.113556.1.4.803:=2))(!(userAccountControl:1.2.840.113556.1.4.803:=65536))(pwdLastSet>=1))"

// ExpiringAccounts lists the accounts in scope whose password expires
// before before (and has not expired yet), from AD's own computation
// (msDS-UserPasswordExpiryTimeComputed: pwdLastSet plus the domain's or
// the account's PSO's maxPwdAge).
func (c *Connector) ExpiringAccounts(ctx context.Context, before time.Time) ([]syncsvc.ExpiringAccount, error) {
	conn, err := c.ldapConn(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var out []syncsvc.ExpiringAccount
	for _, ou := range c.cfg.OUs {
		sent(reqSearch)
		res, err := conn.SearchWithPaging(ldap.NewSearchRequest(ou, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			expiringFilter, []string{"msDS-UserPasswordExpiryTimeComputed"}, nil), c.cfg.PageSize)
		if err != nil {
			return nil, wrap("find expiring passwords in", ou, err)
		}
		for _, e := range res.Entries {
			exp, _ := strconv.ParseInt(e.GetAttributeValue("msDS-UserPasswordExpiryTimeComputed"), 10, 64)
			if exp <= 0 || exp >= 1<<62 {
				continue
			}
			if t := fileTime(exp); t.After(now) && t.Before(before) {
				out = append(out, syncsvc.ExpiringAccount{DN: e.DN, Expires: t})
			}
		}
	}
	return out, nil
}
