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
	URL string // the portal; empty for a worker
	// MetricsURL is /metrics on its own address, when asked for
	// (TESSERA_METRICS_LISTEN).
	MetricsURL string
	Cmd        *exec.Cmd
	Role       string

	tb    testing.TB
	env   []string
	logMu sync.Mutex
	logs  strings.Builder
	up    chan struct{} // closed when the process says it is serving
	done  chan struct{} // closed when the process has exited
}

// ProcessOptions say how to start a `tessera serve` process.
type ProcessOptions struct {
	Role    string // web, worker or all (the default)
	Metrics bool   // serve /metrics on an address of its own
	Env     []string
	// Hostname, when set, is the host name in the base URL (such as
	// localhost, which passkeys need: browsers refuse an IP address as a
	// WebAuthn relying party); the process still listens on 127.0.0.1.
	Hostname string
}

// StartTessera runs the built binary's `serve` against databaseURL on a free
// loopback port, waits until /readyz answers, and stops it when tb ends.
// extraEnv adds or overrides environment variables (KEY=value).
func StartTessera(tb testing.TB, databaseURL string, extraEnv ...string) *Tessera {
	tb.Helper()
	return StartProcess(tb, databaseURL, ProcessOptions{Env: extraEnv})
}

// StartProcess runs the built binary's `serve` in one role against
// databaseURL, waits until it is serving (web: /readyz answers; worker:
// its River client has started), and stops it when tb ends.
func StartProcess(tb testing.TB, databaseURL string, o ProcessOptions) *Tessera {
	tb.Helper()
	return StartProcesses(tb, databaseURL, o)[0]
}

// StartProcesses runs a process as StartProcess does for each of opts, all
// at once, and waits until every one is serving: several processes start
// in the time of one.
func StartProcesses(tb testing.TB, databaseURL string, opts ...ProcessOptions) []*Tessera {
	tb.Helper()
	procs := make([]*Tessera, len(opts))
	for i, o := range opts {
		procs[i] = newProcess(tb, databaseURL, o)
	}
	for _, t := range procs {
		t.WaitUp()
	}
	return procs
}

// newProcess starts a process of StartProcess without waiting for it.
func newProcess(tb testing.TB, databaseURL string, o ProcessOptions) *Tessera {
	tb.Helper()
	role := o.Role
	if role == "" {
		role = "all"
	}
	addr := freeAddr(tb)
	t := &Tessera{Role: role, tb: tb}
	base := "http://" + addr
	if o.Hostname != "" {
		_, port, _ := net.SplitHostPort(addr)
		base = "http://" + net.JoinHostPort(o.Hostname, port)
	}
	t.env = append(os.Environ(), "DATABASE_URL="+databaseURL, "TESSERA_LISTEN="+addr, "TESSERA_ROLE="+role,
		"TESSERA_BASE_URL="+base, "TESSERA_LOG_LEVEL=warn",
		// The browser tests sign in as administrators with a password
		// alone, as the demo does; a test that checks the second factor
		// sets it on in Env.
		"TESSERA_STAFF_SECOND_FACTOR=off")
	if role != "worker" {
		t.URL = base
	}
	if o.Metrics {
		maddr := freeAddr(tb)
		t.env = append(t.env, "TESSERA_METRICS_LISTEN="+maddr)
		t.MetricsURL = "http://" + maddr + "/metrics"
	}
	t.env = append(t.env, o.Env...)
	tb.Cleanup(func() {
		t.stop()
		if tb.Failed() {
			tb.Logf("tessera %s log:\n%s", t.Role, t.Logs())
		}
	})
	t.start()
	return t
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs the process; its output goes to the log, and a line saying
// it serves marks it up.
func (t *Tessera) start() {
	t.tb.Helper()
	cmd := exec.Command(Binary(t.tb), "serve")
	cmd.Env = t.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	r, w, err := os.Pipe()
	if err != nil {
		t.tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.tb.Fatalf("harness: start tessera: %v", err)
	}
	w.Close()
	t.Cmd = cmd
	up, done := make(chan struct{}), make(chan struct{})
	t.up, t.done = up, done
	var once sync.Once
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := sc.Text()
			t.logMu.Lock()
			t.logs.WriteString(line + "\n")
			t.logMu.Unlock()
			if strings.HasPrefix(line, "Tessera is serving at") || strings.HasPrefix(line, "Tessera worker is running") {
				once.Do(func() { close(up) })
			}
		}
		r.Close()
	}()
	go func() { cmd.Wait(); close(done) }() //nolint:errcheck
}

