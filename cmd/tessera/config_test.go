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
	require.Empty(t, c.MetricsListen, "/metrics is on the main listener unless asked")

	c, err = LoadConfig(env("TESSERA_METRICS_LISTEN", "127.0.0.1:9090"))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9090", c.MetricsListen)

	for _, tc := range [][]string{
		{"TESSERA_DEMO_PEOPLE", "ten"},
		{"TESSERA_DEMO_PEOPLE", "5"},
		{"TESSERA_DEV_PG_PORT", "70000"},
		{"TESSERA_LOG_LEVEL", "loud"},
		{"TESSERA_ROLE", "both"},
		{"TESSERA_BASE_URL", "id.example.com"},
		{"TESSERA_METRICS_LISTEN", "9090"},
		{"TESSERA_OIDC_ISSUER", "https://login.example.com"},
		{"TESSERA_OIDC_ISSUER", "https://login.example.com", "TESSERA_OIDC_CLIENT_ID", "x", "TESSERA_OIDC_MATCH_ATTRIBUTE", "title"},
	} {
		_, err := LoadConfig(env(tc...))
		require.Error(t, err, strings.Join(tc, "="))
		require.Contains(t, err.Error(), tc[len(tc)-2])
	}
}

func TestTrustedProxies(t *testing.T) {
	c, err := LoadConfig(env("TESSERA_TRUSTED_PROXIES", " 10.0.0.0/8, fd00::/8,192.0.2.7 ,::ffff:172.16.0.0/108,"))
	require.NoError(t, err)
	var got []string
	for _, p := range c.WebConfig().TrustedProxies {
		got = append(got, p.String())
	}
	require.Equal(t, []string{"10.0.0.0/8", "fd00::/8", "192.0.2.7/32", "172.16.0.0/12"}, got)

	c, err = LoadConfig(env())
	require.NoError(t, err)
	require.Empty(t, c.TrustedProxies, "no proxy is trusted unless named")

	for value, want := range map[string]string{
		"10.0.0.0/33":           `"10.0.0.0/33" is not a CIDR`,
		"10.0.0.0/8;192.0.2.1":  `"10.0.0.0/8;192.0.2.1" is not a CIDR`,
		"proxy.example.com":     `"proxy.example.com" is not a CIDR`,
		"10.1.2.3/8":            `"10.1.2.3/8" has host bits set; did you mean 10.0.0.0/8?`,
		"fe80::1%eth0":          `"fe80::1%eth0" is not a CIDR`,
		"10.0.0.0/8, 10.0.0.0/": `"10.0.0.0/" is not a CIDR`,
	} {
		_, err := LoadConfig(env("TESSERA_TRUSTED_PROXIES", value))
		require.Error(t, err, value)
		require.Contains(t, err.Error(), "TESSERA_TRUSTED_PROXIES: "+want)
	}
}
