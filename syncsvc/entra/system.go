package entra

import (
	"context"
	"fmt"
	"time"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
)

// ConfigOf makes the connector's configuration from a connected system as
// an administrator configured it, with its client secret.
func ConfigOf(sys portal.ConnectedSystem, secret string) Config {
	e := sys.Entra
	budget := e.WriteBudget
	return Config{
		Client: ClientConfig{Authority: e.AuthorityURL, GraphURL: e.GraphURL, TenantID: e.TenantID, ClientID: e.ClientID,
			ClientSecret: secret, WriteBudget: budget, WriteWindow: DefaultWriteWindow},
		VerifiedDomains: e.VerifiedDomains,
		SoftMatch:       e.SoftMatch,
		DomainsMaxAge:   domainsMaxAge,
	}
}

// domainsMaxAge is how long the engine's connectors take a tenant's
// domains as read: a domain verified meanwhile is used from then on.
const domainsMaxAge = 5 * time.Minute

// OpenSystem connects to an Entra ID connected system.
func OpenSystem(ctx context.Context, sys portal.ConnectedSystem, secret string) (*Connector, error) {
	if sys.Type != portal.SystemEntra {
		return nil, fmt.Errorf("entra: cannot open a connected system of type %q", sys.Type)
	}
	return Open(ctx, ConfigOf(sys, secret))
}

// Opener returns the sync engine's way to connect to Entra ID systems, with
// client secrets from secrets; the writes are counted in ledger, which the
// processes sharing a database share (nil: each process counts its own).
func Opener(secrets portal.ConnectedSystemSecrets, ledger *Ledger) syncsvc.Opener {
	return func(ctx context.Context, sys portal.ConnectedSystem) (syncsvc.Connector, error) {
		secret, err := secrets.BindPassword(ctx, sys.ID)
		if err != nil {
			return nil, err
		}
		if sys.Type != portal.SystemEntra {
			return nil, fmt.Errorf("entra: cannot open a connected system of type %q", sys.Type)
		}
		cfg := ConfigOf(sys, secret)
		cfg.Client.Ledger = ledger
		return Open(ctx, cfg)
	}
}

// Tester tries an Entra ID system's settings for the administration pages:
// "Test connection" takes a token and reads the tenant's domains and one
// user.
type Tester struct {
	// Secrets gives the stored client secret of a saved system tested
	// without a new one.
	Secrets portal.ConnectedSystemSecrets
}

var _ portal.ConnectionTester = (*Tester)(nil)

// TestConnection signs in with the client credentials, reads the tenant's
// verified domains and checks that the ones configured are among them,
// and reads the users. The error carries Graph's own code and message.
func (t *Tester) TestConnection(ctx context.Context, sys portal.ConnectedSystem) error {
	secret := sys.BindPassword
	if secret == "" && sys.ID != "" && t.Secrets != nil {
		var err error
		if secret, err = t.Secrets.BindPassword(ctx, sys.ID); err != nil {
			return err
		}
	}
	if secret == "" {
		return portal.Errorf(portal.EINVALID, "Give the client secret to test the connection.")
	}
	cfg := ConfigOf(sys, secret)
	cfg.Client.MaxAttempts = 2
	cfg.VerifiedDomains, cfg.DomainsMaxAge = nil, 0 // read them now, to compare
	c, err := Open(ctx, cfg)
	if err != nil {
		return err
	}
	for _, d := range sys.Entra.VerifiedDomains {
		if !contains(c.cfg.VerifiedDomains, d) {
			return portal.Errorf(portal.EINVALID, "%s is not a verified domain of the tenant (it has %v).", d, c.cfg.VerifiedDomains)
		}
	}
	var page Page
	if err := c.c.Do(ctx, "GET", "/users?$top=1&$select=id", nil, &page); err != nil {
		return fmt.Errorf("entra: read users (User.ReadWrite.All is needed): %w", err)
	}
	return nil
}
