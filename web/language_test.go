package web_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLanguage: pages speak the browser's language (Accept-Language) until
// the person chooses one in Settings, which then wins over the browser;
// error pages, numbers and dates follow it.
func TestLanguage(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	zoeID := tb.org.Accounts[0].PersonID
	german := []string{"Accept-Language", "de-DE,de;q=0.9,en;q=0.5"}

	anon := tb.client(t)
	resp, body := anon.get("/signin", german...)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `<html lang="de">`)
	require.Contains(t, body, "Zum Inhalt springen")
	require.Equal(t, "de", resp.Header.Get("Content-Language"))
	require.Contains(t, resp.Header.Values("Vary"), "Accept-Language")
	_, body = anon.get("/signin", "Accept-Language", "fr-FR,fr;q=0.9")
	require.Contains(t, body, `<html lang="en">`, "a language Tessera does not ship: English")

	zoe := tb.client(t)
	zoe.mustSignIn("zoe")
	_, home := zoe.get("/", german...)
	require.Contains(t, home, `<html lang="de">`)
	require.Contains(t, home, ">Startseite<")
	require.Contains(t, home, ">Meine Anträge<")
	resp, missing := zoe.get("/no-such-page", german...)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Contains(t, missing, "Nicht gefunden")
	require.Contains(t, missing, "Unter dieser Adresse gibt es keine Seite.", "the error's own message too")

	// Her choice wins over what the browser asks for.
	resp, _ = zoe.post("/settings/language", url.Values{"csrf": {zoe.csrf}, "language": {"en"}}, german...)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, home = zoe.get("/", german...)
	require.Contains(t, home, `<html lang="en">`)
	require.Contains(t, home, ">My requests<")
	_, profile := zoe.get("/people/"+zoeID, german...)
	require.Contains(t, profile, "Language: English")

	resp, _ = zoe.post("/settings/language", url.Values{"csrf": {zoe.csrf}, "language": {"de"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, form := zoe.get("/settings/language?saved=1", "Accept-Language", "en-US")
	require.Contains(t, form, `<html lang="de">`)
	require.Contains(t, form, "Gespeichert: Tessera spricht jetzt in dieser Sprache mit Ihnen.")
	require.Regexp(t, `value="de" checked`, form)

	resp, _ = zoe.post("/settings/language", url.Values{"csrf": {zoe.csrf}, "language": {"xx"}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	// Back to following the browser.
	resp, _ = zoe.post("/settings/language", url.Values{"csrf": {zoe.csrf}, "language": {""}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, home = zoe.get("/", "Accept-Language", "en-GB")
	require.Contains(t, home, `<html lang="en">`)
}

// TestLanguageAccountPages: the pages of a person's own account (sign-in
// and recovery methods, access reviews, group editing) and
// their notices speak German to a German browser.
func TestLanguageAccountPages(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	german := []string{"Accept-Language", "de-DE,de;q=0.9"}

	anon := tb.client(t)
	_, signin := anon.get("/signin?signedout=1", german...)
	require.Contains(t, signin, "Sie haben sich abgemeldet.")

	zoe := tb.client(t)
	zoe.mustSignIn("zoe")
	_, security := zoe.get("/settings/security?notice=removed", german...)
	for _, want := range []string{"Ihre Methoden", "Die Methode wurde entfernt.", "Authenticator-App hinzufügen", "Noch keine.", `placeholder="Mein Laptop"`} {
		require.Contains(t, security, want)
	}
	_, reviews := zoe.get("/reviews", german...)
	require.Contains(t, reviews, "Keine Zugriffsüberprüfung wartet auf Sie.")
	_, newGroup := zoe.get("/groups/new", german...)
	for _, want := range []string{"Neue Gruppe", "Sicherheit: gewährt Zugriff", "Gruppe anlegen"} {
		require.Contains(t, newGroup, want)
	}
}
