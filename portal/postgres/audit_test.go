package postgres_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal/postgres"
)

const auditActor = "6f1c1f0e-8d4e-4a57-9a43-0b0c8f0e2a11"

// mustAudit appends one audit entry in its own transaction, or rolls it
// back (which leaves a gap in the ids, as a failed request does).
func mustAudit(t *testing.T, db *postgres.DB, action string, commit bool) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	require.NoError(t, postgres.Audit(ctx, tx, auditActor, action, "person", auditActor, map[string]any{"method": "local"}))
	if commit {
		require.NoError(t, tx.Commit(ctx))
	}
}

// auditFixture returns a store whose log holds entries 1, 2, 4, 5 and 6:
// entry 3 was rolled back, a gap that is not tampering.
func auditFixture(t *testing.T) *postgres.DB {
	t.Helper()
	db := postgres.New(harness.Postgres(t))
	mustAudit(t, db, "sign_in", true)
	mustAudit(t, db, "sign_out", true)
	mustAudit(t, db, "sign_in", false)
	mustAudit(t, db, "sign_in", true)
	mustAudit(t, db, "sign_out", true)
	mustAudit(t, db, "sign_in", true)
	require.NoError(t, db.ChainAudit(context.Background()))
	return db
}

// tamper runs sql as someone with the rights to switch the append-only
// triggers off: the table owner or a superuser.
func tamper(t *testing.T, db *postgres.DB, sql string) {
	t.Helper()
	_, err := db.Pool.Exec(context.Background(), `
		ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;
		ALTER TABLE audit_tip DISABLE TRIGGER USER;
		`+sql+`;
		ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only;
		ALTER TABLE audit_tip ENABLE TRIGGER USER`)
	require.NoError(t, err)
}

func TestVerifyAuditIntact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := postgres.New(harness.Postgres(t))

	r, err := db.VerifyAudit(ctx)
	require.NoError(t, err)
	require.True(t, r.Intact(), r.Problem)
	require.Zero(t, r.Entries)

	db = auditFixture(t)
	r, err = db.VerifyAudit(ctx)
	require.NoError(t, err)
	require.True(t, r.Intact(), r.Problem)
	require.Equal(t, "audit log intact: 5 entries (none keyed: written without TESSERA_SECRET_KEY, with plain SHA-256)", r.String())
	require.EqualValues(t, 6, r.LastID, "the rolled-back entry 3 is a gap, not a deletion")
	require.Zero(t, r.BrokenID)

	var tipID int64
	var tipHash []byte
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT id, hash FROM audit_tip").Scan(&tipID, &tipHash))
	require.Equal(t, r.LastID, tipID)
	require.Equal(t, tipHash, r.LastHash)
}

// The hash is sha256(prev_hash || fields joined by U+001F), the fields being
// the time in Unix milliseconds, actor, action, target type, target id and
// the details as jsonb prints them. Computing it here in Go pins that format,
// which entries written before migration 0004 rely on.
func TestAuditHashFormat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := auditFixture(t)
	rows, err := db.Pool.Query(ctx, "SELECT at, prev_hash, hash FROM audit_log ORDER BY id")
	require.NoError(t, err)
	var prev []byte
	n := 0
	for rows.Next() {
		var at time.Time
		var e struct{ Prev, Hash []byte }
		require.NoError(t, rows.Scan(&at, &e.Prev, &e.Hash))
		require.Equal(t, prev, e.Prev)
		action := "sign_in"
		if n == 1 || n == 3 {
			action = "sign_out"
		}
		fields := fmt.Sprintf("%d\x1f%s\x1f%s\x1fperson\x1f%s\x1f{\"method\": \"local\"}", at.UnixMilli(), auditActor, action, auditActor)
		want := sha256.Sum256(append(append([]byte(nil), prev...), fields...))
		require.Equal(t, want[:], e.Hash, "entry %d", n)
		prev = e.Hash
		n++
	}
	require.NoError(t, rows.Err())
	require.Equal(t, 5, n)
}

func TestAuditAppendOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := auditFixture(t)
	for _, sql := range []string{
		"UPDATE audit_log SET action = 'nothing' WHERE id = 1",
		"DELETE FROM audit_log WHERE id = 6",
		"TRUNCATE audit_log",
		"DELETE FROM audit_tip",
		"UPDATE audit_tip SET id = 1",
	} {
		_, err := db.Pool.Exec(ctx, sql)
		require.ErrorContains(t, err, "is append-only", sql)
	}
	r, err := db.VerifyAudit(ctx)
	require.NoError(t, err)
	require.True(t, r.Intact(), r.Problem)
	require.EqualValues(t, 5, r.Entries)
}

