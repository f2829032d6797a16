package web_test

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
)

// A user sync rule saved before the directory's schema was read (no full
// import, no connection test yet) was checked against no schema: its flow
// of a list to homePhone, an attribute of one value in AD, was taken and
// would have failed at every export. When "Test connection" reads the
// schema, the rule is checked again: the system's page and the rule's
// page say it can no longer be exported and why, and keep saying so
// until the rule is changed.
func TestRuleRefusedBySchemaReadLaterIsShown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dc := harness.Samba(t)
	ca, err := os.ReadFile(dc.CAFile)
	require.NoError(t, err)
	ou := fmt.Sprintf("OU=Rules %04d%03d,%s", mrand.IntN(10000), adNames.Add(1), dc.BaseDN)
	add := ldap.NewAddRequest(ou, nil)
	add.Attribute("objectClass", []string{"organizationalUnit"})
	require.NoError(t, dc.Dial(t).Add(add))

	tb, systems := setupConnected(t, testSealer(t))
	c := tb.client(t)
	c.mustSignIn("ada")
	fields := c.form("name", "Rules domain", "hosts", dc.IP, "tls_mode", "ldaps", "port", "636",
		"ca_cert_pem", string(ca), "bind_user", dc.AdminUPN, "bind_password", dc.AdminPassword,
		"base_dn", dc.BaseDN, "ous", ou, "enabled", "on")
	resp, _ := c.post("/admin/connected-systems", fields)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	path, _, _ := strings.Cut(resp.Header.Get("Location"), "?")
	id := strings.TrimPrefix(path, "/admin/connected-systems/")

	admin := portal.Viewer{Roles: []portal.Role{portal.RoleAdmin}}
	require.NoError(t, tb.db.AddAttribute(ctx, admin, portal.Attribute{Name: "phones", Label: "Other phones",
		Type: portal.TypeStrings, MaxLen: 64}))
	engine := tb.syncEngine(t, systems)
	rule := syncsvc.DefaultUserRule(id, ou)
	rule.Outbound = append(rule.Outbound, syncsvc.OutboundFlow{CS: "homePhone", Expr: "person.phones"})
	require.NoError(t, engine.SaveSyncRule(ctx, admin, rule), "no schema read yet: nothing to check it against")
	_, body := c.get(path)
	require.NotContains(t, body, `data-testid="rule-schema-error"`)

	fields.Set("bind_password", "")
	_, body = c.post(path+"/test", fields)
	require.Contains(t, body, "Connection test passed")
	rulePath := path + "/sync/rules/user"
	require.Contains(t, body, `data-testid="rule-schema-error"`, "the page that read the schema says so")
	require.Contains(t, body, `href="`+rulePath+`"`)
	require.Contains(t, body, "homePhone holds one value")
	for _, p := range []string{path, rulePath} {
		resp, body := c.get(p)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `data-testid="rule-schema-error"`, "%s still says so", p)
		require.Contains(t, body, "homePhone holds one value", p)
	}

	// Someone acts: the rule, changed to write one value, is saved, and
	// the error is gone; the next schema read finds nothing against it.
	rule.Outbound[len(rule.Outbound)-1].Expr = `person.phones.join(", ")`
	require.NoError(t, engine.SaveSyncRule(ctx, admin, rule))
	_, body = c.post(path+"/test", fields)
	require.Contains(t, body, "Connection test passed")
	for _, p := range []string{path, rulePath} {
		_, body := c.get(p)
		require.NotContains(t, body, `data-testid="rule-schema-error"`, p)
	}
}
