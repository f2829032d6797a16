package e2e_test

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/postgres"
)

// startTesseraWithMail runs Tessera with its email going to the harness's
// SMTP server, over STARTTLS with a login, as in production.
func startTesseraWithMail(t *testing.T) (*harness.Tessera, *harness.MailSink, string) {
	t.Helper()
	sink := harness.SMTP(t)
	dbURL := harness.SeededDatabaseURL(t, browserPeople)
	srv := harness.StartTessera(t, dbURL,
		"TESSERA_SMTP_HOST="+sink.Host(), "TESSERA_SMTP_PORT="+strconv.Itoa(sink.Port()), "TESSERA_SMTP_TLS=starttls",
		"TESSERA_SMTP_CA_FILE="+sink.CAFile(), "TESSERA_SMTP_USERNAME="+harness.SMTPUsername,
		"TESSERA_SMTP_PASSWORD="+harness.SMTPPassword, "TESSERA_MAIL_FROM=Tessera <tessera@tessera.example>")
	return srv, sink, dbURL
}

// reloadUntil reloads path until the element css selects contains want.
func (b *browser) reloadUntil(path, css, want string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		require.EqualValues(b.t, 200, b.open(path))
		if b.has(css) && strings.Contains(strings.Join(b.texts(css), " "), want) {
			return
		}
		require.True(b.t, time.Now().Before(deadline), "%s never showed %q in %s", path, want, css)
		time.Sleep(200 * time.Millisecond)
	}
}

var approvalLink = regexp.MustCompile(`https?://[^\s]+(/approvals/[0-9a-f-]{36})`)

// TestBrowserLiveRequest is the request pipeline as two people live it:
// Zoë asks to join an owner-approval group and stays on her request's
// page; Mateo gets the email, follows its link, signs in, sees the
// approval with its context and approves (two clicks from the email); and
// Zoë's page moves through its steps to "Done" without a reload.
func TestBrowserLiveRequest(t *testing.T) {
	t.Parallel()
	srv, sink, _ := startTesseraWithMail(t)
	z := newBrowser(t, srv)
	require.EqualValues(t, 200, z.signIn("zoe", demo.DemoPassword))

	require.EqualValues(t, 200, z.open("/groups?q=VPN"))
	require.EqualValues(t, 200, z.click(`[data-testid=group-results] a`))
	require.Equal(t, "VPN users", z.text("group-name"))
	require.True(t, z.has(testID("request-join")))
	z.shot("group")
	z.do(chromedp.SendKeys(chromedp.ID("justification"), "On call from Monday; I need remote access."))
	require.EqualValues(t, 200, z.click(testID("request-join")))
	require.True(t, strings.HasPrefix(z.path(), "/requests/"), z.path())
	require.Equal(t, "Waiting for approval", z.text("status"))
	// A mark on this document: a reload or a navigation would lose it.
	z.do(chromedp.Evaluate[chromedp.Void](`window.stillHere = true`))
	// The approvers are found in the background: the page shows them when
	// they are.
	z.waitFor(`[...document.querySelectorAll('[data-testid=progress] li[data-state=current]')].some(e => e.textContent.includes('Approval: 0 of 1'))`,
		"the approval step never showed who decides")
	require.Contains(t, z.text("progress"), "waiting for "+mateo)
	z.shot("requested")

	mail := sink.WaitFor(t, "mateo@tessera.example", "Approval needed: Join VPN users", 20*time.Second)
	require.Contains(t, mail.Text, "On call from Monday")
	require.Contains(t, mail.HTML, "href=")
	link := approvalLink.FindStringSubmatch(mail.Text)
	require.NotNil(t, link, "the email links to the approval: %s", mail.Text)

	m := newBrowser(t, srv)
	require.EqualValues(t, 200, m.open(link[1]))
	require.True(t, strings.HasPrefix(m.path(), "/signin?next="), "the email link asks Mateo to sign in first")
	require.EqualValues(t, 200, m.signIn("mateo", demo.DemoPassword)) // first click
	require.Equal(t, link[1], m.path(), "and then shows the approval")
	require.Equal(t, "Join VPN users", m.text("request-summary"))
	require.Equal(t, "Remote access to the corporate network.", m.text("group-description"))
	require.Contains(t, m.text("due-in"), "due in")
	require.Contains(t, m.text("requester"), "Zoë")
	require.NotEmpty(t, m.text("approval-count"))
	m.shot("approval")
	require.EqualValues(t, 200, m.click(testID("approve"))) // second click
	require.Equal(t, "/approvals?notice=decided", m.path())
	m.shot("approved")

	z.waitFor(`document.querySelector('[data-testid=status]').textContent.trim() === 'Done'`,
		"Zoë's page never moved to Done by itself")
	require.True(t, eval[bool](z, `window.stillHere === true`), "the page moved without a reload")
	steps := z.texts(`[data-testid=progress] li[data-state=done]`)
	require.Contains(t, steps[1], "Approval: 1 of 1")
	require.Contains(t, steps[1], mateo+" approved")
	require.Contains(t, steps[len(steps)-1], "Done")
	require.False(t, z.has(`[data-testid=request-live][hx-trigger]`), "an ended request is no longer asked for")
	timeline := strings.Join(z.texts(`[data-testid=timeline] li`), "\n")
	require.Contains(t, timeline, "Approved by "+mateo)
	z.shot("done")
	sink.WaitFor(t, "zoe@tessera.example", "Done: Join VPN users", 20*time.Second)
	require.EqualValues(t, 200, z.open("/groups?q=VPN"))
	require.EqualValues(t, 200, z.click(`[data-testid=group-results] a`))
	require.True(t, z.has(testID("member-state")))
	require.True(t, z.has(testID("leave")))
}

