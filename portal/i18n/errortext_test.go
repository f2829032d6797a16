package i18n_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
)

// TestErrorGerman: a domain error keeps its English format and arguments
// and is written in German from them: %q and names stay as given, a nested
// domain error (%s of an error, or wrapped with %w around it) is German
// too, a label Tessera ships is the catalogue's word, and an error that is
// not a domain error is the general apology, never its English details.
func TestErrorGerman(t *testing.T) {
	t.Parallel()
	de, en := i18n.For("de"), i18n.English()
	inner := portal.Errorf(portal.EINVALID, "The port must be from 1 to 65535, not %d.", 70000)
	cases := []struct {
		err    error
		de, en string
	}{
		{portal.Errorf(portal.ENOTFOUND, "There is no role called %q.", "auditor"),
			`Es gibt keine Rolle namens "auditor".`, `There is no role called "auditor".`},
		{portal.Errorf(portal.ECONFLICT, "%s is already a member of %s.", "Zoë Weiß", "Finance"),
			"Zoë Weiß ist bereits Mitglied von Finance.", "Zoë Weiß is already a member of Finance."},
		{portal.Errorf(portal.EINVALID, "The import of %s failed: %s", "Demo AD", portal.Reason(inner)),
			"Der Import von Demo AD ist fehlgeschlagen: Der Port muss zwischen 1 und 65535 liegen, nicht 70000.",
			"The import of Demo AD failed: The port must be from 1 to 65535, not 70000."},
		{fmt.Errorf("postgres: save: %w", inner),
			"Der Port muss zwischen 1 und 65535 liegen, nicht 70000.", "The port must be from 1 to 65535, not 70000."},
		{portal.Errorf(portal.EINVALID, "The %s cannot be empty.", portal.LowerLabel("Display name")),
			"„Anzeigename“ darf nicht leer sein.", "The display name cannot be empty."},
		{portal.Errorf(portal.ECONFLICT, "You already %s this request.", portal.Textf("approved")),
			"Sie haben diesen Antrag bereits genehmigt.", "You already approved this request."},
		{errors.New("pq: connection refused"),
			"Bei uns ist etwas schiefgegangen. Bitte versuchen Sie es erneut.", "Something went wrong on our side. Please try again."},
	}
	for _, c := range cases {
		if got := de.Error(c.err); got != c.de {
			t.Errorf("German of %v = %q; want %q", c.err, got, c.de)
		}
		if got := en.Error(c.err); got != c.en {
			t.Errorf("English of %v = %q; want %q", c.err, got, c.en)
		}
	}
}
