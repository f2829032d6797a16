package portal_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

func testCAPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestConnectedSystemValidate(t *testing.T) {
	t.Parallel()
	ca := testCAPEM(t)
	valid := func() portal.ConnectedSystem {
		return portal.ConnectedSystem{Name: " Corp AD ", Hosts: []string{" dc1.corp.example.com", "10.0.0.5", "DC1.corp.example.com"},
			TLSMode: portal.TLSLDAPS, BindUser: `CORP\svc-tessera`, BindPassword: "secret", BaseDN: "DC=corp,DC=example,DC=com",
			OUs: []string{"OU=People,DC=corp,DC=example,DC=com", "", "ou=people, dc=CORP, dc=example, dc=com"}}
	}
	for _, tc := range []struct {
		name string
		edit func(c *portal.ConnectedSystem)
		want string // part of the message; "" for valid
	}{
		{"valid", func(c *portal.ConnectedSystem) {}, ""},
		{"valid with CA and StartTLS on a port", func(c *portal.ConnectedSystem) {
			c.CACertPEM, c.TLSMode, c.Port = ca+ca, portal.TLSStartTLS, 3268
		}, ""},
		{"IPv6 host", func(c *portal.ConnectedSystem) { c.Hosts = []string{"fd00::5"} }, ""},
		{"saved system keeps its password", func(c *portal.ConnectedSystem) {
			c.ID, c.BindPassword = "0b9a5e5e-0000-4000-8000-000000000000", ""
		}, ""},
		{"whole domain in scope", func(c *portal.ConnectedSystem) { c.OUs = nil }, ""},
		{"OU with escapes", func(c *portal.ConnectedSystem) {
			c.OUs = []string{`OU=R\2cD \+ Ops\, Zürich,OU=Köln\20,DC=corp,DC=example,DC=com`}
		}, ""},
		{"OU equal to base", func(c *portal.ConnectedSystem) { c.OUs = []string{c.BaseDN} }, ""},
		{"no name", func(c *portal.ConnectedSystem) { c.Name = "  " }, "Give the connected system a name."},
		{"long name", func(c *portal.ConnectedSystem) { c.Name = string(make([]byte, 101)) }, "The name"},
		{"other type", func(c *portal.ConnectedSystem) { c.Type = "okta" }, "must be Active Directory (“ad”) or Entra ID (“entra”)"},
		{"entra without tenant", func(c *portal.ConnectedSystem) { c.Type = portal.SystemEntra }, "Give the tenant ID"},
		{"entra over plain HTTP", func(c *portal.ConnectedSystem) {
			c.Type, c.Entra = portal.SystemEntra, portal.EntraSettings{TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
				ClientID: "72f988bf-86f1-41af-91ab-2d7cd011db48", GraphURL: "http://graph.example.com/v1.0"}
		}, "The Graph URL must use https://."},
		{"no host", func(c *portal.ConnectedSystem) { c.Hosts = []string{" "} }, "at least one domain controller"},
		{"bad host", func(c *portal.ConnectedSystem) { c.Hosts = []string{"dc1.corp.example.com:636"} }, "“dc1.corp.example.com:636” is not a host name"},
		{"URL as host", func(c *portal.ConnectedSystem) { c.Hosts = []string{"ldaps://dc1"} }, "is not a host name"},
		{"label with hyphen at the end", func(c *portal.ConnectedSystem) { c.Hosts = []string{"dc1-.corp"} }, "is not a host name"},
		{"port too big", func(c *portal.ConnectedSystem) { c.Port = 70000 }, "The port must be from 1 to 65535, not 70000."},
		{"port negative", func(c *portal.ConnectedSystem) { c.Port = -1 }, "The port must be from 1 to 65535"},
		{"plain LDAP", func(c *portal.ConnectedSystem) { c.TLSMode = "none" }, "Choose LDAPS or StartTLS"},
		{"CA not PEM", func(c *portal.ConnectedSystem) { c.CACertPEM = "MIIB..." }, "must be PEM"},
		{"CA with a key", func(c *portal.ConnectedSystem) {
			c.CACertPEM = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
		}, "“PRIVATE KEY” block"},
		{"CA garbled", func(c *portal.ConnectedSystem) {
			c.CACertPEM = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
		}, "CA certificate 1 cannot be read"},
		{"CA with trailing junk", func(c *portal.ConnectedSystem) { c.CACertPEM = ca + "junk" }, "must be PEM"},
		{"no bind user", func(c *portal.ConnectedSystem) { c.BindUser = "" }, "Give the account Tessera binds as"},
		{"no password for a new system", func(c *portal.ConnectedSystem) { c.BindPassword = "" }, "Give the bind account's password."},
		{"no base DN", func(c *portal.ConnectedSystem) { c.BaseDN = "" }, "Give the base DN"},
		{"base DN not a DN", func(c *portal.ConnectedSystem) { c.BaseDN = "corp.example.com" }, "The base DN “corp.example.com” is not a DN: “corp.example.com” has no “=”."},
		{"empty RDN value", func(c *portal.ConnectedSystem) { c.BaseDN = "DC=,DC=com" }, "dc has no value"},
		{"trailing comma", func(c *portal.ConnectedSystem) { c.BaseDN = "DC=corp,DC=com," }, "is not a DN"},
		{"bad attribute", func(c *portal.ConnectedSystem) { c.BaseDN = "D C=corp" }, "“d c” is not an attribute name"},
		{"bad escape", func(c *portal.ConnectedSystem) {
			c.OUs = []string{`OU=a\q,DC=corp,DC=example,DC=com`}
		}, `“\q” is not an escape`},
		{"unescaped quote", func(c *portal.ConnectedSystem) {
			c.OUs = []string{`OU=a"b,DC=corp,DC=example,DC=com`}
		}, `“"” must be escaped`},
		{"OU outside the base", func(c *portal.ConnectedSystem) {
			c.OUs = []string{"OU=People,DC=other,DC=example,DC=com"}
		}, "The OU “OU=People,DC=other,DC=example,DC=com” is not under the base DN “DC=corp,DC=example,DC=com”."},
		{"OU above the base", func(c *portal.ConnectedSystem) { c.OUs = []string{"DC=example,DC=com"} }, "is not under the base DN"},
		{"OU with the base as a suffix of a value", func(c *portal.ConnectedSystem) {
			c.BaseDN, c.OUs = "DC=com", []string{"OU=x,DC=example.com"}
		}, "is not under the base DN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
			require.Contains(t, portal.ErrorMessage(err), tc.want)
		})
	}

	c := valid()
	require.NoError(t, c.Validate())
	require.Equal(t, "Corp AD", c.Name)
	require.Equal(t, []string{"dc1.corp.example.com", "10.0.0.5"}, c.Hosts, "trimmed, duplicates dropped")
	require.Equal(t, 636, c.Port, "LDAPS's port by default")
	require.Equal(t, portal.SystemAD, c.Type)
	require.Len(t, c.OUs, 2, "blank lines dropped; DN case differences are not caught here")
	c = valid()
	c.TLSMode = portal.TLSStartTLS
	require.NoError(t, c.Validate())
	require.Equal(t, 389, c.Port)
}

