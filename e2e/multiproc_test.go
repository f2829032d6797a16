package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
)

// cycleInterval is the scheduled delta cycle's interval in the test: the
// schedule looks every 10 s, so cycles come at most that often.
const cycleInterval = 5 * time.Second

var runLocationRE = regexp.MustCompile(`^/admin/sync/runs/([0-9]+)$`)

// TestTwoWebTwoWorkers runs Tessera as it grows past one process: two web
// processes (as behind a load balancer) and two workers on one database,
// with a Samba AD DC as the connected system. A sync run queued from a
// web process with no worker waits, queued, until a worker runs it;
// people ask to join a group through both web processes and the owner
// approves through both; a worker is killed with SIGKILL while it runs a
// job; the scheduled cycle runs once per interval, not once per worker;
// and every request is committed and exported exactly once.
func TestTwoWebTwoWorkers(t *testing.T) {
	t.Parallel()
	const n = 60
	ctx := context.Background()
	p := newJoinPipeline(t, n)
	env := []string{"TESSERA_SECRET_KEY=" + p.ad.SecretKey}
	webs := []*harness.Tessera{
		harness.StartProcess(t, p.url, harness.ProcessOptions{Role: "web", Env: env, Metrics: true}),
		harness.StartProcess(t, p.url, harness.ProcessOptions{Role: "web", Env: env}),
	}

	// /metrics is on its own address when asked, and only there.
	status, _ := httpGet(t, webs[0].URL+"/metrics")
	require.Equal(t, http.StatusNotFound, status, "the portal's listener no longer serves /metrics")
	status, body := httpGet(t, webs[0].MetricsURL)
	require.Equal(t, http.StatusOK, status)
	require.True(t, strings.Contains(body, "tessera_sync_pending_exports"), "the metrics address serves the metrics")
	status, body = httpGet(t, webs[1].URL+"/metrics")
	require.Equal(t, http.StatusOK, status, "without TESSERA_METRICS_LISTEN, /metrics stays where it was")
	require.True(t, strings.Contains(body, "tessera_http_request_duration_seconds"))

	// A run queued from a web process waits for a worker: no web process
	// runs it, in a goroutine or otherwise.
	admin := p.signedIn(t, p.ad.Admin.PersonID)
	status, loc, body := admin.do("POST", webs[0].URL, "/admin/connected-systems/"+p.ad.System.ID+"/sync/run",
		url.Values{"profile": {"delta_import"}})
	require.Equal(t, http.StatusSeeOther, status, body)
	require.Regexp(t, runLocationRE, loc)
	runID := runLocationRE.FindStringSubmatch(loc)[1]
	status, _, body = admin.do("GET", webs[1].URL, loc, nil)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `data-status="queued"`, "the other web process shows it queued, from run history")
	require.Equal(t, 1, p.count(t, `SELECT count(*) FROM river_job WHERE kind = 'sync_run' AND state = 'available'
		AND (args->>'run_id')::bigint = $1`, runID), "its job waits in River")

	// The scheduled cycle is due from now on; the workers start.
	_, err := p.pool.Exec(ctx, "UPDATE connected_systems SET delta_interval = $2 WHERE id = $1", p.ad.System.ID,
		int(cycleInterval/time.Second))
	require.NoError(t, err)
	started := time.Now()
	workers := []*harness.Tessera{
		harness.StartProcess(t, p.url, harness.ProcessOptions{Role: "worker", Env: env, Metrics: true}),
		harness.StartProcess(t, p.url, harness.ProcessOptions{Role: "worker", Env: env}),
	}
	status, body = httpGet(t, workers[0].MetricsURL)
	require.Equal(t, http.StatusOK, status, "a worker serves /metrics too")
	require.True(t, strings.Contains(body, "tessera_sync_system_reachable"))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		status, _, body := admin.do("GET", webs[0].URL, loc, nil)
		assert.Equal(c, http.StatusOK, status)
		assert.Contains(c, body, `data-status="succeeded"`)
	}, 60*time.Second, 200*time.Millisecond, "a worker runs the queued run")

	// People ask through both web processes at once.
	var wg sync.WaitGroup
	for i, v := range p.requesters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.signedIn(t, v.PersonID).askToJoin(webs[i%2].URL, p.groupID)
		}()
		if i%8 == 7 {
			wg.Wait()
		}
	}
	wg.Wait()

	// The owner approves what waits, in bulk, through both web processes,
	// while the workers commit and export; one worker is killed in the
	// middle of a job.
	owner := p.signedIn(t, p.owner.PersonID)
	decided := map[string]bool{}
	var killedClient string
	for round := 0; p.completed(t) < n; round++ {
		var waiting []string
		for _, id := range p.pendingApprovals(t) {
			if !decided[id] {
				decided[id] = true
				waiting = append(waiting, id)
			}
		}
		for i := 0; i < len(waiting); i += 30 {
			owner.approve(webs[(round+i/30)%2].URL, waiting[i:min(i+30, len(waiting))])
		}
		if killedClient == "" && len(decided) > n/3 {
			killedClient = killWorkerInJob(t, p, workers)
		}
		require.Less(t, time.Since(started), 3*time.Minute, "only %d of %d completed", p.completed(t), n)
		time.Sleep(100 * time.Millisecond)
	}
	require.NotEmpty(t, killedClient, "a worker was killed mid-run")
	// The requests may all be done before the rescue: another job's export
	// of the group carries the members of the killed one's too. When the
	// killed worker led, the rescue waits for the survivor's election.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Positive(c, p.count(t, `SELECT count(*) FROM river_job WHERE errors::text LIKE '%ended while it ran (client ' || $1 || ')%'`,
			killedClient))
	}, 2*time.Minute, 200*time.Millisecond, "the job it was running was rescued and worked by the other")

	p.requireExactlyOnce(t)

	// The schedule ran the cycle once per interval: two cycles (each has
	// one delta sync) are never closer than the interval, whatever the
	// number of workers.
	var starts []time.Time
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		rows, err := p.pool.Query(ctx, `SELECT started_at FROM sync_runs WHERE system_id = $1 AND trigger = 'schedule'
			AND profile = 'delta_sync' ORDER BY started_at`, p.ad.System.ID)
		if !assert.NoError(c, err) {
			return
		}
		starts, err = pgx.CollectRows(rows, pgx.RowTo[time.Time])
		assert.NoError(c, err)
		assert.GreaterOrEqual(c, len(starts), 3, "three scheduled cycles")
	}, 90*time.Second, time.Second)
	for i := 1; i < len(starts); i++ {
		require.GreaterOrEqual(t, starts[i].Sub(starts[i-1]), cycleInterval,
			"cycle %d started %s after the one before: more than once per interval", i, starts[i].Sub(starts[i-1]))
	}
	t.Logf("%d requests through 2 web and 2 worker processes (one killed, client %s); %d scheduled cycles", n, killedClient,
		len(starts))
}

