package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestLoadConfig(t *testing.T) {
	c, err := LoadConfig(env())
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:8080", c.Listen)
	require.Equal(t, 2000, c.DemoPeople)
	require.Equal(t, "http://127.0.0.1:8080", c.WebConfig().BaseURL)
	require.False(t, c.WebConfig().SecureCookies)

	c, err = LoadConfig(env("TESSERA_BASE_URL", "https://id.example.com/", "TESSERA_LISTEN", ":9000"))
	require.NoError(t, err)
	require.Equal(t, "https://id.example.com", c.WebConfig().BaseURL)
	require.True(t, c.WebConfig().SecureCookies)

	for _, tc := range [][]string{
		{"TESSERA_DEMO_PEOPLE", "ten"},
		{"TESSERA_DEMO_PEOPLE", "5"},
		{"TESSERA_DEV_PG_PORT", "70000"},
		{"TESSERA_LOG_LEVEL", "loud"},
		{"TESSERA_ROLE", "both"},
		{"TESSERA_BASE_URL", "id.example.com"},
		{"TESSERA_OIDC_ISSUER", "https://login.example.com"},
		{"TESSERA_OIDC_ISSUER", "https://login.example.com", "TESSERA_OIDC_CLIENT_ID", "x", "TESSERA_OIDC_MATCH_ATTRIBUTE", "title"},
	} {
		_, err := LoadConfig(env(tc...))
		require.Error(t, err, strings.Join(tc, "="))
		require.Contains(t, err.Error(), tc[len(tc)-2])
	}
}
