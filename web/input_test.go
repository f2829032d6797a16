package web_test

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/demo"
)

// Routes that read no input, outside the decoder (readInput).
var routesWithoutInput = []string{"/healthz", "/readyz", "/metrics", "/static/*", "/favicon.ico"}

// route is one method and pattern of the router.
type route struct{ method, pattern string }

// allRoutes enumerates the router's routes, so that a route added later
// is covered by the tests below without anyone listing it.
func allRoutes(t *testing.T, tb *testBundle) []route {
	t.Helper()
	routes, ok := tb.handler.(chi.Routes)
	require.True(t, ok, "the handler is a chi router")
	var out []route
	require.NoError(t, chi.Walk(routes, func(method, pattern string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		pattern = strings.ReplaceAll(pattern, "/*/", "/")
		if !slices.Contains(routesWithoutInput, pattern) {
			out = append(out, route{method, pattern})
		}
		return nil
	}))
	// Signing out ends the session the rest use: last.
	slices.SortStableFunc(out, func(a, b route) int {
		return boolInt(a.pattern == "/signout") - boolInt(b.pattern == "/signout")
	})
	require.Greater(t, len(out), 60, "every page and form")
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// fillRoute puts real identifiers (or ones that exist nowhere) into a
// route's parameters, so that handlers past the decoder do their work.
func fillRoute(tb *testBundle, pattern, systemID string) string {
	group, person := tb.org.Groups[0].ID, tb.org.People[1].ID
	nowhere := "00000000-0000-4000-8000-000000000000"
	parts := strings.Split(pattern, "/")
	for i, p := range parts {
		switch {
		case p == "{person}":
			parts[i] = person
		case p == "{day}":
			parts[i] = "2027-01-01"
		case p == "{class}":
			parts[i] = "user"
		case p == "{run}":
			parts[i] = "1"
		case p == "{id}" && (parts[1] == "groups" || parts[1] == "admin" && parts[2] == "groups"):
			parts[i] = group
		case p == "{id}" && (parts[1] == "people" || parts[1] == "org"):
			parts[i] = person
		case p == "{id}" && parts[1] == "admin" && parts[2] == "connected-systems":
			parts[i] = systemID
		case strings.HasPrefix(p, "{"):
			parts[i] = nowhere
		}
	}
	return strings.Join(parts, "/")
}

// Fields sent with every hostile value: the names forms use most, a
// multi-line one, a search, and one no form has.
var hostileFields = []string{"name", "account", "justification", "reason", "q", "title", "member", "description", "no_such_field"}

// TestHostileInput sends every route, as every role and with a valid CSRF
// token, bytes that PostgreSQL refuses or a person cannot see (NUL, bytes
// that are not UTF-8, control characters), a body over the limit, and
// valid but awkward text: nothing answers 5xx or panics; the refused bytes
// answer 400 and the large body 413, before any handler reads them.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	tb, systems := setupConnected(t, testSealer(t))
	sys := mustCreateUnreachableSystem(t, tb, systems)
	routes := allRoutes(t, tb)

	refused := map[string]string{
		"NUL":                   "zoe\x00",
		"0xff":                  "\xff",
		"overlong c0 af":        "\xc0\xaf",
		"surrogate ed a0 80":    "\xed\xa0\x80",
		"truncated":             "Zo\xc3",
		"SOH":                   "a\x01b",
		"ESC":                   "a\x1b[31mb",
		"DEL":                   "a\x7fb",
		"C1 NEL":                "a\u0085b",
		"line break in a name":  "Zoë\nAdmin",
		"tab in a name":         "Zoë\tAdmin",
		"carriage return alone": "Zoë\rAdmin",
	}
	accepted := map[string]url.Values{
		"right-to-left override": fieldsOf("\u202egnalegnA", "Multi\nline\twith tab"),
		"quotes and markup":      fieldsOf(`'; DROP TABLE people; -- <script>alert(1)</script>`, "%_\\"),
		// Longer than any field's limit (the longest, a justification, is
		// portal.MaxJustification), within the body limit so that the
		// handlers see it.
		"long":  fieldsOf(strings.Repeat("é", 3*portal.MaxJustification), strings.Repeat("line\n", portal.MaxJustification)),
		"empty": fieldsOf("", ""),
	}
	large := strings.Repeat("a", 2<<20)

	// Everyone signs in first: the hostile sign-ins below spend the
	// address's budget of failed sign-ins.
	roles := []string{"anonymous", "zoe", "mateo", "siobhan", "ada"}
	clients := map[string]*client{}
	for _, role := range roles {
		c := tb.client(t)
		if role == "anonymous" {
			c.get("/signin")
		} else {
			c.mustSignIn(role)
		}
		clients[role] = c
	}
	// Every route goes through the one decoder (TestOneFormDecoder), and
	// TestBadText checks each refused byte sequence there; so each route
	// and role sends NUL and one more refused value, rotating so that every
	// route meets len(roles)+1 of them, and each route receives the large
	// body from one role; the accepted values likewise (all of them from the
	// administrator). The whole matrix took minutes under -race.
	refusedNames := slices.Sorted(maps.Keys(refused))
	acceptedNames := slices.Sorted(maps.Keys(accepted))
	for r, role := range roles {
		c := clients[role]
		t.Run("as "+role, func(t *testing.T) {
			t.Parallel()
			c.t = t
			send := func(rt route, path string, values url.Values) (*http.Response, string) {
				t.Helper()
				if rt.method == http.MethodGet {
					return c.get(path + "?" + values.Encode())
				}
				values.Set("csrf", c.csrf)
				return c.post(path, values)
			}
			for i, rt := range routes {
				path := fillRoute(tb, rt.pattern, sys.ID)
				what := rt.method + " " + path
				for _, name := range []string{"NUL", refusedNames[(i+r)%len(refusedNames)]} {
					v := refused[name]
					values := url.Values{}
					for _, f := range hostileFields {
						values.Set(f, v)
					}
					resp, body := send(rt, path, values)
					require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s with %s", what, name)
					require.Contains(t, body, `data-testid="error"`, "%s with %s: a page that says why", what, name)
				}
				// The same bytes in the address itself.
				if param := paramRE.FindString(rt.pattern); param != "" {
					bad := fillRoute(tb, strings.Replace(rt.pattern, param, "%00", 1), sys.ID)
					resp, _ := send(rt, bad, url.Values{})
					require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s with NUL in the address %s", what, bad)
				}
				if rt.method == http.MethodPost && i%len(roles) == r {
					resp, body := send(rt, path, url.Values{"justification": {large}})
					require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, what)
					require.Contains(t, body, "larger than Tessera accepts", what)
				}
				for j, name := range acceptedNames {
					// The administrator, whom every route lets in, sends every
					// accepted value; the other roles one each, in turn.
					if role != "ada" && j != (i+r)%len(acceptedNames) {
						continue
					}
					resp, _ := send(rt, path, cloneValues(accepted[name]))
					require.Less(t, resp.StatusCode, 500, "%s with %s", what, name)
				}
			}
		})
	}
}