// TestVerifyAuditDetectsTampering plays an attacker with database rights
// who switches the triggers off, and checks that verification names the
// first entry where the chain breaks.
func TestVerifyAuditDetectsTampering(t *testing.T) {
	t.Parallel()
	// Entries are 1, 2, 4, 5, 6 (3 was rolled back).
	// SET expressions see the old row, so the new action is spelt out twice.
	recomputed := "action = 'grant_admin', hash = audit_entry_hash(prev_hash, at, actor_id, 'grant_admin', target_type, target_id, details)"
	for _, tc := range []struct {
		name    string
		sql     string
		then    func(*testing.T, *postgres.DB)
		broken  int64
		problem string
	}{
		{name: "details edited", sql: `UPDATE audit_log SET details = '{"method": "oidc"}' WHERE id = 4`,
			broken: 4, problem: "entry 4 was changed"},
		{name: "action edited", sql: `UPDATE audit_log SET action = 'grant_admin' WHERE id = 2`,
			broken: 2, problem: "entry 2 was changed"},
		{name: "actor edited", sql: `UPDATE audit_log SET actor_id = gen_random_uuid() WHERE id = 5`,
			broken: 5, problem: "entry 5 was changed"},
		{name: "actor removed", sql: `UPDATE audit_log SET actor_id = NULL WHERE id = 1`,
			broken: 1, problem: "entry 1 was changed"},
		{name: "time edited", sql: `UPDATE audit_log SET at = at - interval '1 day' WHERE id = 6`,
			broken: 6, problem: "entry 6 was changed"},
		{name: "edited with its hash recomputed", sql: `UPDATE audit_log SET ` + recomputed + ` WHERE id = 4`,
			broken: 5, problem: "entry 5 does not follow entry 4: one of them was forged or changed"},
		{name: "last edited with its hash recomputed", sql: `UPDATE audit_log SET ` + recomputed + ` WHERE id = 6`,
			broken: 6, problem: "entry 6 was changed"},
		{name: "middle entry deleted", sql: `DELETE FROM audit_log WHERE id = 5`,
			broken: 6, problem: "entry 5 is missing before 6"},
		{name: "entry next to a gap deleted", sql: `DELETE FROM audit_log WHERE id = 2`,
			broken: 4, problem: "entries between 1 and 4 are missing"},
		{name: "first entry deleted", sql: `DELETE FROM audit_log WHERE id = 1`,
			broken: 2, problem: "the entries before 2 were deleted"},
		{name: "last entry deleted", sql: `DELETE FROM audit_log WHERE id = 6`,
			problem: "the last entries after 5 were deleted (the newest was 6)"},
		{name: "last two entries deleted", sql: `DELETE FROM audit_log WHERE id >= 5`,
			problem: "the last entries after 4 were deleted (the newest was 6)"},
		{name: "every entry deleted", sql: `DELETE FROM audit_log`,
			problem: "all entries were deleted (the newest was 6)"},
		{name: "last entry deleted, then more appended", sql: `DELETE FROM audit_log WHERE id = 6`,
			then: func(t *testing.T, db *postgres.DB) {
				mustAudit(t, db, "sign_in", true)
				mustAudit(t, db, "sign_out", true)
			},
			broken: 7, problem: "entry 6 is missing before 7"},
		{name: "forged entry appended", sql: `INSERT INTO audit_log (at, action, prev_hash, hash)
			SELECT date_trunc('milliseconds', now()), 'grant_admin', hash, audit_entry_hash(hash, date_trunc('milliseconds', now()), NULL, 'grant_admin', '', '', '{}')
			FROM audit_log WHERE id = 6`,
			broken: 7, problem: "entry 7 was forged: the log should end at entry 6"},
		{name: "forged entry slipped into a gap", sql: `INSERT INTO audit_log (id, at, action, prev_hash, hash) OVERRIDING SYSTEM VALUE
			SELECT 3, at, 'grant_admin', hash, audit_entry_hash(hash, at, NULL, 'grant_admin', '', '', '{}')
			FROM audit_log WHERE id = 2`,
			broken: 4, problem: "entry 4 does not follow entry 3: one of them was forged or changed"},
		{name: "tip deleted", sql: `DELETE FROM audit_tip`,
			problem: "the audit tip (the record of the newest entry) was deleted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := auditFixture(t)
			tamper(t, db, tc.sql)
			if tc.then != nil {
				tc.then(t, db)
			}
			r, err := db.VerifyAudit(context.Background())
			require.NoError(t, err)
			require.False(t, r.Intact())
			require.Equal(t, tc.problem, r.Problem)
			require.Equal(t, tc.broken, r.BrokenID)
		})
	}
}

func TestVerifyAuditConcurrentAppends(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := postgres.New(harness.Postgres(t))
	// The sequencer links entries while they are appended, as a worker's
	// does: none is linked before an entry with a lower id that commits
	// after it.
	chainCtx, stopChain := context.WithCancel(ctx)
	chained := make(chan struct{})
	go func() { defer close(chained); db.RunAuditChain(chainCtx, slog.New(slog.DiscardHandler)) }()
	errRollback := errors.New("roll back")
	errs := make(chan error, 6)
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
					if err := postgres.Audit(ctx, tx, "", "sign_in", "worker", fmt.Sprint(w), map[string]any{"i": i}); err != nil {
						return err
					}
					if i%4 == 0 {
						return errRollback
					}
					return nil
				})
				if err != nil && !errors.Is(err, errRollback) {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	stopChain()
	<-chained
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	r, err := db.VerifyAudit(ctx)
	require.NoError(t, err)
	require.True(t, r.Intact(), r.Problem)
	require.EqualValues(t, 6*7, r.Entries, "i = 0, 4 and 8 rolled back")
}

