package portal

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of a connected system's fields.
const (
	MaxConnectedSystemName = 100
	MaxConnectedHosts      = 10
	MaxConnectedOUs        = 100
	MaxBindUser            = 256
	MaxBindPassword        = 1024
	MaxDN                  = 2048
	MaxCACertPEM           = 64 << 10
)

// SystemType is the kind of a connected system, which picks its connector.
type SystemType string

// The connected system types.
const (
	SystemAD    SystemType = "ad"    // Active Directory over LDAP
	SystemEntra SystemType = "entra" // Entra ID over Microsoft Graph
	// SystemHR is an HR file (CSV) or SCIM bulk requests: people's source
	// of truth, read only. Its settings live with the HR source
	// (syncsvc/hr), not in the directory fields.
	SystemHR SystemType = "hr_csv"
)

// EntraSettings are an Entra ID system's settings besides its client
// secret, which is BindPassword (sealed as AD's bind password is).
type EntraSettings struct {
	TenantID string `json:"tenant_id"`
	ClientID string `json:"client_id"`
	// VerifiedDomains are the domains a UPN may use; others fall back to
	// the tenant's initial domain. Empty: read from the tenant.
	VerifiedDomains []string `json:"verified_domains,omitempty"`
	// AuthorityURL and GraphURL are empty for Microsoft's cloud; the demo
	// points them at the Graph simulator.
	AuthorityURL string `json:"authority_url,omitempty"`
	GraphURL     string `json:"graph_url,omitempty"`
	// SoftMatch lets a new user take an existing cloud user with the same
	// UPN (off by default, as security guidance advises).
	SoftMatch bool `json:"soft_match,omitempty"`
	// AnchorSystemID is the AD system whose objectGUID becomes a user's
	// onPremisesImmutableId: a new person is created in Entra ID only once
	// that system has their account.
	AnchorSystemID string `json:"anchor_system_id,omitempty"`
	// WriteBudget is the most writes per 150 s Tessera sends (0: Graph's
	// 3,000).
	WriteBudget int `json:"write_budget,omitempty"`
}

// Microsoft's endpoints, used when an Entra system names none.
const (
	EntraAuthority = "https://login.microsoftonline.com"
	EntraGraph     = "https://graph.microsoft.com/v1.0"
)

// TLSMode is how a connection to a directory is protected. AD refuses
// simple binds on a plain connection, so there is no plain mode.
type TLSMode string

// The TLS modes.
const (
	TLSLDAPS    TLSMode = "ldaps"    // TLS from the first byte, port 636
	TLSStartTLS TLSMode = "starttls" // LDAP on 389, upgraded with StartTLS
)

// DefaultPort is the mode's usual port.
func (m TLSMode) DefaultPort() int {
	if m == TLSStartTLS {
		return 389
	}
	return 636
}

