package e2e_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/postgres"
)

// The demo organisation's fixed people (portal/demo).
const (
	zoe     = "Zoë D'Angelo-Łukasiewicz" // end user "zoe"
	mateo   = "Mateo García Núñez"       // zoe's manager
	siobhan = "Siobhán Ní Bhriain"       // helpdesk "siobhan"
)

// browserPeople is the size of the seeded organisation for browser tests:
// big enough that searches page and filter, small enough to seed quickly.
const browserPeople = 2000

func startTessera(t *testing.T) (*harness.Tessera, string) {
	t.Helper()
	dbURL := harness.SeededDatabaseURL(t, browserPeople)
	return harness.StartTessera(t, dbURL), dbURL
}

// TestBrowserEndUser follows an end user through sign-in, the white pages
// (as they type, and with the plain form), a profile, its manager and a group.
func TestBrowserEndUser(t *testing.T) {
	t.Parallel()
	srv, _ := startTessera(t)
	b := newBrowser(t, srv)

	require.EqualValues(t, 200, b.open("/"))
	require.Equal(t, "/signin", b.path(), "an anonymous visitor is sent to sign in")
	b.shot("signin")
	require.EqualValues(t, 200, b.signIn("zoe", demo.DemoPassword))
	require.Equal(t, "/", b.path())
	require.Equal(t, zoe, b.text("me"))
	b.shot("home")

	// As you type: htmx replaces the results and pushes the URL.
	require.EqualValues(t, 200, b.click(`nav a[href="/people"]`))
	require.True(t, b.has(testID("people-results")), "/people browses everyone")
	b.shot("people")
	b.markResults()
	b.typeSearch("Zoë")
	b.waitResults("Zoë")
	rows := b.texts(`[data-testid=people-results] tbody tr`)
	require.NotEmpty(t, rows)
	for _, row := range rows {
		require.Contains(t, fold(row), "zoe", "every row matches the search")
	}
	require.NotContains(t, b.texts(`[data-testid=people-results] thead th`), "Account",
		"an end user sees no account column")
	b.markResults()
	b.typeSearch(" Łukas")
	b.waitResults("Zoë Łukas")
	require.Contains(t, b.resultNames(), zoe)
	b.shot("search-as-you-type")

	// The plain form, with an apostrophe and diacritics in the query.
	require.EqualValues(t, 200, b.open("/people"))
	b.do(chromedp.SetValue(chromedp.ID("q"), zoe))
	require.EqualValues(t, 200, b.click(`form[role=search] button[type=submit]`))
	require.Equal(t, "/people", b.location().Path)
	require.Equal(t, zoe, b.location().Query().Get("q"))
	require.Equal(t, zoe, b.value("#q"), "the search box keeps the query")
	require.Equal(t, []string{zoe}, b.resultNames())
	b.shot("search-submit")

	// Search folds case and diacritics.
	require.EqualValues(t, 200, b.open("/people?q="+url.QueryEscape("zoe lukasiewicz")))
	require.Equal(t, []string{zoe}, b.resultNames())

	// Her profile: contact details, none of the privileged attributes.
	require.EqualValues(t, 200, b.clickLink("#results", zoe))
	require.Regexp(t, `^/people/[0-9a-f-]{36}$`, b.path())
	profile := b.path()
	require.Equal(t, zoe, b.text("person-name"))
	require.Equal(t, zoe+" · Tessera", eval[string](b, "document.title"))
	require.False(t, b.has(testID("privileged")), "an end user sees no privileged attributes")
	require.False(t, b.has(testID("account-name")))
	require.False(t, b.has(testID("employee-id")))
	require.False(t, b.has(testID("account-status")))
	require.Equal(t, mateo, b.text("manager-link"))
	b.shot("profile")

	// Her manager, who lists her among his reports.
	require.EqualValues(t, 200, b.click(testID("manager-link")))
	require.Equal(t, mateo, b.text("person-name"))
	require.Contains(t, b.texts(`[data-testid=reports] a`), zoe)
	require.False(t, b.has(testID("privileged")))
	b.shot("manager")

	// One of her groups, from her profile.
	require.EqualValues(t, 200, b.open(profile))
	groups := b.texts(`[data-testid=groups] a`)
	require.NotEmpty(t, groups, "she is at least in her department's group")
	require.EqualValues(t, 200, b.click(`[data-testid=groups] a`))
	require.Regexp(t, `^/groups/[0-9a-f-]{36}$`, b.path())
	require.Equal(t, groups[0], b.text("group-name"))
	require.NotEmpty(t, b.text("group-type"))
	require.NotEmpty(t, b.text("join-policy"))
	require.NotEmpty(t, b.texts(`[data-testid=members] a`), "the group lists its members")
	b.shot("group")

	// The group list.
	require.EqualValues(t, 200, b.click(`nav a[href="/groups"]`))
	require.NotEmpty(t, b.texts(`[data-testid=group-results] tbody tr`))
	b.shot("groups")
}

