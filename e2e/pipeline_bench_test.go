package e2e_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/postgres"
)

// BenchmarkRequestPipeline measures requests through the whole pipeline:
// people submit join requests to an owner-approval group (request row,
// audit entry and approval in one transaction), and the owner approves
// them as they arrive, as "My approvals" does with "Select all" and
// "Approve selected" (at most 100 at a time: one transaction for each such
// decision, which commits them). The figure is completed requests per
// second, end to end.
func BenchmarkRequestPipeline(b *testing.B) {
	rates := runPipeline(b, 100)
	singleProcessRate = median(rates)
	figure("request_pipeline_throughput", rates, "requests/s", ">= 800")
}

// singleProcessRate is request_pipeline_throughput when
// BenchmarkRequestPipeline ran in this run, for a comparison in the log
// of the figure with several processes.
var singleProcessRate float64

// BenchmarkRequestPipelineOneByOne is the same pipeline with the owner
// deciding on each approval on its own (a transaction each), as most
// managers do.
func BenchmarkRequestPipelineOneByOne(b *testing.B) {
	figure("request_pipeline_one_by_one", runPipeline(b, 1), "requests/s", ">= 500")
}

// pipelinePeople is the organisation the pipeline figures are measured on.
const pipelinePeople = 10000

// approverLook is how often the pipeline figures' approver looks for
// approvals waiting, as "My approvals" shows them, to decide on them.
const approverLook = 50 * time.Millisecond

// endLook is how often drivePipeline looks for the end of a run once
// every approval has been handed to the approver's tabs: a count by an
// index of this round's group, some 0.1 ms of work, for the few tens of
// milliseconds the last decisions take.
const endLook = 2 * time.Millisecond

// pipelineWarmUp and pipelineRun are how many requests the unmeasured
// warm-up and each of the benchRuns measured runs send.
const pipelineWarmUp, pipelineRun = 200, 2000

// pipelineSetup returns a fresh copy of the organisation, the owner of the
// pipeline figures' groups, and the people who will ask to join them:
// enough for the warm-up and every run, each person asking once.
func pipelineSetup(b *testing.B) (*postgres.DB, portal.Viewer, []portal.Viewer) {
	pool := harness.Pool(b, harness.SeededDatabaseURL(b, pipelinePeople))
	db := postgres.New(pool)
	org, err := demo.Generate(pipelinePeople)
	require.NoError(b, err)
	owner := portal.Viewer{PersonID: org.Accounts[1].PersonID, DisplayName: "Mateo"}
	var requesters []portal.Viewer
	for _, p := range org.People {
		if p.ID != owner.PersonID && p.Enabled {
			requesters = append(requesters, portal.Viewer{PersonID: p.ID, DisplayName: p.DisplayName})
		}
	}
	n := pipelineWarmUp + benchRuns*pipelineRun
	require.GreaterOrEqual(b, len(requesters), n)
	return db, owner, requesters[:n]
}

// pipelineRounds runs the warm-up and then each measured run on an
// owner-approval group of its own, with the people of that round, and
// returns each run's requests per second. round drives one (drivePipeline).
func pipelineRounds(b *testing.B, db *postgres.DB, owner portal.Viewer, requesters []portal.Viewer, name string,
	round func(groupID string, people []portal.Viewer) float64) []float64 {
	var rates []float64
	for r := -1; r < benchRuns; r++ {
		people := requesters[:pipelineWarmUp]
		if r >= 0 {
			from := pipelineWarmUp + r*pipelineRun
			people = requesters[from : from+pipelineRun]
		}
		rate := round(pipelineGroup(b, db, owner, fmt.Sprintf("%s-%d", name, r+1)), people)
		if r >= 0 {
			rates = append(rates, rate)
			benchLog(b, "run %d: %d requests submitted, approved and committed: %.1f requests/s", r+1, len(people), rate)
		}
	}
	return rates
}

// pipelineGroup makes the owner-approval group named name, owned by owner,
// that a round of the pipeline figures asks to join, and returns its id.
func pipelineGroup(b *testing.B, db *postgres.DB, owner portal.Viewer, name string) string {
	ctx := context.Background()
	var groupID string
	require.NoError(b, db.Pool.QueryRow(ctx, `INSERT INTO groups (name, display_name, group_type, join_policy)
		VALUES ($1, $1, 'security', 'owner_approval') RETURNING id`, name).Scan(&groupID))
	_, err := db.Pool.Exec(ctx, "INSERT INTO group_owners (group_id, person_id) VALUES ($1, $2)", groupID, owner.PersonID)
	require.NoError(b, err)
	return groupID
}

