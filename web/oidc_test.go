package web_test

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/web"
)

// These tests sign in to Tessera through a real OpenID provider: the
// example provider of github.com/zitadel/oidc (its op package, in-memory
// storage and username/password login page), served in-process, against a
// database seeded with the demo organisation. The browser is an
// http.Client with a cookie jar that follows every redirect by hand, so
// each hop can be checked.

const (
	oidcSeedPeople   = 200
	oidcClientID     = "tessera"
	oidcClientSecret = "tessera-client-secret"
	oidcPassword     = "provider-password"
	oidcButtonName   = "Test Provider"
)

// oidcUsers is the provider's user directory (storage.UserStore).
type oidcUsers map[string]*storage.User

func (u oidcUsers) GetUserByID(id string) *storage.User { return u[id] }

func (u oidcUsers) GetUserByUsername(name string) *storage.User {
	for _, user := range u {
		if user.Username == name {
			return user
		}
	}
	return nil
}

func (u oidcUsers) ExampleClientID() string { return storage.ServiceUserID }

// fullIDTokens makes the provider put the email and profile claims in the
// ID token itself (as Entra ID and Keycloak do). Without it, the example
// provider follows OIDC Core 5.4 to the letter and, since it also issues an
// access token, returns those claims only from its UserInfo endpoint.
type fullIDTokens struct{ *storage.Storage }

func (s fullIDTokens) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	return assertingClient{c}, nil
}

type assertingClient struct{ op.Client }

func (assertingClient) IDTokenUserinfoClaimsAssertion() bool { return true }

// unverifiedEmails makes the provider say email_verified: false for every
// user, in the ID token and from UserInfo.
type unverifiedEmails struct{ fullIDTokens }

func (s unverifiedEmails) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, req, scopes); err != nil {
		return err
	}
	ui.EmailVerified = false // omitted when false, so also sent as a claim
	ui.AppendClaims("email_verified", false)
	return nil
}

func (s unverifiedEmails) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, ui, tokenID, subject, origin); err != nil {
		return err
	}
	ui.EmailVerified = false // omitted when false, so also sent as a claim
	ui.AppendClaims("email_verified", false)
	return nil
}

// foreignUserInfo answers UserInfo about another subject than the ID
// token's, as a confused or malicious provider might.
type foreignUserInfo struct{ *storage.Storage }

func (s foreignUserInfo) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, ui, tokenID, subject, origin); err != nil {
		return err
	}
	ui.Subject = "someone-else"
	return nil
}

type idTokenStyle int

const (
	thinIDToken    idTokenStyle = iota // claims only from UserInfo
	fullIDToken                        // claims in the ID token
	unverifiedIDs                      // claims in the ID token, email_verified false
	foreignSubject                     // claims only from UserInfo, about another subject
)

type oidcEnv struct {
	tessera  *httptest.Server
	provider *httptest.Server
	pool     *pgxpool.Pool
	org      *demo.Org
}

// newOIDCEnv starts Tessera on a fresh copy of the seeded database and the
// provider, each knowing the other's URL, with the provider users given.
func newOIDCEnv(t *testing.T, style idTokenStyle, users oidcUsers) *oidcEnv {
	t.Helper()
	org, err := demo.Generate(oidcSeedPeople)
	require.NoError(t, err)
	pool := harness.Pool(t, harness.SeededDatabaseURL(t, oidcSeedPeople))

	// Both servers must know each other's URL before they serve, so their
	// handlers are set once both listen.
	var tesseraHandler, providerHandler http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tesseraHandler.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { providerHandler.ServeHTTP(w, r) }))
	t.Cleanup(ps.Close)

	client := storage.WebClient(oidcClientID, oidcClientSecret, ts.URL+"/signin/oidc/callback")
	st := storage.NewStorageWithClients(users, map[string]*storage.Client{oidcClientID: client})
	var opStorage exampleop.Storage = st
	switch style {
	case fullIDToken:
		opStorage = fullIDTokens{st}
	case unverifiedIDs:
		opStorage = unverifiedEmails{fullIDTokens{st}}
	case foreignSubject:
		opStorage = foreignUserInfo{st}
	}
	providerHandler = exampleop.SetupServer(ps.URL, opStorage, nil, false)

	db := postgres.New(pool)
	srv := &web.Server{
		Config: web.Config{BaseURL: ts.URL, OIDC: web.OIDCConfig{
			Issuer: ps.URL, ClientID: oidcClientID, ClientSecret: oidcClientSecret, Name: oidcButtonName,
			MatchClaim: "email", MatchAttribute: "email", Scopes: []string{"email", "profile"},
		}},
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		People: db, Groups: db, Auth: db, Flows: db,
	}
	tesseraHandler = srv.Handler()
	return &oidcEnv{tessera: ts, provider: ps, pool: pool, org: org}
}