// ConnectedSystem is a directory Tessera syncs with, as an administrator
// configures it (MIM's management agent, Entra Connect's connector).
type ConnectedSystem struct {
	ID      string
	Name    string
	Type    SystemType
	Hosts   []string // domain controllers, tried in order: DNS names or IP addresses
	Port    int      // 0 takes the TLS mode's default
	TLSMode TLSMode
	// CACertPEM holds the CAs trusted for the DCs' certificates; empty
	// trusts the system's CAs.
	CACertPEM string
	// BindUser is the account Tessera binds as: a DN, a UPN or DOMAIN\name.
	BindUser string
	// BindPassword is write-only: set it to store a new password. Find and
	// List leave it empty; only the sync engine reads the stored one.
	BindPassword string
	// HasPassword reports that a password is stored.
	HasPassword bool
	BaseDN      string   // the domain's naming context, e.g. DC=example,DC=com
	OUs         []string // the containers in scope, under BaseDN; none means all of BaseDN
	Enabled     bool
	// Staging imports and syncs but never exports: pending exports are
	// computed and shown only.
	Staging bool
	// DeletionThreshold stops an export run that would delete more
	// objects than this until an administrator confirms (0: 500).
	DeletionThreshold int
	// DeltaInterval is the time between scheduled delta cycles; 0 runs
	// none (committed portal changes are exported at once regardless).
	DeltaInterval time.Duration
	// Entra holds an Entra ID system's settings (Type SystemEntra).
	Entra     EntraSettings
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Defaults of the sync settings of a connected system.
const (
	DefaultDeletionThreshold = 500
	DefaultDeltaInterval     = 5 * time.Minute
	MaxDeltaInterval         = 24 * time.Hour
)

// Validate normalises c (trims, drops duplicates, fills the default port)
// and reports the first thing wrong with it as EINVALID. A new system (no
// ID) needs a bind password; a saved one keeps its own when none is given.
func (c *ConnectedSystem) Validate() error {
	c.Name = strings.TrimSpace(c.Name)
	c.BindUser = strings.TrimSpace(c.BindUser)
	c.BaseDN = strings.TrimSpace(c.BaseDN)
	c.CACertPEM = strings.TrimSpace(c.CACertPEM)
	if c.Type == "" {
		c.Type = SystemAD
	}
	if c.Port == 0 {
		c.Port = c.TLSMode.DefaultPort()
	}
	c.Hosts = trimUnique(c.Hosts)
	c.OUs = trimUnique(c.OUs)
	if c.DeletionThreshold == 0 {
		c.DeletionThreshold = DefaultDeletionThreshold
	}
	switch {
	case c.DeletionThreshold < 0 || c.DeletionThreshold > 1_000_000:
		return Errorf(EINVALID, "The deletion threshold must be from 1 to 1,000,000 objects.")
	case c.DeltaInterval < 0 || c.DeltaInterval > MaxDeltaInterval:
		return Errorf(EINVALID, "The delta sync interval must be from 0 (never) to 24 hours.")
	case c.DeltaInterval > 0 && c.DeltaInterval < 10*time.Second:
		return Errorf(EINVALID, "The delta sync interval must be at least 10 seconds, or 0 for no schedule.")
	}

	switch {
	case c.Name == "":
		return Errorf(EINVALID, "Give the connected system a name.")
	case utf8.RuneCountInString(c.Name) > MaxConnectedSystemName:
		return Errorf(EINVALID, "The name is too long: at most %d characters.", MaxConnectedSystemName)
	case strings.ContainsFunc(c.Name, unicode.IsControl):
		return Errorf(EINVALID, "The name cannot contain control characters.")
	case c.Type == SystemHR:
		// No directory to reach: the HR source's own settings say how
		// its files read.
		return nil
	case c.Type == SystemEntra:
		return c.validateEntra()
	case c.Type != SystemAD:
		return Errorf(EINVALID, "The type must be Active Directory (“ad”) or Entra ID (“entra”), not “%s”.", c.Type)
	case len(c.Hosts) == 0:
		return Errorf(EINVALID, "Give at least one domain controller: its DNS name or IP address.")
	case len(c.Hosts) > MaxConnectedHosts:
		return Errorf(EINVALID, "Give at most %d domain controllers.", MaxConnectedHosts)
	}
	for _, h := range c.Hosts {
		if !validHost(h) {
			return Errorf(EINVALID, "“%s” is not a host name or IP address (such as dc1.example.com or 10.0.0.5).", h)
		}
	}
	switch {
	case c.Port < 1 || c.Port > 65535:
		return Errorf(EINVALID, "The port must be from 1 to 65535, not %d.", c.Port)
	case c.TLSMode != TLSLDAPS && c.TLSMode != TLSStartTLS:
		return Errorf(EINVALID, "Choose LDAPS or StartTLS; AD refuses passwords over plain LDAP.")
	case len(c.CACertPEM) > MaxCACertPEM:
		return Errorf(EINVALID, "The CA certificates are too long: at most %d KiB of PEM.", MaxCACertPEM>>10)
	}
	if c.CACertPEM != "" {
		if err := checkCAPEM(c.CACertPEM); err != nil {
			return err
		}
	}
	switch {
	case c.BindUser == "":
		return Errorf(EINVALID, "Give the account Tessera binds as: a DN, a UPN (name@example.com) or DOMAIN\\name.")
	case utf8.RuneCountInString(c.BindUser) > MaxBindUser:
		return Errorf(EINVALID, "The bind account is too long: at most %d characters.", MaxBindUser)
	case strings.ContainsFunc(c.BindUser, unicode.IsControl):
		return Errorf(EINVALID, "The bind account cannot contain control characters.")
	case c.ID == "" && c.BindPassword == "":
		return Errorf(EINVALID, "Give the bind account's password.")
	case len(c.BindPassword) > MaxBindPassword:
		return Errorf(EINVALID, "The bind password is too long: at most %d bytes.", MaxBindPassword)
	case c.BaseDN == "":
		return Errorf(EINVALID, "Give the base DN, the domain's naming context, such as DC=example,DC=com.")
	case len(c.OUs) > MaxConnectedOUs:
		return Errorf(EINVALID, "Give at most %d OUs in scope.", MaxConnectedOUs)
	}
	base, err := ParseDN(c.BaseDN)
	if err != nil {
		return Errorf(EINVALID, "The base DN “%s” is not a DN: %s.", c.BaseDN, err.Message)
	}
	for _, ou := range c.OUs {
		dn, err := ParseDN(ou)
		if err != nil {
			return Errorf(EINVALID, "The OU “%s” is not a DN: %s.", ou, err.Message)
		}
		if !dn.Under(base) {
			return Errorf(EINVALID, "The OU “%s” is not under the base DN “%s”.", ou, c.BaseDN)
		}
	}
	return nil
}

// validateEntra checks an Entra ID system's settings and fills the shared
// fields with what they mean for Graph: the hosts a secret goes to, and
// the client ID as the account.
func (c *ConnectedSystem) validateEntra() error {
	e := &c.Entra
	e.TenantID = strings.TrimSpace(e.TenantID)
	e.ClientID = strings.TrimSpace(e.ClientID)
	e.AuthorityURL = strings.TrimSuffix(strings.TrimSpace(e.AuthorityURL), "/")
	e.GraphURL = strings.TrimSuffix(strings.TrimSpace(e.GraphURL), "/")
	e.VerifiedDomains = trimUnique(e.VerifiedDomains)
	switch {
	case !isGUID(e.TenantID):
		return Errorf(EINVALID, "Give the tenant ID: the directory (tenant) ID, a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47.")
	case !isGUID(e.ClientID):
		return Errorf(EINVALID, "Give the client ID: the application (client) ID of the app registration, a GUID.")
	case c.ID == "" && c.BindPassword == "":
		return Errorf(EINVALID, "Give the app registration's client secret.")
	case len(c.BindPassword) > MaxBindPassword:
		return Errorf(EINVALID, "The client secret is too long: at most %d bytes.", MaxBindPassword)
	case len(e.VerifiedDomains) > MaxConnectedOUs:
		return Errorf(EINVALID, "Give at most %d verified domains.", MaxConnectedOUs)
	case e.WriteBudget < 0 || e.WriteBudget > 70_000:
		return Errorf(EINVALID, "The write budget must be from 1 to 70,000 writes per 150 seconds, or 0 for Graph's 3,000.")
	case e.AnchorSystemID != "" && !isGUID(e.AnchorSystemID):
		return Errorf(EINVALID, "Choose the AD system whose accounts anchor Entra users from the list.")
	}
	for _, d := range e.VerifiedDomains {
		if !validHost(d) || !strings.Contains(d, ".") || net.ParseIP(d) != nil {
			return Errorf(EINVALID, "“%s” is not a domain name (such as contoso.com).", d)
		}
	}
	var hosts []string
	for _, u := range []struct{ what, value, def string }{{"authority", e.AuthorityURL, EntraAuthority}, {"Graph", e.GraphURL, EntraGraph}} {
		v := u.value
		if v == "" {
			v = u.def
		}
		parsed, err := url.Parse(v)
		if err != nil || parsed.Host == "" || parsed.User != nil || parsed.RawQuery != "" || parsed.Fragment != "" {
			return Errorf(EINVALID, "The %s URL “%s” is not a URL such as %s.", u.what, v, u.def)
		}
		// Plain HTTP only to this machine (the demo's simulator): a
		// client secret never crosses a network in clear.
		if parsed.Scheme != "https" && !(parsed.Scheme == "http" && isLoopback(parsed.Hostname())) {
			return Errorf(EINVALID, "The %s URL must use https://.", u.what)
		}
		hosts = append(hosts, parsed.Host)
	}
	// The Entra connector names users CN=<UPN>,OU=Users and groups
	// CN=<mailNickname>,OU=Groups: those are the "OUs" in scope.
	c.Hosts, c.Port, c.TLSMode, c.BindUser, c.BaseDN, c.CACertPEM = hosts, 443, TLSLDAPS, e.ClientID, e.TenantID, ""
	c.OUs = []string{"OU=Users", "OU=Groups"}
	return nil
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// isGUID accepts a GUID in its usual text form.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F'):
			return false
		}
	}
	return true
}

