package ad_test

import (
	"context"
	"os"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/ad"
)

func newDirectory(t *testing.T, dc *harness.SambaDC, baseDN string) *ad.Directory {
	t.Helper()
	d, err := ad.NewDirectory(ad.DirectoryConfig{URL: dc.LDAPSURL, TLSConfig: dc.TLSConfig(), BaseDN: baseDN,
		Domain: dc.Domain, Realm: dc.Realm})
	require.NoError(t, err)
	return d
}

// addSignInUser creates an enabled user with a password in the bundle's OU
// and returns its sAMAccountName and DN.
func (b *testBundle) addSignInUser(t *testing.T, suffix, password string, more ...syncsvc.AttributeChange) (string, string) {
	t.Helper()
	sam := b.prefix + suffix
	res := b.export(t, syncsvc.ExportChange{Op: syncsvc.ExportAdd, Class: syncsvc.ObjectUser,
		DN: "CN=Sign In " + suffix + "," + b.ou, Password: password, Enabled: true,
		Attributes: append([]syncsvc.AttributeChange{
			{Op: syncsvc.AttributeReplace, Name: "sAMAccountName", Values: []string{sam}},
			{Op: syncsvc.AttributeReplace, Name: "userPrincipalName", Values: []string{sam + "@" + b.dc.Realm}},
		}, more...)})
	return sam, res.DN
}

func requireBadCredentials(t *testing.T, err error, msgAndArgs ...any) {
	t.Helper()
	require.Error(t, err, msgAndArgs...)
	require.Equal(t, portal.EUNAUTHORIZED, portal.ErrorCode(err), msgAndArgs...)
	require.Equal(t, "The account name or password is incorrect.", portal.ErrorMessage(err), msgAndArgs...)
}