// runPipeline runs the pipeline in one process, the owner deciding on up
// to perDecision approvals at once, and returns each run's requests per
// second.
func runPipeline(b *testing.B, perDecision int) []float64 {
	ctx := context.Background()
	db, owner, requesters := pipelineSetup(b)
	harness.StartWorkers(b, db, nil, "http://tessera.test")
	return pipelineRounds(b, db, owner, requesters, "bench", func(groupID string, people []portal.Viewer) float64 {
		return drivePipeline(b, db.Pool, nil, groupID, len(people), perDecision, func(i int) {
			v := people[i]
			if _, err := db.Submit(ctx, v, portal.NewRequest{Operation: portal.OpAddMember, GroupID: groupID,
				PersonID: v.PersonID, Justification: "benchmark"}); err != nil {
				b.Error(err)
			}
		}, func(_ int, chunk []string) {
			errs, err := db.DecideMany(ctx, owner, chunk, true, "")
			if err == nil {
				err = errors.Join(errs...)
			}
			if err != nil {
				b.Error(err)
			}
		})
	})
}

// drivePipeline is the run both pipeline figures measure: 12 people
// submit the n join requests (submit(i) sends the i-th), and the owner
// approves what waits as it arrives, perDecision at a time, on 8 tabs
// (decide(tab, chunk)), until the group has n members. It returns
// requests per second.
func drivePipeline(b *testing.B, pool *pgxpool.Pool, procs []*harness.Tessera, groupID string, n, perDecision int, submit func(i int),
	decide func(tab int, chunk []string)) float64 {
	ctx := context.Background()
	// The approver watches on a connection of its own: the pool is the
	// product's (in one process, the workers' too), and the benchmark's
	// polling must not take its connections.
	watch := harness.Pool(b, pool.Config().ConnString()+"&pool_max_conns=1")
	settle(b, pool)
	before := readDBWork(b, watch)
	cpuBefore := cpuByProgram(b)
	procsBefore := readProcessCPU(b, watch, procs)
	b.ResetTimer()
	start := time.Now()
	submitted := inParallel(12, n, submit)
	decided := map[string]bool{}
	chunks := make(chan []string, 1000)
	var dwg sync.WaitGroup
	for tab := range 8 {
		dwg.Add(1)
		go func() {
			defer dwg.Done()
			for chunk := range chunks {
				decide(tab, chunk)
			}
		}()
	}
	deadline := time.Now().Add(5 * time.Minute)
	decisions, polls := 0, 0
	// The approver looks every approverLook, however long the pipeline
	// takes to answer: what it finds then is one decision (up to
	// perDecision), in one process as in several. (It used to sleep 20 ms
	// after each look, so the rate of its looks, and with it how many
	// decisions, transactions and commit jobs a run took, depended on how
	// long the looks waited for a connection: in one process they shared
	// the pipeline's pool, and found 30 requests a decision; in 2+2 they
	// had their own, and found 3. The 2+2 figure then measured ten times
	// the decisions.)
	look := time.NewTicker(approverLook)
	defer look.Stop()
	for {
		polls++
		// Polling stays cheap (index scans only, of this round's requests
		// still waiting), so that the benchmark measures the pipeline and
		// not itself. (Joined from the pending approvals, it cost up to
		// 70 ms a poll, most of a core between polls every 20 ms.)
		var completed int
		require.NoError(b, watch.QueryRow(ctx, "SELECT count(*) FROM group_members WHERE group_id = $1", groupID).Scan(&completed))
		if completed == n {
			break
		}
		require.True(b, time.Now().Before(deadline), "only %d of %d completed", completed, n)
		if len(decided) < n {
			polls++
			rows, err := watch.Query(ctx, approverPoll, groupID)
			require.NoError(b, err)
			var waiting []string
			for rows.Next() {
				var id string
				require.NoError(b, rows.Scan(&id))
				if !decided[id] {
					decided[id] = true
					waiting = append(waiting, id)
				}
			}
			require.NoError(b, rows.Err())
			for chunk := range slices.Chunk(waiting, perDecision) {
				decisions++
				chunks <- chunk
			}
		}
		if len(decided) == n {
			// Every approval is decided or being decided: only the end
			// is left to see, and it is looked for every endLook, not
			// at the approver's next look. (Seen at the next look, a
			// slice's end fell up to 50 ms after the last membership
			// was committed, 1000/rate read k × 50 ms + 2 ms, and a
			// slice of 1.5-2.5 s read up to 3 % slow by chance.)
			time.Sleep(endLook)
			continue
		}
		<-look.C
	}
	elapsed := time.Since(start)
	close(chunks)
	dwg.Wait()
	submitted()
	b.StopTimer()
	cpu := map[string]usage{}
	addCPU(cpu, cpuBefore, cpuByProgram(b))
	procsAfter := readProcessCPU(b, watch, procs)
	work := readDBWork(b, watch).since(before, polls)
	rate := float64(n) / elapsed.Seconds()
	// How the work came in batches says as much as the rate: each
	// decision is a transaction. And what the database
	// did for each request says where the time can go.
	benchLog(b, "%d requests in %d decisions (%.1f a decision), %.2f s; a request: %s; CPU a request: %s", n, decisions,
		float64(n)/float64(decisions), elapsed.Seconds(), work.per(n), cpuPer(cpu, n))
	if len(procs) > 0 {
		benchLog(b, "CPU a request, process by process: %s", procsAfter.since(procsBefore, procs, n))
	}
	work.logTop(b)
	b.ReportMetric(rate, "requests/s")
	return rate
}

