package web

import (
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                     "/",
		"/people?q=zo":         "/people?q=zo",
		"https://evil.example": "/",
		"//evil.example":       "/",
		"/\\evil.example":      "/",
		"javascript:alert(1)":  "/",
		"/signin":              "/",
		"/signout":             "/",
		"/a\r\nSet-Cookie: x":  "/",
	} {
		require.Equal(t, want, safeNext(in), in)
	}
}

func TestSignInLimiter(t *testing.T) {
	l := newSignInLimiter()
	now := time.Now()
	for range signInBurst {
		require.False(t, l.blocked(now, "addr:1", "account:zoe"))
		l.fail(now, "addr:1", "account:zoe")
	}
	require.True(t, l.blocked(now, "addr:1"))
	require.True(t, l.blocked(now, "addr:2", "account:zoe"), "the account is limited from any address")
	require.False(t, l.blocked(now, "addr:2", "account:mateo"))
	require.False(t, l.blocked(now.Add(signInEvery), "addr:1"), "the budget refills")
}

func TestOIDCConfigValidate(t *testing.T) {
	require.NoError(t, OIDCConfig{}.Validate())
	require.Error(t, OIDCConfig{Issuer: "https://x"}.Validate())
	ok := OIDCConfig{Issuer: "https://x", ClientID: "c", MatchClaim: "email", MatchAttribute: "email"}
	require.NoError(t, ok.Validate())
	bad := ok
	bad.MatchAttribute = "title"
	require.Error(t, bad.Validate())
}

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:1::/48"),
		netip.MustParsePrefix("127.0.0.1/32")}
	for _, tc := range []struct {
		name, peer string
		header     []string // name, value, ...
		trusted    []netip.Prefix
		want       string
	}{
		{"no proxy configured: the peer, whatever it claims", "203.0.113.9:5000",
			[]string{"X-Forwarded-For", "198.51.100.1"}, nil, "203.0.113.9"},
		{"untrusted peer's header is ignored", "203.0.113.9:5000",
			[]string{"X-Forwarded-For", "198.51.100.1", "Forwarded", "for=198.51.100.2"}, trusted, "203.0.113.9"},
		{"trusted proxy without a header", "10.1.1.1:5000", nil, trusted, "10.1.1.1"},
		{"trusted proxy's X-Forwarded-For", "10.1.1.1:5000",
			[]string{"X-Forwarded-For", "198.51.100.1"}, trusted, "198.51.100.1"},
		{"right-most untrusted: the client's own claim is left of it", "10.1.1.1:5000",
			[]string{"X-Forwarded-For", "192.0.2.66, 198.51.100.1"}, trusted, "198.51.100.1"},
		{"a chain of trusted proxies is skipped", "10.1.1.1:5000",
			[]string{"X-Forwarded-For", "192.0.2.66, 198.51.100.1, 10.2.2.2,10.3.3.3"}, trusted, "198.51.100.1"},
		{"several X-Forwarded-For headers are one list", "10.1.1.1:5000",
			[]string{"X-Forwarded-For", "192.0.2.66", "X-Forwarded-For", "198.51.100.1, 10.2.2.2"}, trusted, "198.51.100.1"},
		{"every hop trusted: the farthest", "10.1.1.1:5000",
			[]string{"X-Forwarded-For", "10.9.9.9, 10.2.2.2"}, trusted, "10.9.9.9"},
		{"garbage stops the walk at the proxy that wrote it", "10.1.1.1:5000",
			[]string{"X-Forwarded-For", "198.51.100.1, not-an-address"}, trusted, "10.1.1.1"},
		{"an address with a port", "10.1.1.1:5000",
			[]string{"X-Forwarded-For", "198.51.100.1:4711"}, trusted, "198.51.100.1"},
		{"IPv6 peer and IPv4-mapped client", "[2001:db8:1::5]:443",
			[]string{"X-Forwarded-For", "::ffff:198.51.100.1"}, trusted, "198.51.100.1"},
		{"Forwarded when there is no X-Forwarded-For", "10.1.1.1:5000",
			[]string{"Forwarded", `for=192.0.2.66;proto=https, for="[2001:db8:cafe::17]:4711";by=10.1.1.1`}, trusted, "2001:db8:cafe::17"},
		{"Forwarded skips trusted hops and reads quoted values", "10.1.1.1:5000",
			[]string{"Forwarded", `for=192.0.2.66, For="198.51.100.3:80", for=10.2.2.2`}, trusted, "198.51.100.3"},
		{"Forwarded: unknown stops the walk", "10.1.1.1:5000",
			[]string{"Forwarded", `for=192.0.2.66, for=unknown`}, trusted, "10.1.1.1"},
		{"Forwarded: a quoted comma is not a separator", "10.1.1.1:5000",
			[]string{"Forwarded", `for=198.51.100.4;ext="a,b"`}, trusted, "198.51.100.4"},
		{"X-Forwarded-For wins over a Forwarded the client sent", "127.0.0.1:5000",
			[]string{"Forwarded", "for=192.0.2.66", "X-Forwarded-For", "198.51.100.1"}, trusted, "198.51.100.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.peer
			for i := 0; i+1 < len(tc.header); i += 2 {
				r.Header.Add(tc.header[i], tc.header[i+1])
			}
			require.Equal(t, tc.want, clientAddr(r, tc.trusted).String())
		})
	}
}