// killWorkerInJob kills, with SIGKILL, the worker process that is running
// a job of the request pipeline, and returns its River client ID; empty
// when neither is running one at the moment, or when the job ended between
// the look and the kill (the worker is started again: nothing of it was
// interrupted, and the test tries again later).
func killWorkerInJob(t *testing.T, p *joinPipeline, workers []*harness.Tessera) string {
	t.Helper()
	ctx := context.Background()
	rows, err := p.pool.Query(ctx, `SELECT id, attempted_by[array_length(attempted_by, 1)] FROM river_job
		WHERE state = 'running' AND kind IN ('authorize', 'commit', 'sync_export')`)
	require.NoError(t, err)
	var id int64
	var client string
	jobs := map[string]int64{}
	_, err = pgx.ForEachRow(rows, []any{&id, &client}, func() error {
		jobs[client] = id
		return nil
	})
	require.NoError(t, err)
	for client, id := range jobs {
		for _, w := range workers {
			if !strings.Contains(client, fmt.Sprintf("_pid%d_", w.Cmd.Process.Pid)) {
				continue
			}
			w.Kill()
			if p.count(t, "SELECT count(*) FROM river_job WHERE id = $1 AND state = 'running'", id) == 1 {
				return client
			}
			w.Restart()
			return ""
		}
	}
	return ""
}

func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}
