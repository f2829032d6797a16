package workflow_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/workflow"
)

// lockedBuffer is a log destination that several River clients share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// checkpointLines returns the audit checkpoint lines logged so far.
func (b *lockedBuffer) checkpointLines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var lines []string
	for _, l := range strings.Split(b.buf.String(), "\n") {
		if strings.Contains(l, `msg="`+portal.AuditCheckpointMessage+`"`) {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestAuditCheckpointJob runs two worker processes' River clients on one
// database: the leader writes one signed checkpoint of the audit log's tip
// when it starts (and then hourly), not one per worker, and the line it
// logs proves the tip to `tessera audit verify`.
func TestAuditCheckpointJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	secret := bytes.Repeat([]byte{7}, portal.SecretKeySize)
	key, err := portal.NewAuditKey(secret)
	require.NoError(t, err)
	url := harness.DatabaseURL(t)
	pool, err := postgres.Open(ctx, url, key)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	db := postgres.New(pool)
	for _, action := range []string{"sign_in", "sign_out"} {
		require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return postgres.Audit(ctx, tx, "", action, "person", "p1", nil)
		}))
	}

	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	for range 2 {
		workers := river.NewWorkers()
		workflow.AddWorkers(workers, workflow.Deps{Processor: db, Housekeeper: db, Audit: db, AuditKey: key, Logger: logger})
		cfg := workflow.RiverConfig(workers, slog.New(slog.DiscardHandler))
		cfg.TestOnly = true
		client, err := river.NewClient(riverpgxv5.New(pool), cfg)
		require.NoError(t, err)
		require.NoError(t, client.Start(ctx))
		t.Cleanup(func() {
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			client.Stop(stopCtx) //nolint:errcheck
		})
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var done int
		assert.NoError(c, pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'audit_checkpoint' AND state = 'completed'`).Scan(&done))
		assert.Equal(c, 1, done)
	}, time.Minute, 50*time.Millisecond)
	var inserted int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'audit_checkpoint'`).Scan(&inserted))
	require.Equal(t, 1, inserted, "only the leader runs periodic jobs")
	lines := logs.checkpointLines()
	require.Len(t, lines, 1)

	cp, err := portal.ParseAuditCheckpoint(lines[0])
	require.NoError(t, err)
	require.NoError(t, key.CheckSignature(cp))
	tip, tipHash, err := db.AuditTip(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, tip)
	require.Equal(t, tip, cp.EntryID)
	require.Equal(t, tipHash, cp.Hash)
	r, err := db.VerifyAudit(ctx, cp)
	require.NoError(t, err)
	require.True(t, r.Intact(), r.Problem)
	require.Equal(t, 1, r.Checkpoints)
}
