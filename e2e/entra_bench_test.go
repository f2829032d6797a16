package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/entra"
	"github.com/tessera-idm/tessera/syncsvc/entra/graphsim"
)

// BenchmarkEntraBulkExport exports 5,000 new users to the Graph simulator
// with its write budget at ten times Graph's (3,000 writes per 15 s: 200 a
// second) and the connector's governor set to the same budget, while a
// person's change (a PATCH marked as a person waiting) is sent every 100 ms.
// It measures the connector and its client: the share of the budget the
// bulk used, the share of requests answered 429, and how long each
// person's change took to reach the simulator.
func BenchmarkEntraBulkExport(b *testing.B) {
	const (
		users  = 5000
		budget = 3000
		window = 15 * time.Second
	)
	for range b.N {
		var mu sync.Mutex
		sent := map[string]time.Time{} // the person's change → when it was sent
		var waits []time.Duration
		sim := graphsim.New(graphsim.Config{TenantID: e2eTenant, ClientID: e2eClient, ClientSecret: "bench", InitialDomain: "bench.onmicrosoft.com",
			WriteBudget: budget, WriteWindow: window,
			OnRequest: func(method, path string, h http.Header) {
				if method != http.MethodPatch || !strings.EqualFold(h.Get("x-ms-throttle-priority"), "high") {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if at, ok := sent[path]; ok {
					waits = append(waits, time.Since(at))
					delete(sent, path)
				}
			}})
		srv := httptest.NewServer(sim.Handler())
		cfg := entra.Config{Client: entra.ClientConfig{Authority: srv.URL, GraphURL: srv.URL + "/v1.0", TenantID: e2eTenant,
			ClientID: e2eClient, ClientSecret: "bench", WriteBudget: budget, WriteWindow: window}}
		ctx := context.Background()
		bulk, err := entra.Open(ctx, cfg)
		require.NoError(b, err)
		person, err := entra.Open(ctx, cfg)
		require.NoError(b, err)
		// The person whose changes are waited for exists already (outside
		// the measured budget).
		sim.SetWriteBudget(-1, window)
		res := person.Export(ctx, []syncsvc.ExportChange{{Op: syncsvc.ExportAdd, DN: entra.UserDN("waiting@bench.onmicrosoft.com"),
			Password: "Waiting-Person-1"}})
		require.NoError(b, res[0].Err)
		id := res[0].Anchor
		sim.SetWriteBudget(budget, window)
		sim.ResetStats()

		done := make(chan struct{})
		var changes sync.WaitGroup
		changes.Add(1)
		go func() {
			defer changes.Done()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				mu.Lock()
				sent["/users/"+id] = time.Now()
				mu.Unlock()
				err := person.Client().Do(syncsvc.PersonWaiting(ctx), http.MethodPatch, "/users/"+id, map[string]any{"jobTitle": fmt.Sprint("Title ", n)}, nil)
				require.NoError(b, err)
			}
		}()
		start := time.Now()
		for chunk := 0; chunk < users; chunk += 100 {
			var adds []syncsvc.ExportChange
			for i := chunk; i < chunk+100; i++ {
				adds = append(adds, syncsvc.ExportChange{Op: syncsvc.ExportAdd, DN: entra.UserDN(fmt.Sprintf("bulk%05d@bench.onmicrosoft.com", i)),
					Password: "Bulk-Export-123", Enabled: true})
			}
			for _, r := range bulk.Export(ctx, adds) {
				require.NoError(b, r.Err)
			}
		}
		elapsed := time.Since(start)
		close(done)
		changes.Wait()
		srv.Close()

		st := sim.Stats()
		rate := float64(budget) / window.Seconds()
		used := float64(st.Writes) / (st.LastWrite.Sub(st.FirstWrite).Seconds() * rate) * 100
		slices.Sort(waits)
		require.NotEmpty(b, waits)
		p95 := waits[len(waits)*95/100]
		b.ReportMetric(elapsed.Seconds(), "s/bulk")
		figure("entra_budget_used", used, "%", ">= 95")
		figure("entra_429_share", float64(st.Throttled)/float64(st.Requests)*100, "%", "<= 1")
		figure("entra_user_change_p95_during_bulk", float64(p95)/float64(time.Millisecond), "ms", "<= 1000")
		fmt.Printf("entra bulk: %d users in %s, %d writes, %d requests, %d batches, %d answered 429, %d person changes\n",
			users, elapsed.Round(time.Millisecond), st.Writes, st.Requests, st.Batches, st.Throttled, len(waits))
	}
}
