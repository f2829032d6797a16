package ad

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/tessera-idm/tessera/portal"
)

// DirectoryConfig configures LDAP bind sign-in to the portal against AD.
type DirectoryConfig struct {
	// URL is a domain controller: ldaps://dc1.example.com:636, or
	// ldap://dc1.example.com:389, which is always upgraded with StartTLS.
	URL string
	// TLSConfig is used as given when set; otherwise CAPEM, when set, is
	// the only CA trusted, and otherwise the system roots are.
	TLSConfig *tls.Config
	CAPEM     []byte
	BaseDN    string // where accounts may sign in from, e.g. DC=example,DC=com
	// Domain is the NetBIOS domain name, for DOMAIN\name sign-ins.
	Domain string
	// Realm is the UPN suffix that bare names get: name becomes name@Realm.
	Realm   string
	Timeout time.Duration // per LDAP operation; 0: 10 s
}

// Directory signs people in by binding to AD as them.
type Directory struct {
	cfg       DirectoryConfig
	url       string
	startTLS  bool
	tlsConfig *tls.Config
}

var _ portal.DirectoryAuthenticator = (*Directory)(nil)

// NewDirectory checks cfg; it does not connect, so Tessera starts while the
// domain controller is down.
func NewDirectory(cfg DirectoryConfig) (*Directory, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Hostname() == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("ad: directory URL %q must look like ldaps://dc1.example.com:636", cfg.URL)
	}
	d := &Directory{cfg: cfg}
	port := u.Port()
	switch u.Scheme {
	case "ldaps":
		if port == "" {
			port = "636"
		}
	case "ldap":
		d.startTLS = true
		if port == "" {
			port = "389"
		}
	default:
		return nil, fmt.Errorf("ad: directory URL %q must start with ldaps:// (or ldap://, upgraded with StartTLS)", cfg.URL)
	}
	d.url = u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port)
	if cfg.BaseDN == "" {
		return nil, errors.New("ad: the directory needs a base DN")
	}
	if _, err := ldap.ParseDN(cfg.BaseDN); err != nil {
		return nil, fmt.Errorf("ad: base DN %q: %w", cfg.BaseDN, err)
	}
	if d.cfg.Timeout == 0 {
		d.cfg.Timeout = 10 * time.Second
	}
	d.tlsConfig = cfg.TLSConfig
	if d.tlsConfig == nil {
		d.tlsConfig = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
		if len(cfg.CAPEM) > 0 {
			roots := x509.NewCertPool()
			if !roots.AppendCertsFromPEM(cfg.CAPEM) {
				return nil, errors.New("ad: no certificate in the CA PEM")
			}
			d.tlsConfig.RootCAs = roots
		}
	}
	return d, nil
}

// login is how one sign-in binds and then finds its own entry.
type login struct {
	bindName string
	filters  []string // tried in order until one finds the entry
}

