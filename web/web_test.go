package web_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/web"
)

const testPeople = 200

type testBundle struct {
	srv *httptest.Server
	// handler is the server's router, for tests that walk its routes.
	handler http.Handler
	db      *postgres.DB
	org     *demo.Org
}

// setup seeds a database and serves it; configure, if given, adjusts the
// server before it starts (trusted proxies, a device key, a logger).
func setup(t *testing.T, configure ...func(*web.Server)) *testBundle {
	t.Helper()
	pool := harness.Pool(t, harness.SeededDatabaseURL(t, testPeople))
	db := postgres.New(pool)
	org, err := demo.Generate(testPeople)
	require.NoError(t, err)
	tb := &testBundle{db: db, org: org}
	tb.srv = tb.serve(t, configure...)
	// After serve: configure may set the database's clock, which the
	// workers read.
	harness.StartWorkers(t, db, nil, "http://tessera.test")
	return tb
}

// serve starts a web server on the bundle's database: a second one is
// another web process as far as anything shared is concerned.
func (tb *testBundle) serve(t *testing.T, configure ...func(*web.Server)) *httptest.Server {
	t.Helper()
	db := tb.db
	s := &web.Server{Config: web.Config{BaseURL: "http://tessera.test"}, People: db, Groups: db, Auth: db, Flows: db, Requests: db, Admin: db,
		Reviews: db, Methods: postgres.NewMethodStore(db, nil), Logger: slog.New(slog.DiscardHandler),
		Ready: func(ctx context.Context) error { return db.Pool.Ping(ctx) }}
	for _, f := range configure {
		f(s)
	}
	tb.handler = s.Handler()
	srv := httptest.NewServer(tb.handler)
	t.Cleanup(srv.Close)
	return srv
}

// client is a browser-like HTTP client that keeps cookies and does not
// follow redirects, so tests see each one.
type client struct {
	t    *testing.T
	base string
	http *http.Client
	csrf string
	// forwardedFor, when set, is sent as X-Forwarded-For: the client's
	// address as a reverse proxy would report it.
	forwardedFor string
}

