package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/syncsvc/ad/sambadc"
)

// TestDemoADNotStartedShowsTheCause: when the demo AD cannot start, `make
// run` shows apt-get's own words, not only its exit status, and how to go
// on. The failure is a real apt-get's, kept to a sandbox of its own.
func TestDemoADNotStartedShowsTheCause(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"lists/partial", "cache/archives/partial", "parts"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	list := filepath.Join(dir, "sources.list")
	require.NoError(t, os.WriteFile(list, []byte("deb this is not a source line\n"), 0o644))
	err := sambadc.AptGet(t.Logf, "-o", "Dir::State::Lists="+filepath.Join(dir, "lists"),
		"-o", "Dir::Cache="+filepath.Join(dir, "cache"), "-o", "Dir::Etc::SourceList="+list,
		"-o", "Dir::Etc::SourceParts="+filepath.Join(dir, "parts"), "update")
	require.Error(t, err)

	msg := demoADNotStarted(fmt.Errorf("install Samba: %w\nto install it by hand: apt-get update && apt-get install -y samba", err))
	require.Contains(t, msg, "exit status 100")
	require.Contains(t, msg, "E: Malformed entry 1 in list file")
	require.Contains(t, msg, "\n  to install it by hand: apt-get update && apt-get install -y samba\n")
	require.Contains(t, msg, "run `make run` again")
	for _, line := range strings.Split(strings.TrimSuffix(msg, "\n"), "\n") {
		require.True(t, strings.HasPrefix(line, "demo AD: ") || strings.HasPrefix(line, "  "),
			"every line reads as part of the demo AD's message: %q", line)
	}
}
