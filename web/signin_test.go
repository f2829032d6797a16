package web_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/web"
)

// These tests run behind a pretend reverse proxy: the test client is the
// proxy (127.0.0.1, trusted) and says in X-Forwarded-For which address each
// browser has, so that address budgets do not get in the way of what each
// test is about.

var testDeviceKey = bytes.Repeat([]byte{7}, 32)

func behindProxy(s *web.Server) {
	s.Config.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	s.Config.DeviceKey = testDeviceKey
}

// stopClock stops the database's clock, so that no budget refills while a
// test runs, however slow the machine.
func stopClock(s *web.Server) {
	now := time.Now()
	s.Auth.(*postgres.DB).Clock = func() time.Time { return now }
}

// browser is a new browser (no cookies) at address from, talking to srv.
func (tb *testBundle) browser(t *testing.T, srv *httptest.Server, from string) *client {
	c := tb.client(t)
	c.base = srv.URL
	c.forwardedFor = from
	return c
}

// attempt posts the local sign-in form once and returns the status:
// 303 when it signed in.
func (c *client) attempt(account, password string) int {
	c.t.Helper()
	if c.csrf == "" {
		c.get("/signin")
	}
	resp, _ := c.post("/signin", url.Values{"csrf": {c.csrf}, "account": {account}, "password": {password}})
	require.NotEqual(c.t, "/signin", resp.Header.Get("Location"), "the form's CSRF token was refused: the test lost its way")
	return resp.StatusCode
}

// signOut ends the client's session, ready for the next sign-in form.
func (c *client) signOut() {
	c.t.Helper()
	c.get("/") // the session's CSRF token
	resp, _ := c.post("/signout", url.Values{"csrf": {c.csrf}})
	require.Equal(c.t, "/signin?signedout=1", resp.Header.Get("Location"))
	c.csrf = ""
}

func TestSignInBudgetIsThePersons(t *testing.T) {
	t.Parallel()
	tb := setup(t, stopClock, behindProxy)
	ctx := context.Background()
	// An email that shares nothing with the account name, so that only the
	// person links the two.
	_, err := tb.db.Pool.Exec(ctx, "UPDATE people SET email = 'z.dangelo@example.org' WHERE account_name = 'zoe'")
	require.NoError(t, err)

	spellings := []string{"z.dangelo@example.org", `TESSERA\zoe`, "Z.Dangelo@Example.org", "zoe@tessera.test", " zoe "}
	for i := range portal.SignInBurst {
		c := tb.browser(t, tb.srv, fmt.Sprintf("198.51.100.%d", i+1))
		require.Equal(t, http.StatusUnauthorized, c.attempt(spellings[i%len(spellings)], "a wrong guess"), i)
	}
	owner := tb.browser(t, tb.srv, "192.0.2.50")
	require.Equal(t, http.StatusTooManyRequests, owner.attempt("zoe", demo.DemoPassword),
		"ten failures under any of her names spend Zoë's budget")
	require.Equal(t, http.StatusSeeOther, owner.attempt("mateo", demo.DemoPassword),
		"the address and everyone else are untouched")

	t.Run("an unknown name is answered as a known one", func(t *testing.T) {
		var bodies []string
		c := tb.browser(t, tb.srv, "192.0.2.51")
		c.get("/signin")
		for _, account := range []string{"siobhan", "nobody-by-this-name"} {
			var last *http.Response
			var body string
			for i := range portal.SignInBurst + 1 {
				c.forwardedFor = fmt.Sprintf("203.0.113.%d", i+1)
				last, body = c.post("/signin", url.Values{"csrf": {c.csrf}, "account": {account}, "password": {"x"}})
			}
			require.Equal(t, http.StatusTooManyRequests, last.StatusCode, account)
			require.Equal(t, "60", last.Header.Get("Retry-After"))
			bodies = append(bodies, body)
		}
		require.Equal(t, bodies[0], bodies[1])
	})
}

func TestSignInBudgetSharedByWebServers(t *testing.T) {
	t.Parallel()
	tb := setup(t, stopClock, behindProxy)
	other := tb.serve(t, behindProxy)
	for i := range portal.SignInBurst {
		srv := tb.srv
		if i%2 == 1 {
			srv = other
		}
		c := tb.browser(t, srv, fmt.Sprintf("198.51.100.%d", i+1))
		require.Equal(t, http.StatusUnauthorized, c.attempt("zoe", "a wrong guess"), i)
	}
	for _, srv := range []*httptest.Server{tb.srv, other} {
		c := tb.browser(t, srv, "192.0.2.60")
		require.Equal(t, http.StatusTooManyRequests, c.attempt("zoe", demo.DemoPassword),
			"both web processes count the same failures")
	}
}

