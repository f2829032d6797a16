package ad_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc/ad"
)

// requestCounts reads tessera_ad_requests_total by kind.
func requestCounts(t *testing.T) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(ad.NewRequestCollector())
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		require.Equal(t, "tessera_ad_requests_total", mf.GetName())
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}

// TestRequestsCounted runs alone (not in parallel): the counters are the
// process's. An unlocking reset is one request to the DC on a connection
// already bound (a self-service reset's whole work there); a sign-in
// binds and searches.
func TestRequestsCounted(t *testing.T) {
	dc := harness.Samba(t)
	b := setup(t, dc)
	ctx := context.Background()
	sam, dn := b.addSignInUser(t, "rq", "Quiet-Harbour-Lamp-17")
	before := requestCounts(t)
	require.NoError(t, b.conn.ResetPassword(ctx, dn, "Velvet-Orchard-Tide-58", portal.ResetOptions{Unlock: true}))
	after := requestCounts(t)
	for kind, n := range after {
		want := 0.0
		if kind == "modify" {
			want = 1
		}
		require.Equal(t, want, n-before[kind], "%s requests of an unlocking reset", kind)
	}
	require.Len(t, after, 7)

	signIn, err := ad.NewDirectory(ad.DirectoryConfig{URL: dc.LDAPSURL, TLSConfig: dc.TLSConfig(), BaseDN: dc.BaseDN, Realm: dc.Realm})
	require.NoError(t, err)
	_, err = signIn.Authenticate(ctx, sam, "Velvet-Orchard-Tide-58")
	require.NoError(t, err)
	done := requestCounts(t)
	require.Equal(t, 1.0, done["bind"]-after["bind"])
	require.GreaterOrEqual(t, done["search"]-after["search"], 1.0)
}