// approverPoll is the approver's look for the approvals of group $1
// waiting: this round's requests still authorizing, by
// requests_one_pending, and each one's approval by its request, at any
// statistics. (Joined plainly, an analyze that found no request
// authorizing and no approval pending, as between two runs or just after
// an autoanalyze of the tables in a run, planned the join as every
// waiting request against every pending approval, read by
// approvals_pending: 6,900-70,600 buffers a look, 40-50 ms, in
// BenchmarkRequestPipelineOneByOne, a whole core of the two every 50 ms
// for the rest of the run. TestApproverPollReadsApprovalsByRequest.)
// OFFSET 0 keeps the approval's lookup a subquery of its own, which
// only the request's id can reach.
const approverPoll = `SELECT a.id FROM requests r,
	LATERAL (SELECT id, status FROM approvals WHERE request_id = r.id OFFSET 0) a
	WHERE r.operation = 'add_member' AND r.group_id = $1 AND r.status = 'authorizing' AND a.status = 'pending'`

// BenchmarkRequestPipelineTwoWebTwoWorker is the pipeline of
// BenchmarkRequestPipeline on four `tessera serve` processes, two web and
// two workers, on one database: people submit through both web processes
// over HTTP, the owner approves through both ("Approve selected", 100 at
// a time), and the workers authorize and commit. The target is 0.9 times
// the same pipeline on one `tessera serve` process (role all), driven
// over HTTP alike on the same database: what several processes cost, and
// nothing else. (BenchmarkRequestPipeline calls Submit and DecideMany in
// the benchmark's own process, without HTTP, sessions, CSRF or redirects:
// against it, the share measured mostly what HTTP costs, which both web
// tiers pay. Its ratio is printed as well.) Each run's share is a figure
// too.
//
// The sides are measured in slices, interleaved in each run as a
// palindrome (sliceOrder: one and 2+2 alternating, 2+2 with Go's
// GOMAXPROCS on one slice in the middle), so that a drift across the run, such as the
// tables growing by each slice's requests, falls on every side alike, and
// a run's rate of a side is its slices' requests over their time.
// (Measured all one side's rounds after the other's, whatever the machine
// did meanwhile, a checkpoint or autovacuum after the earlier rounds'
// writes, fell on one side only: on a quiet machine the share read 103,
// 113.5 and 83.1 in three runs of `make bench`, with inner runs from 79 to
// 118.)
//
// Each side's processes start once, and are warmed once (sliceWarmUp),
// with the other sides paused (SIGSTOP); then only the side of a slice
// runs in it, every other side's processes paused, a worker taking jobs
// above all. A slice resumes its side, sends it sliceResume requests
// unmeasured (what a process does first after a pause: the LISTEN
// notifications and River elections it missed, its timers due), waits for
// their jobs, measures, and waits for the jobs its decisions queued. A side
// is paused only where none of its connections is in a transaction or a
// statement and no job runs (quietly), so that nothing it holds waits on
// the next slice. River's leadership goes to whichever worker runs when
// the leader's term ends: the pipeline's jobs do not need a leader, but a
// new leader queues the periodic jobs that run at its start
// (housekeeping, the audit checkpoint, timers), which may fall in a
// measured slice of whichever side runs then, one side or the other. (Each slice used to
// start and warm its side's processes, some 5 s of its 7: a run could then
// afford two slices a side, and slices of one side in one run differed by
// up to 12 %, which moved the share by as much from run to run. Now a run
// has six slices of each figured side in about the time two took.)
func BenchmarkRequestPipelineTwoWebTwoWorker(b *testing.B) {
	db, owner, requesters := pipelineSetup(b)
	warm := requesters[:sliceWarmUp]
	people := requesters[sliceWarmUp : sliceWarmUp+pipelineSlice]
	approver := signIn(b, db, owner.PersonID)
	// Two connections each for the 2+2: the four processes then hold
	// twice the single process's four (the default) between them, as an
	// operator sizes pools for one database (README, DATABASE_URL); four
	// each would only queue inside PostgreSQL on this machine's cores.
	u, err := neturl.Parse(db.Pool.Config().ConnString())
	require.NoError(b, err)
	q := u.Query()
	q.Set("pool_max_conns", "2")
	u.RawQuery = q.Encode()
	twoURL := u.String()
	// And each its share of the cores, as the README says of GOMAXPROCS
	// for several processes on one machine (the single process has them
	// all, Go's default): with a scheduler thread for every core in each
	// of the four, they spent about 0.3 ms more CPU a request waking and
	// parking threads while they waited on PostgreSQL. The go_default side
	// runs the same four with Go's default, as an operator who has not
	// read the README runs them: beside the figure, so that what the
	// setting buys is seen in every run.
	share := []string{fmt.Sprintf("GOMAXPROCS=%d", max(1, runtime.NumCPU()/4))}
	start := func(side string) (webs, procs []*harness.Tessera) {
		if side == "one" {
			one := harness.StartProcess(b, db.Pool.Config().ConnString(), harness.ProcessOptions{})
			return []*harness.Tessera{one}, []*harness.Tessera{one}
		}
		var env []string
		if side == "two" {
			env = share
		}
		procs = harness.StartProcesses(b, twoURL, harness.ProcessOptions{Role: "web", Env: env}, harness.ProcessOptions{Role: "web", Env: env},
			harness.ProcessOptions{Role: "worker", Env: env}, harness.ProcessOptions{Role: "worker", Env: env})
		return procs[:2], procs
	}
	// round returns a round of the pipeline for clients, to drive on a
	// side's processes: each person submitting to one of its webs, the
	// approver's tabs alternating between them, on a group of its own.
	round := func(name string, clients []*webClient) func(webs, procs []*harness.Tessera) float64 {
		return func(webs, procs []*harness.Tessera) float64 {
			groupID := pipelineGroup(b, db, owner, name)
			return drivePipeline(b, db.Pool, procs, groupID, len(clients), 100, func(i int) {
				clients[i].askToJoin(webs[i%len(webs)].URL, groupID)
			}, func(tab int, chunk []string) {
				approver.approve(webs[tab%len(webs)].URL, chunk)
			})
		}
	}
	websOf, procsOf := map[string][]*harness.Tessera{}, map[string][]*harness.Tessera{}
	running := ""
	// runOnly pauses the side running, quietly, and lets side run.
	runOnly := func(side string) {
		if running == side {
			return
		}
		if running != "" {
			pauseQuietly(b, db, procsOf[running])
		}
		for _, p := range procsOf[side] {
			p.Resume()
		}
		running = side
	}
	b.ResetTimer()
	began := time.Now()
	warmers := signInAll(b, db, warm)
	for _, side := range sides {
		runOnly(side)
		startedAt := time.Now()
		websOf[side], procsOf[side] = start(side)
		round(side+"-warm", warmers)(websOf[side], procsOf[side])
		drainJobs(b, db)
		benchLog(b, "%s started and warmed up with %d requests in %.1f s", side, len(warmers), time.Since(startedAt).Seconds())
	}
	defer func() {
		var all []*harness.Tessera
		for _, side := range sides {
			all = append(all, procsOf[side]...)
		}
		harness.StopAll(all...)
	}()
	// measure runs a slice of side for clients (resumers warm its processes
	// up after their pause) and returns its rate.
	slice := 0
	measure := func(side string, resumers, clients []*webClient) float64 {
		slice++
		began := time.Now()
		runOnly(side)
		webs, procs := websOf[side], procsOf[side]
		round(fmt.Sprintf("%s-%d-resume", side, slice), resumers)(webs, procs)
		// The resumption's own jobs run before the measured requests, on
		// either side: its tail is not theirs to pay.
		drainJobs(b, db)
		stopPerf := perfRecord(b, fmt.Sprintf("%s-%d", side, slice), procs)
		rate := round(fmt.Sprintf("%s-%d", side, slice), clients)(webs, procs)
		stopPerf()
		drainJobs(b, db)
		benchLog(b, "slice %d, %s: %d requests submitted, approved and committed: %.1f requests/s (the slice took %.1f s with its resumption)",
			slice, side, len(clients), rate, time.Since(began).Seconds())
		return rate
	}
	var single, rates, defaults []float64
	for run := range benchRuns {
		// The run's people sign in before it, and their sign-ins' audit
		// entries are linked into the chain before it too (by the
		// benchmark, not by the workers of whichever side comes first):
		// every slice of the run then uses sessions a few minutes old at
		// most, which no request extends (a write) in any slice.
		resumers, clients := signInAll(b, db, warm[:sliceResume]), signInAll(b, db, people)
		require.NoError(b, db.ChainAudit(context.Background()))
		bySide := map[string][]float64{}
		for _, side := range sliceOrder {
			bySide[side] = append(bySide[side], measure(side, resumers, clients))
		}
		one, two, def := pooledRate(bySide["one"]), pooledRate(bySide["two"]), pooledRate(bySide["two_go_default"])
		single, rates, defaults = append(single, one), append(rates, two), append(defaults, def)
		benchLog(b, "run %d: one process %.1f requests/s %.1f (slices differ by %.1f %%), 2+2 %.1f %.1f (%.1f %%; slices differ by %.1f %%), 2+2 with Go's default (one slice) %.1f %.1f (%.1f %%)",
			run+1, one, bySide["one"], spread(bySide["one"]), two, bySide["two"], 100*two/one, spread(bySide["two"]), def, bySide["two_go_default"], 100*def/one)
	}
	b.StopTimer()
	benchLog(b, "%d slices in %.1f s, with the sides' start and warm-up", slice, time.Since(began).Seconds())
	ratio := func(of, to []float64) []float64 {
		r := make([]float64, len(of))
		for i := range of {
			r[i] = 100 * of[i] / to[i]
		}
		return r
	}
	singleRate := median(single)
	// The issue names the share of the single-process figure, which
	// request_pipeline_throughput was when it was written: that share is
	// printed as a figure too, beside the like-for-like one over HTTP.
	if singleProcessRate > 0 {
		ofBulk := make([]float64, len(rates))
		for i, r := range rates {
			ofBulk[i] = 100 * r / singleProcessRate
		}
		figure("request_pipeline_two_web_two_worker_share_of_bulk", ofBulk,
			fmt.Sprintf("%% of request_pipeline_throughput %.1f (in-process calls, no HTTP)", singleProcessRate),
			"none: beside request_pipeline_two_web_two_worker_share, which compares like with like")
	}
	figure("request_pipeline_one_process_http", single, "requests/s", "none: the reference of the 2+2 share")
	figure("request_pipeline_two_web_two_worker", rates, "requests/s",
		// Its target is request_pipeline_two_web_two_worker_share's, which
		// holds each inner run to 0.9 × that inner run's single process:
		// a bound of the medians here would hold an inner run whose both
		// sides ran slower to another run's single process.
		fmt.Sprintf("none: the share below holds each run to 0.9 × its request_pipeline_one_process_http (0.9 × this run's median %.1f: %.1f)", singleRate, 0.9*singleRate))
	figure("request_pipeline_two_web_two_worker_share", ratio(rates, single), "% of request_pipeline_one_process_http of the same run", ">= 90")
	figure("request_pipeline_two_web_two_worker_share_go_default", ratio(defaults, single), "% of request_pipeline_one_process_http of the same run",
		"none: beside request_pipeline_two_web_two_worker_share, with GOMAXPROCS left to Go in each of the four")
}