// parseLogin accepts name@suffix, DOMAIN\name (DOMAIN being the configured
// one) and, with a realm or domain configured, a bare name.
func (d *Directory) parseLogin(s string) (login, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 256 || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return login{}, false
	}
	sam := func(name string) string { return "(sAMAccountName=" + ldap.EscapeFilter(name) + ")" }
	if dom, name, ok := strings.Cut(s, `\`); ok {
		if d.cfg.Domain == "" || !strings.EqualFold(dom, d.cfg.Domain) || name == "" || strings.ContainsAny(name, `\@`) {
			return login{}, false
		}
		return login{bindName: d.cfg.Domain + `\` + name, filters: []string{sam(name)}}, true
	}
	if !strings.Contains(s, "@") {
		switch {
		case d.cfg.Realm != "":
			s += "@" + d.cfg.Realm
		case d.cfg.Domain != "":
			return login{bindName: d.cfg.Domain + `\` + s, filters: []string{sam(s)}}, true
		default:
			return login{}, false
		}
	}
	i := strings.LastIndex(s, "@")
	name, suffix := s[:i], s[i+1:]
	if name == "" || suffix == "" {
		return login{}, false
	}
	l := login{bindName: s, filters: []string{"(userPrincipalName=" + ldap.EscapeFilter(s) + ")"}}
	// AD also binds name@dnsDomain for a user without that UPN, by
	// sAMAccountName (the implicit UPN).
	if d.cfg.Realm != "" && strings.EqualFold(suffix, d.cfg.Realm) && !strings.Contains(name, "@") {
		l.filters = append(l.filters, sam(name))
	}
	return l, true
}

// accountDisabled is ACCOUNTDISABLE in userAccountControl.
const accountDisabled = 0x2

// Authenticate binds as login with password over TLS and reads the
// account's own entry. AD answers a wrong password, an unknown, locked,
// disabled or expired account alike (invalid credentials, 49), and so does
// Tessera.
func (d *Directory) Authenticate(ctx context.Context, loginName, password string) (portal.DirectoryAccount, error) {
	// An empty password is an unauthenticated bind (RFC 4513 5.1.2), which
	// "succeeds" as no one: it must never reach the server.
	if password == "" || len(password) > 1024 {
		return portal.DirectoryAccount{}, portal.ErrBadCredentials
	}
	l, ok := d.parseLogin(loginName)
	if !ok {
		return portal.DirectoryAccount{}, portal.ErrBadCredentials
	}
	conn, err := d.dial(ctx)
	if err != nil {
		return portal.DirectoryAccount{}, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	sent(reqBind)
	if err := conn.Bind(l.bindName, password); err != nil {
		if ctx.Err() == nil && isRefusal(err) {
			return portal.DirectoryAccount{}, portal.ErrBadCredentials
		}
		return portal.DirectoryAccount{}, wrap("sign in: bind", "", err)
	}
	for _, f := range l.filters {
		sent(reqSearch)
		res, err := conn.Search(ldap.NewSearchRequest(d.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			2, int(d.cfg.Timeout.Seconds()), false, "(&(objectCategory=person)(objectClass=user)"+f+")",
			[]string{"userPrincipalName", "sAMAccountName", "mail", "employeeID", "userAccountControl"}, nil))
		if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) || (err == nil && len(res.Entries) > 1) {
			return portal.DirectoryAccount{}, portal.Errorf(portal.EUNAUTHORIZED,
				"More than one directory account answers to %s; ask your administrator to correct it.", loginName)
		} else if err != nil {
			return portal.DirectoryAccount{}, wrap("sign in: read own entry", d.cfg.BaseDN, err)
		}
		if len(res.Entries) == 0 {
			continue
		}
		e := res.Entries[0]
		if uac, _ := strconv.ParseInt(e.GetAttributeValue("userAccountControl"), 10, 64); uac&accountDisabled != 0 {
			return portal.DirectoryAccount{}, portal.ErrBadCredentials
		}
		return portal.DirectoryAccount{
			UserPrincipalName: e.GetAttributeValue("userPrincipalName"),
			SAMAccountName:    e.GetAttributeValue("sAMAccountName"),
			Mail:              e.GetAttributeValue("mail"),
			EmployeeID:        e.GetAttributeValue("employeeID"),
		}, nil
	}
	// The password was right, but the account is outside the base DN (or
	// not a user): it may not sign in here.
	return portal.DirectoryAccount{}, portal.ErrBadCredentials
}

// isRefusal reports whether a bind failed because the server would not let
// this account in (49 above all; 48, 50 and 53 for accounts it refuses
// outright), not because it was unreachable or busy.
func isRefusal(err error) bool {
	return ldap.IsErrorAnyOf(err, ldap.LDAPResultInvalidCredentials, ldap.LDAPResultInappropriateAuthentication,
		ldap.LDAPResultInsufficientAccessRights, ldap.LDAPResultUnwillingToPerform)
}

// dial connects with TLS from the first byte or through StartTLS; nothing,
// and above all no password, crosses a plain connection.
func (d *Directory) dial(ctx context.Context) (*ldap.Conn, error) {
	dialer := &net.Dialer{Timeout: d.cfg.Timeout}
	if deadline, ok := ctx.Deadline(); ok {
		dialer.Deadline = deadline
	}
	var (
		conn *ldap.Conn
		err  error
	)
	if d.startTLS {
		conn, err = ldap.DialURL(d.url, ldap.DialWithDialer(dialer))
		if err == nil {
			conn.SetTimeout(d.cfg.Timeout)
			if err = conn.StartTLS(d.tlsConfig.Clone()); err != nil {
				conn.Close()
			}
		}
	} else {
		conn, err = ldap.DialURL(d.url, ldap.DialWithTLSConfig(d.tlsConfig.Clone()), ldap.DialWithDialer(dialer))
	}
	if err != nil {
		return nil, wrap("sign in: connect to "+d.url, "", err)
	}
	if _, ok := conn.TLSConnectionState(); !ok {
		conn.Close()
		return nil, errors.New("ad: sign in: the connection to " + d.url + " is not protected by TLS")
	}
	conn.SetTimeout(d.cfg.Timeout)
	return conn, nil
}
