package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/i18n"
	"github.com/tessera-idm/tessera/portal/postgres"
)

// The two widths every page is checked at: a laptop and a phone.
const (
	wideWidth   = 1280
	narrowWidth = 390
)

// axeFinding is one axe-core violation, as the test logs or fails it.
type axeFinding struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any  `json:"target"`
		HTML   string `json:"html"`
	} `json:"nodes"`
}

// TestBrowserEveryPage walks every kind of page as each demo role (end
// user, approver, helpdesk, administrator) at 1280 and 390 px: axe-core
// finds no violation of impact serious or critical (the others are
// logged; at 390 px on the pages whose markup changes), no page scrolls sideways, and each is photographed into e2e/out.
// On the way it checks the small-screen menu, the time zone learned from
// the browser, and the org chart's folding and printing. The approver reads
// German: each of his pages is German through (no text of the catalogue
// left in English, i18n.EnglishIn), cards and the narrow menu too.
func TestBrowserEveryPage(t *testing.T) {
	t.Parallel()
	srv, dbURL := startTessera(t)
	ctx := context.Background()
	db := postgres.New(harness.Pool(t, dbURL))
	org, err := demo.Generate(browserPeople)
	require.NoError(t, err)
	// Policies are named by administrators, and the demo's are English:
	// this one, which approvals and timelines name, in German (its English
	// name holds "Request to join", which the German check would take for
	// Tessera's own words).
	_, err = db.Pool.Exec(ctx, `UPDATE policies SET name = 'Beitritt mit Genehmigung' WHERE name = 'Request to join owner-approval groups'`)
	require.NoError(t, err)
	// Requests in flight, so that request and approval pages exist.
	harness.StartWorkers(t, db, nil, srv.URL)
	require.NoError(t, db.SubmitDemoRequests(ctx, org))
	axe := harness.AxeSource(t)
	_, err = db.Pool.Exec(ctx, `INSERT INTO person_settings (person_id, language) SELECT id, 'de' FROM people WHERE account_name = 'mateo'
		ON CONFLICT (person_id) DO UPDATE SET language = 'de'`)
	require.NoError(t, err)

	roles := []struct{ account, label string }{
		{"zoe", "end user"}, {"mateo", "approver"}, {"siobhan", "helpdesk"}, {"ada", "administrator"},
	}
	for _, role := range roles {
		t.Run(role.account, func(t *testing.T) {
			t.Parallel()
			signedIn := func() *browser {
				b := newBrowserFor(t, srv, pagesTabTime)
				b.viewport(wideWidth)
				require.EqualValues(t, 200, b.signIn(role.account, demo.DemoPassword))
				return b
			}
			b := newBrowserFor(t, srv, pagesTabTime)
			// Zoë's browser is in Tokyo: her first page tells Tessera so.
			if role.account == "zoe" {
				send(b, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"})
				b.checkPage(axe, "/signin")
			}
			b.viewport(wideWidth)
			require.EqualValues(t, 200, b.signIn(role.account, demo.DemoPassword))
			switch role.account {
			case "zoe":
				b.waitFor(`document.body.dataset.timeZoneLearned === "Asia/Tokyo"`, "the browser's zone was not stored")
				b.checkTimeZone()
				b.checkOrgChart()
			case "mateo":
				b.checkMenu()
			}
			pages := b.pageKinds(role.account == "ada")
			t.Logf("%s (%s): %d kinds of page", role.account, role.label, len(pages))
			// A tab lives harness.TabTimeout: a fresh one for every few pages, so
			// that a slow machine does not run out of it.
			for i, path := range pages {
				if i%pagesPerTab == 0 {
					b = signedIn()
				}
				b.checkPage(axe, path)
				if role.account == "mateo" {
					b.requireGerman(path)
				}
			}
		})
	}
}

// pagesPerTab is how many pages one tab checks, well within pagesTabTime
// even on a machine busy with other tests.
const (
	pagesPerTab  = 6
	pagesTabTime = 4 * time.Minute
)

// viewport sets the tab's width (and a phone's height and touch at 390).
func (b *browser) viewport(width int64) {
	b.t.Helper()
	height, mobile := int64(900), false
	if width <= narrowWidth {
		height, mobile = 844, true
	}
	send(b, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: width, Height: height, DeviceScaleFactor: 1, Mobile: mobile})
}