// perfRecord records each of procs's CPU with call stacks (perf record)
// into TESSERA_BENCH_PERF/<name>-<role><i>.data when that folder is set and
// perf is installed, until the returned func is called: where a process of
// several spends its time, read with perf report.
func perfRecord(b *testing.B, name string, procs []*harness.Tessera) func() {
	dir := os.Getenv("TESSERA_BENCH_PERF")
	if dir == "" {
		return func() {}
	}
	if _, err := exec.LookPath("perf"); err != nil {
		benchLog(b, "TESSERA_BENCH_PERF: no perf here: %v", err)
		return func() {}
	}
	var perfs []*exec.Cmd
	for i, p := range procs {
		c := exec.Command("perf", "record", "-F", "999", "-g", "-q", "-o", filepath.Join(dir, fmt.Sprintf("%s-%s%d.data", name, p.Role, i+1)),
			"-p", fmt.Sprint(p.Cmd.Process.Pid))
		require.NoError(b, c.Start())
		perfs = append(perfs, c)
	}
	time.Sleep(300 * time.Millisecond) // perf attaches
	return func() {
		for _, c := range perfs {
			c.Process.Signal(os.Interrupt) //nolint:errcheck
			c.Wait()                       //nolint:errcheck
		}
	}
}

// sliceWarmUp, sliceResume and pipelineSlice are how many requests
// BenchmarkRequestPipelineTwoWebTwoWorker sends to warm each side's new
// processes (their connections, their backends' caches, their Go heaps),
// then at the start of each slice, after its side's pause, both not
// measured, and then measured in each slice.
//
// The warm-up is as long as the 2+2's web processes need to reach the
// heap they keep: a new process's heap grows to its size (some 24 MB
// touched here) over its first few hundred requests, each new page a
// page fault, which this machine (a paravirtualised VM) pays dearly for.
// The single process got there within 400 requests; each web process of
// the 2+2, which sees half of them, only after some 700 of its own. With
// 100 (and 400) the webs still faulted 2-3.6 times a request each in the
// measured part, the single process 0.4, and perf put 0.08 ms of a
// request in the webs' faults alone; after 1,500 every process faults
// 0.1 times a request or less. The figure is what several processes cost
// running, not what starting them costs, which a deployment pays once.
// A pause keeps the heap: after it a process only catches up on what it
// missed. Both sides are warmed alike; the page faults and context
// switches of each process are logged with its CPU.
const sliceWarmUp, sliceResume, pipelineSlice = 1500, 100, 1000