// person returns the demo person with the given account name.
func (e *oidcEnv) person(t *testing.T, account string) (id, displayName, email string) {
	t.Helper()
	for _, p := range e.org.People {
		if p.AccountName == account {
			return p.ID, p.DisplayName, p.Email
		}
	}
	t.Fatalf("no demo person %q", account)
	return
}

func (e *oidcEnv) sessions(t *testing.T, personID string) int {
	t.Helper()
	var n int
	require.NoError(t, e.pool.QueryRow(context.Background(),
		"SELECT count(*) FROM sessions WHERE person_id = $1 AND method = 'oidc'", personID).Scan(&n))
	return n
}

func (e *oidcEnv) allSessions(t *testing.T) int {
	t.Helper()
	var n int
	require.NoError(t, e.pool.QueryRow(context.Background(), "SELECT count(*) FROM sessions").Scan(&n))
	return n
}

func providerUser(id, username, email string) *storage.User {
	return &storage.User{ID: id, Username: username, Password: oidcPassword, FirstName: "Provider",
		LastName: username, Email: email, EmailVerified: true, PreferredLanguage: language.English}
}

// browser is an http.Client with cookies that never follows a redirect by
// itself.
type browser struct {
	t   *testing.T
	c   *http.Client
	jar *cookiejar.Jar
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, jar: jar, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type reply struct {
	status  int
	loc     *url.URL // resolved Location, or nil
	body    string
	cookies []*http.Cookie
	url     string
}

func (b *browser) do(req *http.Request) reply {
	b.t.Helper()
	resp, err := b.c.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	r := reply{status: resp.StatusCode, body: string(body), cookies: resp.Cookies(), url: req.URL.String()}
	if loc, err := resp.Location(); err == nil {
		r.loc = loc
	}
	return r
}

func (b *browser) get(u string) reply {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(b.t, err)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) reply {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// follow follows redirects from r until a page is not a redirect, or until
// the next hop would go to a URL for which stop is true; then it returns
// the last reply (whose loc is that URL).
func (b *browser) follow(r reply, stop func(*url.URL) bool) reply {
	b.t.Helper()
	for hops := 0; r.loc != nil && r.status >= 300 && r.status < 400; hops++ {
		require.Less(b.t, hops, 10, "redirect loop at %s", r.url)
		if stop != nil && stop(r.loc) {
			return r
		}
		r = b.get(r.loc.String())
	}
	return r
}

func (b *browser) cookie(u, name string) *http.Cookie {
	pu, err := url.Parse(u)
	require.NoError(b.t, err)
	for _, c := range b.jar.Cookies(pu) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (b *browser) setCookie(u, name, value string) {
	pu, err := url.Parse(u)
	require.NoError(b.t, err)
	b.jar.SetCookies(pu, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

var (
	loginIDRe = regexp.MustCompile(`name="id" value="([^"]+)"`)
	csrfRe    = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	meRe      = regexp.MustCompile(`data-testid="me">([^<]*)<`)
	errorRe   = regexp.MustCompile(`data-testid="signin-error">([^<]*)<`)
	oidcRe    = regexp.MustCompile(`href="([^"]*)" data-testid="oidc">([^<]*)<`)
)

// signInError returns the sign-in page's error message, if any.
func signInError(body string) string {
	if m := errorRe.FindStringSubmatch(body); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

func match(t *testing.T, re *regexp.Regexp, body string) string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	require.NotNil(t, m, "no %s in:\n%s", re, body)
	return html.UnescapeString(m[1])
}

// isCallback reports whether u is Tessera's OIDC callback.
func (e *oidcEnv) isCallback(u *url.URL) bool {
	return strings.HasPrefix(u.String(), e.tessera.URL+"/signin/oidc/callback")
}

// authorize runs the flow from the redirect to the provider (r) up to the
// provider's redirect back to Tessera, signing in at the provider as
// username; it returns the callback URL the provider sent the browser to,
// without visiting it, and the state Tessera put in the authorization
// request.
func (e *oidcEnv) authorize(t *testing.T, b *browser, r reply, username string) (callback *url.URL, state string) {
	t.Helper()
	require.Equal(t, http.StatusFound, r.status, r.body)
	require.NotNil(t, r.loc)
	require.True(t, strings.HasPrefix(r.loc.String(), e.provider.URL+"/auth?"), "redirected to %s", r.loc)
	q := r.loc.Query()
	state = q.Get("state")
	require.NotEmpty(t, state)
	require.Equal(t, oidcClientID, q.Get("client_id"))
	require.Equal(t, "code", q.Get("response_type"))
	require.Equal(t, e.tessera.URL+"/signin/oidc/callback", q.Get("redirect_uri"))
	require.ElementsMatch(t, []string{"openid", "email", "profile"}, strings.Fields(q.Get("scope")))
	require.NotEmpty(t, q.Get("nonce"))
	require.Equal(t, "S256", q.Get("code_challenge_method"))
	require.NotEmpty(t, q.Get("code_challenge"))
	c := b.cookie(e.tessera.URL, "tessera_oidc")
	require.NotNil(t, c, "Tessera binds the state to the browser with a cookie")
	require.Equal(t, state, c.Value)

	// The provider sends the browser to its login page.
	login := b.follow(r, nil)
	require.Equal(t, http.StatusOK, login.status, login.body)
	require.True(t, strings.HasPrefix(login.url, e.provider.URL+"/login/username"), login.url)
	id := match(t, loginIDRe, login.body)
	r = b.post(e.provider.URL+"/login/username", url.Values{"id": {id}, "username": {username}, "password": {oidcPassword}})
	require.Equal(t, http.StatusFound, r.status, "provider login failed: %s", r.body)
	r = b.follow(r, e.isCallback)
	require.NotNil(t, r.loc, "the provider did not send the browser back to Tessera: %d %s", r.status, r.body)
	require.True(t, e.isCallback(r.loc), r.loc.String())
	require.Equal(t, state, r.loc.Query().Get("state"))
	require.NotEmpty(t, r.loc.Query().Get("code"))
	return r.loc, state
}

// start asks Tessera to begin an OIDC sign-in.
func (e *oidcEnv) start(b *browser) reply {
	return b.get(e.tessera.URL + "/signin/oidc")
}

// signIn runs the whole flow for username and returns the reply to the
// callback.
func (e *oidcEnv) signIn(t *testing.T, b *browser, username string) reply {
	t.Helper()
	cb, _ := e.authorize(t, b, e.start(b), username)
	return b.get(cb.String())
}

func TestOIDCSignIn(t *testing.T) {
	for _, tc := range []struct {
		name  string
		style idTokenStyle
	}{
		{"claims in ID token", fullIDToken},
		{"claims from UserInfo", thinIDToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newOIDCEnv(t, tc.style, oidcUsers{"u1": providerUser("u1", "zoe.provider", "Zoe@Tessera.Example")})
			personID, name, email := e.person(t, "zoe")
			require.Equal(t, "zoe@tessera.example", email)
			b := newBrowser(t)

			// A signed-out visit to a page goes to the sign-in page, which
			// offers the provider and remembers the page.
			r := b.get(e.tessera.URL + "/people")
			require.Equal(t, http.StatusSeeOther, r.status)
			require.Equal(t, "/signin?next=%2Fpeople", r.loc.RequestURI())
			r = b.follow(r, nil)
			require.Equal(t, http.StatusOK, r.status)
			button := oidcRe.FindStringSubmatch(r.body)
			require.NotNil(t, button, "the sign-in page offers the provider")
			require.Equal(t, "Sign in with "+oidcButtonName, strings.TrimSpace(html.UnescapeString(button[2])))
			start := html.UnescapeString(button[1])
			require.True(t, strings.HasPrefix(start, "/signin/oidc"), start)

			cb, _ := e.authorize(t, b, b.get(e.tessera.URL+start), "zoe.provider")
			r = b.get(cb.String())
			require.Equal(t, http.StatusSeeOther, r.status, "callback refused: %s", signInError(r.body))
			require.Equal(t, "/people", r.loc.Path, "back to the page asked for")
			require.NotNil(t, b.cookie(e.tessera.URL, "tessera_session"))
			require.Nil(t, b.cookie(e.tessera.URL, "tessera_oidc"), "the flow cookie is cleared")
			require.Equal(t, 1, e.sessions(t, personID))

			r = b.get(e.tessera.URL + "/")
			require.Equal(t, http.StatusOK, r.status)
			require.Equal(t, name, match(t, meRe, r.body))
			require.Contains(t, r.body, html.EscapeString(name))

			r = b.get(e.tessera.URL + "/people")
			require.Equal(t, http.StatusOK, r.status)

			var audits int
			require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log
				WHERE actor_id = $1 AND action = 'sign_in' AND details->>'method' = 'oidc'`, personID).Scan(&audits))
			require.Equal(t, 1, audits)
		})
	}
}

func TestOIDCUnknownPerson(t *testing.T) {
	for _, tc := range []struct {
		name  string
		style idTokenStyle
	}{
		{"claims in ID token", fullIDToken},
		{"claims from UserInfo", thinIDToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newOIDCEnv(t, tc.style, oidcUsers{
				"u1": providerUser("u1", "stranger", "stranger@elsewhere.example"),
				"u2": providerUser("u2", "zoe.provider", "zoe@tessera.example"),
			})
			b := newBrowser(t)
			r := e.signIn(t, b, "stranger")
			require.Equal(t, http.StatusForbidden, r.status)
			require.Equal(t, "You signed in as stranger@elsewhere.example, but no one in Tessera has that email. Ask your administrator to add you.",
				match(t, errorRe, r.body))
			require.Nil(t, b.cookie(e.tessera.URL, "tessera_session"))
			require.Equal(t, 0, e.allSessions(t))
			r = b.get(e.tessera.URL + "/")
			require.Equal(t, http.StatusSeeOther, r.status)
			require.Equal(t, "/signin", r.loc.Path)

			// A disabled person is refused in the same words.
			personID, _, _ := e.person(t, "zoe")
			_, err := e.pool.Exec(context.Background(), "UPDATE people SET account_enabled = false WHERE id = $1", personID)
			require.NoError(t, err)
			r = e.signIn(t, newBrowser(t), "zoe.provider")
			require.Equal(t, http.StatusForbidden, r.status)
			require.Contains(t, match(t, errorRe, r.body), "no one in Tessera has that email")
			require.Equal(t, 0, e.allSessions(t))
		})
	}
}

// A provider that says the email address is not verified must not sign
// anyone in by that address: anyone could have typed it.
func TestOIDCUnverifiedEmail(t *testing.T) {
	e := newOIDCEnv(t, unverifiedIDs, oidcUsers{"u1": providerUser("u1", "zoe.provider", "zoe@tessera.example")})
	b := newBrowser(t)
	r := e.signIn(t, b, "zoe.provider")
	require.Equal(t, http.StatusForbidden, r.status)
	require.Contains(t, match(t, errorRe, r.body), "not verified")
	require.Nil(t, b.cookie(e.tessera.URL, "tessera_session"))
	require.Equal(t, 0, e.allSessions(t))
}

// UserInfo about another subject than the ID token's must not be used
// (OpenID Connect Core 5.3.2).
func TestOIDCUserInfoSubjectMismatch(t *testing.T) {
	e := newOIDCEnv(t, foreignSubject, oidcUsers{"u1": providerUser("u1", "zoe.provider", "zoe@tessera.example")})
	b := newBrowser(t)
	r := e.signIn(t, b, "zoe.provider")
	require.Equal(t, http.StatusUnauthorized, r.status)
	require.Equal(t, "The sign-in provider's answer could not be verified. Please try again.", match(t, errorRe, r.body))
	require.Nil(t, b.cookie(e.tessera.URL, "tessera_session"))
	require.Equal(t, 0, e.allSessions(t))
}

func TestOIDCCallbackState(t *testing.T) {
	e := newOIDCEnv(t, thinIDToken, oidcUsers{"u1": providerUser("u1", "zoe.provider", "zoe@tessera.example")})
	personID, _, _ := e.person(t, "zoe")
	const notStarted = "This sign-in did not start in this browser, or it took too long. Please sign in again."
	refused := func(t *testing.T, b *browser, r reply, msg string) {
		t.Helper()
		require.Equal(t, http.StatusUnauthorized, r.status)
		require.Equal(t, msg, match(t, errorRe, r.body))
		require.Nil(t, b.cookie(e.tessera.URL, "tessera_session"))
		require.Equal(t, 0, e.allSessions(t))
	}

	t.Run("wrong state", func(t *testing.T) {
		b := newBrowser(t)
		cb, state := e.authorize(t, b, e.start(b), "zoe.provider")
		q := cb.Query()
		q.Set("state", state+"x")
		cb.RawQuery = q.Encode()
		refused(t, b, b.get(cb.String()), notStarted)
	})
	t.Run("no state", func(t *testing.T) {
		b := newBrowser(t)
		cb, _ := e.authorize(t, b, e.start(b), "zoe.provider")
		q := cb.Query()
		q.Del("state")
		cb.RawQuery = q.Encode()
		refused(t, b, b.get(cb.String()), notStarted)
	})
	t.Run("no flow cookie", func(t *testing.T) {
		// The provider's answer, taken to another browser (a link sent to
		// a victim, say), must not sign that browser in.
		b := newBrowser(t)
		cb, _ := e.authorize(t, b, e.start(b), "zoe.provider")
		other := newBrowser(t)
		refused(t, other, other.get(cb.String()), notStarted)
		// The refusal did not spend the flow: the browser that started it
		// still completes it.
		r := b.get(cb.String())
		require.Equal(t, http.StatusSeeOther, r.status, signInError(r.body))
		require.Equal(t, 1, e.sessions(t, personID))
		_, err := e.pool.Exec(context.Background(), "DELETE FROM sessions")
		require.NoError(t, err)
	})
	t.Run("provider error", func(t *testing.T) {
		b := newBrowser(t)
		r := e.start(b)
		state := r.loc.Query().Get("state")
		r = b.get(e.tessera.URL + "/signin/oidc/callback?error=access_denied&error_description=no&state=" + url.QueryEscape(state))
		refused(t, b, r, "The sign-in provider did not sign you in (access_denied). Please try again.")
	})
	t.Run("forged code", func(t *testing.T) {
		b := newBrowser(t)
		cb, _ := e.authorize(t, b, e.start(b), "zoe.provider")
		q := cb.Query()
		q.Set("code", "forged-"+q.Get("code"))
		cb.RawQuery = q.Encode()
		refused(t, b, b.get(cb.String()), "The sign-in provider did not confirm your sign-in. Please try again.")
	})
}

func TestOIDCReplay(t *testing.T) {
	e := newOIDCEnv(t, fullIDToken, oidcUsers{"u1": providerUser("u1", "zoe.provider", "zoe@tessera.example")})
	personID, _, _ := e.person(t, "zoe")
	b := newBrowser(t)
	cb, state := e.authorize(t, b, e.start(b), "zoe.provider")
	r := b.get(cb.String())
	require.Equal(t, http.StatusSeeOther, r.status, signInError(r.body))
	require.Equal(t, 1, e.sessions(t, personID))
	session := b.cookie(e.tessera.URL, "tessera_session")
	require.NotNil(t, session)

	// The same browser replaying the callback: the flow cookie is gone.
	r = b.get(cb.String())
	require.Equal(t, http.StatusUnauthorized, r.status)
	require.Equal(t, "This sign-in did not start in this browser, or it took too long. Please sign in again.", match(t, errorRe, r.body))
	require.Equal(t, session.Value, b.cookie(e.tessera.URL, "tessera_session").Value, "the refusal leaves the session alone")

	// A replay that also carries the flow cookie (captured with the URL):
	// the state has been used and works only once.
	other := newBrowser(t)
	other.setCookie(e.tessera.URL, "tessera_oidc", state)
	r = other.get(cb.String())
	require.Equal(t, http.StatusUnauthorized, r.status)
	require.Equal(t, "That sign-in link has expired or was already used. Please sign in again.", match(t, errorRe, r.body))
	require.Nil(t, other.cookie(e.tessera.URL, "tessera_session"))
	require.Equal(t, 1, e.sessions(t, personID))
	require.Equal(t, 1, e.allSessions(t))
}

func TestOIDCSignOut(t *testing.T) {
	e := newOIDCEnv(t, thinIDToken, oidcUsers{"u1": providerUser("u1", "zoe.provider", "zoe@tessera.example")})
	personID, name, _ := e.person(t, "zoe")
	b := newBrowser(t)
	r := e.signIn(t, b, "zoe.provider")
	require.Equal(t, http.StatusSeeOther, r.status, signInError(r.body))
	require.Equal(t, "/", r.loc.Path)
	r = b.get(e.tessera.URL + "/")
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, name, match(t, meRe, r.body))
	csrf := match(t, csrfRe, r.body)
	session := b.cookie(e.tessera.URL, "tessera_session")
	require.NotNil(t, session)

	// Without the CSRF token, sign-out is refused and the session lives.
	r = b.post(e.tessera.URL+"/signout", url.Values{"csrf": {"wrong"}})
	require.Equal(t, http.StatusSeeOther, r.status)
	require.Equal(t, 1, e.sessions(t, personID))
	require.Equal(t, http.StatusOK, b.get(e.tessera.URL+"/").status)

	r = b.post(e.tessera.URL+"/signout", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, r.status)
	require.Equal(t, "/signin", r.loc.Path)
	require.Contains(t, b.get(r.loc.String()).body, "You have signed out.")
	require.Nil(t, b.cookie(e.tessera.URL, "tessera_session"))
	require.Equal(t, 0, e.sessions(t, personID))

	r = b.get(e.tessera.URL + "/")
	require.Equal(t, http.StatusSeeOther, r.status)
	require.Equal(t, "/signin", r.loc.Path)

	// The old session token no longer works either.
	b.setCookie(e.tessera.URL, "tessera_session", session.Value)
	r = b.get(e.tessera.URL + "/")
	require.Equal(t, http.StatusSeeOther, r.status)
	require.Equal(t, "/signin", r.loc.Path)
}
