package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoadConfigLDAP(t *testing.T) {
	t.Parallel()
	c, err := LoadConfig(env())
	require.NoError(t, err)
	require.False(t, c.LDAP.Enabled())

	c, err = LoadConfig(env("TESSERA_LDAP_URL", "ldaps://dc1.example.com:636", "TESSERA_LDAP_BASE_DN", "DC=example,DC=com",
		"TESSERA_LDAP_DOMAIN", "EXAMPLE", "TESSERA_LDAP_REALM", "example.com"))
	require.NoError(t, err)
	require.True(t, c.LDAP.Enabled())
	require.Equal(t, "employee_id", c.WebConfig().DirectoryMatch)
	_, err = c.LDAP.Directory()
	require.NoError(t, err)

	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o644))
	ok := []string{"TESSERA_LDAP_URL", "ldaps://dc1.example.com", "TESSERA_LDAP_BASE_DN", "DC=example,DC=com"}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"TESSERA_LDAP_BASE_DN", "DC=example,DC=com"}, "needs TESSERA_LDAP_URL"},
		{[]string{"TESSERA_LDAP_URL", "http://dc1.example.com", "TESSERA_LDAP_BASE_DN", "DC=example,DC=com"}, "TESSERA_LDAP_URL must start with ldaps://"},
		{[]string{"TESSERA_LDAP_URL", "ldaps://dc1.example.com"}, "TESSERA_LDAP_BASE_DN must name"},
		{[]string{"TESSERA_LDAP_URL", "ldaps://dc1.example.com", "TESSERA_LDAP_BASE_DN", "example.com"}, "TESSERA_LDAP_BASE_DN is not a DN"},
		{append(ok, "TESSERA_LDAP_MATCH_ATTRIBUTE", "title"), "TESSERA_LDAP_MATCH_ATTRIBUTE must be employee_id"},
		{append(ok, "TESSERA_LDAP_DOMAIN", "example.com"), "TESSERA_LDAP_DOMAIN is the NetBIOS domain name"},
		{append(ok, "TESSERA_LDAP_REALM", "a@b"), "TESSERA_LDAP_REALM is the UPN suffix"},
		{append(ok, "TESSERA_LDAP_CA_FILE", filepath.Join(t.TempDir(), "missing.pem")), "TESSERA_LDAP_CA_FILE cannot be read"},
		{append(ok, "TESSERA_LDAP_CA_FILE", notPEM), "TESSERA_LDAP_CA_FILE " + notPEM + " holds no PEM certificate"},
	} {
		_, err := LoadConfig(env(tc.env...))
		require.ErrorContains(t, err, tc.want, "%v", tc.env)
	}
}