func TestSignInClientAddress(t *testing.T) {
	t.Parallel()
	tb := setup(t, stopClock, behindProxy)

	t.Run("a trusted proxy's X-Forwarded-For is believed", func(t *testing.T) {
		c := tb.browser(t, tb.srv, "203.0.113.7")
		for i := range portal.SignInBurst {
			require.Equal(t, http.StatusUnauthorized, c.attempt(fmt.Sprintf("guess-%d", i), "x"), i)
		}
		require.Equal(t, http.StatusTooManyRequests, c.attempt("mateo", demo.DemoPassword), "203.0.113.7 spent its budget")
		neighbour := tb.browser(t, tb.srv, "203.0.113.8")
		require.Equal(t, http.StatusSeeOther, neighbour.attempt("mateo", demo.DemoPassword),
			"another client behind the same proxy is not blocked")
		var clients []string
		require.NoError(t, tb.db.Pool.QueryRow(context.Background(), `SELECT array_agg(DISTINCT details->>'client')
			FROM audit_log WHERE action = 'sign_in_failed' AND details->>'account' LIKE 'guess-%'`).Scan(&clients))
		require.Equal(t, []string{"203.0.113.7"}, clients, "the audit log names the client, not the proxy")
	})

	t.Run("an untrusted peer's X-Forwarded-For is ignored", func(t *testing.T) {
		direct := tb.serve(t, func(s *web.Server) { s.Config.DeviceKey = testDeviceKey }) // trusts no proxy
		c := tb.browser(t, direct, "")
		for i := range portal.SignInBurst {
			c.forwardedFor = fmt.Sprintf("198.51.100.%d", i+1) // a new address each time, it claims
			require.Equal(t, http.StatusUnauthorized, c.attempt(fmt.Sprintf("spray-%d", i), "x"), i)
		}
		c.forwardedFor = "198.51.100.200"
		require.Equal(t, http.StatusTooManyRequests, c.attempt("mateo", demo.DemoPassword),
			"the claims are ignored: every try came from 127.0.0.1")
	})
}

func TestSignInKnownDevice(t *testing.T) {
	t.Parallel()
	tb := setup(t, stopClock, behindProxy)
	other := tb.serve(t, behindProxy)

	// Zoë signs in on her laptop, which remembers that.
	laptop := tb.browser(t, tb.srv, "192.0.2.10")
	require.Equal(t, http.StatusSeeOther, laptop.attempt("zoe", demo.DemoPassword))
	laptop.signOut()

	// Someone else guesses her password from many addresses until her
	// budget is spent.
	for i := range portal.SignInBurst + 2 {
		c := tb.browser(t, tb.srv, fmt.Sprintf("198.51.100.%d", i+1))
		c.attempt("zoe", "a wrong guess")
	}
	stranger := tb.browser(t, tb.srv, "198.51.100.99")
	require.Equal(t, http.StatusTooManyRequests, stranger.attempt("zoe", demo.DemoPassword),
		"a browser never seen with Zoë waits, right password or not")

	// Her laptop is not locked out, on either web process, and from the
	// attacker's own network too.
	require.Equal(t, http.StatusSeeOther, laptop.attempt("zoe", demo.DemoPassword))
	laptop.signOut()
	laptop.base, laptop.forwardedFor = other.URL, "198.51.100.1"
	require.Equal(t, http.StatusSeeOther, laptop.attempt("zoe", demo.DemoPassword))
	laptop.signOut()

	t.Run("a forged or altered device cookie is a stranger's", func(t *testing.T) {
		u, _ := url.Parse(tb.srv.URL)
		var cookie string
		for _, ck := range laptop.http.Jar.Cookies(u) {
			if ck.Name == "tessera_device" {
				cookie = ck.Value
			}
		}
		require.NotEmpty(t, cookie)
		mateo := tb.org.Accounts[1].PersonID
		parts := strings.Split(cookie, ".")
		for _, forged := range []string{
			strings.Replace(cookie, parts[2], mateo, 1),   // another person, same MAC
			cookie[:len(cookie)-2] + "xx",                 // another MAC
			strings.Join(parts[:4], ".") + ".",            // no MAC
			"v1.somedevice." + parts[2] + ".9999999999.x", // made up
		} {
			c := tb.browser(t, tb.srv, "192.0.2.11")
			c.http.Jar.SetCookies(u, []*http.Cookie{{Name: "tessera_device", Value: forged}})
			require.Equal(t, http.StatusTooManyRequests, c.attempt("zoe", demo.DemoPassword), forged)
		}
		// A device key of another deployment does not sign for this one.
		foreign := tb.serve(t, func(s *web.Server) {
			behindProxy(s)
			s.Config.DeviceKey = bytes.Repeat([]byte{8}, 32)
		})
		c := tb.browser(t, foreign, "192.0.2.12")
		c.http.Jar.SetCookies(u, []*http.Cookie{{Name: "tessera_device", Value: cookie}})
		require.Equal(t, http.StatusTooManyRequests, c.attempt("zoe", demo.DemoPassword))
	})

	t.Run("the laptop's own budget is a budget", func(t *testing.T) {
		laptop.base = tb.srv.URL
		for i := range portal.SignInBurst {
			require.Equal(t, http.StatusUnauthorized, laptop.attempt("zoe", "fat fingers"), i)
		}
		require.Equal(t, http.StatusTooManyRequests, laptop.attempt("zoe", demo.DemoPassword))
	})
}

