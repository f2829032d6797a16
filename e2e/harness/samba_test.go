package harness_test

import (
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"os"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

func TestSambaBind(t *testing.T) {
	t.Parallel()
	dc := harness.Samba(t)
	require.Equal(t, "ldaps://"+dc.IP+":636", dc.LDAPSURL)

	for _, user := range []string{dc.AdminUPN, dc.Domain + `\Administrator`} {
		conn := dial(t, dc.LDAPSURL, dc.TLSConfig())
		require.NoError(t, conn.Bind(user, dc.AdminPassword), "bind as %s", user)
		res, err := conn.Search(ldap.NewSearchRequest(dc.BaseDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
			0, 0, false, "(objectClass=*)", []string{"distinguishedName"}, nil))
		require.NoError(t, err)
		require.Len(t, res.Entries, 1)
		require.Equal(t, dc.BaseDN, res.Entries[0].GetAttributeValue("distinguishedName"))

		err = dial(t, dc.LDAPSURL, dc.TLSConfig()).Bind(user, dc.AdminPassword+"x")
		require.True(t, ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials), "wrong password for %s: %v", user, err)
	}

	// The certificate is checked: without the harness's CA the handshake fails.
	_, err := ldap.DialURL(dc.LDAPSURL, ldap.DialWithTLSConfig(&tls.Config{ServerName: dc.HostName}))
	require.ErrorContains(t, err, "certificate signed by unknown authority")
	// The CA file is what a connector configured by path would trust.
	pem, err := os.ReadFile(dc.CAFile)
	require.NoError(t, err)
	require.Contains(t, string(pem), "BEGIN CERTIFICATE")
}

func TestSambaUserPasswordAndGroup(t *testing.T) {
	t.Parallel()
	dc := harness.Samba(t)
	conn := dc.Dial(t)

	// The DC is shared by the test binary: keep to an OU of this test's own.
	ou := fmt.Sprintf("OU=harness-%d,%s", time.Now().UnixNano(), dc.BaseDN)
	add := ldap.NewAddRequest(ou, nil)
	add.Attribute("objectClass", []string{"organizationalUnit"})
	require.NoError(t, conn.Add(add))

	userDN := "CN=Ada Lovelace," + ou
	sam := fmt.Sprintf("ada%d", time.Now().UnixNano()%1_000_000)
	upn := sam + "@" + dc.Realm
	add = ldap.NewAddRequest(userDN, nil)
	add.Attribute("objectClass", []string{"user"})
	add.Attribute("sAMAccountName", []string{sam})
	add.Attribute("userPrincipalName", []string{upn})
	add.Attribute("givenName", []string{"Ada"})
	add.Attribute("sn", []string{"Lovelace"})
	add.Attribute("employeeID", []string{"E1815"})
	require.NoError(t, conn.Add(add))
	require.Equal(t, "546", attr(t, conn, userDN, "userAccountControl"), "a new user is disabled")

	const password = "Analytical-Engine-1843"
	mod := ldap.NewModifyRequest(userDN, nil)
	mod.Replace("unicodePwd", []string{unicodePwd(password)})
	require.NoError(t, conn.Modify(mod))
	mod = ldap.NewModifyRequest(userDN, nil)
	mod.Replace("userAccountControl", []string{"512"})
	require.NoError(t, conn.Modify(mod))

	userConn := dial(t, dc.LDAPSURL, dc.TLSConfig())
	require.NoError(t, userConn.Bind(upn, password))
	require.NoError(t, dial(t, dc.LDAPSURL, dc.TLSConfig()).Bind(dc.Domain+`\`+sam, password))
	err := dial(t, dc.LDAPSURL, dc.TLSConfig()).Bind(upn, password+"x")
	require.True(t, ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials), "wrong password: %v", err)

	// After a reset the old password is refused at once (smb.conf's
	// `old password allowed period = 0`), and the new one binds.
	mod = ldap.NewModifyRequest(userDN, nil)
	mod.Replace("unicodePwd", []string{unicodePwd(password + "-2")})
	require.NoError(t, conn.Modify(mod))
	err = dial(t, dc.LDAPSURL, dc.TLSConfig()).Bind(upn, password)
	require.True(t, ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials), "old password after a reset: %v", err)
	require.NoError(t, dial(t, dc.LDAPSURL, dc.TLSConfig()).Bind(upn, password+"-2"))

	groupDN := "CN=Engineers," + ou
	add = ldap.NewAddRequest(groupDN, nil)
	add.Attribute("objectClass", []string{"group"})
	add.Attribute("sAMAccountName", []string{"eng" + sam})
	add.Attribute("groupType", []string{"-2147483646"}) // global security group
	require.NoError(t, conn.Add(add))
	mod = ldap.NewModifyRequest(groupDN, nil)
	mod.Add("member", []string{userDN})
	require.NoError(t, conn.Modify(mod))
	require.Equal(t, groupDN, attr(t, conn, userDN, "memberOf"))
	require.Equal(t, "E1815", attr(t, userConn, userDN, "employeeID"), "the user reads itself")
}

func TestFreshSambaSideBySide(t *testing.T) {
	t.Parallel()
	a, b := harness.FreshSamba(t), harness.FreshSamba(t)
	require.NotEqual(t, a.IP, b.IP)
	require.NotEqual(t, a.CAFile, b.CAFile)

	ou := "OU=only-in-a," + a.BaseDN
	add := ldap.NewAddRequest(ou, nil)
	add.Attribute("objectClass", []string{"organizationalUnit"})
	require.NoError(t, a.Dial(t).Add(add))
	require.Equal(t, "only-in-a", attr(t, a.Dial(t), ou, "ou"))
	_, err := b.Dial(t).Search(ldap.NewSearchRequest(ou, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", nil, nil))
	require.True(t, ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject), "b has its own directory: %v", err)

	// Each DC has a CA of its own.
	_, err = ldap.DialURL(b.LDAPSURL, ldap.DialWithTLSConfig(a.TLSConfig()))
	require.Error(t, err)
}

// dial connects without binding; the connection is closed when t ends.
func dial(t *testing.T, url string, cfg *tls.Config) *ldap.Conn {
	t.Helper()
	conn, err := ldap.DialURL(url, ldap.DialWithTLSConfig(cfg))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// attr reads one attribute of the entry dn.
func attr(t *testing.T, conn *ldap.Conn, dn, name string) string {
	t.Helper()
	res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{name}, nil))
	require.NoError(t, err)
	require.Len(t, res.Entries, 1)
	return res.Entries[0].GetAttributeValue(name)
}

// unicodePwd encodes a password as AD wants it: UTF-16LE, in double quotes.
func unicodePwd(password string) string {
	u := utf16.Encode([]rune(`"` + password + `"`))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return string(b)
}