// TestBrowserHelpdesk checks that a helpdesk agent sees account attributes
// in search results (full page and htmx fragment) and on profiles.
func TestBrowserHelpdesk(t *testing.T) {
	t.Parallel()
	srv, _ := startTessera(t)
	b := newBrowser(t, srv)

	require.EqualValues(t, 200, b.signIn("siobhan", demo.DemoPassword))
	require.Equal(t, siobhan, b.text("me"))

	require.EqualValues(t, 200, b.open("/people?q="+url.QueryEscape("D'Angelo-Łukasiewicz")))
	head := b.texts(`[data-testid=people-results] thead th`)
	require.Contains(t, head, "Account")
	require.Contains(t, head, "Employee ID")
	require.Contains(t, head, "Status")
	require.Equal(t, []string{zoe}, b.resultNames())
	require.Equal(t, []string{"zoe"}, b.texts(`[data-testid=people-results] [data-testid=account-name]`))
	b.shot("search")

	// The htmx fragment carries the same columns.
	b.markResults()
	b.typeSearch(" Zoë")
	b.waitResults("D'Angelo-Łukasiewicz Zoë")
	require.Contains(t, b.texts(`[data-testid=people-results] thead th`), "Account")
	require.Equal(t, []string{"zoe"}, b.texts(`[data-testid=people-results] [data-testid=account-name]`))

	require.EqualValues(t, 200, b.clickLink("#results", zoe))
	require.Equal(t, zoe, b.text("person-name"))
	require.True(t, b.has(testID("privileged")))
	require.Equal(t, "zoe", b.text("account-name"))
	require.Regexp(t, `\S`, b.text("employee-id"))
	require.Equal(t, "Enabled", b.text("account-status"))
	b.shot("profile")
}

