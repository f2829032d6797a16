package harness

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
)

var aptMu sync.Mutex

// RequireCommand returns the path of command, installing Debian package pkg
// with apt-get when it is missing and this process is root. Otherwise the
// test fails with the exact command to run; it never skips.
func RequireCommand(tb testing.TB, command, pkg string) string {
	tb.Helper()
	if p, err := exec.LookPath(command); err == nil {
		return p
	}
	if err := aptInstall(pkg); err != nil {
		tb.Fatalf("harness: %s is needed: %v", command, err)
	}
	p, err := exec.LookPath(command)
	if err != nil {
		tb.Fatalf("harness: installed %s but %s is still not on PATH", pkg, command)
	}
	return p
}

func aptInstall(pkg string) error {
	aptMu.Lock()
	defer aptMu.Unlock()
	if os.Geteuid() != 0 {
		return fmt.Errorf("install it with: sudo apt-get install -y %s", pkg)
	}
	install := func() ([]byte, error) {
		cmd := exec.Command("apt-get", "install", "-y", "--no-install-recommends", pkg)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	if _, err := install(); err == nil {
		return nil
	}
	if out, err := exec.Command("apt-get", "update").CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get update: %v: %s", err, out)
	}
	if out, err := install(); err != nil {
		return fmt.Errorf("apt-get install -y %s: %v: %s", pkg, err, out)
	}
	return nil
}
