package harness

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tessera-idm/tessera/syncsvc/ad/sambadc"
)

// RequireCommand returns the path of command, installing Debian package pkg
// with apt-get when it is missing and this process is root. Otherwise the
// test fails with the exact command to run; it never skips.
func RequireCommand(tb testing.TB, command, pkg string) string {
	tb.Helper()
	if p, err := exec.LookPath(command); err == nil {
		return p
	}
	if err := aptInstall(harnessLog(tb), pkg); err != nil {
		tb.Fatalf("harness: %s is needed: %v", command, err)
	}
	p, err := exec.LookPath(command)
	if err != nil {
		tb.Fatalf("harness: installed %s but %s is still not on PATH", pkg, command)
	}
	return p
}

// aptInstall installs Debian packages when this process is root: it tries
// once, and on failure refreshes the package lists and tries again. Not
// root, it says the exact command to run.
func aptInstall(logf sambadc.Logf, packages ...string) error {
	command := "apt-get install -y " + strings.Join(packages, " ")
	if os.Geteuid() != 0 {
		return fmt.Errorf("install it with: sudo %s", command)
	}
	args := append([]string{"install", "-y"}, packages...)
	if err := sambadc.AptGet(logf, args...); err == nil {
		return nil
	}
	if err := sambadc.AptGet(logf, "update"); err != nil {
		return fmt.Errorf("%w\nto install it by hand: apt-get update && %s", err, command)
	}
	if err := sambadc.AptGet(logf, args...); err != nil {
		return fmt.Errorf("%w\nto install it by hand: %s", err, command)
	}
	return nil
}