// sides are the sides of BenchmarkRequestPipelineTwoWebTwoWorker, and
// sliceOrder the order of a run's slices: a palindrome, one process and
// 2+2 alternating, six slices of each, and the go_default side, which is
// no target's, on one slice in the middle (its figure is one slice a run,
// and as noisy as that).
var (
	sides      = []string{"one", "two", "two_go_default"}
	sliceOrder = []string{"one", "two", "one", "two", "one", "two", "two_go_default",
		"two", "one", "two", "one", "two", "one"}
)

// pauseQuietly pauses procs where none of their connections to db is in a
// transaction or running a statement and no job is running: paused there,
// a process would hold its locks (the audit chain's tip, a job's row)
// through the next slice, or a job the leader queued (HRWatch every 2 s,
// SyncSchedule every 10 s) after drainJobs's last look would stay running
// in a paused worker, which still holds its liveness lock, so that no one
// rescues it and the next slice's drainJobs waits for it in vain. Only the
// benchmark's own connections, idle, are in db besides.
func pauseQuietly(b *testing.B, db *postgres.DB, procs []*harness.Tessera) {
	b.Helper()
	for try := 0; ; try++ {
		for _, p := range procs {
			p.Pause()
		}
		// What a process wrote just before it stopped reaches its backend.
		time.Sleep(5 * time.Millisecond)
		var busy int
		require.NoError(b, db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND state <> 'idle'`).Scan(&busy))
		var running int
		require.NoError(b, db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE state = 'running'`).Scan(&running))
		busy += running
		if busy == 0 {
			return
		}
		require.Less(b, try, 100, "%d connections still busy in a transaction or statement, or jobs running", busy)
		for _, p := range procs {
			p.Resume()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// spread is how much the fastest of rates is above the slowest, in %.
func spread(rates []float64) float64 {
	return 100 * (slices.Max(rates)/slices.Min(rates) - 1)
}

// pooledRate is the rate of slices of equal requests together: their
// requests over their time.
func pooledRate(rates []float64) float64 {
	var per float64
	for _, r := range rates {
		per += 1 / r
	}
	return float64(len(rates)) / per
}

// drainJobs waits until the jobs waiting or running have run (those the
// decisions of a slice queued, which the workers run after the slice's
// last membership is committed, and those due to be retried), so that
// they are not left to the next slice's processes.
func drainJobs(b *testing.B, db *postgres.DB) {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting int
		require.NoError(b, db.Pool.QueryRow(context.Background(),
			"SELECT count(*) FROM river_job WHERE state IN ('available', 'running', 'retryable', 'scheduled') AND scheduled_at <= now()").Scan(&waiting))
		if waiting == 0 {
			return
		}
		require.True(b, time.Now().Before(deadline), "%d jobs still waiting or running", waiting)
		time.Sleep(20 * time.Millisecond)
	}
}

// cpuPer says the CPU time each program used for a request of n, the
// largest first, with the time it waited for a CPU: where a request's
// time goes, whatever else the machine runs (the rate alone says little
// on a busy machine). This test binary's share is the benchmark's client,
// and, when the pipeline runs in it, the product.
func cpuPer(sum map[string]usage, n int) string {
	names := slices.Collect(maps.Keys(sum))
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(sum[b].cpu, sum[a].cpu) })
	var parts []string
	var total time.Duration
	for _, name := range names {
		total += sum[name].cpu
		if sum[name].cpu > 0 {
			parts = append(parts, fmt.Sprintf("%s %.2f ms (waited %.2f ms)", name,
				float64(sum[name].cpu.Microseconds())/1000/float64(n), float64(sum[name].wait.Microseconds())/1000/float64(n)))
		}
	}
	return fmt.Sprintf("%.2f ms (%s)", float64(total.Microseconds())/1000/float64(n), strings.Join(parts, ", "))
}