// TestBrowserExpiredSession checks that an ended session sends the person to
// sign in again, and back to the page they asked for, both for a page and
// for an htmx search.
func TestBrowserExpiredSession(t *testing.T) {
	t.Parallel()
	srv, dbURL := startTessera(t)
	db := postgres.New(harness.Pool(t, dbURL))
	b := newBrowser(t, srv)
	expire := func() {
		t.Helper()
		require.NoError(t, db.ExpireSession(context.Background(), b.cookie("tessera_session")))
	}

	require.EqualValues(t, 200, b.signIn("zoe", demo.DemoPassword))
	require.EqualValues(t, 200, b.click(testID("me")))
	manager := b.attr(testID("manager-link"), "href")
	require.Regexp(t, `^/people/[0-9a-f-]{36}$`, manager)

	expire()
	require.EqualValues(t, 200, b.open(manager))
	require.Equal(t, "/signin", b.location().Path)
	require.Equal(t, manager, b.location().Query().Get("next"))
	require.Equal(t, "Please sign in to continue.", b.textOf(`.signin [role=status]`))
	require.False(t, b.has(testID("me")), "the top bar shows no one signed in")
	b.shot("signin-again")
	require.EqualValues(t, 200, b.signIn("zoe", demo.DemoPassword))
	require.Equal(t, manager, b.path(), "sign-in returns to the page asked for")
	require.Equal(t, mateo, b.text("person-name"))
	b.shot("back-on-page")

	// The session ends while the search page is open: htmx follows the
	// server's HX-Redirect to the sign-in page.
	require.EqualValues(t, 200, b.open("/people"))
	expire()
	// Typed at once, as a paste is: keystrokes slowed by a busy machine
	// would let htmx's 250 ms pause send "Ma" first.
	b.follow(chromedp.Focus(chromedp.ID("q")), chromedp.SetValue(chromedp.ID("q"), "Mateo"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('q').dispatchEvent(new Event('input', {bubbles: true}))`))
	require.Equal(t, "/signin", b.location().Path)
	require.Equal(t, "/people?q=Mateo", b.location().Query().Get("next"))
	require.EqualValues(t, 200, b.signIn("zoe", demo.DemoPassword))
	require.Equal(t, "/people?q=Mateo", b.path())
	require.Contains(t, b.resultNames(), mateo)
	b.shot("search-after-signin")
}

// TestBrowserBadSearchInput types hostile and unusual text into the search
// box, with the plain form and as you type: the page shows results or a
// clear message, never an error page, and runs no script.
func TestBrowserBadSearchInput(t *testing.T) {
	t.Parallel()
	srv, _ := startTessera(t)
	b := newBrowserFor(t, srv, searchTabTime)
	require.EqualValues(t, 200, b.signIn("zoe", demo.DemoPassword))

	long := strings.Repeat("ab", 500)
	for _, tc := range []struct {
		step, q string
		tooLong bool
	}{
		{"script", `<script>alert(1)</script>`, false},
		{"like-wildcards", `%_\`, false},
		{"long", long, true},
		{"emoji", "🦄", false},
		{"emoji-zwj", "Zoë 👩🏽‍💻", false},
	} {
		// The plain form.
		require.EqualValues(t, 200, b.open("/people"))
		b.do(chromedp.SetValue(chromedp.ID("q"), tc.q))
		status := b.click(`form[role=search] button[type=submit]`)
		b.shot(tc.step + "-submit")
		require.Equal(t, tc.q, b.location().Query().Get("q"), tc.step)
		require.Equal(t, tc.q, b.value("#q"), "%s: the search box keeps the query", tc.step)
		b.requireSearchOutcome(tc.step, tc.q, tc.tooLong)
		if tc.tooLong {
			require.EqualValues(t, 400, status, tc.step)
		} else {
			require.EqualValues(t, 200, status, tc.step)
		}

		// As you type.
		require.EqualValues(t, 200, b.open("/people"))
		b.markResults()
		if tc.tooLong {
			// Typing 1,000 keys takes long: set all but the last one.
			b.do(chromedp.SetValue(chromedp.ID("q"), tc.q[:len(tc.q)-1]))
			b.typeSearch(tc.q[len(tc.q)-1:])
			b.waitResults(tc.q)
			require.True(t, b.has(testID("search-error")), "%s typed: the too-long message shows", tc.step)
			b.requireSearchOutcome(tc.step+" typed", tc.q, true)
			b.shot(tc.step + "-typed")
			continue
		}
		b.typeSearch(tc.q)
		// Key events cannot carry every code point (a zero-width joiner is
		// dropped), so expect what reached the box.
		typed := b.value("#q")
		if typed != tc.q {
			t.Logf("%s: typing %+q put %+q in the search box", tc.step, tc.q, typed)
		}
		b.waitResults(typed)
		b.shot(tc.step + "-typed")
		b.requireSearchOutcome(tc.step+" typed", typed, false)
	}
}

// searchTabTime is how long the tab of TestBrowserBadSearchInput lives:
// one tab signs in once and then, for each query, submits the form, types
// it key by key and waits for htmx, with a full-page screenshot after each.
// That took 22 s of tab time alone on a machine others were using (10 page
// loads, 10 full-page screenshots, some 80 key events, 5 htmx waits of
// about 0.4 s each), and harness.TabTimeout's 90 s bounds the whole tab:
// with two browser tests sharing Chromium and the machine busy, 4x slower
// ran out of it ("context deadline exceeded" at whichever step came next)
// while each wait of its own (15 to 30 s) still had room to spare.
const searchTabTime = 4 * time.Minute

// requireSearchOutcome checks that the search page shows exactly one of:
// results, a no-results notice quoting the query, or the search error.
func (b *browser) requireSearchOutcome(step, q string, tooLong bool) {
	t := b.t
	t.Helper()
	require.False(t, b.has(testID("error")), "%s: no error page", step)
	require.True(t, b.has("#q"), "%s: the search form is still there", step)
	shown := 0
	for _, id := range []string{"people-results", "no-results", "search-error"} {
		if b.has(testID(id)) {
			shown++
		}
	}
	require.Equal(t, 1, shown, "%s: results, no-results or search-error", step)
	switch {
	case tooLong:
		require.Contains(t, b.text("search-error"), "too long", step)
	case b.has(testID("no-results")):
		require.Contains(t, b.text("no-results"), q, "%s: the notice quotes the query as text", step)
	}
}

// TestBrowserNotFound opens addresses of things that do not exist.
func TestBrowserNotFound(t *testing.T) {
	t.Parallel()
	srv, _ := startTessera(t)
	b := newBrowser(t, srv)
	require.EqualValues(t, 200, b.signIn("zoe", demo.DemoPassword))

	for _, tc := range []struct{ step, path, message string }{
		{"unknown-person", "/people/00000000-0000-4000-8000-000000000000", "There is no such person."},
		{"malformed-person-id", "/people/" + url.PathEscape("not-an-id'<b>"), "There is no such person."},
		{"unknown-page", "/no-such-page", "There is no page at this address."},
	} {
		require.EqualValues(t, 404, b.open(tc.path), tc.step)
		require.Equal(t, tc.message, b.text("error"), tc.step)
		require.Equal(t, zoe, b.text("me"), "%s: still signed in", tc.step)
		b.shot(tc.step)
	}
	require.EqualValues(t, 200, b.click(`[data-testid=error] ~ p a[href="/people"]`))
	require.Equal(t, "/people", b.path())
}

// resultNames returns the names in the people results table.
func (b *browser) resultNames() []string {
	b.t.Helper()
	return b.texts(`[data-testid=people-results] tbody td:first-child a`)
}

// clickLink clicks the link whose text is name inside the element css
// selects, and waits for the page it opens.
func (b *browser) clickLink(css, name string) int64 {
	b.t.Helper()
	href := eval[string](b, `(() => {
		const a = Array.from(document.querySelectorAll(`+jsString(css+" a")+`)).find(a => a.textContent.trim() === `+jsString(name)+`);
		return a ? a.getAttribute('href') : '';
	})()`)
	require.NotEmpty(b.t, href, "no link %q in %s", name, css)
	return b.click(css + ` a[href="` + href + `"]`)
}

// value returns the current value of the input css selects.
func (b *browser) value(css string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS(css)))
	require.NoError(b.t, err)
	return v
}

// textOf returns the trimmed text of the first element css selects.
func (b *browser) textOf(css string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(css)))
	require.NoError(b.t, err)
	return strings.TrimSpace(s)
}

// fold lowercases s and strips its diacritics, as the search does.
func fold(s string) string {
	out, _, _ := transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), s)
	return strings.ToLower(out)
}
