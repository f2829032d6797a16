package syncsvc_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
)

// Join requests to one group approved in two bulk decisions, both
// committed before either export runs: one sync_export job for each
// decision, and the first job's export of the group carries every member.
// Each request still says "Exported to <system>" on its own timeline, once,
// and completes only after the import that confirms the change; the
// second job then finds nothing left to do.
func TestBulkDecisionsExportEachRequest(t *testing.T) {
	t.Parallel()
	const n = 24
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	owner := f.person(t, "own"+f.prefix, "Olga Owner", "IT")
	var people []string
	for i := range n {
		people = append(people, f.person(t, fmt.Sprintf("j%d%s", i, f.prefix), fmt.Sprintf("Jo Iner %d", i), "IT"))
	}
	grp := f.group(t, "bulk"+f.prefix, owner)
	_, err := f.pool.Exec(ctx, "UPDATE groups SET join_policy = 'owner_approval' WHERE id = $1", grp)
	require.NoError(t, err)
	f.rules(t, nil)
	f.converge(t)

	// The web tier's way in: jobs inserted with the requests, no worker.
	jobs, err := river.NewClient(riverpgxv5.New(f.pool), &river.Config{})
	require.NoError(t, err)
	f.db.Jobs = jobs
	var requests []string
	for _, p := range people {
		r, err := f.db.Submit(ctx, portal.Viewer{PersonID: p}, portal.NewRequest{Operation: portal.OpAddMember, GroupID: grp,
			PersonID: p, Justification: "On call"})
		require.NoError(t, err)
		_, err = f.db.Authorize(ctx, r.ID)
		require.NoError(t, err)
		requests = append(requests, r.ID)
	}
	rows, err := f.pool.Query(ctx, "SELECT id::text FROM approvals WHERE status = 'pending' ORDER BY id")
	require.NoError(t, err)
	approvals, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Len(t, approvals, n)
	ownerV := portal.Viewer{PersonID: owner}
	for _, chunk := range [][]string{approvals[:2*n/3], approvals[2*n/3:]} {
		errs, err := f.db.DecideMany(ctx, ownerV, chunk, true, "")
		require.NoError(t, err)
		for _, err := range errs {
			require.NoError(t, err)
		}
	}
	// Each decision commits its requests in its own transaction.
	require.Empty(t, jobArgs(t, f, "commit"), "no commit job: the decision applied them")
	exports := jobArgs(t, f, "sync_export")
	require.Len(t, exports, 2, "one export job per decision, not one per request")
	require.ElementsMatch(t, requests, append(append([]string{}, exports[0]...), exports[1]...))

	// The confirming import cannot run yet (no watermark: the next full
	// import confirms), so what the export sent waits.
	_, err = f.pool.Exec(ctx, "UPDATE connected_systems SET watermark = NULL WHERE id = $1", f.sys.ID)
	require.NoError(t, err)
	require.NoError(t, f.engine.ExportRequests(ctx, exports[0]))
	members := f.entry(t, "bulk"+f.prefix, "member").GetAttributeValues("member")
	require.Len(t, members, n, "the first job's export of the group carried every member committed by then")
	require.Zero(t, count(t, f, "SELECT count(*) FROM requests WHERE id = ANY ($1::text[]::uuid[]) AND status <> 'committed'", requests),
		"no request is done before the system confirms its change")
	require.Zero(t, count(t, f, `SELECT count(*) FROM request_events WHERE request_id = ANY ($1::text[]::uuid[])
		AND kind IN ('exported', 'completed')`, requests), "nor says so")
	require.Equal(t, n, count(t, f, `SELECT count(DISTINCT request_id) FROM export_requests
		WHERE request_id = ANY ($1::text[]::uuid[]) AND sent_at IS NOT NULL`, requests),
		"every request, of either decision, waits for the confirmation of the export that carried it")

	f.run(t, syncsvc.FullImport)
	require.NoError(t, f.engine.ExportRequests(ctx, exports[1]))
	require.Equal(t, n, count(t, f, "SELECT count(*) FROM requests WHERE id = ANY ($1::text[]::uuid[]) AND status = 'completed'", requests))
	rows, err = f.pool.Query(ctx, `SELECT string_agg(kind || ':' || detail, ' ' ORDER BY id) FROM request_events
		WHERE request_id = ANY ($1::text[]::uuid[]) AND kind IN ('exported', 'completed') GROUP BY request_id`, requests)
	require.NoError(t, err)
	timelines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Len(t, timelines, n)
	for _, tl := range timelines {
		require.Equal(t, "exported:Exported to "+f.sys.Name+" completed:", tl, "each request's own timeline, once each, in order")
	}
	require.Zero(t, count(t, f, "SELECT count(*) FROM export_requests"))
}

// Two profile changes of one person, each applied at once with its own
// sync_export job, both committed before the first job runs: its export
// carries both, and each request says "Exported to <system>" on its own
// timeline when the import confirms it; the second job finds nothing left.
func TestTwoProfileChangesInOneExport(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	ann := f.annInAD(t, "givenName")
	jobs, err := river.NewClient(riverpgxv5.New(f.pool), &river.Config{})
	require.NoError(t, err)
	f.db.Jobs = jobs
	annV := portal.Viewer{PersonID: ann, DisplayName: "Ann Lee"}
	var requests []string
	for _, changes := range []map[string]string{{"phone": "+41 44 555 01 02"}, {"givenName": "Annabel"}} {
		r, err := f.db.Submit(ctx, annV, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: ann, Changes: changes})
		require.NoError(t, err)
		requests = append(requests, r.ID)
	}
	exports := jobArgs(t, f, "sync_export")
	require.Equal(t, [][]string{{requests[0]}, {requests[1]}}, exports, "one job per applied request")

	require.NoError(t, f.engine.ExportRequests(ctx, exports[0]))
	e := f.entry(t, "ann"+f.prefix, "givenName", "telephoneNumber")
	require.Equal(t, "Annabel", e.GetAttributeValue("givenName"), "the first job's export carried both changes")
	require.Equal(t, "+41 44 555 01 02", e.GetAttributeValue("telephoneNumber"))
	require.NoError(t, f.engine.ExportRequests(ctx, exports[1]))
	for _, id := range requests {
		var tl string
		require.NoError(t, f.pool.QueryRow(ctx, `SELECT string_agg(kind || ':' || detail, ' ' ORDER BY id) FROM request_events
			WHERE request_id = $1 AND kind IN ('exported', 'completed')`, id).Scan(&tl))
		require.Equal(t, "exported:Exported to "+f.sys.Name+" completed:", tl, "request %s's own timeline", id)
	}
	require.Zero(t, count(t, f, "SELECT count(*) FROM export_requests"))
}

// jobArgs returns the request IDs of each job of kind, in insertion order.
func jobArgs(t *testing.T, f *fixture, kind string) [][]string {
	t.Helper()
	rows, err := f.pool.Query(context.Background(), `SELECT ARRAY(SELECT jsonb_array_elements_text(args->'request_ids'))
		FROM river_job WHERE kind = $1 ORDER BY id`, kind)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[[]string])
	require.NoError(t, err)
	return out
}

// count runs one counting query.
func count(t *testing.T, f *fixture, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, f.pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}