var paramRE = regexp.MustCompile(`\{[a-z]+\}`)

// fieldsOf sets every hostile field to line, and the multi-line ones to
// text.
func fieldsOf(line, text string) url.Values {
	v := url.Values{}
	for _, f := range hostileFields {
		v.Set(f, line)
	}
	for _, f := range []string{"justification", "reason", "description"} {
		v.Set(f, text)
	}
	return v
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// TestSignInRefusesBadBytes is issue 9's repro: a NUL in the account name
// answered 500 (PostgreSQL refused the text).
func TestSignInRefusesBadBytes(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.client(t)
	c.get("/signin")
	resp, body := c.post("/signin", url.Values{"csrf": {c.csrf}, "account": {"zoe\x00"}, "password": {"x"}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "The account name holds a NUL character, which is not allowed.")
	resp, body = c.post("/signin", url.Values{"csrf": {c.csrf}, "account": {"zo\xffe"}, "password": {"x"}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "The account name holds bytes that are not text")
	// The query is checked as well as the form.
	resp, body = c.get("/people?q=%1B")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "The search holds a control character (U+001B)")
}

// TestOversizedForm answers 413 with a page that says so; it said "This
// form has expired", because the CSRF check read the cut body first.
func TestOversizedForm(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.client(t)
	c.mustSignIn("zoe")
	vpn := tb.groupID(t, "VPN users")
	for _, size := range []int{1<<20 + 1, 2 << 20} {
		resp, body := c.post("/groups/"+vpn+"/request", url.Values{"csrf": {c.csrf}, "justification": {strings.Repeat("a", size)}})
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		require.Contains(t, body, "What you sent is larger than Tessera accepts (1024 kB).")
		require.NotContains(t, body, "expired")
	}
	// Just under the limit is read (and refused by the request's own rule).
	resp, body := c.post("/groups/"+vpn+"/request", url.Values{"csrf": {c.csrf}, "justification": {strings.Repeat("a", 1<<20-100)}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.NotContains(t, body, "larger than Tessera accepts")
}

// TestProfileEditChangesOnlySentFields is issue 9's repro: posting only
// phone asked to blank the title (and every other attribute).
func TestProfileEditChangesOnlySentFields(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	zoe := tb.client(t)
	zoe.mustSignIn("zoe")
	zoeID := tb.org.Accounts[0].PersonID
	before := tb.count(t, "SELECT count(*) FROM requests WHERE person_id = $1", zoeID)
	resp, body := zoe.post("/profile/edit", url.Values{"csrf": {zoe.csrf}, "phone": {"+41 44 000 00 00"}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "Phone: ")
	require.NotContains(t, body, "Title:")
	require.Equal(t, before+1, tb.count(t, "SELECT count(*) FROM requests WHERE person_id = $1", zoeID), "one request: the phone")
	require.Equal(t, 1, tb.count(t, "SELECT count(*) FROM requests WHERE person_id = $1 AND changes ? 'phone'", zoeID))

	// Sending the current values changes nothing.
	resp, body = zoe.post("/profile/edit", url.Values{"csrf": {zoe.csrf}, "phone": {"+41 44 000 00 00"}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "Nothing changed.")
	require.Equal(t, before+1, tb.count(t, "SELECT count(*) FROM requests WHERE person_id = $1", zoeID))
	// And says so in the reader's language, the attribute named in it.
	_, body = zoe.post("/profile/edit", url.Values{"csrf": {zoe.csrf}, "phone": {"+41 44 000 00 00"}}, "Accept-Language", "de")
	require.Contains(t, body, "Nichts geändert.")
	_, body = zoe.post("/profile/edit", url.Values{"csrf": {zoe.csrf}, "phone": {"+41 44 000 00 01"}}, "Accept-Language", "de")
	require.Contains(t, body, "Telefon: ")
	require.NotContains(t, body, "Phone: ")

	// A field sent empty does clear its attribute.
	resp, body = zoe.post("/profile/edit", url.Values{"csrf": {zoe.csrf}, "mobile": {""}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "Mobile: ")
}

// TestTrimmedValuesAreTold: the spaces around a stored value are removed,
// and the page says so, whether the form is shown again or redirects.
func TestTrimmedValuesAreTold(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	zoe := tb.client(t)
	zoe.mustSignIn("zoe")
	resp, body := zoe.post("/profile/edit", url.Values{"csrf": {zoe.csrf}, "office": {"  Zürich  "}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "Office: changed.")
	require.Contains(t, body, `data-testid="trimmed">The spaces at the start or end of Office were removed.<`)
	require.Equal(t, 1, tb.count(t, "SELECT count(*) FROM requests WHERE person_id = $1 AND changes->>'office' = 'Zürich'", tb.org.Accounts[0].PersonID))
	// Nothing trimmed, nothing said.
	_, body = zoe.post("/profile/edit", url.Values{"csrf": {zoe.csrf}, "office": {"Zürich"}})
	require.NotContains(t, body, `data-testid="trimmed"`)

	ada := tb.client(t)
	ada.mustSignIn("ada")
	resp, _ = ada.post("/admin/sets", ada.form("name", " Spaced set ", "description", "Kept\n", "rule", "person.department == 'Legal'"))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	loc := resp.Header.Get("Location")
	require.Contains(t, loc, "trimmed=description%2Cname")
	_, body = ada.get(loc)
	require.Contains(t, body, "The spaces at the start or end of Description and Name were removed.")
	require.Contains(t, body, ">Spaced set<")
	// The notice names only fields, never text from the address.
	_, body = ada.get("/admin/sets?trimmed=" + url.QueryEscape("<b>x</b>,csrf,password"))
	require.NotContains(t, body, `data-testid="trimmed"`)
	// Passwords and searches are kept exactly as sent.
	_, body = ada.get("/people?q=" + url.QueryEscape(" zoe "))
	require.NotContains(t, body, `data-testid="trimmed"`)
	require.Contains(t, body, fmt.Sprintf(`value="%s"`, " zoe "))
	anon := tb.client(t)
	anon.get("/signin")
	resp, _ = anon.post("/signin", url.Values{"csrf": {anon.csrf}, "account": {"zoe"}, "password": {" " + demo.DemoPassword}})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a password is never trimmed")
}

// TestUnreadBodyRefused: a body the decoder does not read (a multipart form
// outside an upload, text/plain, JSON) was handled as an empty form, so a
// "leave" or a language choice went ahead without the fields sent. It
// answers 415 with a page that says why, and nothing happens.
func TestUnreadBodyRefused(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.client(t)
	c.mustSignIn("zoe")
	for _, ct := range []string{"multipart/form-data; boundary=x", "text/plain", "application/json", ""} {
		req, err := http.NewRequest("POST", c.base+"/settings/language", strings.NewReader("--x\r\nContent-Disposition: form-data; name=\"language\"\r\n\r\nde\r\n--x--\r\n"))
		require.NoError(t, err)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("X-CSRF-Token", c.csrf)
		resp, body := c.do(req)
		require.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode, "%q", ct)
		require.Contains(t, body, `data-testid="error"`, "%q", ct)
		require.Contains(t, body, "Tessera reads a form only as a browser sends it", "%q", ct)
	}
	// The language stayed the browser's.
	_, body := c.get("/")
	require.Contains(t, body, `<html lang="en"`)
	// A form posted as browsers post it still works.
	resp, _ := c.post("/settings/language", url.Values{"csrf": {c.csrf}, "language": {"de"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

// TestBadBytesInGerman: a refusal of the decoder names the field and says
// what is wrong in the reader's language (it was English on German pages).
func TestBadBytesInGerman(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.client(t)
	resp, body := c.get("/signin?next=%00", "Accept-Language", "de")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "Die Seite nach der Anmeldung enthält ein NUL-Zeichen; das ist nicht erlaubt.")
	resp, body = c.get("/signin?no_such_field=%1B", "Accept-Language", "de")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "Das Feld „no_such_field“ enthält ein Steuerzeichen (U+001B); das ist nicht erlaubt.")
}
