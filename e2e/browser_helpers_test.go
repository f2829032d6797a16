package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
)

// browser is one test's tab on a running Tessera: the helpers fail the test
// on any error, take the screenshots, and watch for JavaScript dialogs and
// errors that a person would never see in a test's assertions.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu       sync.Mutex
	dialogs  []string
	problems []string // uncaught exceptions and CSP violations
	errors   []string // other console errors, logged at the end
}

// newBrowser opens a tab with its own cookie jar on srv.
func newBrowser(t *testing.T, srv *harness.Tessera) *browser {
	t.Helper()
	return newBrowserFor(t, srv, harness.TabTimeout)
}

// newBrowserFor is newBrowser with a tab that lives for d.
func newBrowserFor(t *testing.T, srv *harness.Tessera, d time.Duration) *browser {
	t.Helper()
	b := &browser{t: t, ctx: harness.ChromiumFor(t, d), base: srv.URL}
	dialogs := chromedp.Events(b.ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, fmt.Sprintf("%s: %q", ev.Type, ev.Message))
			b.mu.Unlock()
			// Dismiss it, or it would block the page and every action after.
			chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false}) //nolint:errcheck
		}
	}()
	console := chromedp.Console(b.ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				b.mu.Lock()
				b.problems = append(b.problems, fmt.Sprintf("%s %s:%d %s", m.Type, m.URL, m.Line+1, m.Text))
				b.mu.Unlock()
			} else if m.Type == chromedp.ConsoleError {
				// Expected ones too: 4xx answers.
				b.mu.Lock()
				b.errors = append(b.errors, fmt.Sprintf("%.200s: %s", m.URL, m.Text))
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			b.screenshotFile("failed")
		}
	})
	t.Cleanup(b.checkClean)
	return b
}

// checkClean fails the test when the page opened a dialog or threw.
func (b *browser) checkClean() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.t.Failed() || testing.Verbose() {
		for _, e := range b.errors {
			b.t.Logf("console error %s", e)
		}
	}
	assert.Empty(b.t, b.dialogs, "a JavaScript dialog opened: script ran from page content")
	assert.Empty(b.t, b.problems, "the page threw or broke its Content Security Policy")
}

// open navigates to path and returns the HTTP status of the final document
// (after redirects).
func (b *browser) open(path string) int64 {
	b.t.Helper()
	resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(b.base+path))
	require.NoError(b.t, err, "open %s", path)
	require.NotNil(b.t, resp, "open %s: no response", path)
	return resp.Status
}

// follow runs the actions (a click, a submit) and waits for the page they
// navigate to; it returns that page's HTTP status.
func (b *browser) follow(actions ...chromedp.Action[chromedp.Void]) int64 {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, actions...)
	require.NoError(b.t, err)
	if resp == nil {
		// RunResponse waited for the page to load but can miss its
		// response event when the machine is busy; the document's own
		// navigation timing holds the same HTTP status.
		status := eval[int64](b, `performance.getEntriesByType("navigation")[0].responseStatus`)
		require.NotZero(b.t, status, "no response")
		return status
	}
	return resp.Status
}

// click clicks the element css selects and waits for the next page.
func (b *browser) click(css string) int64 {
	b.t.Helper()
	return b.follow(chromedp.Click(chromedp.CSS(css)))
}

// do runs actions that navigate nowhere.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	require.NoError(b.t, chromedp.Do(b.ctx, actions...))
}

// signIn fills in and submits the sign-in form on the current page, or on
// /signin when the tab is elsewhere, and returns the status of the page it
// lands on.
func (b *browser) signIn(account, password string) int64 {
	b.t.Helper()
	if !strings.HasPrefix(b.path(), "/signin") {
		require.Equal(b.t, int64(200), b.open("/signin"))
	}
	b.do(
		chromedp.Clear(chromedp.ID("account")),
		chromedp.SendKeys(chromedp.ID("account"), account),
		chromedp.SendKeys(chromedp.ID("password"), password),
	)
	return b.click(`form[action="/signin"] button[type=submit]`)
}

// location returns the tab's URL.
func (b *browser) location() *url.URL {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	require.NoError(b.t, err)
	u, err := url.Parse(loc)
	require.NoError(b.t, err)
	return u
}

// path returns the tab's path and query, e.g. /people?q=x.
func (b *browser) path() string {
	b.t.Helper()
	return b.location().RequestURI()
}

func testID(id string) string { return fmt.Sprintf("[data-testid=%q]", id) }