// send sends one DevTools command whose answer is empty.
func send[P any](b *browser, cmd cdp.Command[P, cdp.Empty], params P) {
	b.t.Helper()
	_, err := chromedp.Call(b.ctx, cmd, params)
	require.NoError(b.t, err, "%s", cmd.Method)
}

// pageKinds lists one page of each kind the signed-in role can open: the
// fixed ones and, for the detail pages, the first link of their list.
func (b *browser) pageKinds(admin bool) []string {
	b.t.Helper()
	pages := []string{"/", "/people", "/people?q=a", "/people?filters=open&filter=department%3DIT", "/org", "/groups", "/requests", "/approvals",
		"/profile/edit", "/settings/deputy", "/settings/time-zone", "/settings/language", "/groups/new", "/reviews"}
	details := []struct{ list, link string }{
		{"/people", `#results a[href^="/people/"]`},
		{"/groups", `#results a[href^="/groups/"]`},
		{"/requests", `main a[href^="/requests/"]`},
		{"/approvals", `main a[href^="/approvals/"]`},
	}
	if admin {
		pages = append(pages, "/admin", "/admin/roles", "/admin/people/new", "/admin/reviews", "/admin/policies/new", "/admin/sets/new", "/admin/workflows/new",
			"/admin/calendars/new", "/admin/connected-systems/new", "/admin/groups", "/admin/sync/preview",
			"/admin/audit", "/admin/schema/new")
		details = append(details,
			struct{ list, link string }{"/admin/people", `main a[href^="/admin/people/"]:not([href$="/new"])`},
			struct{ list, link string }{"/admin/policies", `main a[href^="/admin/policies/"]:not([href$="/new"])`},
			struct{ list, link string }{"/admin/sets", `main a[href^="/admin/sets/"]:not([href$="/new"])`},
			struct{ list, link string }{"/admin/workflows", `main a[href^="/admin/workflows/"]:not([href$="/new"])`},
			struct{ list, link string }{"/admin/calendars", `main a[href^="/admin/calendars/"]:not([href$="/new"])`},
			struct{ list, link string }{"/admin/connected-systems", `main a[href^="/admin/connected-systems/"]:not([href$="/new"])`},
			struct{ list, link string }{"/admin/sync", `main a[href^="/admin/sync/"]:not([href^="/admin/sync/preview"])`},
			struct{ list, link string }{"/admin/schema", `main a[href^="/admin/schema/"]:not([href$="/new"])`},
			struct{ list, link string }{"/admin/requests", `main a[href^="/admin/requests/"]`},
		)
	}
	for _, d := range details {
		pages = append(pages, d.list)
		require.EqualValues(b.t, 200, b.open(d.list), d.list)
		href := eval[string](b, fmt.Sprintf(`(document.querySelector(%s) || {}).getAttribute?.call(document.querySelector(%[1]s), "href") || ""`, jsString(d.link)))
		if href != "" && !strings.HasPrefix(href, d.list+"?") {
			pages = append(pages, href)
			if admin && d.list == "/people" {
				// An administrator's editor of another person's attributes.
				pages = append(pages, href+"/edit")
			}
		}
	}
	return pages
}

// narrowAxe are the pages axe-core also checks at 390 px: the folded
// navigation (every page has it, so Home stands for all) and the lists
// that become stacked cards. The other pages have the same markup at
// both widths, so axe at 1280 px covers them; checking every page twice
// cost minutes of make test.
var narrowAxe = map[string]bool{"/": true, "/people?q=a": true, "/requests": true, "/approvals": true,
	"/groups": true, "/admin": true, "/admin/audit": true, "/admin/sync": true, "/admin/requests": true}