// WaitUp waits until the process serves: it said so, and a web process
// answers /readyz.
func (t *Tessera) WaitUp() {
	t.tb.Helper()
	deadline := time.After(60 * time.Second)
	select {
	case <-t.up:
	case <-t.done:
		t.tb.Fatalf("harness: tessera %s exited at start:\n%s", t.Role, t.Logs())
	case <-deadline:
		t.tb.Fatalf("harness: tessera %s did not start:\n%s", t.Role, t.Logs())
	}
	if t.URL == "" {
		return
	}
	for {
		resp, err := http.Get(t.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-deadline:
			t.tb.Fatalf("harness: tessera not ready at %s: %v\n%s", t.URL, err, t.Logs())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Kill ends the process with SIGKILL, as a crash or the OOM killer would,
// and waits until it is gone.
func (t *Tessera) Kill() {
	t.tb.Helper()
	t.Cmd.Process.Signal(syscall.SIGKILL) //nolint:errcheck
	<-t.done
}

// Restart starts the process again after Kill, on the same addresses,
// and waits until it serves.
func (t *Tessera) Restart() {
	t.tb.Helper()
	t.start()
	t.WaitUp()
}

// Pause stops the process (SIGSTOP, which stops all its threads) where it
// is, and waits until the kernel reports it stopped (its main thread's
// state; the others stop with it): its connections stay open and
// its heap stays as it is, but it runs nothing until Resume. Stop and the
// cleanup resume it first, so a paused process never outlives the test.
func (t *Tessera) Pause() {
	t.tb.Helper()
	t.Cmd.Process.Signal(syscall.SIGSTOP) //nolint:errcheck
	stat := fmt.Sprintf("/proc/%d/stat", t.Cmd.Process.Pid)
	for deadline := time.Now().Add(5 * time.Second); ; {
		b, err := os.ReadFile(stat)
		if err != nil {
			t.tb.Fatalf("harness: pause tessera %s: %v", t.Role, err)
		}
		// pid (comm) state ...: the state follows the last parenthesis.
		if f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:])); len(f) > 0 && (f[0] == "T" || f[0] == "t") {
			return
		}
		if time.Now().After(deadline) {
			t.tb.Fatalf("harness: tessera %s did not stop", t.Role)
		}
		time.Sleep(time.Millisecond)
	}
}

// Resume lets a paused process run again (SIGCONT).
func (t *Tessera) Resume() {
	t.Cmd.Process.Signal(syscall.SIGCONT) //nolint:errcheck
}

// Stop ends the process gracefully (SIGTERM), or kills it after 10 s, and
// waits until it is gone.
func (t *Tessera) Stop() { t.stop() }

// StopAll ends the processes gracefully, as Stop does, all at once, and
// waits until every one is gone.
func StopAll(procs ...*Tessera) {
	for _, t := range procs {
		if t.Cmd != nil {
			t.Cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck
			t.Cmd.Process.Signal(syscall.SIGCONT) //nolint:errcheck
		}
	}
	for _, t := range procs {
		t.stop()
	}
}

// stop ends the process gracefully (SIGTERM), or kills it after 10 s.
func (t *Tessera) stop() {
	if t.Cmd == nil {
		return
	}
	t.Cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck
	// A paused process (Pause) takes the SIGTERM only once it runs again.
	t.Cmd.Process.Signal(syscall.SIGCONT) //nolint:errcheck
	select {
	case <-t.done:
	case <-time.After(10 * time.Second):
		t.Cmd.Process.Kill() //nolint:errcheck
		<-t.done
	}
}

// Logs returns what the process wrote so far, over all its restarts.
func (t *Tessera) Logs() string {
	t.logMu.Lock()
	defer t.logMu.Unlock()
	return t.logs.String()
}
