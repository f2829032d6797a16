package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/ad"
)

// joinPipeline is a database with n people provisioned in a Samba AD DC
// and a group they ask to join, which its owner must approve: the request
// pipeline from submission to the membership in AD, for the tests that run
// it on several processes or kill it.
type joinPipeline struct {
	dc         *harness.SambaDC
	url        string
	pool       *pgxpool.Pool
	db         *postgres.DB
	ad         *harness.ADSystem
	engine     *syncsvc.Engine
	owner      portal.Viewer
	groupID    string
	groupDN    string
	requesters []portal.Viewer
	dns        map[string]string // person ID → their DN in AD
}

// newJoinPipeline provisions n people, their owner and the group in AD
// with the default sync rules; the scheduled cycle is off until a test
// turns it on.
func newJoinPipeline(tb testing.TB, n int) *joinPipeline {
	tb.Helper()
	ctx := context.Background()
	p := &joinPipeline{dc: harness.Samba(tb), url: harness.DatabaseURL(tb), dns: map[string]string{}}
	p.pool = harness.Pool(tb, p.url)
	p.db = postgres.New(p.pool)
	ou := fmt.Sprintf("jp%d", time.Now().UnixNano()%1e7)
	p.ad = harness.NewADSystem(tb, p.db, p.dc, ou)
	p.engine = &syncsvc.Engine{Pool: p.pool, Systems: p.ad.Systems, Open: ad.Opener(p.ad.Systems), Requests: postgres.New(p.pool)}
	_, err := p.pool.Exec(ctx, "UPDATE connected_systems SET delta_interval = 0 WHERE id = $1", p.ad.System.ID)
	require.NoError(tb, err)
	require.NoError(tb, p.pool.QueryRow(ctx, `INSERT INTO people (account_name, employee_id, given_name, surname, display_name)
		VALUES ($1, $2, 'Olga', 'Owner', 'Olga Owner') RETURNING id`, "owner-"+ou, "O"+ou).Scan(&p.owner.PersonID))
	p.owner.DisplayName = "Olga Owner"
	_, err = p.pool.Exec(ctx, `INSERT INTO people (account_name, employee_id, given_name, surname, display_name)
		SELECT $2 || n, 'J' || $2 || n, 'Jo', 'Iner ' || n, 'Jo Iner ' || n FROM generate_series(1, $1) n`, n, ou)
	require.NoError(tb, err)
	group := "joiners-" + ou
	require.NoError(tb, p.pool.QueryRow(ctx, `INSERT INTO groups (name, display_name, group_type, join_policy)
		VALUES ($1, $1, 'security', 'owner_approval') RETURNING id`, group).Scan(&p.groupID))
	_, err = p.pool.Exec(ctx, "INSERT INTO group_owners (group_id, person_id) VALUES ($1, $2)", p.groupID, p.owner.PersonID)
	require.NoError(tb, err)
	syncRules(tb, p.engine, p.ad, p.dc.BaseDN)
	for _, profile := range []syncsvc.RunProfile{syncsvc.FullImport, syncsvc.FullSync, syncsvc.Export, syncsvc.DeltaImport} {
		run, err := p.engine.Run(ctx, p.ad.System.ID, profile, syncsvc.RunOptions{})
		require.NoError(tb, err)
		require.Equal(tb, "succeeded", run.Status, "%s: %s", profile, run.Message)
	}
	p.groupDN = "CN=" + group + ",OU=Groups," + p.ad.OU
	rows, err := p.pool.Query(ctx, `SELECT id::text, display_name FROM people WHERE account_name LIKE $1 || '%'
		AND account_name <> $2 ORDER BY account_name`, ou, "owner-"+ou)
	require.NoError(tb, err)
	for rows.Next() {
		var v portal.Viewer
		require.NoError(tb, rows.Scan(&v.PersonID, &v.DisplayName))
		p.requesters = append(p.requesters, v)
		p.dns[v.PersonID] = syncsvc.ChildDN("CN", v.DisplayName, "OU=People,"+p.ad.OU)
	}
	require.NoError(tb, rows.Err())
	require.Len(tb, p.requesters, n)
	// From here on the tessera processes, given the secret key, write to
	// the audit chain keyed; the test's own writes (sessions, requests,
	// decisions) go through a pool keyed alike.
	p.pool = harness.KeyedPool(tb, p.url, p.ad.SecretKey)
	p.db = postgres.New(p.pool)
	return p
}

