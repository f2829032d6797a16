package main

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/web"
	"github.com/tessera-idm/tessera/workflow"
)

// Config is Tessera's configuration, read from environment variables (see
// README.md); command-line flags override single values.
type Config struct {
	DatabaseURL string // DATABASE_URL; empty in `dev` starts a private PostgreSQL
	Listen      string // TESSERA_LISTEN
	BaseURL     string // TESSERA_BASE_URL
	Role        string // TESSERA_ROLE: web, worker or all
	DataDir     string // TESSERA_DATA_DIR: where `dev` keeps its PostgreSQL
	DevPGPort   int    // TESSERA_DEV_PG_PORT
	DemoPeople  int    // TESSERA_DEMO_PEOPLE: size of the demo organisation `dev` seeds
	LogLevel    slog.Level
	LogFormat   string // TESSERA_LOG_FORMAT: text or json
	OIDC        web.OIDCConfig
	SMTP        workflow.SMTPConfig // TESSERA_SMTP_*, TESSERA_MAIL_FROM; no host means no email
}

// LoadConfig reads the environment and reports every mistake it finds.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		DatabaseURL: getenv("DATABASE_URL"),
		Listen:      orDefault(getenv("TESSERA_LISTEN"), "127.0.0.1:8080"),
		BaseURL:     strings.TrimRight(getenv("TESSERA_BASE_URL"), "/"),
		Role:        orDefault(getenv("TESSERA_ROLE"), "all"),
		DataDir:     orDefault(getenv("TESSERA_DATA_DIR"), "var"),
		LogFormat:   orDefault(getenv("TESSERA_LOG_FORMAT"), "text"),
		OIDC: web.OIDCConfig{
			Issuer:         getenv("TESSERA_OIDC_ISSUER"),
			ClientID:       getenv("TESSERA_OIDC_CLIENT_ID"),
			ClientSecret:   getenv("TESSERA_OIDC_CLIENT_SECRET"),
			Name:           orDefault(getenv("TESSERA_OIDC_NAME"), "single sign-on"),
			MatchClaim:     orDefault(getenv("TESSERA_OIDC_MATCH_CLAIM"), "email"),
			MatchAttribute: orDefault(getenv("TESSERA_OIDC_MATCH_ATTRIBUTE"), "email"),
			Scopes:         strings.Fields(orDefault(getenv("TESSERA_OIDC_SCOPES"), "email profile")),
		},
	}
	var errs []string
	var err error
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
	if c.DevPGPort, err = intVar(getenv, "TESSERA_DEV_PG_PORT", 54329, 1, 65535); err != nil {
		errs = append(errs, err.Error())
	}
	if c.DemoPeople, err = intVar(getenv, "TESSERA_DEMO_PEOPLE", 2000, 40, 1_000_000); err != nil {
		errs = append(errs, err.Error())
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
	return web.Config{BaseURL: base, SecureCookies: strings.HasPrefix(base, "https://"), OIDC: c.OIDC}
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
