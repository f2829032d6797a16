package sambadc

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// aptSandbox returns apt-get options that keep `apt-get update` inside dir
// (its own lists, lock and cache, and the given sources), so a test can
// hold its lock or break its sources without touching the machine's apt.
func aptSandbox(t *testing.T, sources string) (dir string, opts []string) {
	t.Helper()
	dir = t.TempDir()
	for _, d := range []string{"lists/partial", "cache/archives/partial", "parts"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	list := filepath.Join(dir, "sources.list")
	require.NoError(t, os.WriteFile(list, []byte(sources), 0o644))
	return dir, []string{
		"-o", "Dir::State::Lists=" + filepath.Join(dir, "lists"),
		"-o", "Dir::Cache=" + filepath.Join(dir, "cache"),
		"-o", "Dir::Etc::SourceList=" + list,
		"-o", "Dir::Etc::SourceParts=" + filepath.Join(dir, "parts"),
	}
}

// holdLock takes the POSIX record lock that apt takes on path, as another
// apt-get would; closing the file releases it.
func holdLock(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	require.NoError(t, syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &syscall.Flock_t{Type: syscall.F_WRLCK}))
	return f
}

// TestAptGetWaitsForHeldLock: while another process holds apt's lock,
// AptGet says who holds it and waits; once it is released, it goes on.
func TestAptGetWaitsForHeldLock(t *testing.T) {
	t.Parallel()
	dir, opts := aptSandbox(t, "")
	lock := holdLock(t, filepath.Join(dir, "lists", "lock"))
	told := make(chan string, 10)
	logf := func(format string, args ...any) { told <- fmt.Sprintf(format, args...) }
	done := make(chan error, 1)
	go func() { done <- aptGet(logf, 10*time.Minute, 50*time.Millisecond, append(opts, "update")...) }()

	msg := <-told
	require.Contains(t, msg, "waiting for process "+strconv.Itoa(os.Getpid()))
	require.Contains(t, msg, filepath.Join(dir, "lists", "lock"))
	require.NoError(t, lock.Close())
	require.NoError(t, <-done)
}

// TestAptGetGivesUpOnHeldLock: a lock held past the wait is an error that
// quotes apt and says who holds the lock and how to see whether it runs.
func TestAptGetGivesUpOnHeldLock(t *testing.T) {
	t.Parallel()
	dir, opts := aptSandbox(t, "")
	holdLock(t, filepath.Join(dir, "lists", "lock"))
	pid := strconv.Itoa(os.Getpid())
	err := aptGet(func(string, ...any) {}, 0, time.Millisecond, append(opts, "update")...)
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, "exit status 100")
	require.Contains(t, msg, "E: Could not get lock "+filepath.Join(dir, "lists", "lock"))
	require.Contains(t, msg, "process "+pid)
	require.Contains(t, msg, "ps -p "+pid)
}

// TestAptGetQuotesItsOutput: apt's own reason is in the error, not only
// its exit status (which once was all `make run` showed).
func TestAptGetQuotesItsOutput(t *testing.T) {
	t.Parallel()
	_, opts := aptSandbox(t, "deb this is not a source line\n")
	err := aptGet(func(string, ...any) {}, time.Minute, time.Millisecond, append(opts, "update")...)
	require.Error(t, err)
	require.Contains(t, err.Error(), "apt-get -o")
	require.Contains(t, err.Error(), "exit status 100")
	require.Contains(t, err.Error(), "E: Malformed entry 1 in list file")
}

func TestAptLockHolder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		out  string
		want aptLock
		held bool
	}{
		{"Reading package lists...\nE: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)\nE: Unable to lock directory /var/lib/apt/lists/\n",
			aptLock{path: "/var/lib/apt/lists/lock", pid: "4242", name: "apt-get"}, true},
		{"E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 77 (unattended-upgr)\nE: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?",
			aptLock{path: "/var/lib/dpkg/lock-frontend", pid: "77", name: "unattended-upgr"}, true},
		{"E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 77", aptLock{path: "/var/lib/dpkg/lock-frontend", pid: "77"}, true},
		{"E: Could not get lock /var/lib/dpkg/lock", aptLock{path: "/var/lib/dpkg/lock"}, true},
		{"E: Could not get lock /var/lib/dpkg/lock - open (11: Resource temporarily unavailable)", aptLock{path: "/var/lib/dpkg/lock"}, true},
		{"E: Could not open lock file /var/lib/dpkg/lock-frontend - open (13: Permission denied)", aptLock{}, false},
		{"E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease", aptLock{}, false},
	} {
		got, held := aptLockHolder([]byte(tc.out))
		require.Equal(t, tc.held, held, tc.out)
		require.Equal(t, tc.want, got, tc.out)
	}
}

func TestCommandErrorQuotesTheEnd(t *testing.T) {
	t.Parallel()
	var out []byte
	for i := 1; i <= 30; i++ {
		out = fmt.Appendf(out, "line %d\n", i)
	}
	msg := commandError("tool --flag", fmt.Errorf("exit status 2"), out).Error()
	require.Contains(t, msg, "tool --flag: exit status 2; its output ends:\n    ...\n    line 11\n")
	require.Contains(t, msg, "    line 30")
	require.NotContains(t, msg, "line 10\n")
	require.Equal(t, "tool: exit status 1 (no output)", commandError("tool", fmt.Errorf("exit status 1"), nil).Error())
}