// dbWork is what the database did so far, in the benchmark's database:
// statements executed (pg_stat_statements, which the test cluster loads
// where PostgreSQL has it) and transactions that wrote (transaction IDs
// assigned, counted by the cluster's next one).
type dbWork struct {
	statements int64 // -1: pg_stat_statements is not loaded
	commits    int64 // COMMITs among the statements: explicit transactions
	writes     int64
	// With TESSERA_BENCH_STATEMENTS set, top is the statements that took
	// the most time since the last reading (with those run inside
	// functions and triggers), and the reading resets the counts (reset).
	// Each says the shared buffers a call touched: a plan that changed
	// between two runs shows there, however loaded the machine.
	top   []string
	reset bool
	// Maintenance that ran beside the statements, which makes the same
	// statements dearer (a first VACUUM of a fresh copy's tables, say):
	// autovacuum and autoanalyze runs by table (pg_stat_user_tables),
	// and the cluster's checkpoints (pg_stat_bgwriter before PostgreSQL
	// 17, pg_stat_checkpointer since; -1 where neither answers).
	autovacuums, autoanalyzes map[string]int64
	checkpoints               int64
}

// readDBWork reads the counters. The reading's own transaction ID is one
// of the writes it counts (one per run, lost in the thousands).
func readDBWork(b *testing.B, pool *pgxpool.Pool) dbWork {
	b.Helper()
	ctx := context.Background()
	w := dbWork{statements: -1}
	require.NoError(b, pool.QueryRow(ctx, "SELECT pg_current_xact_id()::text::bigint").Scan(&w.writes))
	w.checkpoints = -1
	for _, q := range []string{"SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter",
		"SELECT num_timed + num_requested FROM pg_stat_checkpointer"} {
		if pool.QueryRow(ctx, q).Scan(&w.checkpoints) == nil {
			break
		}
	}
	rows, err := pool.Query(ctx, "SELECT relname, autovacuum_count, autoanalyze_count FROM pg_stat_user_tables")
	require.NoError(b, err)
	w.autovacuums, w.autoanalyzes = map[string]int64{}, map[string]int64{}
	var table string
	var vacuums, analyzes int64
	_, err = pgx.ForEachRow(rows, []any{&table, &vacuums, &analyzes}, func() error {
		w.autovacuums[table], w.autoanalyzes[table] = vacuums, analyzes
		return nil
	})
	require.NoError(b, err)
	if _, err := pool.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		return w
	}
	// Statements Tessera sent (toplevel), not those run inside functions
	// and triggers, which the list below shows too.
	err = pool.QueryRow(ctx, `SELECT coalesce(sum(calls) FILTER (WHERE toplevel), 0)::bigint,
		coalesce(sum(calls) FILTER (WHERE toplevel AND query ILIKE 'commit%'), 0)::bigint
		FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`).
		Scan(&w.statements, &w.commits)
	if err != nil {
		w.statements = -1
		return w
	}
	if os.Getenv("TESSERA_BENCH_STATEMENTS") != "" {
		rows, err := pool.Query(ctx, `SELECT calls || ' × ' || round(total_exec_time::numeric, 1) || ' ms, ' || round((shared_blks_hit + shared_blks_read)::numeric / calls, 1) || ' buffers a call, ' ||
			CASE WHEN jit_functions > 0 THEN 'JIT ' || jit_functions || ' functions ' ||
				round((jit_generation_time + jit_inlining_time + jit_optimization_time + jit_emission_time)::numeric, 1) || ' ms, ' ELSE '' END ||
			toplevel || ' ' ||
			left(regexp_replace(query, '\s+', ' ', 'g'), 160)
			FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
			ORDER BY total_exec_time DESC LIMIT 40`)
		require.NoError(b, err)
		w.top, err = pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(b, err)
		_, err = pool.Exec(ctx, "SELECT pg_stat_statements_reset()")
		require.NoError(b, err)
		w.reset = true
	}
	return w
}