func TestParseDN(t *testing.T) {
	t.Parallel()
	dn, err := portal.ParseDN(`CN=Smith\, John \2B Co,OU=Köln\20,OU=\E4\BA\AC+L=x, DC=example,DC=com`)
	require.Nil(t, err)
	require.Equal(t, portal.DN{
		{{Type: "cn", Value: "Smith, John + Co"}},
		{{Type: "ou", Value: "Köln "}},
		{{Type: "ou", Value: "京"}, {Type: "l", Value: "x"}},
		{{Type: "dc", Value: "example"}},
		{{Type: "dc", Value: "com"}},
	}, dn)
	base, err := portal.ParseDN("dc=EXAMPLE,dc=com")
	require.Nil(t, err)
	require.True(t, dn.Under(base))
	require.True(t, base.Under(base))
	require.False(t, base.Under(dn))
	_, err = portal.ParseDN(`OU=\00x,DC=com`)
	require.NotNil(t, err)
	_, err = portal.ParseDN(`OU=x\`)
	require.NotNil(t, err)
	_, err = portal.ParseDN(`2.5.4.11=Sales,DC=com`)
	require.Nil(t, err)
}

func TestSameDestination(t *testing.T) {
	t.Parallel()
	a := portal.ConnectedSystem{Hosts: []string{"dc1.example.com", "dc2.example.com"}, TLSMode: portal.TLSLDAPS, Port: 636}
	for _, tc := range []struct {
		name string
		b    portal.ConnectedSystem
		same bool
	}{
		{"same", a, true},
		{"other order and case, default port", portal.ConnectedSystem{Hosts: []string{"DC2.example.com", "dc1.example.com"}, TLSMode: portal.TLSLDAPS}, true},
		{"a host added", portal.ConnectedSystem{Hosts: []string{"dc1.example.com", "dc2.example.com", "evil.example.net"}, Port: 636}, false},
		{"a host replaced", portal.ConnectedSystem{Hosts: []string{"dc1.example.com", "evil.example.net"}, Port: 636}, false},
		{"other port", portal.ConnectedSystem{Hosts: a.Hosts, Port: 6360}, false},
	} {
		require.Equal(t, tc.same, a.SameDestination(tc.b), tc.name)
	}
}
