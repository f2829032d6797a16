package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc/ad"
	"github.com/tessera-idm/tessera/web"
	"github.com/tessera-idm/tessera/workflow"
)

// Config is Tessera's configuration, read from environment variables (see
// README.md); command-line flags override single values.
type Config struct {
	DatabaseURL string // DATABASE_URL; empty in `dev` starts a private PostgreSQL
	Listen      string // TESSERA_LISTEN
	// MetricsListen (TESSERA_METRICS_LISTEN) serves /metrics on an address
	// of its own, in every role; empty: /metrics is on Listen (web roles).
	MetricsListen string
	BaseURL       string // TESSERA_BASE_URL
	Role          string // TESSERA_ROLE: web, worker or all
	DataDir       string // TESSERA_DATA_DIR: where `dev` keeps its PostgreSQL
	DevPGPort     int    // TESSERA_DEV_PG_PORT
	DemoPeople    int    // TESSERA_DEMO_PEOPLE: size of the demo organisation `dev` seeds
	// DemoAD (TESSERA_DEMO_AD, default on): `dev` also starts a Samba AD
	// DC in DataDir/samba and exports the demo organisation to it.
	DemoAD bool
	// DevMailListen (TESSERA_DEV_MAIL_LISTEN): where `dev` without a mail
	// server serves its mailbox page, the mail the demo sends.
	DevMailListen string
	LogLevel      slog.Level
	LogFormat     string // TESSERA_LOG_FORMAT: text or json
	OIDC          web.OIDCConfig
	LDAP          LDAPConfig          // TESSERA_LDAP_*; no URL means no directory sign-in
	SMTP          workflow.SMTPConfig // TESSERA_SMTP_*, TESSERA_MAIL_FROM; no host means no email
	// Sealer encrypts connected systems' passwords with TESSERA_SECRET_KEY;
	// nil without the key, and connected systems then cannot be saved.
	Sealer *portal.Sealer
	// TrustedProxies (TESSERA_TRUSTED_PROXIES) are the reverse proxies
	// whose X-Forwarded-For or Forwarded header is believed.
	TrustedProxies []netip.Prefix
	// AuditKey keys the audit chain and signs its checkpoints, derived from
	// TESSERA_SECRET_KEY; nil without the key (the chain is then plain
	// SHA-256, and checkpoints are unsigned).
	AuditKey *portal.AuditKey
	// ArgonConcurrency (TESSERA_ARGON2_CONCURRENCY) bounds the argon2id
	// hashes (local passwords, security answers) computed at once.
	ArgonConcurrency int
	// StaffSecondFactor (TESSERA_STAFF_SECOND_FACTOR): "on" or "off";
	// empty means on, except in `dev`, whose demo relaxes it.
	StaffSecondFactor string
}

// useSecretKey derives from TESSERA_SECRET_KEY's bytes everything that is
// keyed with it.
func (c *Config) useSecretKey(key []byte) error {
	sealer, err := portal.NewSealer(key)
	if err != nil {
		return err
	}
	audit, err := portal.NewAuditKey(key)
	if err != nil {
		return err
	}
	c.Sealer, c.AuditKey = sealer, audit
	return nil
}