// requireGerman fails when the page, which its reader asked for in German,
// shows a text of the catalogue in English: in its text, or in a label a
// screen reader speaks or a card shows (aria-label, title, placeholder,
// alt, data-label).
func (b *browser) requireGerman(path string) {
	b.t.Helper()
	require.Equal(b.t, "de", eval[string](b, `document.documentElement.lang`), path)
	text := eval[string](b, `document.body.innerText + " " + [...document.querySelectorAll("[aria-label],[title],[placeholder],[alt],[data-label]")]
		.map(e => ["aria-label", "title", "placeholder", "alt", "data-label"].map(a => e.getAttribute(a) || "").join(" ")).join(" ")`)
	if english := i18n.EnglishIn(text); len(english) > 0 {
		b.t.Errorf("%s in German shows English: %q", path, english)
	}
}

// checkPage opens path at both widths: axe-core at 1280 px (and at 390
// for narrowAxe), no sideways scrolling at each, and a screenshot at 390.
func (b *browser) checkPage(axe, path string) {
	b.t.Helper()
	b.viewport(wideWidth)
	status := b.open(path)
	require.Less(b.t, status, int64(400), "%s answered %d", path, status)
	b.axe(axe, path, wideWidth)
	b.noSidewaysScroll(path, wideWidth)
	// The administration's sidebar folds into a closed menu when the
	// window narrows, so that the page comes first on a phone.
	admin := eval[bool](b, `!!document.querySelector("details.admin-menu")`)
	if admin {
		require.True(b.t, eval[bool](b, `document.querySelector("details.admin-menu").open`), "%s: the sidebar shows at 1280 px", path)
	}
	b.viewport(narrowWidth)
	if admin {
		b.waitFor(`!document.querySelector("details.admin-menu").open`, path+": the administration menu did not fold at 390 px")
	}
	if narrowAxe[path] {
		b.axe(axe, path, narrowWidth)
	}
	b.noSidewaysScroll(path, narrowWidth)
	b.viewShot(path, narrowWidth)
}

// noSidewaysScroll fails the test when the page is wider than the window,
// naming the elements that stick out.
func (b *browser) noSidewaysScroll(path string, width int) {
	b.t.Helper()
	wide := eval[[]int](b, `[document.documentElement.scrollWidth, window.innerWidth]`)
	if wide[0] > wide[1] {
		b.t.Errorf("%s scrolls sideways at %d px: the page is %d px wide; sticking out: %s", path, width, wide[0],
			eval[string](b, `[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > innerWidth + 1)
				.slice(-3).map(e => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right)).join(", ")`))
	}
}

// axe runs axe-core on the page: a violation of impact serious or
// critical fails the test, the others are logged.
func (b *browser) axe(src, path string, width int) {
	b.t.Helper()
	if !eval[bool](b, `typeof window.axe === "object"`) {
		// Evaluated through DevTools, the script is not subject to the
		// page's Content Security Policy.
		b.do(chromedp.Evaluate[chromedp.Void](src))
	}
	var findings []axeFinding
	raw, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](
		`axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`,
		chromedp.EvalAwaitPromise))
	require.NoError(b.t, err, "axe on %s", path)
	require.NoError(b.t, json.Unmarshal([]byte(raw), &findings))
	for _, f := range findings {
		var where []string
		for _, n := range f.Nodes[:min(3, len(f.Nodes))] {
			where = append(where, fmt.Sprint(n.Target...)+" "+n.HTML[:min(120, len(n.HTML))])
		}
		msg := fmt.Sprintf("axe %s at %d px: %s (%s) %s: %s", path, width, f.ID, f.Impact, f.Help, strings.Join(where, " | "))
		if f.Impact == "serious" || f.Impact == "critical" {
			b.t.Error(msg)
		} else {
			b.t.Log(msg)
		}
	}
}

