package harness

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/postgres"
)

var binary struct {
	once sync.Once
	path string
	err  error
}

// repoRoot finds the module root from this source file's location.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Binary builds cmd/tessera once per test binary and returns its path.
func Binary(tb testing.TB) string {
	tb.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "tessera-bin-")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "tessera")
		cmd := exec.Command("go", "build", "-o", binary.path, "./cmd/tessera")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if binary.err != nil {
		tb.Fatalf("harness: build tessera: %v", binary.err)
	}
	return binary.path
}

// SeededDatabaseURL returns a new database holding the demo organisation of
// n people (seeded once per test binary per n, then copied per test).
func SeededDatabaseURL(tb testing.TB, n int) string {
	tb.Helper()
	return TemplateDatabaseURL(tb, fmt.Sprintf("tessera_seed_%d", n), func(ctx context.Context, pool *pgxpool.Pool) error {
		org, err := demo.Generate(n)
		if err != nil {
			return err
		}
		return postgres.New(pool).LoadOrg(ctx, org)
	})
}

// Tessera is a running `tessera serve` process.
type Tessera struct {
	URL string
	Cmd *exec.Cmd
}

// StartTessera runs the built binary's `serve` against databaseURL on a free
// loopback port, waits until /readyz answers, and stops it when tb ends.
// extraEnv adds or overrides environment variables (KEY=value).
func StartTessera(tb testing.TB, databaseURL string, extraEnv ...string) *Tessera {
	tb.Helper()
	bin := Binary(tb)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+databaseURL, "TESSERA_LISTEN="+addr,
		"TESSERA_BASE_URL=http://"+addr, "TESSERA_LOG_LEVEL=warn")
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		tb.Fatalf("harness: start tessera: %v", err)
	}
	var logs strings.Builder
	var logMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			logs.WriteString(sc.Text() + "\n")
			logMu.Unlock()
		}
	}()
	t := &Tessera{URL: "http://" + addr, Cmd: cmd}
	tb.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }() //nolint:errcheck
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill() //nolint:errcheck
		}
		if tb.Failed() {
			logMu.Lock()
			tb.Logf("tessera log:\n%s", logs.String())
			logMu.Unlock()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(t.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return t
			}
		}
		if time.Now().After(deadline) {
			logMu.Lock()
			defer logMu.Unlock()
			tb.Fatalf("harness: tessera not ready at %s: %v\n%s", t.URL, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