// TestBrowserBulkApproval: an owner approves several requests at once.
func TestBrowserBulkApproval(t *testing.T) {
	t.Parallel()
	srv, _, dbURL := startTesseraWithMail(t)
	ctx := context.Background()
	db := postgres.New(harness.Pool(t, dbURL))
	harness.StartWorkers(t, db, nil, srv.URL)
	org, err := demo.Generate(browserPeople)
	require.NoError(t, err)
	var groupID string
	for _, g := range org.Groups {
		if g.DisplayName == "GitHub org members" {
			groupID = g.ID
		}
	}
	var asked []string
	for i := 30; len(asked) < 3; i++ {
		p := org.People[i]
		r, err := db.Submit(ctx, portal.Viewer{PersonID: p.ID, DisplayName: p.DisplayName},
			portal.NewRequest{Operation: portal.OpAddMember, GroupID: groupID, PersonID: p.ID, Justification: "code review"})
		if err == nil {
			asked = append(asked, r.ID)
		}
	}
	m := newBrowser(t, srv)
	require.EqualValues(t, 200, m.signIn("mateo", demo.DemoPassword))
	m.reloadUntil("/approvals", testID("approvals"), "Join GitHub org members")
	deadline := time.Now().Add(20 * time.Second)
	for len(m.texts(`[data-testid=approvals] tbody tr`)) < 3 {
		require.True(t, time.Now().Before(deadline))
		time.Sleep(200 * time.Millisecond)
		m.open("/approvals")
	}
	// On a phone the list becomes stacked cards that keep everything needed
	// to decide: the justification and the due date, and nothing scrolls
	// sideways.
	m.do(chromedp.EmulateViewport(390, 844))
	require.EqualValues(t, 200, m.open("/approvals"))
	require.True(t, eval[bool](m, `document.documentElement.scrollWidth <= 390`), "My approvals scrolls sideways at 390 px")
	for _, cell := range []string{"Justification", "Due", "Asked on"} {
		require.True(t, eval[bool](m, `[...document.querySelectorAll('[data-testid=approvals] td[data-label="`+cell+`"]')].every(c => c.getBoundingClientRect().width > 300)`),
			"the %s of each card is shown across it", cell)
	}
	// The filters fold behind "Filters", so that the first card shows on
	// the first screen; the fold opens them, and a filter in use keeps
	// them open.
	m.waitFor(`!document.querySelector('[data-testid=filter-fold]').open`, "the filters did not fold at 390 px")
	require.True(t, eval[bool](m, `document.querySelector('[data-testid=approvals] tbody tr').getBoundingClientRect().top < 700`),
		"the first card is on the first screen")
	m.shot("cards-390")
	m.do(chromedp.Click(chromedp.CSS(`[data-testid=filter-fold] > summary`)))
	m.waitFor(`document.getElementById('f-requester').getBoundingClientRect().width > 200`, "the fold did not open the filters")
	m.shot("filters-390")
	require.EqualValues(t, 200, m.open("/approvals?kind=add_member"))
	require.True(t, eval[bool](m, `document.querySelector('[data-testid=filter-fold]').open`), "a filter in use stays shown at 390 px")
	require.Contains(t, m.text("filter-fold"), "Filters (in use)")
	m.do(chromedp.EmulateViewport(1280, 900))
	require.EqualValues(t, 200, m.open("/approvals"))
	require.True(t, eval[bool](m, `document.querySelector('[data-testid=filter-fold]').open && document.getElementById('f-requester').getBoundingClientRect().width > 100`),
		"at 1280 px the filters show beside the list")
	// "Select all" (shown where JavaScript runs) checks every row; clearing
	// one row makes it indeterminate.
	m.do(chromedp.Click(chromedp.CSS(`[data-testid=select-all]`)))
	require.True(t, eval[bool](m, `[...document.querySelectorAll('[data-testid=approvals] tbody input[name=id]')].every(c => c.checked)`),
		"select all checks every row")
	m.do(chromedp.Click(chromedp.CSS(`[data-testid=approvals] tbody input[name=id]`)))
	require.True(t, eval[bool](m, `document.querySelector('[data-testid=select-all]').indeterminate`),
		"one row cleared: select all is neither")
	m.do(chromedp.Click(chromedp.CSS(`[data-testid=approvals] tbody input[name=id]`)))
	require.True(t, eval[bool](m, `document.querySelector('[data-testid=select-all]').checked`), "all rows again")
	m.shot("selected")
	require.EqualValues(t, 200, m.click(testID("bulk-approve")))
	require.Contains(t, m.text("notice"), "requests approved.")
	m.shot("done")
	for _, id := range asked {
		deadline := time.Now().Add(20 * time.Second)
		for {
			var status string
			require.NoError(t, db.Pool.QueryRow(ctx, "SELECT status FROM requests WHERE id = $1", id).Scan(&status))
			if status == "completed" {
				break
			}
			require.True(t, time.Now().Before(deadline), "request %s is %s", id, status)
			time.Sleep(100 * time.Millisecond)
		}
	}
}