func TestDirectoryAuthenticate(t *testing.T) {
	t.Parallel()
	b := setup(t, harness.Samba(t))
	ctx := context.Background()
	const password = "Difference-Engine-1822"
	sam, _ := b.addSignInUser(t, "s", password,
		syncsvc.AttributeChange{Op: syncsvc.AttributeReplace, Name: "employeeID", Values: []string{"E" + b.prefix}},
		syncsvc.AttributeChange{Op: syncsvc.AttributeReplace, Name: "mail", Values: []string{b.prefix + "s@mail.example"}})
	upn := sam + "@" + b.dc.Realm
	d := newDirectory(t, b.dc, b.dc.BaseDN)
	want := portal.DirectoryAccount{UserPrincipalName: upn, SAMAccountName: sam, Mail: sam + "@mail.example", EmployeeID: "E" + b.prefix}

	t.Run("every way of naming the account", func(t *testing.T) {
		for _, login := range []string{upn, b.dc.Domain + `\` + sam, "tessera\\" + sam, sam, " " + upn + " "} {
			got, err := d.Authenticate(ctx, login, password)
			require.NoError(t, err, login)
			require.Equal(t, want, got, login)
		}
	})

	t.Run("StartTLS with the CA file", func(t *testing.T) {
		ca, err := os.ReadFile(b.dc.CAFile)
		require.NoError(t, err)
		st, err := ad.NewDirectory(ad.DirectoryConfig{URL: "ldap://" + b.dc.IP, CAPEM: ca, BaseDN: b.dc.BaseDN, Realm: b.dc.Realm})
		require.NoError(t, err)
		got, err := st.Authenticate(ctx, upn, password)
		require.NoError(t, err)
		require.Equal(t, want, got)
	})

	t.Run("refusals all look alike", func(t *testing.T) {
		for _, c := range []struct{ login, password string }{
			{upn, password + "x"},
			{upn, ""},
			{"nobody" + b.prefix + "@" + b.dc.Realm, password},
			{`OTHER\` + sam, password},
			{"*@" + b.dc.Realm, password},
			{"*", password},
			{sam + ")(objectClass=*", password},
			{"CN=Sign In s," + b.ou, password},
			{"", password},
			{`\`, password},
			{"@", password},
		} {
			_, err := d.Authenticate(ctx, c.login, c.password)
			requireBadCredentials(t, err, "%q", c.login)
		}
	})

	t.Run("a name with filter characters reads only its own entry", func(t *testing.T) {
		// The name bound with is also the filter that reads the account's
		// entry: unescaped, <prefix>w*@realm would match <prefix>wx@realm,
		// another person's account, as well.
		wild := b.prefix + "w*@" + b.dc.Realm
		b.export(t, syncsvc.ExportChange{Op: syncsvc.ExportAdd, Class: syncsvc.ObjectUser,
			DN: "CN=Sign In w," + b.ou, Password: password, Enabled: true,
			Attributes: []syncsvc.AttributeChange{
				{Op: syncsvc.AttributeReplace, Name: "sAMAccountName", Values: []string{b.prefix + "w"}},
				{Op: syncsvc.AttributeReplace, Name: "userPrincipalName", Values: []string{wild}},
			}})
		b.addSignInUser(t, "wx", password)
		got, err := d.Authenticate(ctx, wild, password)
		require.NoError(t, err)
		require.Equal(t, b.prefix+"w", got.SAMAccountName)
		require.Equal(t, wild, got.UserPrincipalName)
	})

	t.Run("accounts outside the base DN cannot sign in", func(t *testing.T) {
		other := b.mkOU(t, "elsewhere", b.ou)
		_, err := newDirectory(t, b.dc, other).Authenticate(ctx, upn, password)
		requireBadCredentials(t, err)
	})

	t.Run("disabled accounts", func(t *testing.T) {
		dsam, ddn := b.addSignInUser(t, "d", password)
		require.NoError(t, b.conn.SetEnabled(ctx, ddn, false))
		_, err := d.Authenticate(ctx, dsam+"@"+b.dc.Realm, password)
		requireBadCredentials(t, err)
		require.NoError(t, b.conn.SetEnabled(ctx, ddn, true))
		_, err = d.Authenticate(ctx, dsam+"@"+b.dc.Realm, password)
		require.NoError(t, err)
	})
}

// A lockout needs a domain lockout policy: a domain of its own.
func TestDirectoryLockedAccount(t *testing.T) {
	t.Parallel()
	dc := harness.FreshSamba(t)
	b := setup(t, dc)
	mod := ldap.NewModifyRequest(dc.BaseDN, nil)
	mod.Replace("lockoutThreshold", []string{"2"})
	require.NoError(t, b.admin.Modify(mod))
	const password = "Lock-Me-Out-42"
	sam, dn := b.addSignInUser(t, "l", password)
	d := newDirectory(t, dc, dc.BaseDN)
	ctx := context.Background()
	for range 2 {
		_, err := d.Authenticate(ctx, sam, "wrong-password")
		requireBadCredentials(t, err)
	}
	require.NotEqual(t, "0", b.findSAM(t, sam, "lockoutTime").GetAttributeValue("lockoutTime"), "the account is locked")
	_, err := d.Authenticate(ctx, sam, password)
	requireBadCredentials(t, err, "a locked account with the right password")
	unlocked, err := b.conn.Unlock(ctx, dn)
	require.NoError(t, err)
	require.True(t, unlocked)
	_, err = d.Authenticate(ctx, sam, password)
	require.NoError(t, err)
}

func TestDirectoryEmptyPasswordNeverBinds(t *testing.T) {
	t.Parallel()
	// Nothing listens here: an attempt to connect would fail otherwise.
	d, err := ad.NewDirectory(ad.DirectoryConfig{URL: "ldaps://127.0.0.1:1", BaseDN: "DC=example,DC=com", Realm: "EXAMPLE.COM"})
	require.NoError(t, err)
	_, err = d.Authenticate(context.Background(), "Administrator@EXAMPLE.COM", "")
	requireBadCredentials(t, err)

	_, err = d.Authenticate(context.Background(), "Administrator@EXAMPLE.COM", "a password")
	require.Error(t, err)
	require.Equal(t, portal.EINTERNAL, portal.ErrorCode(err), "an unreachable directory is not a wrong password")
}

func TestDirectoryRefusesUntrustedServer(t *testing.T) {
	t.Parallel()
	dc := harness.Samba(t)
	d, err := ad.NewDirectory(ad.DirectoryConfig{URL: dc.LDAPSURL, BaseDN: dc.BaseDN}) // system roots only
	require.NoError(t, err)
	_, err = d.Authenticate(context.Background(), dc.AdminUPN, dc.AdminPassword)
	require.Error(t, err)
	require.Equal(t, portal.EINTERNAL, portal.ErrorCode(err))
	require.ErrorContains(t, err, "certificate")
}

func TestNewDirectoryConfig(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ url, baseDN, want string }{
		{"http://dc1.example.com", "DC=example,DC=com", "must start with ldaps://"},
		{"dc1.example.com", "DC=example,DC=com", "must"},
		{"ldaps://dc1.example.com", "", "base DN"},
		{"ldaps://dc1.example.com", "not a dn", "base DN"},
	} {
		_, err := ad.NewDirectory(ad.DirectoryConfig{URL: c.url, BaseDN: c.baseDN})
		require.ErrorContains(t, err, c.want, c.url)
	}
}
