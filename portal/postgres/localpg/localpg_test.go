package localpg

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// TestStartInClosedFolder: a cluster whose folder the server's user cannot
// reach (as root: a clone in root's 0700 home folder) starts, keeps its
// data between starts, and is removed whole by Destroy.
func TestStartInClosedFolder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	closed := filepath.Join(t.TempDir(), "closed")
	require.NoError(t, os.Mkdir(closed, 0o700))
	require.NoError(t, os.Chmod(closed, 0o700))
	dir := filepath.Join(closed, "var", "postgres")

	c, err := Start(ctx, Options{Dir: dir, Throwaway: true})
	require.NoError(t, err)
	exec := func(sql string) {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		require.NoError(t, err)
	}
	exec("CREATE TABLE kept (n int)")
	root := os.Geteuid() == 0
	require.Equal(t, root, c.Relocated, "relocated only when the server runs as another user")
	if root {
		require.True(t, strings.HasPrefix(c.DataDir, RelocatedBase+"/"), c.DataDir)
		link, err := os.Readlink(filepath.Join(dir, "data"))
		require.NoError(t, err)
		require.Equal(t, c.DataDir, link)
	}
	first := c.DataDir
	c.Stop()

	c, err = Start(ctx, Options{Dir: dir, Throwaway: true})
	require.NoError(t, err)
	require.Equal(t, first, c.DataDir)
	exec("INSERT INTO kept VALUES (1)") // the table is still there
	require.NoError(t, c.Destroy())
	_, err = os.Stat(filepath.Dir(first))
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Stat(dir)
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestStartInPrivateTempDir: a fresh temporary directory (0700, as the test
// harness makes) in a folder everyone may enter is given to the server's
// user and used in place.
func TestStartInPrivateTempDir(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "localpg-test-")
	require.NoError(t, err)
	c, err := Start(context.Background(), Options{Dir: dir, Throwaway: true})
	require.NoError(t, err)
	defer c.Destroy()
	require.False(t, c.Relocated)
	require.Equal(t, filepath.Join(dir, "data"), c.DataDir)
}

// TestStartAfterStartingOver: deleting the folder starts over, and (as
// root) the next start removes the data the deleted link pointed to.
func TestStartAfterStartingOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	closed := filepath.Join(t.TempDir(), "closed")
	require.NoError(t, os.Mkdir(closed, 0o700))
	dir := filepath.Join(closed, "var", "postgres")
	c, err := Start(ctx, Options{Dir: dir, Throwaway: true})
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE TABLE old (n int)")
	require.NoError(t, err)
	conn.Close(ctx)
	old := filepath.Dir(c.DataDir)
	c.Stop()
	require.NoError(t, os.RemoveAll(filepath.Join(closed, "var")))

	c, err = Start(ctx, Options{Dir: dir, Throwaway: true})
	require.NoError(t, err)
	defer c.Destroy()
	conn, err = pgx.Connect(ctx, c.URL("postgres"))
	require.NoError(t, err)
	defer conn.Close(ctx)
	var found bool
	require.NoError(t, conn.QueryRow(ctx, "SELECT to_regclass('old') IS NOT NULL").Scan(&found))
	require.False(t, found, "a new cluster")
	if c.Relocated {
		require.NotEqual(t, old, filepath.Dir(c.DataDir))
		_, err = os.Stat(old)
		require.ErrorIs(t, err, os.ErrNotExist, "the orphaned data is removed")
	}
}