// since is the work between before and w, less the benchmark's own
// statements (its polling).
func (w dbWork) since(before dbWork, own int) dbWork {
	d := dbWork{statements: -1, writes: w.writes - before.writes, top: w.top, checkpoints: -1,
		autovacuums: countsSince(w.autovacuums, before.autovacuums), autoanalyzes: countsSince(w.autoanalyzes, before.autoanalyzes)}
	if w.checkpoints >= 0 && before.checkpoints >= 0 {
		d.checkpoints = w.checkpoints - before.checkpoints
	}
	if w.statements >= 0 && before.statements >= 0 {
		d.statements, d.commits = w.statements-int64(own), w.commits
		if !before.reset {
			d.statements -= before.statements
			d.commits -= before.commits
		}
	}
	return d
}

// per says the work per request of n.
func (w dbWork) per(n int) string {
	s := fmt.Sprintf("%.1f write transactions", float64(w.writes)/float64(n))
	if w.statements >= 0 {
		s += fmt.Sprintf(", %.1f COMMITs, %.1f statements", float64(w.commits)/float64(n), float64(w.statements)/float64(n))
	}
	s += fmt.Sprintf("; meanwhile autovacuum %s, autoanalyze %s", tableCounts(w.autovacuums), tableCounts(w.autoanalyzes))
	if w.checkpoints >= 0 {
		s += fmt.Sprintf(", %d checkpoints", w.checkpoints)
	}
	return s
}

// countsSince is the tables' counts in after less those in before, the
// tables whose count did not change left out.
func countsSince(after, before map[string]int64) map[string]int64 {
	d := map[string]int64{}
	for table, n := range after {
		if n > before[table] {
			d[table] = n - before[table]
		}
	}
	return d
}

// tableCounts says counts by table: "none", or the total and the tables,
// as "3 (audit ×2, people)".
func tableCounts(counts map[string]int64) string {
	if len(counts) == 0 {
		return "none"
	}
	var total int64
	var parts []string
	for _, table := range slices.Sorted(maps.Keys(counts)) {
		total += counts[table]
		if counts[table] > 1 {
			parts = append(parts, fmt.Sprintf("%s ×%d", table, counts[table]))
		} else {
			parts = append(parts, table)
		}
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

// logTop logs the statements that took the most time, when they were read.
func (w dbWork) logTop(b *testing.B) {
	for _, t := range w.top {
		benchLog(b, "  %s", t)
	}
}
