package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/entra"
	"github.com/tessera-idm/tessera/syncsvc/entra/graphsim"
)

// BenchmarkEntraBulkExport exports 5,000 new people to a simulated tenant
// through the engine (full sync, then an export run, as an administrator
// or a cycle starts it), with the tenant's write budget at ten times
// Graph's (3,000 writes per 15 s: 200 a second) and the system's write
// budget set to the same, window and all (the connector's governor keeps
// to Graph's window of 150 s unless told otherwise: with 30,000 writes per
// 150 s it would be free to send more than 3,000 in some 15 s). Meanwhile, every 250 ms, a person changes their
// own mobile number: the request is committed at once and carried by the
// sync_export job (River workers) to the tenant. It measures the share of
// the budget the bulk export used, the share of requests answered 429,
// and how long each person's change took from its commit to reaching the
// tenant.
func BenchmarkEntraBulkExport(b *testing.B) {
	const (
		users   = 5000
		waiters = 40
		budget  = 3000
		window  = 15 * time.Second
	)
	ctx := context.Background()
	var used, throttled, p95s []float64
	for range benchRuns {
		b.StopTimer()
		pool := harness.Pool(b, harness.DatabaseURL(b))
		db := postgres.New(pool)
		name := fmt.Sprintf("bulk%d", time.Now().UnixNano()%1e6)
		var mu sync.Mutex
		sent := map[string]time.Time{} // a person's Graph id → when their change was committed
		var waits []time.Duration
		var writes []time.Time // when each write reached the tenant
		s := newCloudEntra(b, db, name, graphsim.Config{WriteBudget: budget, WriteWindow: window,
			OnRequest: func(method, path string, h http.Header) {
				if method == http.MethodGet {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				writes = append(writes, time.Now())
				if method != http.MethodPatch || !strings.EqualFold(h.Get("x-ms-throttle-priority"), "high") {
					return
				}
				id := strings.TrimPrefix(path, "/users/")
				if at, ok := sent[id]; ok {
					waits = append(waits, time.Since(at))
					delete(sent, id)
				}
			}}, budget)
		// The system's budget, scaled like the tenant's.
		ledger := entra.NewLedger(pool)
		s.engine.Open = func(ctx context.Context, sys portal.ConnectedSystem) (syncsvc.Connector, error) {
			secret, err := s.systems.BindPassword(ctx, sys.ID)
			if err != nil {
				return nil, err
			}
			cfg := entra.ConfigOf(sys, secret)
			cfg.Client.WriteWindow = window
			cfg.Client.Ledger = ledger // as tessera's processes count their writes
			return entra.Open(ctx, cfg)
		}
		// The people whose changes are waited for have their accounts
		// already (outside the measured budget).
		_, err := pool.Exec(ctx, `INSERT INTO people (account_name, employee_id, given_name, surname, display_name)
			SELECT $1 || '-w' || n, 'W' || n, 'Wai', 'Ting ' || n, 'Wai Ting ' || n FROM generate_series(1, $2) n`, name, waiters)
		require.NoError(b, err)
		s.sim.SetWriteBudget(-1, window)
		s.run(b, syncsvc.FullImport, syncsvc.FullSync, syncsvc.Export, syncsvc.DeltaImport)
		s.sim.SetWriteBudget(budget, window)
		type waiter struct{ person, graphID string }
		rows, err := pool.Query(ctx, `SELECT person_id::text, anchor FROM cs_objects WHERE system_id = $1 AND person_id IS NOT NULL`, s.sys.ID)
		require.NoError(b, err)
		var people []waiter
		for rows.Next() {
			var w waiter
			require.NoError(b, rows.Scan(&w.person, &w.graphID))
			people = append(people, w)
		}
		require.NoError(b, rows.Err())
		require.Len(b, people, waiters)
		_, err = pool.Exec(ctx, `INSERT INTO people (account_name, employee_id, given_name, surname, display_name)
			SELECT $1 || n, 'B' || n, 'Bulk', 'Number ' || n, 'Bulk Number ' || n FROM generate_series(1, $2) n`, name, users)
		require.NoError(b, err)
		s.run(b, syncsvc.FullSync)
		harness.StartWorkers(b, db, nil, "http://tessera.test", s.engine)
		s.sim.ResetStats()
		mu.Lock()
		writes = nil
		mu.Unlock()

		done := make(chan struct{})
		var changes sync.WaitGroup
		changes.Add(1)
		go func() {
			defer changes.Done()
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				w := people[n%len(people)]
				mu.Lock()
				if _, busy := sent[w.graphID]; busy {
					mu.Unlock()
					continue // their last change is still on its way
				}
				sent[w.graphID] = time.Now()
				mu.Unlock()
				_, err := db.Submit(ctx, portal.Viewer{PersonID: w.person}, portal.NewRequest{Operation: portal.OpUpdatePerson,
					PersonID: w.person, Changes: map[string]string{"mobile": fmt.Sprintf("+44 7700 9%05d", n)}})
				if err != nil {
					b.Errorf("submit: %v", err)
					return
				}
			}
		}()
		b.StartTimer()
		start := time.Now()
		run := s.run(b, syncsvc.Export)
		elapsed := time.Since(start)
		b.StopTimer()
		close(done)
		changes.Wait()
		require.Equal(b, users, run.Counts.Adds, run.Message)

		st := s.sim.Stats()
		mu.Lock()
		slices.Sort(waits)
		require.NotEmpty(b, waits)
		p95 := percentile(waits, 95)
		share := windowShare(writes, window, budget)
		mu.Unlock()
		b.ReportMetric(elapsed.Seconds(), "s/bulk")
		used = append(used, share)
		throttled = append(throttled, float64(st.Throttled)/float64(st.Requests)*100)
		p95s = append(p95s, ms(p95))
		fmt.Printf("entra bulk through the engine: %d users in %s, %d writes, %d requests, %d batches, %d answered 429 (%d sent before an earlier Retry-After had passed), %d person changes\n",
			users, elapsed.Round(time.Millisecond), st.Writes, st.Requests, st.Batches, st.Throttled, st.EarlyRetries, len(waits))
	}
	figure("entra_budget_used", used, "%", ">= 95")
	figure("entra_429_share", throttled, "%", "<= 1")
	figure("entra_user_change_p95_during_bulk", p95s, "ms", "<= 1000")
}

// windowShare is the share of the write budget the writes used, as Graph
// counts it: the mean, over every window of the run that starts on a
// thirtieth of a window's step, of the writes in that window against the budget.
// (Writes over the run's length against the budget's rate would count a
// burst that Graph's sliding window allows, such as a catch-up after a
// pause, as more than the budget.)
func windowShare(writes []time.Time, window time.Duration, budget int) float64 {
	slices.SortFunc(writes, func(a, b time.Time) int { return a.Compare(b) })
	if len(writes) == 0 {
		return 0
	}
	first, last := writes[0], writes[len(writes)-1]
	if last.Sub(first) < window {
		rate := float64(budget) / window.Seconds()
		return float64(len(writes)) / (last.Sub(first).Seconds() * rate) * 100
	}
	var sum float64
	var n int
	for start := first; !start.Add(window).After(last); start = start.Add(window / 30) {
		lo, _ := slices.BinarySearchFunc(writes, start, func(a, b time.Time) int { return a.Compare(b) })
		hi, _ := slices.BinarySearchFunc(writes, start.Add(window), func(a, b time.Time) int { return a.Compare(b) })
		sum += float64(hi-lo) / float64(budget) * 100
		n++
	}
	return sum / float64(n)
}
