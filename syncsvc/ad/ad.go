// Package ad is the Active Directory connector: it imports users and groups
// from AD and exports changes to it over LDAP with TLS (go-ldap).
package ad

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
)

// TLSMode is how the connection is protected. AD refuses simple binds and
// password changes on a plain connection, so there is no plain mode.
type TLSMode string

// The TLS modes.
const (
	LDAPS    TLSMode = "ldaps"    // TLS from the first byte, port 636
	StartTLS TLSMode = "starttls" // LDAP on 389 upgraded with StartTLS
)

// Config is an AD connected system as an administrator configures it.
type Config struct {
	Host string // IP address or DNS name of a domain controller
	Port int    // 0: 636 for LDAPS, 389 for StartTLS
	TLS  TLSMode
	// TLSConfig is used as given when set; otherwise CAPEM, when set, is
	// the only CA trusted, and otherwise the system roots are.
	TLSConfig *tls.Config
	CAPEM     []byte
	// BindUser is a DN, a UPN (name@REALM) or DOMAIN\name.
	BindUser     string
	BindPassword string
	BaseDN       string   // the domain's naming context, e.g. DC=example,DC=com
	OUs          []string // the containers in scope; empty means all of BaseDN

	PageSize           uint32        // entries per page of a full import; 0: 500
	MaxValuesPerModify int           // values of one attribute per modify; 0: 500
	Timeout            time.Duration // per LDAP operation; 0: 30 s
}

// Connector is the AD connector. Like every syncsvc.Connector it serves one
// caller at a time, except that exports and reads of different objects may
// run at once (syncsvc.WindowedExporter): go-ldap sends them on the one
// connection, each under its message ID.
type Connector struct {
	cfg Config
	mu  sync.Mutex // guards conn, which a lost connection replaces
	// conn is the bound connection; take it through ldapConn.
	conn *ldap.Conn
	// extraAttributes are imported besides ImportAttributes.
	extraAttributes []string
	// domainRules are the domain's password rules as last read, at
	// domainRulesAt: a reset reads them before sending, and they change
	// rarely.
	domainRules   portal.DirectoryRules
	domainRulesAt time.Time
}

var _ syncsvc.Connector = (*Connector)(nil)

