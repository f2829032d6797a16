package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal/demo"
)

// governanceJourney is an administrator's day one, in the Tessera of
// TestBrowserAdminRules (in a tab of its own, as a tab's time is bounded):
// Ada creates a group (she owns
// it), adds two members, grants Zoë the helpdesk role through its group,
// and runs an access review of her group to its end: she keeps Zoë, leaves
// Mateo undecided, ends the review, and Mateo's membership goes by a
// request with its timeline. The review's reminder reaches her by email.
func governanceJourney(t *testing.T, srv *harness.Tessera, sink *harness.MailSink, dbURL string) {
	b := newBrowser(t, srv)
	require.EqualValues(t, 200, b.signIn("ada", demo.DemoPassword))
	require.EqualValues(t, 200, b.open("/groups/new"))
	b.do(chromedp.SendKeys(chromedp.ID("name"), "falcon-team"),
		chromedp.SendKeys(chromedp.ID("display_name"), "Falcon team"),
		chromedp.SendKeys(chromedp.ID("description"), "The falcon project."),
		chromedp.Click(`input[name=join_policy][value=closed]`),
		chromedp.SendKeys(chromedp.ID("owners"), "ada"))
	require.EqualValues(t, 200, b.click(testID("save-group")))
	require.Equal(t, "Falcon team", b.text("group-name"))
	require.Contains(t, b.text("join-policy"), "Closed")
	group := b.location().Path
	b.shot("group-created")
	for _, who := range []string{"zoe", "mateo"} {
		b.do(chromedp.SendKeys(chromedp.ID("member"), who))
		require.EqualValues(t, 200, b.click(testID("add-member")))
		require.True(t, strings.HasPrefix(b.path(), group), b.path())
	}
	require.Len(t, b.texts(`[data-testid=members] li`), 2)

	// The helpdesk role, through its group.
	require.EqualValues(t, 200, b.open("/admin/roles"))
	b.do(chromedp.SendKeys(chromedp.ID("grant-helpdesk"), "zoe"))
	require.EqualValues(t, 200, b.click(testID("grant-helpdesk")))
	require.Contains(t, b.text("role-helpdesk"), "Zoë")
	b.shot("helpdesk-granted")

	// The access review, started, decided in bulk and ended.
	require.EqualValues(t, 200, b.open("/admin/reviews"))
	b.do(chromedp.SendKeys(chromedp.ID("name"), "Falcon review"), chromedp.SendKeys(chromedp.ID("group"), "falcon-team"))
	require.EqualValues(t, 200, b.click(testID("start-review")))
	review := b.location().Path
	require.True(t, strings.HasPrefix(review, "/reviews/"), review)
	require.Len(t, b.texts(`[data-testid=review-items] tbody tr`), 2)
	var adaEmail string
	require.NoError(t, harness.Pool(t, dbURL).QueryRow(context.Background(), `SELECT email FROM people WHERE account_name = 'ada'`).Scan(&adaEmail))
	reminder := sink.WaitFor(t, adaEmail, "Falcon review", time.Minute)
	require.Contains(t, reminder.Text, review, "the reminder links to the review")
	b.do(chromedp.Click(`input[name=item][aria-label^="Select Zoë"]`))
	require.EqualValues(t, 200, b.click(testID("keep-selected")))
	require.Contains(t, strings.Join(b.texts(`[data-testid=item-decision]`), " "), "Keep (")
	b.shot("review-decided")
	require.EqualValues(t, 200, b.click(testID("complete-review")))
	require.Equal(t, review, b.location().Path)
	require.Contains(t, b.text("review-state"), "Ended")
	require.Contains(t, strings.Join(b.texts(`[data-testid=item-decision]`), " "), "Remove (the review's default)")
	b.shot("review-ended")
	require.EqualValues(t, 200, b.click(`[data-testid=item-decision] a[href^="/requests/"]`))
	require.Contains(t, b.text("request-summary"), "Remove")
	b.reloadUntil(b.location().Path, testID("status"), "Done")
	require.EqualValues(t, 200, b.open(group))
	require.Len(t, b.texts(`[data-testid=members] li`), 1, "Mateo's membership went")

	// The pages no list leads TestBrowserEveryPage to pass axe too.
	axe := harness.AxeSource(t)
	b.checkPage(axe, review)
	b.checkPage(axe, group+"/edit")
}
