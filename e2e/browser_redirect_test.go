package e2e_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal/demo"
)

// TestBrowserRedirectStaysOnSite follows the sign-in page's redirect to
// next in Chromium, with every way of writing an off-site address that a
// browser might read as one (issue 9 §3): the browser must stay on
// Tessera. The "evil" site is a real server on another port, so a
// redirect that escapes lands somewhere that answers.
func TestBrowserRedirectStaysOnSite(t *testing.T) {
	t.Parallel()
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!DOCTYPE html><title>evil</title><p>You left Tessera.</p>`))
	}))
	t.Cleanup(evil.Close)
	e := strings.TrimPrefix(evil.URL, "http://") // host:port

	srv, _ := startTessera(t)
	site, err := url.Parse(srv.URL)
	require.NoError(t, err)
	b := newBrowser(t, srv)

	// Each is the raw query value of next, as an attacker writes it in a link.
	hostile := []string{
		"/%09/" + e,                              // TAB: browsers drop it, leaving //host
		"/%09%09/" + e,                           // two of them
		"%09//" + e,                              // before the slashes
		"/%0D/" + e,                              // CR
		"/%0A/" + e,                              // LF
		"/%0D%0A/" + e,                           // CRLF
		"/%5C" + e,                               // backslash: browsers read /\host as //host
		"/%5C/" + e,                              //
		"%5C%5C" + e,                             //
		"/%5C%5C" + e,                            //
		"//" + e,                                 // protocol-relative
		"%2F%2F" + e,                             // the same, encoded once
		"/%2F" + e,                               // slash and encoded slash
		"/%252F" + e,                             // encoded twice: /%2Fhost
		"/%2509/" + e,                            // an encoded TAB: /%09/host
		"/%255C" + e,                             // an encoded backslash
		"///" + e,                                // three slashes
		"http://" + e,                            // a URL
		"http:" + e,                              // a scheme without slashes
		"http:/" + e,                             //
		"HTTP://" + e,                            //
		"javascript:location='http://" + e + "'", // script
		"/%00/" + e,                              // NUL
		"/%E2%80%AE/" + e,                        // right-to-left override
	}
	check := func(next string) {
		t.Helper()
		require.Equal(t, site.Host, b.location().Host, "next=%s led the browser to %s", next, b.location())
	}

	// Before signing in: a control character in next is refused at the
	// edge, as in any field (400, and the browser stays here); a next
	// without one is carried by the sign-in form, and signing in
	// redirects home instead of to it.
	require.EqualValues(t, 400, b.open("/signin?next="+hostile[0]))
	check(hostile[0])
	carried := "/%5C" + e
	require.EqualValues(t, 200, b.open("/signin?next="+carried))
	require.EqualValues(t, 200, b.signIn("zoe", demo.DemoPassword))
	check(carried)
	require.Equal(t, "/", b.path())

	// Signed in: /signin redirects to next straight away.
	for _, next := range hostile {
		b.open("/signin?next=" + next)
		check(next)
	}
	// A path on the site is still followed.
	require.EqualValues(t, 200, b.open("/signin?next="+url.QueryEscape("/groups?q=vpn")))
	require.Equal(t, "/groups?q=vpn", b.path())
}