// Open checks cfg, connects and binds.
func Open(ctx context.Context, cfg Config) (*Connector, error) {
	if cfg.TLS != LDAPS && cfg.TLS != StartTLS {
		return nil, fmt.Errorf("ad: TLS mode must be %q or %q, not %q", LDAPS, StartTLS, cfg.TLS)
	}
	if cfg.Host == "" || cfg.BaseDN == "" || cfg.BindUser == "" {
		return nil, errors.New("ad: host, base DN and bind user are required")
	}
	if cfg.Port == 0 {
		cfg.Port = 636
		if cfg.TLS == StartTLS {
			cfg.Port = 389
		}
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = 500
	}
	if cfg.MaxValuesPerModify == 0 {
		cfg.MaxValuesPerModify = 500
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if len(cfg.OUs) == 0 {
		cfg.OUs = []string{cfg.BaseDN}
	}
	if cfg.TLSConfig == nil {
		cfg.TLSConfig = &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
		if len(cfg.CAPEM) > 0 {
			roots := x509.NewCertPool()
			if !roots.AppendCertsFromPEM(cfg.CAPEM) {
				return nil, errors.New("ad: no certificate in the CA PEM")
			}
			cfg.TLSConfig.RootCAs = roots
		}
	}
	c := &Connector{cfg: cfg}
	if err := c.connect(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Connector) connect(ctx context.Context) error {
	addr := net.JoinHostPort(c.cfg.Host, strconv.Itoa(c.cfg.Port))
	dialer := &net.Dialer{Timeout: c.cfg.Timeout}
	var (
		conn *ldap.Conn
		err  error
	)
	if c.cfg.TLS == LDAPS {
		conn, err = ldap.DialURL("ldaps://"+addr, ldap.DialWithTLSConfig(c.cfg.TLSConfig), ldap.DialWithDialer(dialer))
	} else {
		conn, err = ldap.DialURL("ldap://"+addr, ldap.DialWithDialer(dialer))
		if err == nil {
			if err = conn.StartTLS(c.cfg.TLSConfig); err != nil {
				conn.Close()
			}
		}
	}
	if err != nil {
		return wrap("connect to "+addr, "", err)
	}
	conn.SetTimeout(c.cfg.Timeout)
	sent(reqBind)
	if err := conn.Bind(c.cfg.BindUser, c.cfg.BindPassword); err != nil {
		conn.Close()
		return wrap("bind as "+c.cfg.BindUser, "", err)
	}
	c.conn = conn
	return ctx.Err()
}

// ldapConn returns the bound connection, connecting again if the last one
// was lost (a DC restart, an idle timeout).
func (c *Connector) ldapConn(ctx context.Context) (*ldap.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil || c.conn.IsClosing() {
		if c.conn != nil {
			c.conn.Close()
			c.conn = nil
		}
		if err := c.connect(ctx); err != nil {
			return nil, err
		}
	}
	return c.conn, nil
}

// Close closes the connection.
func (c *Connector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}

// Error is a failed LDAP operation with AD's result code and diagnostic
// text (such as "00002071: UpdErr: DSID-030502F9, problem 6005
// (ENTRY_EXISTS)"), which administrators search for.
type Error struct {
	Op         string // what the connector was doing
	DN         string
	ResultCode uint16 // the LDAP result code; 0 when no result arrived
	Diagnostic string // the server's text, or the local error
	err        error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("ad: ")
	b.WriteString(e.Op)
	if e.DN != "" {
		fmt.Fprintf(&b, " %q", e.DN)
	}
	if e.ResultCode != 0 {
		fmt.Fprintf(&b, ": LDAP %d (%s)", e.ResultCode, ldap.LDAPResultCodeMap[e.ResultCode])
	}
	if e.Diagnostic != "" {
		b.WriteString(": ")
		b.WriteString(e.Diagnostic)
	}
	return b.String()
}

// Is tells the sync engine what kind of failure e is: AD unreachable (no
// result arrived, busy or unavailable), no such object, or already exists.
func (e *Error) Is(target error) bool {
	switch target {
	case syncsvc.ErrUnreachable:
		return e.ResultCode == 0 && !errors.Is(e.err, context.Canceled) ||
			e.ResultCode == ldap.LDAPResultBusy || e.ResultCode == ldap.LDAPResultUnavailable
	case syncsvc.ErrNoSuchObject:
		return e.ResultCode == ldap.LDAPResultNoSuchObject
	case syncsvc.ErrAlreadyExists:
		return e.ResultCode == ldap.LDAPResultEntryAlreadyExists
	}
	return false
}

// Unwrap returns the go-ldap error, for ldap.IsErrorWithCode.
func (e *Error) Unwrap() error { return e.err }

// wrap turns err into an *Error, or returns nil for nil.
func wrap(op, dn string, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Op: op, DN: dn, Diagnostic: err.Error(), err: err}
	var le *ldap.Error
	if errors.As(err, &le) {
		if le.ResultCode < ldap.ErrorNetwork { // 200 and up are go-ldap's own
			e.ResultCode = le.ResultCode
		}
		e.Diagnostic = ""
		if le.Err != nil {
			e.Diagnostic = strings.TrimRight(le.Err.Error(), "\x00 \n")
		}
	}
	return e
}

// OpenSystem connects to an AD connected system as an administrator
// configured it, trying its domain controllers in order.
func OpenSystem(ctx context.Context, sys portal.ConnectedSystem, password string) (*Connector, error) {
	var firstErr error
	for _, host := range sys.Hosts {
		c, err := Open(ctx, Config{Host: host, Port: sys.Port, TLS: TLSMode(sys.TLSMode), CAPEM: []byte(sys.CACertPEM),
			BindUser: sys.BindUser, BindPassword: password, BaseDN: sys.BaseDN, OUs: sys.OUs})
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if !errors.Is(err, syncsvc.ErrUnreachable) {
			return nil, err // a refused bind is the same on every DC
		}
	}
	if firstErr == nil {
		firstErr = errors.New("ad: no domain controller configured")
	}
	return nil, firstErr
}

// Opener returns the sync engine's way to connect to AD systems, with bind
// passwords from secrets.
func Opener(secrets portal.ConnectedSystemSecrets) syncsvc.Opener {
	return func(ctx context.Context, sys portal.ConnectedSystem) (syncsvc.Connector, error) {
		if sys.Type != portal.SystemAD {
			return nil, fmt.Errorf("ad: cannot open a connected system of type %q", sys.Type)
		}
		password, err := secrets.BindPassword(ctx, sys.ID)
		if err != nil {
			return nil, err
		}
		return OpenSystem(ctx, sys, password)
	}
}
