package e2e_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal/demo"
)

// TestBrowserAdminRules: an administrator writes a set's rule and watches
// the live preview (htmx, under the page's Content Security Policy) count
// the people it selects, sees a typo reported with its place, and saves.
func TestBrowserAdminRules(t *testing.T) {
	t.Parallel()
	srv, sink, dbURL := startTesseraWithMail(t)
	b := newBrowser(t, srv)
	require.EqualValues(t, 200, b.signIn("ada", demo.DemoPassword))
	require.EqualValues(t, 200, b.open("/admin/sets/new"))

	b.do(chromedp.SendKeys(chromedp.ID("rule"), `person.department == "IT"`))
	b.waitFor(`document.querySelector('[data-testid=preview-count]') !== null`, "the live preview never showed a count")
	require.Contains(t, b.text("preview-count"), "people match")
	b.shot("preview")

	b.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('rule').value = ''`),
		chromedp.SendKeys(chromedp.ID("rule"), `person.departmant == "IT"`))
	// The preview follows the typing: it may first show the error of "p".
	b.waitFor(`(document.querySelector('[data-testid=preview-error]') || {}).textContent?.includes('did you mean "department"')`,
		"the live preview never suggested the attribute")
	b.shot("typo")

	b.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('rule').value = 'person.department == "IT"'`),
		chromedp.SendKeys(chromedp.ID("name"), "IT staff"))
	require.EqualValues(t, 200, b.click(testID("save-set")))
	require.True(t, strings.HasPrefix(b.path(), "/admin/sets"), b.path())
	require.Contains(t, strings.Join(b.texts(`[data-testid=set-row]`), " "), "IT staff")
	b.shot("saved")

	adminAddsAttribute(t, srv, dbURL)
	// In the same world, the administration of groups, roles and reviews.
	governanceJourney(t, srv, sink, dbURL)
}

// adminAddsAttribute: the administrator adds a custom attribute in
// Administration → Schema (a name the rule language reserves is refused
// on the form, which keeps what was typed), uses it in a dynamic group's rule, sees it on a profile,
// and cannot remove it while the rule reads it.
func adminAddsAttribute(t *testing.T, srv *harness.Tessera, dbURL string) {
	ctx := context.Background()
	// A tab of its own: one tab's lifetime is bounded, and a busy machine
	// could spend it on the steps above.
	b := newBrowser(t, srv)
	require.EqualValues(t, 200, b.signIn("ada", demo.DemoPassword))
	pool := harness.Pool(t, dbURL)
	require.EqualValues(t, 200, b.open("/admin/schema/new"))
	b.do(chromedp.SendKeys(chromedp.ID("name"), "in"),
		chromedp.SendKeys(chromedp.ID("label"), "Floor"),
		chromedp.SetValue(chromedp.ID("attr_type"), "int"),
		chromedp.SendKeys(chromedp.ID("min"), "0"),
		chromedp.SendKeys(chromedp.ID("max"), "40"))
	require.EqualValues(t, 422, b.click(testID("save-attribute")))
	require.Contains(t, b.text("form-error"), "reserved word of the rule language")
	b.do(chromedp.SetValue(chromedp.ID("name"), "floor"))
	require.EqualValues(t, 200, b.click(testID("save-attribute")))
	require.Contains(t, strings.Join(b.texts(`[data-testid=attribute-row]`), " "), "Floor")
	b.shot("attribute-added")

	// The HR system says which floor Zoë works on.
	var zoe, groupID, groupName string
	require.NoError(t, pool.QueryRow(ctx, `UPDATE people SET extra = extra || '{"floor": "7"}'
		WHERE account_name = 'zoe' RETURNING id`).Scan(&zoe))
	require.NoError(t, pool.QueryRow(ctx, `SELECT id, display_name FROM groups WHERE membership_rule IS NULL
		ORDER BY display_name LIMIT 1`).Scan(&groupID, &groupName))

	require.EqualValues(t, 200, b.open("/admin/groups/"+groupID+"/rule"))
	b.do(chromedp.SetValue(chromedp.ID("rule"), `person.floor == 7`))
	require.EqualValues(t, 200, b.click(testID("save-rule")))
	require.Contains(t, b.text("group-membership"), "1 member")

	require.EqualValues(t, 200, b.open("/people/"+zoe))
	require.Equal(t, "7", b.text("attr-floor"))
	b.shot("attribute-on-profile")

	// The white pages filter by it, by a range as by a value.
	require.EqualValues(t, 200, b.open("/people?filters=open"))
	b.do(chromedp.SetValue(chromedp.ID("filter_attr"), "floor"), chromedp.SendKeys(chromedp.ID("filter_value"), "5..9"))
	require.EqualValues(t, 200, b.click(testID("add-filter")))
	require.Equal(t, []string{"7"}, b.texts(`[data-testid=filtered-floor]`), "Zoë alone, on floor 7")
	b.shot("range-filter")

	require.EqualValues(t, 200, b.open("/admin/schema/floor"))
	require.Contains(t, b.text("uses"), groupName)
	require.EqualValues(t, 409, b.click(testID("remove-attribute")))
	require.Contains(t, b.text("form-error"), groupName)
}
