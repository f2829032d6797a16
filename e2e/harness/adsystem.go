package harness

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
)

// ADSystem is a connected system on a Samba DC, configured as an
// administrator would, with an OU of its own.
type ADSystem struct {
	Systems *postgres.ConnectedSystems
	System  *portal.ConnectedSystem
	Admin   portal.Viewer // an administrator of the portal
	OU      string        // the OU in scope, created for the test
	// SecretKey is TESSERA_SECRET_KEY for a tessera process that reads
	// the system's sealed bind password.
	SecretKey string
}

// NewADSystem creates an OU named ouName under dc's base DN, an
// administrator in db, and a connected system scoped to the OU with a
// fresh secret key.
func NewADSystem(tb testing.TB, db *postgres.DB, dc *SambaDC, ouName string) *ADSystem {
	tb.Helper()
	ctx := context.Background()
	s := &ADSystem{OU: "OU=" + ouName + "," + dc.BaseDN}
	conn := dc.Dial(tb)
	add := ldap.NewAddRequest(s.OU, nil)
	add.Attribute("objectClass", []string{"organizationalUnit"})
	if err := conn.Add(add); err != nil {
		tb.Fatalf("harness: create %s: %v", s.OU, err)
	}
	key := make([]byte, portal.SecretKeySize)
	if _, err := rand.Read(key); err != nil {
		tb.Fatal(err)
	}
	s.SecretKey = base64.StdEncoding.EncodeToString(key)
	sealer, err := portal.NewSealer(key)
	if err != nil {
		tb.Fatal(err)
	}
	s.Systems = postgres.NewConnectedSystems(db, sealer)
	var adminID string
	if err := db.Pool.QueryRow(ctx, `INSERT INTO people (account_name, display_name) VALUES ($1, 'Sync Admin') RETURNING id`,
		"admin-"+ouName).Scan(&adminID); err != nil {
		tb.Fatalf("harness: administrator: %v", err)
	}
	if _, err := db.Pool.Exec(ctx, "INSERT INTO person_roles (person_id, role) VALUES ($1, 'admin')", adminID); err != nil {
		tb.Fatal(err)
	}
	s.Admin = portal.Viewer{PersonID: adminID, DisplayName: "Sync Admin", Roles: []portal.Role{portal.RoleAdmin}}
	ca, err := os.ReadFile(dc.CAFile)
	if err != nil {
		tb.Fatal(err)
	}
	s.System, err = s.Systems.CreateConnectedSystem(ctx, s.Admin, portal.ConnectedSystem{
		Name: fmt.Sprintf("AD %s", ouName), Type: portal.SystemAD, Hosts: []string{dc.IP}, TLSMode: portal.TLSLDAPS,
		CACertPEM: string(ca), BindUser: dc.AdminUPN, BindPassword: dc.AdminPassword, BaseDN: dc.BaseDN,
		OUs: []string{s.OU}, Enabled: true,
	})
	if err != nil {
		tb.Fatalf("harness: connected system: %v", err)
	}
	return s
}
