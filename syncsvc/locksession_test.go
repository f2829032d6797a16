package syncsvc_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/ad"
)

// heldImport is a connector whose first full import waits until its run
// is stopped, so that the test acts while the run holds its lock.
type heldImport struct {
	syncsvc.Connector
	first   *sync.Once
	started chan struct{}
}

func (c heldImport) FullImport(ctx context.Context, fn func(syncsvc.ImportedObject) error) error {
	held := false
	c.first.Do(func() { held = true })
	if !held {
		return c.Connector.FullImport(ctx, fn)
	}
	close(c.started)
	<-ctx.Done()
	return ctx.Err()
}

// The session that holds the engine's run locks is ended under it
// (pg_terminate_backend, as a restart or a broken network would): its
// locks are gone with it. The run that held one stops, failed with the
// reason, rather than go on unprotected; a second run of the system in
// the same process starts only after it ended; and the engine takes
// locks again on a new session (its own next run, another process's).
func TestRunStopsWhenItsLockSessionBreaks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	started := make(chan struct{})
	open := ad.Opener(f.systems)
	var first sync.Once
	engine := newEngine(f.pool, f.systems)
	engine.Open = func(ctx context.Context, sys portal.ConnectedSystem) (syncsvc.Connector, error) {
		c, err := open(ctx, sys)
		if err != nil {
			return nil, err
		}
		return heldImport{c, &first, started}, nil
	}
	type result struct {
		run *syncsvc.Run
		err error
	}
	held := make(chan result, 1)
	go func() {
		run, err := engine.Run(ctx, f.sys.ID, syncsvc.FullImport, syncsvc.RunOptions{})
		held <- result{run, err}
	}()
	select {
	case <-started:
	case r := <-held:
		t.Fatalf("the run ended before its import: %v %v", r.run, r.err)
	}

	var ended int
	require.NoError(t, f.pool.QueryRow(ctx, `WITH s AS MATERIALIZED (SELECT pid FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'tessera sync locks')
		SELECT count(*) FROM s WHERE pg_terminate_backend(pid)`).Scan(&ended))
	require.Equal(t, 1, ended, "the engine's lock session")
	// The same process runs the system again at once: it waits for the
	// first run to end.
	next := make(chan result, 1)
	go func() {
		// Run waits a few seconds for the lock, then says ErrBusy; on a
		// loaded machine the first run may take longer to stop. Asking
		// again keeps the test about order, not time.
		for {
			run, err := engine.Run(ctx, f.sys.ID, syncsvc.FullImport, syncsvc.RunOptions{})
			if errors.Is(err, syncsvc.ErrBusy) && ctx.Err() == nil {
				continue
			}
			next <- result{run, err}
			return
		}
	}()

	var r result
	select {
	case r = <-held:
	case <-time.After(time.Minute):
		t.Fatal("the run went on without its lock")
	}
	require.NoError(t, r.err)
	require.Equal(t, "failed", r.run.Status)
	require.Equal(t, portal.Reason(syncsvc.ErrLockLost).String(), r.run.Message)
	stopped := r.run

	r = <-next
	require.NoError(t, r.err, "the engine takes its locks again on a new session")
	require.Equal(t, "succeeded", r.run.Status, r.run.Message)
	require.False(t, r.run.StartedAt.Before(*stopped.FinishedAt), "the second run started only after the first ended")

	// Another process takes the lock now that this engine let it go.
	run, err := newEngine(f.pool, f.systems).Run(ctx, f.sys.ID, syncsvc.FullImport, syncsvc.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, "succeeded", run.Status, run.Message)
}

// An import that a source pushes (ImportFrom, as HR's and SCIM's go
// through ImportStaged) runs under the system's run lock too: when the
// lock's session breaks, the import stops, failed with the reason, rather
// than write on unprotected.
func TestImportStopsWhenItsLockSessionBreaks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	c, err := ad.Opener(f.systems)(ctx, *f.sys)
	require.NoError(t, err)
	defer c.Close()
	started := make(chan struct{})
	type result struct {
		run *syncsvc.Run
		err error
	}
	held := make(chan result, 1)
	go func() {
		// No watermark yet: a full import, which heldImport holds.
		run, _, err := f.engine.ImportFrom(ctx, f.sys.ID, heldImport{c, &sync.Once{}, started}, "test")
		held <- result{run, err}
	}()
	select {
	case <-started:
	case r := <-held:
		t.Fatalf("the import ended before it read: %v %v", r.run, r.err)
	}
	var ended int
	require.NoError(t, f.pool.QueryRow(ctx, `WITH s AS MATERIALIZED (SELECT pid FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'tessera sync locks')
		SELECT count(*) FROM s WHERE pg_terminate_backend(pid)`).Scan(&ended))
	require.Equal(t, 1, ended, "the engine's lock session")

	var r result
	select {
	case r = <-held:
	case <-time.After(time.Minute):
		t.Fatal("the import went on without its lock")
	}
	require.Error(t, r.err)
	require.NotNil(t, r.run)
	require.Equal(t, "failed", r.run.Status)
	require.Equal(t, portal.Reason(syncsvc.ErrLockLost).String(), r.run.Message)
}
