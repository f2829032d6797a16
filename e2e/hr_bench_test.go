package e2e_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/ad"
	"github.com/tessera-idm/tessera/syncsvc/hr"
	"github.com/tessera-idm/tessera/workflow"
)

// BenchmarkHRJoinerToAD measures, over 20 joiners each sent alone as a
// SCIM bulk request (as an HR system sends a new hire), the time from the
// request being received to the new account being readable in Samba AD by
// another LDAP client: River's worker applies it and exports the joiner at
// once, without waiting for a cycle.
func BenchmarkHRJoinerToAD(b *testing.B) {
	const joiners = 20
	ctx := context.Background()
	dc := harness.Samba(b)
	pool := harness.Postgres(b)
	db := postgres.New(pool)
	s := harness.NewADSystem(b, db, dc, fmt.Sprintf("hrbench%d", time.Now().UnixNano()%1e6))
	adOpen, hrOpen := ad.Opener(s.Systems), hr.Opener(pool)
	e := &syncsvc.Engine{Pool: pool, Systems: s.Systems, Requests: db, Dynamic: db, Logger: slog.New(slog.DiscardHandler),
		Open: func(ctx context.Context, sys portal.ConnectedSystem) (syncsvc.Connector, error) {
			if sys.Type == portal.SystemHR {
				return hrOpen(ctx, sys)
			}
			return adOpen(ctx, sys)
		}}
	syncRules(b, e, s, dc.BaseDN)
	run, err := e.Run(ctx, s.System.ID, syncsvc.FullImport, syncsvc.RunOptions{})
	require.NoError(b, err)
	require.Equal(b, "succeeded", run.Status, run.Message)
	svc := &hr.Service{Pool: pool, Engine: e, Logger: slog.New(slog.DiscardHandler)}
	svc.Queue = workflow.HRApplyQueue(harness.StartWorkersWith(b, db, workflow.Deps{HR: svc, Sync: e}))
	hrID, err := svc.CreateSource(ctx, s.Admin, "bench HR", hr.Settings{Columns: hr.DefaultColumns()})
	require.NoError(b, err)
	reader := dc.Dial(b)
	readable := func(account string) bool {
		res, err := reader.Search(ldap.NewSearchRequest(s.OU, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			"(sAMAccountName="+ldap.EscapeFilter(account)+")", []string{"cn"}, nil))
		return err == nil && len(res.Entries) == 1
	}
	var lat []time.Duration
	var p95s []float64
	b.ResetTimer()
	for n := range benchRuns {
		from := len(lat)
		for i := range joiners {
			id := fmt.Sprintf("J%d-%d", n, i)
			body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[{"method":"POST",
				"bulkId":"1","path":"/Users","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"externalId":%q,
				"active":true,"name":{"givenName":"Jo","familyName":"Iner%d x%d"}}}]}`, id, i, n)
			start := time.Now()
			_, err := svc.Receive(ctx, portal.Viewer{}, hr.Incoming{SystemID: hrID, Source: "scim", Content: []byte(body), Apply: true})
			require.NoError(b, err)
			account := fmt.Sprintf("jo.iner%dx%d", i, n)
			for !readable(account) {
				require.Less(b, time.Since(start), 30*time.Second, "joiner %s never appeared in AD", account)
				time.Sleep(5 * time.Millisecond)
			}
			lat = append(lat, time.Since(start))
		}
		p95s = append(p95s, percentile(lat[from:], 95).Seconds())
	}
	b.StopTimer()
	slices.Sort(lat)
	p50, p95 := percentile(lat, 50), percentile(lat, 95)
	b.Logf("HR joiner → account in AD over %d joiners: p50 %.0f ms, p95 %.0f ms", len(lat), ms(p50), ms(p95))
	figure("hr_joiner_to_ad_p95", p95s, "s", "<= 2")
}
