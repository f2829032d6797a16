package e2e_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal/demo"
)

// TestBrowserAdminRules: an administrator writes a set's rule and watches
// the live preview (htmx, under the page's Content Security Policy) count
// the people it selects, sees a typo reported with its place, and saves.
func TestBrowserAdminRules(t *testing.T) {
	t.Parallel()
	srv, _ := startTessera(t)
	b := newBrowser(t, srv)
	require.EqualValues(t, 200, b.signIn("ada", demo.DemoPassword))
	require.EqualValues(t, 200, b.open("/admin/sets/new"))

	b.do(chromedp.SendKeys(chromedp.ID("rule"), `person.department == "IT"`))
	b.waitFor(`document.querySelector('[data-testid=preview-count]') !== null`, "the live preview never showed a count")
	require.Contains(t, b.text("preview-count"), "people match")
	b.shot("preview")

	b.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('rule').value = ''`),
		chromedp.SendKeys(chromedp.ID("rule"), `person.departmant == "IT"`))
	b.waitFor(`document.querySelector('[data-testid=preview-error]') !== null`, "the live preview never showed the error")
	require.Contains(t, b.text("preview-error"), `did you mean "department"`)
	b.shot("typo")

	b.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('rule').value = 'person.department == "IT"'`),
		chromedp.SendKeys(chromedp.ID("name"), "IT staff"))
	require.EqualValues(t, 200, b.click(testID("save-set")))
	require.True(t, strings.HasPrefix(b.path(), "/admin/sets"), b.path())
	require.Contains(t, strings.Join(b.texts(`[data-testid=set-row]`), " "), "IT staff")
	b.shot("saved")
}