// syncBuffer is a log destination that handlers may write to at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestSignInFailuresAudited(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	tb := setup(t, stopClock, behindProxy, func(s *web.Server) {
		s.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ctx := context.Background()
	zoe := tb.org.Accounts[0].PersonID
	const secret = "Correct-Horse-Battery-4711"

	c := tb.browser(t, tb.srv, "198.51.100.23")
	require.Equal(t, http.StatusUnauthorized, c.attempt("zoe", secret))
	require.Equal(t, http.StatusUnauthorized, c.attempt("no-such-account", secret))

	type entry struct {
		actor                   *string
		targetType, targetID    string
		method, account, client string
	}
	rows, err := tb.db.Pool.Query(ctx, `SELECT actor_id::text, target_type, target_id, details->>'method',
		details->>'account', details->>'client' FROM audit_log WHERE action = 'sign_in_failed' ORDER BY id`)
	require.NoError(t, err)
	var got []entry
	for rows.Next() {
		var e entry
		require.NoError(t, rows.Scan(&e.actor, &e.targetType, &e.targetID, &e.method, &e.account, &e.client))
		got = append(got, e)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []entry{
		{nil, "person", zoe, "local", "zoe", "198.51.100.23"},
		{nil, "account", "no-such-account", "local", "no-such-account", "198.51.100.23"},
	}, got)

	// Spend the rest of the address's budget; the first refusal is audited,
	// not every one after it.
	for range portal.SignInBurst + 3 {
		c.attempt("zoe", secret)
	}
	var refused int
	require.NoError(t, tb.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log
		WHERE action = 'sign_in_refused' AND target_id = $1 AND details->>'client' = '198.51.100.23'`, zoe).Scan(&refused))
	require.Equal(t, 1, refused)

	// The administrator reads who was claimed, and that no one acted.
	admin := tb.browser(t, tb.srv, "192.0.2.90")
	require.Equal(t, http.StatusSeeOther, admin.attempt("ada", demo.DemoPassword))
	var signedInFrom string
	require.NoError(t, tb.db.Pool.QueryRow(ctx, `SELECT details->>'client' FROM audit_log WHERE action = 'sign_in'
		AND actor_id = (SELECT id FROM people WHERE account_name = 'ada') ORDER BY id DESC LIMIT 1`).Scan(&signedInFrom))
	require.Equal(t, "192.0.2.90", signedInFrom, "a sign-in is audited with its client address, as a failed one is")
	_, page := admin.get("/admin/audit?action=sign_in_failed")
	require.Contains(t, page, "Someone not signed in")
	require.NotContains(t, page, "<td>Tessera</td>", "Tessera did not try to sign in")
	require.Contains(t, page, "account no-such-account")

	var leaked int
	require.NoError(t, tb.db.Pool.QueryRow(ctx, "SELECT count(*) FROM audit_log WHERE details::text LIKE '%' || $1 || '%'",
		secret).Scan(&leaked))
	require.Zero(t, leaked, "the password is never in the audit log")
	out := logs.String()
	require.Contains(t, out, `"msg":"sign-in failed"`)
	require.Contains(t, out, `"msg":"sign-in refused: budget spent"`)
	require.Contains(t, out, `"client":"198.51.100.23"`)
	require.NotContains(t, out, secret, "nor in the log")
}

func TestSignInUntypeableAccount(t *testing.T) {
	t.Parallel()
	tb := setup(t, stopClock, behindProxy)
	c := tb.browser(t, tb.srv, "198.51.100.31")
	for _, account := range []string{"zoe\x00", "zo\xffe", "zoe\x1b[2J", strings.Repeat("z", 257)} {
		c.get("/signin")
		resp, body := c.post("/signin", url.Values{"csrf": {c.csrf}, "account": {account}, "password": {demo.DemoPassword}})
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%q", account)
		// Bytes no field may hold are refused by the form decoder, the
		// rest by the sign-in's own rule: either names the account name.
		require.Contains(t, body, "The account name ")
	}
}

func TestSignInSuccessesSpendNothing(t *testing.T) {
	t.Parallel()
	tb := setup(t, stopClock, behindProxy)
	// An office behind one NAT address at nine in the morning: only
	// failures count, so however many sign in at once, none waits.
	accounts := []string{"zoe", "mateo", "siobhan", "ada"}
	browsers := make([]*client, 3*portal.SignInBurst)
	for i := range browsers {
		browsers[i] = tb.browser(t, tb.srv, "192.0.2.200")
		browsers[i].get("/signin")
	}
	statuses := make([]int, len(browsers))
	errs := make([]error, len(browsers))
	var wg sync.WaitGroup
	for i, c := range browsers {
		form := url.Values{"csrf": {c.csrf}, "account": {accounts[i%len(accounts)]}, "password": {demo.DemoPassword}}
		req, err := http.NewRequest("POST", c.base+"/signin", strings.NewReader(form.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", c.forwardedFor)
		wg.Go(func() {
			resp, err := c.http.Do(req)
			if errs[i] = err; err == nil {
				statuses[i] = resp.StatusCode
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	for i, status := range statuses {
		require.NoError(t, errs[i])
		require.Equal(t, http.StatusSeeOther, status, i)
	}
}