// SameDestination reports whether c and other send the bind password to
// the same servers. A saved password is only ever sent where it was typed
// for: a change of hosts or port needs it typed again.
func (c ConnectedSystem) SameDestination(other ConnectedSystem) bool {
	norm := func(hs []string) []string {
		out := make([]string, len(hs))
		for i, h := range hs {
			out[i] = strings.ToLower(strings.TrimSpace(h))
		}
		slices.Sort(out)
		return out
	}
	port := func(s ConnectedSystem) int {
		if s.Port == 0 {
			return s.TLSMode.DefaultPort()
		}
		return s.Port
	}
	return slices.Equal(norm(trimUnique(c.Hosts)), norm(trimUnique(other.Hosts))) && port(c) == port(other)
}

// ErrPasswordForNewDestination refuses to send a saved bind password to
// servers it was not typed for.
var ErrPasswordForNewDestination = Errorf(EINVALID,
	"The domain controllers or port changed: type the bind password again, so that the saved one is never sent to a server it was not given for.")

func trimUnique(ss []string) []string {
	var out []string
	for _, s := range ss {
		s = strings.TrimSpace(s)
		if s != "" && !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, s) }) {
			out = append(out, s)
		}
	}
	return out
}

// validHost accepts an IP address or a DNS name (RFC 1123 labels).
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// checkCAPEM accepts one or more PEM certificates and nothing else.
func checkCAPEM(s string) error {
	rest := []byte(s)
	n := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return Errorf(EINVALID, "The CA certificates hold a “%s” block; give only certificates (BEGIN CERTIFICATE).", block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return Errorf(EINVALID, "CA certificate %d cannot be read: %v.", n+1, err)
		}
		n++
	}
	if n == 0 || strings.TrimSpace(string(rest)) != "" {
		return Errorf(EINVALID, "The CA certificates must be PEM (-----BEGIN CERTIFICATE----- …), or blank to trust the system's CAs.")
	}
	return nil
}