// LoadConfig reads the environment and reports every mistake it finds.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		DatabaseURL:   getenv("DATABASE_URL"),
		Listen:        orDefault(getenv("TESSERA_LISTEN"), "127.0.0.1:8080"),
		MetricsListen: getenv("TESSERA_METRICS_LISTEN"),
		BaseURL:       strings.TrimRight(getenv("TESSERA_BASE_URL"), "/"),
		Role:          orDefault(getenv("TESSERA_ROLE"), "all"),
		DataDir:       orDefault(getenv("TESSERA_DATA_DIR"), "var"),
		LogFormat:     orDefault(getenv("TESSERA_LOG_FORMAT"), "text"),
		OIDC: web.OIDCConfig{
			Issuer:         getenv("TESSERA_OIDC_ISSUER"),
			ClientID:       getenv("TESSERA_OIDC_CLIENT_ID"),
			ClientSecret:   getenv("TESSERA_OIDC_CLIENT_SECRET"),
			Name:           orDefault(getenv("TESSERA_OIDC_NAME"), "single sign-on"),
			MatchClaim:     orDefault(getenv("TESSERA_OIDC_MATCH_CLAIM"), "email"),
			MatchAttribute: orDefault(getenv("TESSERA_OIDC_MATCH_ATTRIBUTE"), "email"),
			Scopes:         strings.Fields(orDefault(getenv("TESSERA_OIDC_SCOPES"), "email profile")),
			MFAAMR:         strings.FieldsFunc(orDefault(getenv("TESSERA_OIDC_MFA_AMR"), "mfa,otp,hwk,swk,sc"), isListSep),
			MFAACR:         strings.FieldsFunc(getenv("TESSERA_OIDC_MFA_ACR"), isListSep),
		},
		StaffSecondFactor: strings.ToLower(getenv("TESSERA_STAFF_SECOND_FACTOR")),
	}
	c.LDAP = LDAPConfig{
		URL: getenv("TESSERA_LDAP_URL"), CAFile: getenv("TESSERA_LDAP_CA_FILE"), BaseDN: getenv("TESSERA_LDAP_BASE_DN"),
		Domain: getenv("TESSERA_LDAP_DOMAIN"), Realm: getenv("TESSERA_LDAP_REALM"),
		MatchAttribute: orDefault(getenv("TESSERA_LDAP_MATCH_ATTRIBUTE"), "employee_id"),
	}
	var errs []string
	var err error
	ldapSet := false
	for _, k := range []string{"TESSERA_LDAP_URL", "TESSERA_LDAP_CA_FILE", "TESSERA_LDAP_BASE_DN", "TESSERA_LDAP_DOMAIN",
		"TESSERA_LDAP_REALM", "TESSERA_LDAP_MATCH_ATTRIBUTE"} {
		ldapSet = ldapSet || getenv(k) != ""
	}
	if ldapSet {
		errs = append(errs, c.LDAP.validate()...)
	}
	c.SMTP = workflow.SMTPConfig{
		Host: getenv("TESSERA_SMTP_HOST"), Username: getenv("TESSERA_SMTP_USERNAME"), Password: getenv("TESSERA_SMTP_PASSWORD"),
		TLS: orDefault(getenv("TESSERA_SMTP_TLS"), workflow.SMTPStartTLS), CAFile: getenv("TESSERA_SMTP_CA_FILE"),
		From: getenv("TESSERA_MAIL_FROM"),
	}
	if c.SMTP.Port, err = intVar(getenv, "TESSERA_SMTP_PORT", 0, 1, 65535); err != nil {
		errs = append(errs, err.Error())
	}
	smtpSet := false
	for _, k := range []string{"TESSERA_SMTP_HOST", "TESSERA_SMTP_PORT", "TESSERA_SMTP_USERNAME", "TESSERA_SMTP_PASSWORD",
		"TESSERA_SMTP_TLS", "TESSERA_SMTP_CA_FILE", "TESSERA_MAIL_FROM"} {
		smtpSet = smtpSet || getenv(k) != ""
	}
	if smtpSet {
		if err := c.SMTP.Validate(); err != nil {
			errs = append(errs, portal.ErrorMessageOr(err))
		}
	}
	if key, err := portal.ParseSecretKey(getenv(portal.SecretKeyEnv)); err == nil {
		err = c.useSecretKey(key)
		if err != nil {
			errs = append(errs, err.Error())
		}
	} else if !errors.Is(err, portal.ErrNoSecretKey) {
		errs = append(errs, err.Error())
	}
	if c.TrustedProxies, err = parseTrustedProxies(getenv("TESSERA_TRUSTED_PROXIES")); err != nil {
		errs = append(errs, err.Error())
	}
	if c.DevPGPort, err = intVar(getenv, "TESSERA_DEV_PG_PORT", 54329, 1, 65535); err != nil {
		errs = append(errs, err.Error())
	}
	switch c.StaffSecondFactor {
	case "", "on", "off":
	default:
		errs = append(errs, "TESSERA_STAFF_SECOND_FACTOR must be on or off")
	}
	if c.ArgonConcurrency, err = intVar(getenv, "TESSERA_ARGON2_CONCURRENCY", portal.DefaultArgonConcurrency, 1, 256); err != nil {
		errs = append(errs, err.Error())
	}
	if c.DemoPeople, err = intVar(getenv, "TESSERA_DEMO_PEOPLE", 2000, 40, 1_000_000); err != nil {
		errs = append(errs, err.Error())
	}
	c.DevMailListen = orDefault(getenv("TESSERA_DEV_MAIL_LISTEN"), "127.0.0.1:8025")
	switch v := strings.ToLower(orDefault(getenv("TESSERA_DEMO_AD"), "on")); v {
	case "on", "true", "1", "yes":
		c.DemoAD = true
	case "off", "false", "0", "no":
	default:
		errs = append(errs, "TESSERA_DEMO_AD must be on or off")
	}
	if err := c.LogLevel.UnmarshalText([]byte(orDefault(getenv("TESSERA_LOG_LEVEL"), "info"))); err != nil {
		errs = append(errs, "TESSERA_LOG_LEVEL must be debug, info, warn or error")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, "TESSERA_LOG_FORMAT must be text or json")
	}
	switch c.Role {
	case "web", "worker", "all":
	default:
		errs = append(errs, "TESSERA_ROLE must be web, worker or all")
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			errs = append(errs, fmt.Sprintf("TESSERA_METRICS_LISTEN must be an address such as 127.0.0.1:9090, not %q", c.MetricsListen))
		}
	}
	if c.BaseURL != "" && !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://") {
		errs = append(errs, "TESSERA_BASE_URL must start with http:// or https://")
	}
	if err := c.OIDC.Validate(); err != nil {
		errs = append(errs, portal.ErrorMessageOr(err))
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

// WebConfig derives the web tier's configuration.
func (c Config) WebConfig() web.Config {
	base := c.BaseURL
	if base == "" {
		base = "http://" + c.Listen
		if strings.HasPrefix(c.Listen, ":") || strings.HasPrefix(c.Listen, "0.0.0.0:") {
			base = "http://localhost:" + c.Listen[strings.LastIndex(c.Listen, ":")+1:]
		}
	}
	wc := web.Config{BaseURL: base, SecureCookies: strings.HasPrefix(base, "https://"), OIDC: c.OIDC,
		DirectoryMatch: c.LDAP.MatchAttribute, TrustedProxies: c.TrustedProxies, StaffSecondFactor: c.StaffSecondFactor != "off"}
	if c.Sealer != nil {
		wc.DeviceKey = c.Sealer.DeriveKey("sign-in device cookie")
	}
	return wc
}

// parseTrustedProxies reads TESSERA_TRUSTED_PROXIES: CIDRs (or single
// addresses) separated by commas. A mistake here would either let anyone
// choose their address or put everyone behind the proxy's, so every entry
// must parse.
func parseTrustedProxies(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			a, aerr := netip.ParseAddr(item)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("TESSERA_TRUSTED_PROXIES: %q is not a CIDR such as 10.0.0.0/8 or fd00::/8, nor an address", item)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p.Addr().Is4In6() {
			// ::ffff:10.0.0.0/104 is 10.0.0.0/8; clients are compared unmapped.
			if p.Bits() < 96 {
				return nil, fmt.Errorf("TESSERA_TRUSTED_PROXIES: %q mixes IPv4-mapped and other IPv6 addresses; write the IPv4 CIDR", item)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if p.Masked() != p {
			return nil, fmt.Errorf("TESSERA_TRUSTED_PROXIES: %q has host bits set; did you mean %s?", item, p.Masked())
		}
		out = append(out, p)
	}
	return out, nil
}

// LDAPConfig configures sign-in with a directory (AD) account by LDAP bind.
type LDAPConfig struct {
	URL            string // TESSERA_LDAP_URL: ldaps://dc1.example.com:636, or ldap:// with StartTLS
	CAFile         string // TESSERA_LDAP_CA_FILE: PEM of the CAs that sign the DC's certificate
	BaseDN         string // TESSERA_LDAP_BASE_DN: where accounts may sign in from
	Domain         string // TESSERA_LDAP_DOMAIN: NetBIOS domain, for DOMAIN\name
	Realm          string // TESSERA_LDAP_REALM: UPN suffix for bare names
	MatchAttribute string // TESSERA_LDAP_MATCH_ATTRIBUTE: the person attribute accounts match by
}

// Enabled reports whether directory sign-in is configured.
func (c LDAPConfig) Enabled() bool { return c.URL != "" }

// validate reports every mistake in words that name the variable to fix.
func (c LDAPConfig) validate() []string {
	var errs []string
	if c.URL == "" {
		return []string{"directory sign-in needs TESSERA_LDAP_URL, e.g. ldaps://dc1.example.com:636"}
	}
	if !strings.HasPrefix(c.URL, "ldaps://") && !strings.HasPrefix(c.URL, "ldap://") {
		errs = append(errs, fmt.Sprintf("TESSERA_LDAP_URL must start with ldaps:// (or ldap://, always upgraded with StartTLS), not %q", c.URL))
	}
	if c.BaseDN == "" {
		errs = append(errs, "TESSERA_LDAP_BASE_DN must name where accounts may sign in from, e.g. DC=example,DC=com")
	} else if _, err := ldap.ParseDN(c.BaseDN); err != nil {
		errs = append(errs, fmt.Sprintf("TESSERA_LDAP_BASE_DN is not a DN (%v): %q", err, c.BaseDN))
	}
	switch c.MatchAttribute {
	case "employee_id", "account_name", "email", "upn":
	default:
		errs = append(errs, fmt.Sprintf("TESSERA_LDAP_MATCH_ATTRIBUTE must be employee_id, account_name, email or upn, not %q", c.MatchAttribute))
	}
	if strings.ContainsAny(c.Domain, `\@. `) {
		errs = append(errs, fmt.Sprintf("TESSERA_LDAP_DOMAIN is the NetBIOS domain name, such as EXAMPLE, not %q", c.Domain))
	}
	if strings.ContainsAny(c.Realm, `\@ `) {
		errs = append(errs, fmt.Sprintf("TESSERA_LDAP_REALM is the UPN suffix, such as example.com, not %q", c.Realm))
	}
	if c.CAFile != "" {
		if _, err := c.caPEM(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) == 0 {
		if _, err := c.Directory(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	return errs
}

func (c LDAPConfig) caPEM() ([]byte, error) {
	if c.CAFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("TESSERA_LDAP_CA_FILE cannot be read: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("TESSERA_LDAP_CA_FILE %s holds no PEM certificate", c.CAFile)
	}
	return b, nil
}

// Directory builds the directory sign-in from the configuration.
func (c LDAPConfig) Directory() (*ad.Directory, error) {
	ca, err := c.caPEM()
	if err != nil {
		return nil, err
	}
	d, err := ad.NewDirectory(ad.DirectoryConfig{URL: c.URL, CAPEM: ca, BaseDN: c.BaseDN, Domain: c.Domain, Realm: c.Realm})
	if err != nil {
		return nil, fmt.Errorf("TESSERA_LDAP_URL or TESSERA_LDAP_BASE_DN: %w", err)
	}
	return d, nil
}

func (c Config) logger() *slog.Logger { return c.loggerAt(c.LogLevel) }

// riverLogger logs River's own messages from warnings up, unless debugging.
func (c Config) riverLogger() *slog.Logger {
	return c.loggerAt(max(c.LogLevel, slog.LevelWarn)).With("component", "river")
}

func (c Config) loggerAt(level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func intVar(getenv func(string) string, name string, def, lo, hi int) (int, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return def, fmt.Errorf("%s must be a whole number from %d to %d, not %q", name, lo, hi, v)
	}
	return n, nil
}

// isListSep separates the values of a list variable: commas or spaces.
func isListSep(r rune) bool { return r == ',' || r == ' ' }
