package web_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The way to one's own profile edit is on Home and on one's own profile,
// and on nobody else's; Home's search box takes the focus; the icon
// browsers ask for on their own exists.
func TestHomeEditProfileAndFavicon(t *testing.T) {
	t.Parallel()
	tb := setup(t)

	anon := tb.client(t)
	resp, body := anon.get("/favicon.ico")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "image/x-icon", resp.Header.Get("Content-Type"))
	require.True(t, strings.HasPrefix(body, "\x00\x00\x01\x00"), "an ICO file")

	zoe := tb.client(t)
	zoe.mustSignIn("zoe")
	_, home := zoe.get("/")
	require.Regexp(t, `<input id="q"[^>]* autofocus`, home)
	require.Contains(t, home, `<a href="/profile/edit" data-testid="edit-profile">Edit profile</a>`)
	require.Regexp(t, `<link rel="icon" href="/static/favicon\.[0-9a-f]+\.ico"`, home)

	own := regexp.MustCompile(`<h2 id="me-h"><a href="(/people/[^"]+)"`).FindStringSubmatch(home)
	require.NotNil(t, own, "Home links one's own profile")
	_, mine := zoe.get(own[1])
	require.Contains(t, mine, `data-testid="edit-profile"`)

	manager := regexp.MustCompile(`data-testid="home-manager"[\s\S]*?<a href="(/people/[^"]+)"`).FindStringSubmatch(home)
	require.NotNil(t, manager, "Zoë has a manager")
	require.NotEqual(t, own[1], manager[1])
	_, theirs := zoe.get(manager[1])
	require.Contains(t, theirs, `data-testid="person-name"`)
	require.NotContains(t, theirs, `data-testid="edit-profile"`, "nobody edits another's profile from it")
}
