package hr_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/hr"
	"github.com/tessera-idm/tessera/workflow"
)

// A file dropped into a real watched folder is picked up by River's
// periodic look, applied once, and moved to the folder's "processed"
// subfolder, so that the next look does not receive it again; a file
// being written (not yet *.csv) is left alone, and one that cannot be read
// is moved to "refused" with nothing applied.
func TestHRWatchedFolder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := harness.Postgres(t)
	db := postgres.New(pool)
	engine := &syncsvc.Engine{Pool: pool, Systems: postgres.NewConnectedSystems(db, nil), Open: hr.Opener(pool), Requests: db, Dynamic: db}
	svc := &hr.Service{Pool: pool, Engine: engine}
	svc.Queue = workflow.HRApplyQueue(harness.StartWorkersWith(t, db, workflow.Deps{HR: svc, Sync: engine}))
	inbox := t.TempDir()
	id, err := svc.CreateSource(ctx, portal.TesseraViewer(), "Watched HR", hr.Settings{Folder: inbox, Columns: hr.DefaultColumns()})
	require.NoError(t, err)

	// Written under another name, then renamed into place, as the demo
	// and any careful sender do.
	writing := filepath.Join(inbox, ".people.csv.part")
	require.NoError(t, os.WriteFile(writing, []byte("EmployeeID,FirstName,LastName\nW1,Wim,Watched\nW2,Wen,Watched\n"), 0o600))
	require.NoError(t, os.Rename(writing, filepath.Join(inbox, "people.csv")))
	// A file still being written is not read.
	require.NoError(t, os.WriteFile(filepath.Join(inbox, "next.csv.part"), []byte("EmployeeID\n"), 0o600))

	var uploads []hr.Upload
	deadline := time.Now().Add(2 * time.Minute)
	for {
		uploads, err = svc.Uploads(ctx, id, 10)
		require.NoError(t, err)
		if len(uploads) == 1 && uploads[0].Status == hr.StatusApplied {
			break
		}
		require.True(t, time.Now().Before(deadline), "the dropped file was not applied: %+v", uploads)
		time.Sleep(50 * time.Millisecond)
	}
	require.Equal(t, "folder", uploads[0].Source)
	require.Equal(t, "people.csv", uploads[0].Filename)
	require.Equal(t, 2, uploads[0].Joiners)
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM people WHERE employee_id IN ('W1', 'W2') AND account_enabled").Scan(&n))
	require.Equal(t, 2, n)

	_, err = os.Stat(filepath.Join(inbox, "people.csv"))
	require.ErrorIs(t, err, os.ErrNotExist, "the file left the inbox")
	processed, err := filepath.Glob(filepath.Join(inbox, "processed", "*-people.csv"))
	require.NoError(t, err)
	require.Len(t, processed, 1, "kept in processed, under a name stamped with the time")
	_, err = os.Stat(filepath.Join(inbox, "next.csv.part"))
	require.NoError(t, err, "a file being written stays")

	// Another look receives nothing again.
	require.NoError(t, svc.WatchHRFolders(ctx))
	uploads, err = svc.Uploads(ctx, id, 10)
	require.NoError(t, err)
	require.Len(t, uploads, 1, "applied once")

	// A file that cannot be read (empty: no header line) is refused as a
	// whole and moved aside.
	require.NoError(t, os.WriteFile(filepath.Join(inbox, "broken.csv"), nil, 0o600))
	require.NoError(t, svc.WatchHRFolders(ctx))
	refused, err := filepath.Glob(filepath.Join(inbox, "refused", "*-broken.csv"))
	require.NoError(t, err)
	require.Len(t, refused, 1)
	uploads, err = svc.Uploads(ctx, id, 10)
	require.NoError(t, err)
	require.Len(t, uploads, 1, "nothing received from a file that cannot be read")
}