// pendingApprovals lists the approvals waiting for the owner.
func (p *joinPipeline) pendingApprovals(tb testing.TB) []string {
	tb.Helper()
	rows, err := p.pool.Query(context.Background(), "SELECT id::text FROM approvals WHERE status = 'pending' ORDER BY id")
	require.NoError(tb, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(tb, err)
	return ids
}

// count runs one counting query.
func (p *joinPipeline) count(tb testing.TB, sql string, args ...any) int {
	tb.Helper()
	var n int
	require.NoError(tb, p.pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// completed is how many of the group's join requests are completed.
func (p *joinPipeline) completed(tb testing.TB) int {
	return p.count(tb, "SELECT count(*) FROM requests WHERE group_id = $1 AND status = 'completed'", p.groupID)
}

// requireExactlyOnce checks the end state: every requester's request
// completed, committed and exported once, each a member once in the
// portal and in AD, and nothing left pending.
func (p *joinPipeline) requireExactlyOnce(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	n := len(p.requesters)
	require.Equal(tb, n, p.count(tb, "SELECT count(*) FROM requests WHERE group_id = $1", p.groupID), "one request each")
	var statuses []string
	rows, err := p.pool.Query(ctx, "SELECT DISTINCT status FROM requests WHERE group_id = $1", p.groupID)
	require.NoError(tb, err)
	statuses, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(tb, err)
	require.Equal(tb, []string{"completed"}, statuses, "every request ends completed")
	if rows, err := p.pool.Query(ctx, `SELECT e.kind || ' x' || count(*) FROM request_events e JOIN requests r ON r.id = e.request_id
		WHERE r.group_id = $1 GROUP BY e.kind ORDER BY 1`, p.groupID); err == nil {
		kinds, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		tb.Logf("timeline events of the %d requests: %s", n, strings.Join(kinds, ", "))
	}
	// A request whose membership went out with another request's export
	// (one export of the group carries every member committed by then)
	// says "exported" too: each request's own timeline tells it, once,
	// before it completes.
	for _, kind := range []string{"committed", "exported", "completed"} {
		require.Zero(tb, p.count(tb, `SELECT count(*) FROM requests r WHERE r.group_id = $1 AND
			(SELECT count(*) FROM request_events e WHERE e.request_id = r.id AND e.kind = $2) <> 1`, p.groupID, kind),
			"every request's timeline says %s exactly once", kind)
	}
	require.Zero(tb, p.count(tb, `SELECT count(*) FROM requests r WHERE r.group_id = $1 AND
		(SELECT max(id) FROM request_events e WHERE e.request_id = r.id AND e.kind = 'exported')
		> (SELECT max(id) FROM request_events e WHERE e.request_id = r.id AND e.kind = 'completed')`, p.groupID),
		"exported before completed")
	require.Equal(tb, n, p.count(tb, "SELECT count(*) FROM group_members WHERE group_id = $1", p.groupID))
	require.Zero(tb, p.count(tb, "SELECT count(*) FROM cs_objects WHERE export_op IS NOT NULL"), "no export pending")
	require.Zero(tb, p.count(tb, "SELECT count(*) FROM export_requests"), "no request waits for a confirmation")
	// River records a job's end a moment after the job's work.
	require.EventuallyWithT(tb, func(c *assert.CollectT) {
		rows, err := p.pool.Query(ctx, `SELECT kind || ' ' || state || ' x' || count(*) FROM river_job
			WHERE state IN ('available', 'running', 'retryable', 'scheduled') AND kind IN ('commit', 'sync_export', 'sync_run')
			GROUP BY kind, state`)
		if !assert.NoError(c, err) {
			return
		}
		left, err := pgx.CollectRows(rows, pgx.RowTo[string])
		assert.NoError(c, err)
		assert.Empty(c, left, "no job of the requests is left")
	}, 30*time.Second, 100*time.Millisecond)

	reader := p.dc.Dial(tb)
	res, err := reader.Search(ldap.NewSearchRequest(p.groupDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=group)", []string{"member"}, nil))
	require.NoError(tb, err)
	require.Len(tb, res.Entries, 1)
	var members []string
	for _, a := range res.Entries[0].Attributes {
		if strings.HasPrefix(strings.ToLower(a.Name), "member") {
			members = append(members, a.Values...)
		}
	}
	want := make([]string, 0, n)
	for _, v := range p.requesters {
		want = append(want, strings.ToLower(p.dns[v.PersonID]))
	}
	for i := range members {
		members[i] = strings.ToLower(members[i])
	}
	slices.Sort(want)
	slices.Sort(members)
	require.Equal(tb, want, members, "every membership is in AD, once")
	// And no requester's account was created twice under another name.
	accounts, err := reader.SearchWithPaging(ldap.NewSearchRequest(p.ad.OU, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0,
		false, "(&(objectClass=user)(employeeID=J*))", []string{"employeeID"}, nil), 500)
	require.NoError(tb, err)
	seen := map[string]int{}
	for _, e := range accounts.Entries {
		seen[e.GetAttributeValue("employeeID")]++
	}
	require.Len(tb, seen, n)
	for id, k := range seen {
		require.Equal(tb, 1, k, "%s exists %d times", id, k)
	}
}

// webClient is a person's HTTP client of one or more web processes,
// signed in with a session of the shared database.
type webClient struct {
	tb      testing.TB
	session string
	csrf    string
	http    *http.Client
}

// signedIn opens a session for personID, as signing in would.
func (p *joinPipeline) signedIn(tb testing.TB, personID string) *webClient {
	tb.Helper()
	return signIn(tb, p.db, personID)
}

// webTransport keeps connections to the web processes open between
// requests, as browsers do, for less time than Tessera keeps them (its
// idle timeout, 120 s): a benchmark pauses a side for up to a minute or
// more, and a connection the resumed server closes just as the client
// reuses it for a POST would fail the request (Go retries no POST).
var webTransport = &http.Transport{MaxIdleConnsPerHost: 32, IdleConnTimeout: 60 * time.Second}

// signIn opens a session for personID in db, as signing in would.
func signIn(tb testing.TB, db *postgres.DB, personID string) *webClient {
	tb.Helper()
	c, err := openSession(tb, db, personID)
	require.NoError(tb, err)
	return c
}

// signInAll signs each of people in, as signIn does, eight at a time.
func signInAll(tb testing.TB, db *postgres.DB, people []portal.Viewer) []*webClient {
	tb.Helper()
	clients := make([]*webClient, len(people))
	errs := make([]error, len(people))
	inParallel(8, len(people), func(i int) {
		clients[i], errs[i] = openSession(tb, db, people[i].PersonID)
	})()
	require.NoError(tb, errors.Join(errs...))
	return clients
}

// inParallel calls f for each of 0..n-1 from workers goroutines, each
// taking the next index, and returns the wait for them all.
func inParallel(workers, n int, f func(i int)) (wait func()) {
	var wg sync.WaitGroup
	var next atomic.Int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				f(i)
			}
		}()
	}
	return wg.Wait
}

// openSession opens a session for personID in db, as signing in would.
func openSession(tb testing.TB, db *postgres.DB, personID string) (*webClient, error) {
	ctx := context.Background()
	token, err := db.CreateSession(ctx, personID, "local", "")
	if err != nil {
		return nil, err
	}
	c := &webClient{tb: tb, session: token, http: &http.Client{Timeout: 60 * time.Second, Transport: webTransport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	err = db.Pool.QueryRow(ctx, `SELECT csrf_token FROM sessions WHERE person_id = $1 ORDER BY created_at DESC LIMIT 1`,
		personID).Scan(&c.csrf)
	return c, err
}

// do sends a request to base (a web process) and returns its status,
// Location and body.
func (c *webClient) do(method, base, path string, form url.Values) (int, string, string) {
	c.tb.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, base+path, body)
	require.NoError(c.tb, err)
	req.AddCookie(&http.Cookie{Name: "tessera_session", Value: c.session})
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	resp, err := c.http.Do(req)
	require.NoError(c.tb, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.tb, err)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// askToJoin submits a join request through the web process at base.
func (c *webClient) askToJoin(base, groupID string) {
	c.tb.Helper()
	status, loc, body := c.do("POST", base, "/groups/"+groupID+"/request", url.Values{"justification": {"On call from Monday."}})
	require.Equal(c.tb, http.StatusSeeOther, status, "%s: %s", loc, body)
}

// approve approves the approvals with "Approve selected" on the web
// process at base.
func (c *webClient) approve(base string, ids []string) {
	c.tb.Helper()
	status, loc, body := c.do("POST", base, "/approvals", url.Values{"id": ids, "decision": {"approve"}})
	require.Less(c.tb, status, 400, "%s: %s", loc, body)
}