func (tb *testBundle) client(t *testing.T) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: tb.srv.URL, http: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *client) do(req *http.Request) (*http.Response, string) {
	c.t.Helper()
	if c.forwardedFor != "" && req.Header.Get("X-Forwarded-For") == "" {
		req.Header.Set("X-Forwarded-For", c.forwardedFor)
	}
	resp, err := c.http.Do(req)
	require.NoError(c.t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	resp.Body.Close()
	if m := csrfRE.FindStringSubmatch(string(body)); m != nil {
		c.csrf = m[1]
	}
	return resp, string(body)
}

func (c *client) get(path string, header ...string) (*http.Response, string) {
	c.t.Helper()
	req, err := http.NewRequest("GET", c.base+path, nil)
	require.NoError(c.t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return c.do(req)
}

func (c *client) post(path string, form url.Values, header ...string) (*http.Response, string) {
	c.t.Helper()
	req, err := http.NewRequest("POST", c.base+path, strings.NewReader(form.Encode()))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return c.do(req)
}

// signIn signs in through the form and returns the response to the POST.
func (c *client) signIn(account, password, next string) *http.Response {
	c.t.Helper()
	c.get("/signin")
	resp, _ := c.post("/signin", url.Values{"csrf": {c.csrf}, "account": {account}, "password": {password}, "next": {next}})
	return resp
}

func (c *client) mustSignIn(account string) {
	c.t.Helper()
	resp := c.signIn(account, demo.DemoPassword, "")
	require.Equal(c.t, http.StatusSeeOther, resp.StatusCode)
	c.get("/") // pick up the session's CSRF token
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	tb := setup(t)

	t.Run("pages need a session", func(t *testing.T) {
		c := tb.client(t)
		resp, _ := c.get("/people/" + tb.org.People[0].ID + "?x=1")
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/signin?next="+url.QueryEscape("/people/"+tb.org.People[0].ID+"?x=1"), resp.Header.Get("Location"))
		resp, _ = c.get("/people", "HX-Request", "true")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Equal(t, "/signin?next=%2Fpeople", resp.Header.Get("HX-Redirect"))
	})

	t.Run("wrong password and unknown account get the same answer", func(t *testing.T) {
		c := tb.client(t)
		resp := c.signIn("zoe", "wrong-password", "")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		_, wrong := c.post("/signin", url.Values{"csrf": {c.csrf}, "account": {"zoe"}, "password": {"nope"}})
		_, unknown := c.post("/signin", url.Values{"csrf": {c.csrf}, "account": {"nobody-here"}, "password": {"nope"}})
		msg := "The account name or password is incorrect."
		require.Contains(t, wrong, msg)
		require.Contains(t, unknown, msg)
		require.Contains(t, unknown, `value="nobody-here"`, "the account name is kept in the form")
	})

	t.Run("sign in, go to the page asked for, sign out", func(t *testing.T) {
		c := tb.client(t)
		next := "/people/" + tb.org.People[1].ID
		resp := c.signIn("ZOE", demo.DemoPassword, next)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, next, resp.Header.Get("Location"))
		resp, body := c.get(next)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, "data-testid=\"person-name\"")
		resp, _ = c.post("/signout", url.Values{"csrf": {c.csrf}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		_, body = c.get(resp.Header.Get("Location"))
		require.Contains(t, body, "You have signed out.")
		resp, _ = c.get("/")
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		// The sign-in form shown after signing out works at once.
		resp, _ = c.post("/signin", url.Values{"csrf": {c.csrf}, "account": {"zoe"}, "password": {demo.DemoPassword}})
		require.Equal(t, "/", resp.Header.Get("Location"))
	})

	t.Run("sign in by email", func(t *testing.T) {
		c := tb.client(t)
		require.Equal(t, http.StatusSeeOther, c.signIn("mateo@tessera.example", demo.DemoPassword, "").StatusCode)
	})

	t.Run("off-site next is ignored", func(t *testing.T) {
		for _, next := range []string{"https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)"} {
			c := tb.client(t)
			resp := c.signIn("zoe", demo.DemoPassword, next)
			require.Equal(t, "/", resp.Header.Get("Location"), next)
		}
	})

	t.Run("expired session returns to sign-in, then to the page", func(t *testing.T) {
		c := tb.client(t)
		c.mustSignIn("zoe")
		u, _ := url.Parse(c.base)
		for _, ck := range c.http.Jar.Cookies(u) {
			if ck.Name == "tessera_session" {
				require.NoError(t, tb.db.ExpireSession(context.Background(), ck.Value))
			}
		}
		page := "/groups?q=book"
		resp, _ := c.get(page)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		loc := resp.Header.Get("Location")
		require.Equal(t, "/signin?next="+url.QueryEscape(page), loc)
		_, body := c.get(loc)
		require.Contains(t, body, "Please sign in to continue.")
		resp, _ = c.post("/signin", url.Values{"csrf": {c.csrf}, "account": {"zoe"}, "password": {demo.DemoPassword}, "next": {page}})
		require.Equal(t, page, resp.Header.Get("Location"))
	})
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.client(t)
	c.mustSignIn("zoe")

	resp, _ := c.post("/signout", url.Values{"csrf": {"forged"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "a forged sign-out is turned away")
	resp, _ = c.get("/")
	require.Equal(t, http.StatusOK, resp.StatusCode, "and the session is still alive")

	resp, body := c.post("/signout", url.Values{"csrf": {c.csrf}}, "Sec-Fetch-Site", "cross-site")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, body, "came from another site")

	anon := tb.client(t)
	resp, _ = anon.post("/signin", url.Values{"account": {"zoe"}, "password": {demo.DemoPassword}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/signin", resp.Header.Get("Location"), "a sign-in without the form's token does not sign in")
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.client(t)
	resp, _ := c.get("/signin")
	csp := resp.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "frame-ancestors 'none'")
	require.Contains(t, csp, "script-src 'self'")
	require.NotContains(t, csp, "unsafe-inline")
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	for _, ck := range resp.Cookies() {
		require.True(t, ck.HttpOnly, ck.Name)
		require.Equal(t, http.SameSiteLaxMode, ck.SameSite, ck.Name)
	}
}

func TestRateLimitSignIn(t *testing.T) {
	t.Parallel()
	tb := setup(t, stopClock)
	c := tb.client(t)
	c.get("/signin")
	var last *http.Response
	for range 12 {
		last, _ = c.post("/signin", url.Values{"csrf": {c.csrf}, "account": {"zoe"}, "password": {"guess"}})
	}
	require.Equal(t, http.StatusTooManyRequests, last.StatusCode)
	require.Equal(t, "60", last.Header.Get("Retry-After"))
}

func TestWhitePages(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	user := tb.client(t)
	user.mustSignIn("zoe")
	helpdesk := tb.client(t)
	helpdesk.mustSignIn("siobhan")

	t.Run("diacritics fold both ways", func(t *testing.T) {
		for _, q := range []string{"Zoë D'Angelo", "zoe dangelo", "ŁUKASIEWICZ", "lukasiewicz"} {
			_, body := user.get("/people?q=" + url.QueryEscape(q))
			require.Contains(t, body, "Zoë D&#39;Angelo-Łukasiewicz", q)
		}
	})

	t.Run("bad input gets results or a clear message", func(t *testing.T) {
		long := strings.Repeat("a", 1000)
		for _, q := range []string{"%", "_", `\`, `'`, `"`, "<script>alert(1)</script>", long, "😀", "%_\\", "' OR 1=1 --"} {
			resp, body := user.get("/people?q=" + url.QueryEscape(q))
			require.Contains(t, []int{200, 400}, resp.StatusCode, q)
			require.NotContains(t, body, "<script>alert", q)
			require.True(t, strings.Contains(body, `data-testid="people-results"`) || strings.Contains(body, `data-testid="no-results"`) ||
				strings.Contains(body, `data-testid="search-error"`), q)
			if q == long {
				require.Contains(t, body, "too long")
			}
			if q == "%" || q == "_" {
				require.Contains(t, body, `data-testid="no-results"`, "LIKE metacharacters match themselves")
			}
		}
		// A NUL is refused before the search (PostgreSQL cannot hold it).
		resp, body := user.get("/people?q=" + url.QueryEscape("\x00"))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Contains(t, body, "The search holds a NUL character")
	})

	t.Run("htmx gets only the results", func(t *testing.T) {
		_, body := user.get("/people?q=zoe", "HX-Request", "true", "HX-Target", "results")
		require.NotContains(t, body, "<html")
		require.Contains(t, body, `data-testid="people-results"`)
	})

	t.Run("paging", func(t *testing.T) {
		_, body := user.get("/people")
		require.Contains(t, body, `data-testid="next-page"`)
		_, body = user.get("/people?offset=25")
		require.Contains(t, body, "Showing 26–50")
		require.Contains(t, body, `rel="prev"`)
	})

	t.Run("a page past the last match says how many match and leads back", func(t *testing.T) {
		q := tb.org.People[3].Department
		first, err := tb.db.SearchPeople(context.Background(), portal.PersonFilter{Query: q})
		require.NoError(t, err)
		require.Greater(t, first.Total, 0)
		require.Less(t, first.Total, portal.MaxMatches-portal.DefaultPageSize)
		_, body := user.get("/people?q=" + url.QueryEscape(q) + "&offset=" + strconv.Itoa(portal.MaxMatches-portal.DefaultPageSize))
		require.NotContains(t, body, `data-testid="no-results"`)
		require.Contains(t, body, `data-testid="past-last-page"`)
		require.Contains(t, body, fmt.Sprintf("(%d in all)", first.Total))
		last := (first.Total - 1) / portal.DefaultPageSize * portal.DefaultPageSize
		back := "/people?q=" + url.QueryEscape(q)
		if last > 0 {
			back = "/people?" + url.Values{"offset": {strconv.Itoa(last)}, "q": {q}}.Encode()
		}
		require.Contains(t, body, `href="`+html.EscapeString(back)+`" rel="prev" data-testid="last-page"`)
		_, body = user.get(back)
		require.Contains(t, body, fmt.Sprintf("Showing %d–%d of %d.", last+1, first.Total, first.Total))

		// Browsing everyone, past the last person.
		var everyone int
		require.NoError(t, tb.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM people").Scan(&everyone))
		_, body = user.get("/people?offset=" + strconv.Itoa(everyone+100))
		require.Contains(t, body, fmt.Sprintf("(%d in all)", everyone))
	})

	t.Run("privileged attributes only for helpdesk", func(t *testing.T) {
		zoe := tb.org.Accounts[0].PersonID
		_, body := user.get("/people/" + zoe)
		require.NotContains(t, body, `data-testid="privileged"`)
		require.NotContains(t, body, tb.org.People[testPeople-1].EmployeeID)
		_, body = helpdesk.get("/people/" + zoe)
		require.Contains(t, body, `data-testid="employee-id">`+tb.org.People[testPeople-1].EmployeeID)
		require.Contains(t, body, `data-testid="account-name">zoe<`)
		require.Contains(t, body, `data-testid="attr-costCenter">CC-`)
		require.Contains(t, body, `data-testid="attr-startDate">`)
		_, body = user.get("/people/" + zoe)
		require.NotContains(t, body, `attr-costCenter`)
		require.Contains(t, body, `data-testid="attr-startDate">`)
		_, body = user.get("/people?q=zoe")
		require.NotContains(t, body, `data-testid="account-name"`)
		_, body = helpdesk.get("/people?q=zoe")
		require.Contains(t, body, `data-testid="account-name"`)
	})

	t.Run("attribute filters", func(t *testing.T) {
		var zoe portal.Person
		for _, p := range tb.org.People {
			if p.ID == tb.org.Accounts[0].PersonID {
				zoe = p
			}
		}
		// The form offers only what the viewer may filter by.
		_, body := user.get("/people?filters=open")
		require.Contains(t, body, `data-testid="attribute-filter"`)
		require.Contains(t, body, `<option value="department"`)
		require.Contains(t, body, `<option value="startDate"`)
		require.NotContains(t, body, `<option value="costCenter"`)
		require.NotContains(t, body, `<option value="enabled"`)
		_, body = helpdesk.get("/people?filters=open")
		require.Contains(t, body, `<option value="costCenter"`)
		// A hidden attribute cannot be probed: refused as an unknown one.
		resp, body := user.get("/people?filter=" + url.QueryEscape("costCenter="+zoe.Extra["costCenter"]))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Contains(t, body, "There is no attribute &#34;costCenter&#34; to filter by.")
		require.NotContains(t, body, `data-testid="people-results"`)
		// Helpdesk filters by it and sees the values filtered by.
		_, body = helpdesk.get("/people?filter_attr=costCenter&filter_value=" + url.QueryEscape(zoe.Extra["costCenter"]))
		require.Contains(t, body, `data-testid="active-filters"`)
		require.Contains(t, body, `data-testid="filtered-costCenter">`+zoe.Extra["costCenter"]+`<`)
		require.Contains(t, body, `href="/people/`+zoe.ID+`"`)
		require.Contains(t, body, `name="filter" value="costCenter=`+zoe.Extra["costCenter"]+`"`)
		// A reference by account name; htmx keeps the filters.
		_, body = user.get("/people?q="+url.QueryEscape(zoe.GivenName)+"&filter=managerId%3Dmateo", "HX-Request", "true", "HX-Target", "results")
		require.NotContains(t, body, "<html")
		require.Contains(t, body, `href="/people/`+zoe.ID+`"`)
		resp, body = user.get("/people?filter_attr=managerId&filter_value=nobody-here")
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Contains(t, body, "No one has the account name or email")
		require.Contains(t, body, `value="nobody-here"`, "the refused filter stays in the form")
	})

	t.Run("unknown ids are a 404 page", func(t *testing.T) {
		for _, p := range []string{"/people/00000000-0000-4000-8000-000000000000", "/people/not-a-uuid", "/groups/%27%3B--",
			"/org/00000000-0000-4000-8000-000000000000", "/no/such/page"} {
			resp, body := user.get(p)
			require.Equal(t, http.StatusNotFound, resp.StatusCode, p)
			require.Contains(t, body, `data-testid="error"`, p)
		}
	})

	t.Run("org chart walks up and down", func(t *testing.T) {
		_, body := user.get("/org")
		ceo := tb.org.People[0]
		require.Contains(t, body, "/org/"+ceo.ID)
		_, body = user.get("/org/" + ceo.ID)
		require.Contains(t, body, `data-testid="org-down"`)
		require.Contains(t, body, "/org/"+tb.org.People[1].ID)
		_, body = user.get("/org/" + tb.org.People[1].ID)
		require.Contains(t, body, `data-testid="org-up"`)
	})

	t.Run("groups", func(t *testing.T) {
		_, body := user.get("/groups?q=" + url.QueryEscape("escaping <test>"))
		require.Contains(t, body, "Escaping &lt;test&gt; group")
		g := tb.org.Groups[0]
		_, body = user.get("/groups/" + g.ID)
		require.Contains(t, body, `data-testid="group-type">Distribution list`)
		require.Contains(t, body, `data-testid="join-policy">Closed`)
		require.Contains(t, body, `data-testid="owners"`)
		require.Contains(t, body, `data-testid="members"`)
	})
}

func TestOperations(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.client(t)
	resp, body := c.get("/healthz")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "ok\n", body)
	resp, _ = c.get("/readyz")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	c.get("/signin")
	_, body = c.get("/metrics")
	require.Contains(t, body, `tessera_http_request_duration_seconds_count{code="200",method="GET",route="/signin"}`)

	_, page := c.get("/signin")
	css := regexp.MustCompile(`href="(/static/css/app\.[0-9a-f]+\.css)"`).FindStringSubmatch(page)
	require.NotNil(t, css)
	resp, _ = c.get(css[1])
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Cache-Control"), "immutable")
	resp, _ = c.get("/static/css/app.css")
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "only hashed names are served")
	js := regexp.MustCompile(`src="(/static/vendor/htmx\.min\.[0-9a-f]+\.js)"`).FindStringSubmatch(page)
	require.NotNil(t, js, "htmx is copied from npm by the build (make static)")
}