// DN is a distinguished name split into its RDNs, each a set of
// attribute=value pairs with the type lower-cased and the value unescaped.
type DN [][]AVA

// AVA is one attribute=value of an RDN.
type AVA struct{ Type, Value string }

// ParseDN checks the syntax of a string DN (RFC 4514) as AD writes them.
// It is a syntax check only: whether the DN exists is for the connection
// test to find.
func ParseDN(s string) (DN, *Error) {
	if len(s) > MaxDN {
		return nil, Errorf(EINVALID, "too long")
	}
	var dn DN
	var rdn []AVA
	var typ, val strings.Builder
	inValue, escaped := false, false
	var pendingBytes []byte // hex escapes, which may spell UTF-8 together
	// An escaped space is kept even at the ends of a value: it is marked
	// with a NUL (which no DN holds) so that TrimSpace leaves it.
	flushBytes := func() {
		for _, b := range pendingBytes {
			val.WriteByte(b)
			if b == ' ' {
				val.WriteByte(0)
			}
		}
		pendingBytes = pendingBytes[:0]
	}
	endAVA := func() *Error {
		flushBytes()
		t := strings.ToLower(strings.TrimSpace(typ.String()))
		if !inValue {
			return Errorf(EINVALID, "“%s” has no “=”", strings.TrimSpace(typ.String()))
		}
		if !validAttrType(t) {
			return Errorf(EINVALID, "“%s” is not an attribute name", t)
		}
		v := strings.TrimSpace(val.String()) // unescaped spaces around a value do not count
		if v == "" {
			return Errorf(EINVALID, "%s has no value", t)
		}
		if !utf8.ValidString(v) {
			return Errorf(EINVALID, "the value of %s is not UTF-8", t)
		}
		rdn = append(rdn, AVA{Type: t, Value: v})
		typ.Reset()
		val.Reset()
		inValue = false
		return nil
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if escaped {
			escaped = false
			if isHex(ch) && i+1 < len(s) && isHex(s[i+1]) {
				b := unhex(ch)<<4 | unhex(s[i+1])
				if b == 0 {
					return nil, Errorf(EINVALID, "a DN cannot hold a NUL character")
				}
				pendingBytes = append(pendingBytes, b)
				i++
				continue
			}
			if !strings.ContainsRune(`,+"\<>;= #`, rune(ch)) {
				return nil, Errorf(EINVALID, "“\\%c” is not an escape", ch)
			}
			pendingBytes = append(pendingBytes, ch)
			continue
		}
		switch {
		case !inValue && ch == '=':
			inValue = true
		case !inValue:
			typ.WriteByte(ch)
		case ch == '\\':
			escaped = true
		case ch == ',' || ch == '+':
			if err := endAVA(); err != nil {
				return nil, err
			}
			if ch == ',' {
				dn = append(dn, rdn)
				rdn = nil
			}
		case strings.IndexByte(`"<>;`, ch) >= 0:
			return nil, Errorf(EINVALID, "“%c” must be escaped as “\\%c”", ch, ch)
		default:
			flushBytes()
			val.WriteByte(ch)
		}
	}
	if escaped {
		return nil, Errorf(EINVALID, "it ends with a lone “\\”")
	}
	if err := endAVA(); err != nil {
		return nil, err
	}
	dn = append(dn, rdn)
	for _, r := range dn {
		for i := range r {
			r[i].Value = strings.ReplaceAll(r[i].Value, "\x00", "")
		}
	}
	return dn, nil
}