// text returns the trimmed text of the first element with data-testid id,
// waiting for it to appear. It finds and reads the element in one
// evaluation: a page that htmx updates may replace the element between
// a lookup and a read (chromedp.Text then fails with "No node with given
// id found").
func (b *browser) text(id string) string {
	b.t.Helper()
	const absent = "\x00absent"
	js := fmt.Sprintf(`(e => e ? e.innerText : %s)(document.querySelector(%s))`, jsString(absent), jsString(testID(id)))
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
		require.NoError(b.t, err, "text of %s", id)
		if s != absent {
			return strings.TrimSpace(s)
		}
		require.True(b.t, time.Now().Before(deadline), "no element %s appeared", testID(id))
		time.Sleep(50 * time.Millisecond)
	}
}

// eval evaluates a JavaScript expression in the page into T.
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	require.NoError(b.t, err, "evaluate %s", js)
	return v
}

// has reports whether an element matches css right now (no waiting).
func (b *browser) has(css string) bool {
	b.t.Helper()
	return eval[bool](b, fmt.Sprintf("document.querySelector(%s) !== null", jsString(css)))
}

// texts returns the trimmed texts of every element css matches right now.
func (b *browser) texts(css string) []string {
	b.t.Helper()
	return eval[[]string](b, fmt.Sprintf("Array.from(document.querySelectorAll(%s), e => e.textContent.trim())", jsString(css)))
}

// attr returns an attribute of the first element css matches, waiting for it.
func (b *browser) attr(css, name string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.AttributeValue(chromedp.CSS(css), name))
	require.NoError(b.t, err, "attribute %s of %s", name, css)
	require.True(b.t, v.Exists, "%s has no attribute %s", css, name)
	return v.Value
}

// waitFor polls a JavaScript predicate until it is true (no animation
// frames: a headless window may get none).
func (b *browser) waitFor(js string, msgAndArgs ...any) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](js,
		chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second)))
	require.NoError(b.t, err, msgAndArgs...)
}

// markResults tags the current #results content, so that waitResults can
// tell the content htmx swaps in from what was there before.
func (b *browser) markResults() {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('#results > *').forEach(e => e.dataset.stale = '1')`))
}

// waitResults waits until htmx has swapped new content into #results and
// pushed the URL of the search for q, and no request is in flight.
func (b *browser) waitResults(q string) {
	b.t.Helper()
	b.waitFor(fmt.Sprintf(`document.querySelector('#results > *') !== null &&
		document.querySelector('#results > [data-stale]') === null &&
		location.pathname === '/people' && new URLSearchParams(location.search).get('q') === %s &&
		document.querySelector('.htmx-request') === null`, jsString(q)),
		"htmx did not show the results for %q (the tab is at %s)", q, b.path())
}

// typeSearch types q into the search box of /people as a person would.
func (b *browser) typeSearch(q string) {
	b.t.Helper()
	b.do(
		chromedp.Focus(chromedp.ID("q")),
		// Type after what is there, as a person who clicks into the box would.
		chromedp.Evaluate[chromedp.Void](`(e => e.setSelectionRange(e.value.length, e.value.length))(document.getElementById('q'))`),
		chromedp.SendKeys(chromedp.ID("q"), q),
	)
}

// cookie returns the value of the tab's cookie called name.
func (b *browser) cookie(name string) string {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base}})
	require.NoError(b.t, err)
	for _, c := range res.Cookies {
		if c.Name == name {
			return c.Value
		}
	}
	b.t.Fatalf("no cookie %s among %d cookies", name, len(res.Cookies))
	return ""
}

// shot writes a full-page PNG of the tab to e2e/out/<test>-<step>.png.
func (b *browser) shot(step string) {
	b.t.Helper()
	// A busy machine can catch the tab between documents ("Not attached
	// to an active page"); the page is there a moment later.
	var err error
	for try := 0; try < 5; try++ {
		if err = b.screenshotFile(step); err == nil || !strings.Contains(err.Error(), "Not attached") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.NoError(b.t, err)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func (b *browser) screenshotFile(step string) error {
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return fmt.Errorf("screenshot %s: %w", step, err)
	}
	if err := os.MkdirAll("out", 0o755); err != nil {
		return err
	}
	name := unsafeName.ReplaceAllString(b.t.Name()+"-"+step, "_") + ".png"
	return os.WriteFile(filepath.Join("out", name), png, 0o644)
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}
