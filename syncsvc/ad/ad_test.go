package ad_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/ad"
)

func TestMain(m *testing.M) { harness.Main(m) }

// testBundle is one test's view of a DC: its own OU, a connector scoped to
// it, and an independent admin connection to check what the connector did.
type testBundle struct {
	dc     *harness.SambaDC
	admin  *ldap.Conn
	conn   *ad.Connector
	ou     string
	prefix string // unique per test, for sAMAccountNames (at most 20 characters)
}

var names atomic.Int64

func setup(t *testing.T, dc *harness.SambaDC) *testBundle {
	t.Helper()
	b := &testBundle{dc: dc, admin: dc.Dial(t)}
	b.prefix = fmt.Sprintf("t%04d%03d", rand.IntN(10000), names.Add(1))
	b.ou = "OU=" + b.prefix + "," + dc.BaseDN
	add := ldap.NewAddRequest(b.ou, nil)
	add.Attribute("objectClass", []string{"organizationalUnit"})
	require.NoError(t, b.admin.Add(add))
	b.conn = open(t, dc, ad.LDAPS, b.ou)
	return b
}

func open(t *testing.T, dc *harness.SambaDC, mode ad.TLSMode, ous ...string) *ad.Connector {
	t.Helper()
	conn, err := ad.Open(context.Background(), ad.Config{
		Host: dc.IP, TLS: mode, TLSConfig: dc.TLSConfig(),
		BindUser: dc.AdminUPN, BindPassword: dc.AdminPassword,
		BaseDN: dc.BaseDN, OUs: ous, PageSize: 2, MaxValuesPerModify: 2,
	})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// mkOU creates an OU named name under parent and returns its DN.
func (b *testBundle) mkOU(t *testing.T, name, parent string) string {
	t.Helper()
	dn := syncsvc.ChildDN("OU", name, parent)
	add := ldap.NewAddRequest(dn, nil)
	add.Attribute("objectClass", []string{"organizationalUnit"})
	require.NoError(t, b.admin.Add(add))
	return dn
}

// export runs one change and requires it to succeed.
func (b *testBundle) export(t *testing.T, ch syncsvc.ExportChange) syncsvc.ExportResult {
	t.Helper()
	res := b.conn.Export(context.Background(), []syncsvc.ExportChange{ch})
	require.Len(t, res, 1)
	require.NoError(t, res[0].Err)
	return res[0]
}

// addUser creates a user named cn in parent through the connector.
func (b *testBundle) addUser(t *testing.T, cn, parent, sam string, more ...syncsvc.AttributeChange) syncsvc.ExportResult {
	t.Helper()
	attrs := append([]syncsvc.AttributeChange{
		{Op: syncsvc.AttributeReplace, Name: "sAMAccountName", Values: []string{sam}},
		{Op: syncsvc.AttributeReplace, Name: "userPrincipalName", Values: []string{sam + "@" + b.dc.Realm}},
	}, more...)
	return b.export(t, syncsvc.ExportChange{Op: syncsvc.ExportAdd, Class: syncsvc.ObjectUser,
		DN: syncsvc.ChildDN("CN", cn, parent), Attributes: attrs})
}

// find searches the domain independently of the connector: one entry
// matching filter, or nil.
func (b *testBundle) find(t *testing.T, filter string, attrs ...string) *ldap.Entry {
	t.Helper()
	res, err := b.admin.Search(ldap.NewSearchRequest(b.dc.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, filter, attrs, nil))
	require.NoError(t, err)
	require.LessOrEqual(t, len(res.Entries), 1, filter)
	if len(res.Entries) == 0 {
		return nil
	}
	return res.Entries[0]
}

func (b *testBundle) findSAM(t *testing.T, sam string, attrs ...string) *ldap.Entry {
	t.Helper()
	return b.find(t, "(sAMAccountName="+ldap.EscapeFilter(sam)+")", attrs...)
}

// bind reports the error of a bind as user with password on a new
// connection.
func bind(t *testing.T, dc *harness.SambaDC, user, password string) error {
	t.Helper()
	conn, err := ldap.DialURL(dc.LDAPSURL, ldap.DialWithTLSConfig(dc.TLSConfig()))
	require.NoError(t, err)
	defer conn.Close()
	return conn.Bind(user, password)
}

func TestOpenRefusesPlainLDAP(t *testing.T) {
	t.Parallel()
	_, err := ad.Open(context.Background(), ad.Config{Host: "127.0.0.1", TLS: "none", BaseDN: "DC=x", BindUser: "x"})
	require.ErrorContains(t, err, "TLS mode")
}

func TestOpenStartTLSAndCAPEM(t *testing.T) {
	t.Parallel()
	dc := harness.Samba(t)
	ca, err := os.ReadFile(dc.CAFile)
	require.NoError(t, err)
	for _, mode := range []ad.TLSMode{ad.StartTLS, ad.LDAPS} {
		conn, err := ad.Open(context.Background(), ad.Config{Host: dc.IP, TLS: mode, CAPEM: ca,
			BindUser: dc.AdminUPN, BindPassword: dc.AdminPassword, BaseDN: dc.BaseDN})
		// The certificate names dc.IP, which is what Host is.
		require.NoError(t, err, mode)
		require.NoError(t, conn.Close())
	}
	_, err = ad.Open(context.Background(), ad.Config{Host: dc.IP, TLS: ad.LDAPS, CAPEM: ca,
		BindUser: dc.AdminUPN, BindPassword: "wrong", BaseDN: dc.BaseDN})
	var adErr *ad.Error
	require.ErrorAs(t, err, &adErr)
	require.Equal(t, uint16(ldap.LDAPResultInvalidCredentials), adErr.ResultCode)
	require.Contains(t, adErr.Diagnostic, "data 52e", "AD's own text")
}