// Under reports whether dn is base or inside it, comparing types and
// values without regard to case, as AD does.
func (dn DN) Under(base DN) bool {
	if len(dn) < len(base) {
		return false
	}
	tail := dn[len(dn)-len(base):]
	for i := range base {
		if !sameRDN(tail[i], base[i]) {
			return false
		}
	}
	return true
}

func sameRDN(a, b []AVA) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y AVA) bool { return x.Type == y.Type && strings.EqualFold(x.Value, y.Value) }) {
			return false
		}
	}
	return true
}

func validAttrType(t string) bool {
	if t == "" {
		return false
	}
	if t[0] >= '0' && t[0] <= '9' { // a numeric OID such as 2.5.4.3
		for _, part := range strings.Split(t, ".") {
			if part == "" || strings.Trim(part, "0123456789") != "" {
				return false
			}
		}
		return true
	}
	for i, r := range t {
		if !(r >= 'a' && r <= 'z' || i > 0 && (r >= '0' && r <= '9' || r == '-')) {
			return false
		}
	}
	return true
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// ConnectedSystemService stores connected systems. Only administrators
// change them; bind passwords are sealed before they are stored and never
// read back by these methods.
type ConnectedSystemService interface {
	// CanSealSecrets reports whether a secret key is configured; without
	// one, connected systems cannot be saved.
	CanSealSecrets() bool
	ListConnectedSystems(ctx context.Context) ([]ConnectedSystem, error)
	FindConnectedSystem(ctx context.Context, id string) (*ConnectedSystem, error)
	CreateConnectedSystem(ctx context.Context, v Viewer, c ConnectedSystem) (*ConnectedSystem, error)
	// UpdateConnectedSystem replaces c.ID's settings; an empty
	// BindPassword keeps the stored one, unless the hosts or port changed.
	UpdateConnectedSystem(ctx context.Context, v Viewer, c ConnectedSystem) (*ConnectedSystem, error)
	DeleteConnectedSystem(ctx context.Context, v Viewer, id string) error
}

// ConnectedSystemSecrets gives the sync engine a connected system's stored
// bind password. The web tier never holds one.
type ConnectedSystemSecrets interface {
	BindPassword(ctx context.Context, id string) (string, error)
}

// ConnectionTester tries a connected system's settings: it binds over TLS
// and reads the base DN and each OU in scope. With no BindPassword, a saved
// system (ID set) is tried with its stored password. The error carries the
// directory's own text.
type ConnectionTester interface {
	TestConnection(ctx context.Context, c ConnectedSystem) error
}

// SyncService is the sync engine as the workflow workers drive it.
type SyncService interface {
	// ExportRequests carries committed requests' changes to every
	// connected system and completes each request once they confirm it.
	ExportRequests(ctx context.Context, requestIDs []string) error
	// DueCycles lists the systems whose scheduled delta cycle is due;
	// Cycle runs one.
	DueCycles(ctx context.Context) ([]string, error)
	Cycle(ctx context.Context, systemID string) error
	// RunQueued runs a run an administrator queued from the admin pages.
	RunQueued(ctx context.Context, runID int64, confirmDeletes bool) error
}

// HRInbound applies the HR files and bulk requests that River's workers
// are given (syncsvc/hr implements it).
type HRInbound interface {
	// ApplyHRUpload applies a queued HR file or bulk request.
	ApplyHRUpload(ctx context.Context, id int64) error
	// WatchHRFolders receives the files dropped in the HR sources'
	// watched folders.
	WatchHRFolders(ctx context.Context) error
	// HRDateDue reads an HR row's start and end dates again when one of
	// them begins or ends.
	HRDateDue(ctx context.Context, systemID, anchor string) error
}