// viewShot writes a PNG of what the window shows to e2e/out.
func (b *browser) viewShot(path string, width int) {
	b.t.Helper()
	shot, err := chromedp.Call(b.ctx, page.CaptureScreenshot, page.CaptureScreenshotParams{Format: page.CaptureScreenshotFormatPng})
	require.NoError(b.t, err)
	png := shot.Data
	require.NoError(b.t, os.MkdirAll("out", 0o755))
	name := unsafeName.ReplaceAllString(fmt.Sprintf("%s-%s-%d", b.t.Name(), strings.Trim(path, "/"), width), "_") + ".png"
	require.NoError(b.t, os.WriteFile(filepath.Join("out", name), png, 0o644))
}

// checkMenu: at 390 px the navigation folds behind a menu button that
// says whether it is open.
func (b *browser) checkMenu() {
	b.t.Helper()
	b.viewport(narrowWidth)
	require.EqualValues(b.t, 200, b.open("/"))
	menu := testID("menu-button")
	require.Equal(b.t, "false", b.attr(menu, "aria-expanded"))
	require.False(b.t, eval[bool](b, `document.querySelector("#site-menu").checkVisibility()`), "the navigation is folded")
	height := eval[float64](b, `document.querySelector("header.topbar").getBoundingClientRect().height`)
	require.Less(b.t, height, 80.0, "the folded header is one line")
	b.do(chromedp.Click(chromedp.CSS(menu)))
	b.waitFor(`document.querySelector(`+jsString(menu)+`).getAttribute("aria-expanded") === "true"`, "the menu button did not open the menu")
	require.True(b.t, eval[bool](b, `document.querySelector('#site-menu a[href="/approvals"]').checkVisibility()`))
	b.viewShot("menu-open", narrowWidth)
	require.EqualValues(b.t, 200, b.click(`#site-menu a[href="/approvals"]`))
	require.Equal(b.t, "/approvals", b.location().Path)
	b.viewport(wideWidth)
	require.False(b.t, eval[bool](b, `document.querySelector(`+jsString(menu)+`).checkVisibility()`), "no menu button at 1280 px")
}

// checkTimeZone: Zoë's browser said Tokyo, so her times are in Tokyo's.
func (b *browser) checkTimeZone() {
	b.t.Helper()
	require.EqualValues(b.t, 200, b.open("/requests"))
	title := b.attr(`main time[title]`, "title")
	require.True(b.t, strings.HasSuffix(title, " JST"), "times in her browser's zone: %q", title)
	require.EqualValues(b.t, 200, b.open("/settings/time-zone"))
	require.Equal(b.t, "Asia/Tokyo", b.value("#time_zone"))
}

// checkOrgChart: the chart folds and unfolds, and opens every branch to
// print.
func (b *browser) checkOrgChart() {
	b.t.Helper()
	require.EqualValues(b.t, 200, b.open(b.ceoPath()))
	open := `[...document.querySelectorAll(".orgchart details")].filter(d => d.open).length`
	all := eval[int](b, `document.querySelectorAll(".orgchart details").length`)
	require.Greater(b.t, all, 1)
	require.Less(b.t, eval[int](b, open), all, "the levels below the first are folded")
	b.do(chromedp.Click(chromedp.CSS(`[data-org-toggle=open]`)))
	require.Equal(b.t, all, eval[int](b, open), "Expand all")
	b.do(chromedp.Click(chromedp.CSS(`[data-org-toggle=close]`)))
	require.Zero(b.t, eval[int](b, open), "Collapse all")
	send(b, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
	b.do(chromedp.Evaluate[chromedp.Void](`window.dispatchEvent(new Event("beforeprint"))`))
	require.Equal(b.t, all, eval[int](b, open), "printing opens every branch")
	require.False(b.t, eval[bool](b, `document.querySelector("header.topbar").checkVisibility()`), "no navigation on paper")
	b.viewShot("org-print", wideWidth)
	send(b, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
}

// ceoPath is the org chart of the top of the organisation, reached from
// the viewer's chart through the chain of managers.
func (b *browser) ceoPath() string {
	b.t.Helper()
	require.EqualValues(b.t, 200, b.open("/org"))
	return b.attr(`[data-testid=org-up] li:first-child a`, "href")
}
