package web

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSafeNext keeps every post-sign-in redirect on this site, whatever a
// browser would make of the Location (it drops tabs and newlines and reads
// a backslash as a slash).
func TestSafeNext(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "/"},
		{"/people?q=zo", "/people?q=zo"},
		{"/groups/abc?q=%C3%A9t%C3%A9&offset=25", "/groups/abc?q=%C3%A9t%C3%A9&offset=25"},
		{"/people/x#top", "/people/x#top"},
		{"/people?next=/%09/x", "/people?next=/%09/x"}, // a query is not a path
		{"https://evil.example", "/"},
		{"http:/evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"JaVaScRiPt:alert(1)", "/"},
		{"data:text/html,x", "/"},
		{"evil.example", "/"},
		{"//evil.example", "/"},
		{"///evil.example", "/"},
		{"/\\evil.example", "/"},
		{"\\/evil.example", "/"},
		{"/\\/evil.example", "/"},
		{"/\t/evil.example", "/"},
		{"/\t\t/evil.example", "/"},
		{"/\r/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{"\t//evil.example", "/"},
		{"/ /evil.example", "/ /evil.example"}, // a space is kept as a path: browsers do not strip it inside
		{"/\x00/evil.example", "/"},
		{"/\x7f/evil.example", "/"},
		{"/\u0085/evil.example", "/"},
		{"/\xff/evil.example", "/"},
		{"/%09/evil.example", "/"},
		{"/%0d/evil.example", "/"},
		{"/%0A/evil.example", "/"},
		{"/%5C/evil.example", "/"},
		{"/%5c%5cevil.example", "/"},
		{"/%2F/evil.example", "/"},
		{"/%2f%2fevil.example", "/"},
		{"%2F%2Fevil.example", "/"},
		{"/%zz", "/"},
		{"/@evil.example", "/@evil.example"},
		{"//user@evil.example/", "/"},
		{"/signin", "/"},
		{"/signin?next=/x", "/"},
		{"/signin/oidc", "/"},
		{"/signout", "/"},
		{"/signing-policy", "/signing-policy"},
		{"/a\r\nSet-Cookie: x", "/"},
		{"/" + strings.Repeat("a", 2001), "/"},
	} {
		require.Equal(t, tt.want, safeNext(tt.in), "%q", tt.in)
	}
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