// TestAuditChainWaitsForWriters: an entry whose transaction still runs
// holds back the entries after it, which are linked, in id order, only
// once it has ended.
func TestAuditChainWaitsForWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := postgres.New(harness.Postgres(t))
	slow, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer slow.Rollback(ctx) //nolint:errcheck
	require.NoError(t, postgres.Audit(ctx, slow, auditActor, "sign_in", "person", auditActor, nil))
	mustAudit(t, db, "sign_out", true)

	db.AuditChainWait = 100 * time.Millisecond // not for ever: slow does not end by itself
	require.NoError(t, db.ChainAudit(ctx))
	var tip int64
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT id FROM audit_tip").Scan(&tip))
	require.Zero(t, tip, "entry 2 waits for entry 1's transaction")
	r, err := db.VerifyAudit(ctx)
	require.NoError(t, err)
	require.True(t, r.Intact(), r.Problem)
	require.Equal(t, "audit log intact: 0 entries; 1 newer entry waits to be chained, intact", r.String())

	require.NoError(t, slow.Commit(ctx))
	r, err = db.VerifyAudit(ctx)
	require.NoError(t, err)
	require.True(t, r.Intact(), r.Problem)
	require.EqualValues(t, 2, r.Entries)
	require.EqualValues(t, 2, r.LastID)
}

// TestAuditWaitingEntryTampered: an entry changed, or forged, before the
// sequencer linked it is never linked, and verification names it.
func TestAuditWaitingEntryTampered(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, sql string }{
		{"edited", `UPDATE audit_log SET action = 'grant_admin' WHERE id = 2`},
		{"forged", `INSERT INTO audit_log (at, action, entry_mac) VALUES (now(), 'grant_admin', sha256('x'))`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := postgres.New(harness.Postgres(t))
			mustAudit(t, db, "sign_in", true)
			if tc.name == "edited" {
				mustAudit(t, db, "sign_in", true)
			}
			tamper(t, db, tc.sql)
			r, err := db.VerifyAudit(ctx)
			require.NoError(t, err)
			require.Equal(t, "entry 2 was changed", r.Problem)
			require.EqualValues(t, 2, r.BrokenID)
			var tip int64
			require.NoError(t, db.Pool.QueryRow(ctx, "SELECT id FROM audit_tip").Scan(&tip))
			require.EqualValues(t, 1, tip, "the sequencer linked entry 1, and not entry 2")
		})
	}
}

// TestAuditChainIdleWritesNothing: with every entry linked, a sequencer's
// rounds neither lock the tip (a write transaction each, five a second in
// every worker, when they did) nor read the lock table; an entry appended
// then is linked by the next round all the same.
func TestAuditChainIdleWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := postgres.New(harness.Postgres(t))
	mustAudit(t, db, "sign_in", true)
	chainCtx, stopChain := context.WithCancel(ctx)
	chained := make(chan struct{})
	go func() { defer close(chained); db.RunAuditChain(chainCtx, slog.New(slog.DiscardHandler)) }()
	defer func() { stopChain(); <-chained }()
	tip := func() (id int64, locker string) {
		// xmax is the transaction that last locked (or updated) the row.
		require.NoError(t, db.Pool.QueryRow(ctx, "SELECT id, xmax::text FROM audit_tip").Scan(&id, &locker))
		return id, locker
	}
	require.Eventually(t, func() bool { id, _ := tip(); return id == 1 }, 10*time.Second, 10*time.Millisecond)
	_, locker := tip()
	time.Sleep(5 * postgres.AuditChainInterval)
	id, idleLocker := tip()
	require.EqualValues(t, 1, id)
	require.Equal(t, locker, idleLocker, "no round locked the tip while nothing was new")

	// The writers' query does not scan the lock table when no id was taken
	// past the tip.
	rows, err := db.Pool.Query(ctx, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "+postgres.AuditWritersSQL)
	require.NoError(t, err)
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Contains(t, strings.Join(plan, "\n"), "Function Scan on pg_lock_status l (never executed)", strings.Join(plan, "\n"))

	mustAudit(t, db, "sign_out", true)
	require.Eventually(t, func() bool { id, _ := tip(); return id == 2 }, 10*time.Second, 10*time.Millisecond)
	r, err := db.VerifyAudit(ctx)
	require.NoError(t, err)
	require.True(t, r.Intact(), r.Problem)
	require.EqualValues(t, 2, r.Entries)
}
