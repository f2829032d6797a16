package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

// TestLanguageAdmin: an administrator who chose German reads the
// administration pages in German: labels, explanations, buttons, notices
// after a change and the values the pages compute (deadlines, weekdays),
// with no English label left.
func TestLanguageAdmin(t *testing.T) {
	t.Parallel()
	tb, systems := setupConnected(t, testSealer(t))
	ctx := context.Background()
	ada := tb.client(t)
	ada.mustSignIn("ada")
	resp, _ := ada.post("/settings/language", ada.form("language", "de"))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)

	cal, err := tb.db.CreateCalendar(ctx, portal.Viewer{}, portal.Calendar{Name: "UK", TimeZone: time.UTC,
		Weekend: []time.Weekday{time.Saturday, time.Sunday}})
	require.NoError(t, err)
	resp, _ = ada.post("/admin/calendars/"+cal.ID+"/holidays", ada.form("day", "2026-12-25", "holiday_name", "Christmas"))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)

	// englishEverywhere are labels of the frame and the shared forms that
	// no German administration page may show.
	englishEverywhere := []string{">Administration<", ">Policies<", ">Connected systems<", ">Save", ">Cancel<",
		">Delete", ">None<", "There are no", "No entries"}
	pages := []struct {
		path    string
		german  []string
		english []string
	}{
		{"/admin", []string{"<h1>Verwaltung</h1>", "Wer welche Änderung an welchen Gruppen und Attributen beantragen darf",
			"Gruppe suchen, um ihre Mitgliedschaftsregel zu bearbeiten", `>Vorschau</a>, was eine Synchronisierung`},
			[]string{"Who may ask", "Find a group", ">preview<", "Every change"}},
		{"/admin/policies?notice=policy-saved", []string{"Die Richtlinie wurde gespeichert.", ">Vorgang<", ">Wer beantragen darf<",
			"Ein Antrag wird gewährt, wenn eine aktivierte Richtlinie ihn abdeckt", ">Deaktivieren<", "Offene Gruppen"},
			[]string{"The policy was saved.", ">Operation<", ">Requestor<", ">Disable<", "Open groups", "Every group"}},
		{"/admin/policies/new", []string{"<h1>Neue Richtlinie</h1>", "Gewährter Vorgang", "Zielgruppen (nur Gruppenvorgänge)",
			"Geschlossene Gruppen", "Keine: sofort gewährt", "Richtlinie speichern", "Menge (nur für „Die Personen einer Menge“)"},
			[]string{"Operation it grants", "Closed groups", "granted at once", "Tick none", "Notify people"}},
		{"/admin/policies/" + tb.policyID(t, "Join open groups"), []string{"<h1>Richtlinie bearbeiten</h1>", "Diese Richtlinie löschen",
			"Bereits unter ihr gestellte Anträge behalten ihren Verlauf."}, []string{"Delete this policy", "keep their history"}},
		{"/admin/workflows", []string{">Genehmigende<", ">Bei Fristablauf<", "5 Arbeitstage (Montag bis Freitag, UTC)"},
			[]string{">Approvers<", ">On timeout<", "business days", "Monday"}},
		{"/admin/workflows/" + tb.workflowID(t, "Manager approves"), []string{"<h1>Genehmigungsablauf bearbeiten</h1>",
			"Wie viele genehmigen müssen", "Eine beliebige von ihnen", "In Arbeitstagen", "Montag bis Freitag, UTC (keine Feiertage)",
			"Wenn bis zum endgültigen Fristende niemand entscheidet", "Ablauf speichern"},
			[]string{"How many must approve", "Any one of them", "In business days", "Deny the request", "Save workflow"}},
		{"/admin/calendars", []string{"Samstag, Sonntag", "Neuer Kalender"}, []string{"Saturday", "Sunday", "New calendar"}},
		{"/admin/calendars/" + cal.ID + "?notice=holiday-added", []string{"Wochenendtage", ">Feiertag hinzufügen<", "(Freitag)", "Mittwoch"},
			[]string{"Weekend days", "Add a holiday", "(Friday)", "Wednesday"}},
		{"/admin/audit", []string{"Jeder Eintrag trägt den Hash des vorigen", ">Ausgeführt von (Kontoname oder E-Mail)<",
			">Kette prüfen<", ">Aktion<", ">Ziel<", "neueste zuerst"},
			[]string{"Each entry carries", "Done by", "Verify the chain", ">Action<", ">Target<", "newest first"}},
		{"/admin/sets?notice=set-created", []string{"Die Menge wurde angelegt.", "Eine Menge ist eine Regel über Personenattribute",
			"Es gibt noch keine Mengen.", ">Neue Menge<"}, []string{"The set was created.", "A set is a rule", "New set"}},
		{"/admin/sets/new", []string{"<h1>Neue Menge</h1>", "Eine Bedingung, die für jede Person wahr oder falsch ist, etwa <code>",
			"Gelesen als <code>person.name</code>", ">Menge speichern<", ">Vorschau anzeigen<", "Nachname"},
			[]string{"A condition that is true", "Read as", "Save set", ">Preview<", "Type a rule", "Surname"}},
		{"/admin/groups?q=book", []string{"Die Mitglieder einer dynamischen Gruppe", "Gruppenname, Beschreibung oder E-Mail", ">Statisch<"},
			[]string{"A dynamic group's members", "Group name, description", "Static"}},
		{"/admin/groups/" + tb.groupID(t, "Book club") + "/rule", []string{"<h1>Mitgliedschaftsregel von", "ist statisch: Ihre Besitzer und Anträge verwalten ihre <strong>",
			">Regel speichern<"}, []string{"Membership rule of", "is static", "Save rule"}},
		{"/admin/schema?notice=attribute-added", []string{"Das Attribut wurde hinzugefügt.", "Die Attribute, die jede Person hat.",
			">Name in Regeln<", "Nachname <span class=\"muted\">(eingebaut)</span>", ">Alle<", "bis zu 256 Zeichen"},
			[]string{"The attribute was added.", "Name in rules", "(built in)", ">Everyone<", "characters"}},
		{"/admin/schema/new", []string{"<h1>Attribut hinzufügen</h1>", "Name in Regeln und Synchronisierungsflüssen", ">Ganze Zahl<",
			">Verweis auf eine Person<", "Die Person, der Helpdesk und Administratoren", ">Attribut speichern<"},
			[]string{"Letters and digits", ">Whole number<", "Who sees it", "Save attribute"}},
		{"/admin/people?q=zoe", []string{"Alle nach Name, E-Mail, Position, Abteilung, Büro oder Telefon durchsuchen", ">Neue Person<",
			">Aktiviert<"}, []string{"Search everyone", "New person", ">Enabled<"}},
		{"/admin/people/" + tb.org.Accounts[0].PersonID + "?notice=person-changed", []string{"Die Änderung wurde vorgenommen.", "Alle Attribute",
			"Vorgesetzte(n) festlegen", "Eine Änderung erreicht jedes verbundene System", ">Kontostatus<"},
			[]string{"The change was made.", "Every attribute", "Set the manager", "a change reaches", "Account status"}},
		{"/admin/people/new", []string{"<h1>Neue Person</h1>", "Eine von Hand angelegte Person", ">Person anlegen<", ">Vorname<"},
			[]string{"A person created by hand", "Create person", "Given name", "Last day"}},
		{"/admin/roles?notice=role-granted", []string{"Die Rolle wurde vergeben", "<h2>Administrator</h2>", "Vergeben durch Mitgliedschaft in",
			"Die Rolle über eine andere Gruppe vergeben", ">Entziehen<"},
			[]string{"The role was granted", "Granted by membership", "Grant the role", ">Revoke<", "Use this group"}},
		{"/admin/connected-systems?notice=deleted", []string{"Das verbundene System wurde gelöscht.", "Neues Active-Directory-System",
			"Es gibt noch keine verbundenen Systeme."}, []string{"The connected system", "New Active Directory system", "New Entra ID system"}},
		{"/admin/connected-systems/new", []string{"<h1>Neues verbundenes System</h1>", "Verbindungssicherheit", "Bindungskennwort",
			"Wird verschlüsselt gespeichert und nie wieder angezeigt.", ">Verbindung testen<"},
			[]string{"Connection security", "Bind password", "Stored encrypted", "Test connection", "Staging mode"}},
		{"/admin/connected-systems/new?type=entra", []string{"Mandanten-ID (die Verzeichnis-ID)", "Geheimer Clientschlüssel",
			"Keines: reine Cloud-Benutzer"}, []string{"Tenant ID", "Client secret", "cloud-only users", "Write budget"}},
	}
	for _, pg := range pages {
		resp, body := ada.get(pg.path)
		require.Equal(t, http.StatusOK, resp.StatusCode, pg.path)
		requireGerman(t, pg.path, body, pg.german, append(pg.english, englishEverywhere...))
	}

	// Sync: a system that answers nothing, with a run that did something.
	sys := mustCreateUnreachableSystem(t, tb, systems)
	path := "/admin/connected-systems/" + sys.ID
	var runID int64
	require.NoError(t, tb.db.Pool.QueryRow(ctx, `INSERT INTO sync_runs (system_id, profile, trigger, processed, counts, status, finished_at)
		VALUES ($1, 'full_import', 'schedule', 9, '{"adds": 7, "updates": 1}', 'succeeded', now()) RETURNING id`, sys.ID).Scan(&runID))
	run := "/admin/sync/runs/" + itoa64(runID)
	syncEnglish := []string{"Pending exports", "Export errors", "Connector space", "Recent runs", ">Status and runs<", "Full import"}
	pages = []struct {
		path    string
		german  []string
		english []string
	}{
		{"/admin/sync", []string{"Jedes verbundene System hat einen Connector Space", ">Letzter Lauf<", ">Letzte Läufe<",
			"7 Hinzufügungen, 1 Aktualisierung", ">Zeitplan<", "Vollständiger Import"}, []string{"7 adds", "1 update", "Last run", ">Schedule<"}},
		{path + "/sync", []string{"Synchronisierung von Corp AD", "Ausführungsprofil starten", "Objekte im Connector Space",
			">Status und Läufe<", "Es gibt noch keine Synchronisierungsregeln"}, []string{"Run a run profile", "There are no sync rules", "State:"}},
		{path + "/sync/rules/user", []string{"Synchronisierungsregel für Benutzer von Corp AD", "hat noch keine Synchronisierungsregel für Benutzer",
			"Eingehende Flüsse (einer pro Zeile: <code>mvAttribute &lt;- Rangfolge: Ausdruck</code>", "Anfangskennwort",
			"Entzug: wenn ein Benutzer den Bereich verlässt", "Synchronisierungsregel speichern"},
			[]string{"Inbound flows", "Initial password", "Deprovisioning", "Save sync rule", "Such as"}},
		{path + "/sync/rules/group", []string{"Eine Gruppe hat <code>name</code>", "Gruppen im Bereich anlegen, die mit nichts verknüpft sind"},
			[]string{"A group has", "Create groups"}},
		{path + "/sync/exports", []string{"Ausstehende Exporte nach Corp AD", "Nichts wartet auf den Export."}, []string{"Nothing is waiting"}},
		{path + "/sync/exports?errors=1", []string{"Exportfehler von Corp AD", "Kein Export ist fehlgeschlagen."}, []string{"No export has failed"}},
		{path + "/sync/connector-space", []string{"Objekte, deren DN enthält", "Nur nicht verknüpfte Objekte anzeigen",
			"Keine Objekte passen."}, []string{"Objects whose DN", "Show unjoined", "No objects match"}},
		{run, []string{">Erfolgreich<", ">Ausführungsprofil<", ">Hinzufügungen<", "Unverändert (nicht aufgelistet)", ">Zeitplan<"},
			[]string{">Succeeded<", ">Run profile<", ">Adds<", "Unchanged (not listed)"}},
		{"/admin/sync/preview", []string{"Was eine vollständige Synchronisierung mit einer Person", ">Vorschau anzeigen<"},
			[]string{"What a full sync", ">Preview<"}},
	}
	for _, pg := range pages {
		resp, body := ada.get(pg.path)
		require.Equal(t, http.StatusOK, resp.StatusCode, pg.path)
		requireGerman(t, pg.path, body, pg.german, append(append(pg.english, englishEverywhere...), syncEnglish...))
	}

	// HR: a source, its page, and a file's preview.
	_, body := ada.get("/admin/hr")
	requireGerman(t, "/admin/hr", body, []string{"Die Personalabteilung ist die maßgebliche Quelle für Personen",
		"Es gibt noch keine Personalquelle.", ">Personalquelle hinzufügen<"}, []string{"HR is the source", "There is no HR source", "Add HR source"})
	resp, _ = ada.post("/admin/hr", ada.form("name", "Lohn", "folder", ""))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	source := resp.Header.Get("Location")
	_, body = ada.get(source)
	requireGerman(t, source, body, []string{"Die Personalquelle wurde hinzugefügt", "Datei hochladen", "API-gesteuerte Bereitstellung (SCIM)",
		"Zur Bestätigung anhalten, wenn dieser Anteil der Personen auf einmal austritt (%)", "Personalnummer der oder des Vorgesetzten",
		">Semikolon (;)<", ">Einstellungen speichern<"},
		[]string{"Upload a file", "Watched folder", "Delimiter", "Start date", "Save settings", "%!"})
	resp, _ = ada.upload(strings.TrimSuffix(source, "?notice=created")+"/upload", "file", "leute.csv",
		[]byte("EmployeeID,FirstName,LastName\nHR-DE-1,Jürgen,Neu\n"))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	preview := resp.Header.Get("Location")
	_, body = ada.get(preview)
	requireGerman(t, preview, body, []string{`Zeilen: <strong data-testid="joiners">1</strong> Eintritte`, "Vorschau: wartet auf „Anwenden“",
		"aus <bdi>einem Upload</bdi>", ">Anwenden<", ">Verwerfen<"}, []string{"joiners,", "Previewed", "from an upload", ">Apply<", ">Discard<"})

	resp, body = ada.post("/admin/rules/preview", url.Values{"rule": {`person.department != ""`}}, "HX-Request", "true", "X-CSRF-Token", ada.csrf)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Regexp(t, `[\d.]+ Personen passen`, body)
	require.Contains(t, body, "Die ersten 10 nach Namen:")

	// A form's refusal is German too, with the field named in German.
	_, body = ada.post("/admin/workflows", ada.form("name", "Zwei", "source", "manager", "threshold", "n", "n", "zwei",
		"deadline", "none", "outcome", "deny"))
	require.Contains(t, body, "Die Anzahl der nötigen Genehmigungen muss eine ganze Zahl sein, nicht „zwei“.")
	_, body = ada.post("/admin/audit/verify", url.Values{"csrf": {ada.csrf}})
	require.Regexp(t, `Das Prüfprotokoll ist unversehrt: [\d.]+ Einträge geprüft\.`, body)
}

// requireGerman checks that a page is in German: it holds every one of
// german and none of english. It names the text, not the whole page.
func requireGerman(t *testing.T, path, body string, german, english []string) {
	t.Helper()
	require.Contains(t, body, `<html lang="de">`, path)
	for _, s := range german {
		if !strings.Contains(body, s) {
			t.Errorf("%s lacks %q", path, s)
		}
	}
	for _, s := range english {
		if i := strings.Index(body, s); i >= 0 {
			t.Errorf("%s shows English %q: …%s…", path, s, body[max(0, i-80):min(len(body), i+len(s)+80)])
		}
	}
}
