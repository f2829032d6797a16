package i18n_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

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

// TestStoredTextGerman: a Text stored as JSON (a sync run's message, an HR
// refusal) keeps its format and arguments, nested errors and labels
// included, so that it is read in German later; a row stored before as a
// plain string reads as that string.
func TestStoredTextGerman(t *testing.T) {
	t.Parallel()
	de, en := i18n.For("de"), i18n.English()
	inner := portal.Errorf(portal.EINVALID, "The %s cannot be empty.", portal.LowerLabel("Display name"))
	orig := portal.Textf("The sync of %s failed: %s", "Demo AD", inner)
	data, err := json.Marshal(orig)
	if err != nil {
		t.Fatal(err)
	}
	var back portal.Text
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if got, want := de.Text(back), "Die Synchronisierung von Demo AD ist fehlgeschlagen: „Anzeigename“ darf nicht leer sein."; got != want {
		t.Errorf("stored %s in German = %q; want %q", data, got, want)
	}
	if got, want := en.Text(back), en.Text(orig); got != want || got != "The sync of Demo AD failed: The display name cannot be empty." {
		t.Errorf("stored %s in English = %q; want %q", data, got, want)
	}
	numbers := portal.Textf("%d people match", 1234)
	if err := json.Unmarshal(must(json.Marshal(numbers)), &back); err != nil || de.Text(back) != de.Text(numbers) {
		t.Errorf("a number stored reads %q; want %q (%v)", de.Text(back), de.Text(numbers), err)
	}
	if err := json.Unmarshal([]byte(`"an old detail, 100% English"`), &back); err != nil || de.Text(back) != "an old detail, 100% English" {
		t.Errorf("an old plain string reads %q (%v)", de.Text(back), err)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestStoredTimesInReadersZone: an instant inside a stored Text (an
// approval's due time) is kept as the instant, not as words, and each
// reader reads it in their own zone and language, with how far it is from
// now; a calendar day (a last working day) as their language writes days.
// The English copy of the sentence has the instant in UTC.
func TestStoredTimesInReadersZone(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	due := time.Now().Add(50 * time.Hour).Truncate(time.Minute)
	orig := portal.Textf("Sent to %s; %d of %d needed; due %s.", "Anna", 1, 1, portal.At(due))
	var back portal.Text
	if err := json.Unmarshal(must(json.Marshal(orig)), &back); err != nil {
		t.Fatal(err)
	}
	de := i18n.For("de").In(berlin)
	want := "Gesendet an Anna; 1 von 1 nötig; fällig " + de.Time(due, berlin) + " (in 2 Tagen)."
	if got := de.Text(back); got != want {
		t.Errorf("stored due time in German, Berlin = %q; want %q", got, want)
	}
	if got, want := i18n.English().Text(back), "Sent to Anna; 1 of 1 needed; due "+i18n.English().Time(due, time.UTC)+" (in 2 days)."; got != want {
		t.Errorf("stored due time in English, no zone = %q; want %q", got, want)
	}
	if got, want := orig.String(), "Sent to Anna; 1 of 1 needed; due "+due.UTC().Format("2006-01-02 15:04")+" UTC."; got != want {
		t.Errorf("English copy = %q; want %q", got, want)
	}
	far := time.Date(2020, 3, 1, 9, 0, 0, 0, time.UTC)
	if got, want := de.Text(portal.Textf("The group expired on %s.", portal.At(far))), "Die Gruppe ist am 1. März 2020, 10:00 CET abgelaufen."; got != want {
		t.Errorf("a moment long ago = %q; want %q (no relative words)", got, want)
	}
	last := portal.Date{Year: 2026, Month: time.December, Day: 4}
	if err := json.Unmarshal(must(json.Marshal(portal.Textf("Their last day, %s, ended.", last))), &back); err != nil {
		t.Fatal(err)
	}
	if got, want := de.Text(back), "Der letzte Arbeitstag, 4. Dez. 2026, ist vorbei."; got != want {
		t.Errorf("stored day in German = %q; want %q", got, want)
	}
}
