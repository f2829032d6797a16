package i18n_test

import (
	"testing"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
)

// TestEventTextGerman: the timeline details requestlife.go stores in
// English, old rows included, read in German; other details stay as written.
func TestEventTextGerman(t *testing.T) {
	t.Parallel()
	de := i18n.For("de")
	for stored, want := range map[string]string{
		"Exported to Demo AD": "Exportiert nach Demo AD",
		"Demo AD no longer has CN=Zoe,OU=People,DC=x: it was deleted or moved out of scope there before the change was confirmed.":                          "Demo AD hat CN=Zoe,OU=People,DC=x nicht mehr: Es wurde dort gelöscht oder aus dem Bereich verschoben, bevor die Änderung bestätigt wurde.",
		"Superseded by a later change to the same values (made in a connected system or by an administrator) before a connected system confirmed this one.": "Überholt durch eine spätere Änderung derselben Werte (in einem angeschlossenen System oder durch einen Administrator), bevor ein angeschlossenes System diese bestätigt hat.",
		"Not needed any more, 100% sure": "Not needed any more, 100% sure",
		`Demo AD refused the change: ad: modify "CN=Zoe,OU=People,DC=x": LDAP 19 (Constraint Violation): 0000052D: AtrErr. An administrator has been shown the error; the export is retried, and the request completes if its values go through.`: `Demo AD hat die Änderung abgelehnt: ad: modify "CN=Zoe,OU=People,DC=x": LDAP 19 (Constraint Violation): 0000052D: AtrErr. Ein Administrator sieht den Fehler; der Export wird wiederholt, und der Antrag wird abgeschlossen, wenn seine Werte übernommen werden.`,
		"Entra could not take the change: it answered 403": "Entra konnte die Änderung nicht übernehmen: it answered 403",
	} {
		if got := de.Text(portal.EventText(stored)); got != want {
			t.Errorf("EventText(%q) in German = %q; want %q", stored, got, want)
		}
		if got := i18n.English().Text(portal.EventText(stored)); got != stored {
			t.Errorf("EventText(%q) in English = %q", stored, got)
		}
	}
}
