package ad

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tessera-idm/tessera/portal"
)

// Tester tries an AD connected system's settings for the administration
// pages: "Test connection".
type Tester struct {
	// Secrets gives the stored bind password of a saved system tested
	// without a new one; nil allows only tests with a typed password.
	Secrets portal.ConnectedSystemSecrets
	// Timeout bounds each LDAP operation; 0: 10 s.
	Timeout time.Duration
}

var _ portal.ConnectionTester = (*Tester)(nil)

// TestConnection connects to every domain controller of sys in turn, binds
// over TLS with sys's CA, and reads the base DN and each OU in scope. The
// first failure is returned with AD's own text and the host it came from.
func (t *Tester) TestConnection(ctx context.Context, sys portal.ConnectedSystem) error {
	if sys.Type != "" && sys.Type != portal.SystemAD {
		return fmt.Errorf("ad: cannot test a connected system of type %q", sys.Type)
	}
	password := sys.BindPassword
	if password == "" && sys.ID != "" && t.Secrets != nil {
		var err error
		if password, err = t.Secrets.BindPassword(ctx, sys.ID); err != nil {
			return err
		}
	}
	// An empty password is an unauthenticated bind, which AD accepts as no
	// one: it would prove nothing.
	if password == "" {
		return portal.Errorf(portal.EINVALID, "Give the bind account's password to test the connection.")
	}
	if len(sys.Hosts) == 0 {
		return errors.New("ad: no domain controller to test")
	}
	timeout := t.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	for _, host := range sys.Hosts {
		if err := t.testHost(ctx, sys, host, password, timeout); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tester) testHost(ctx context.Context, sys portal.ConnectedSystem, host, password string, timeout time.Duration) error {
	c, err := Open(ctx, Config{Host: host, Port: sys.Port, TLS: TLSMode(sys.TLSMode), CAPEM: []byte(sys.CACertPEM),
		BindUser: sys.BindUser, BindPassword: password, BaseDN: sys.BaseDN, OUs: sys.OUs, Timeout: timeout})
	if err != nil {
		return err
	}
	defer c.Close()
	for _, dn := range append([]string{sys.BaseDN}, sys.OUs...) {
		if _, err := c.read(ctx, dn, "distinguishedName"); err != nil {
			return fmt.Errorf("%w (on %s)", err, host)
		}
	}
	return nil
}
