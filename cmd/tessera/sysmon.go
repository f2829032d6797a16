package main

import (
	"os"
	"slices"
	"strings"
	"syscall"
)

// sysmonAwake is the GODEBUG setting `serve` runs with: a scheduler trace
// every 2^31-1 ms, the longest Go takes, which keeps Go's system monitor
// out of its deep sleep (runtime/proc.go, sysmon: it does not sleep
// deeply while schedtrace is set). The trace does print: one line
// ("SCHED 0ms: gomaxprocs=…") on stderr, among the logs, when the
// machine's monotonic clock passes 24.8 days since boot and every 24.8
// days after, so at start on a machine up longer than that; and a fatal
// runtime error dumps every P, M and G's scheduler state before the
// goroutines. README says so; GODEBUG=schedtrace=0 turns it all off.
//
// Why: the monitor sleeps deeply whenever every P is idle, and the first
// system call after that wakes it (a futex) and sets it polling every
// 20 µs again for at least a millisecond, a system call and a context
// switch each. A Tessera process goes idle at every round trip to
// PostgreSQL that nothing else overlaps, which a web process of several,
// with GOMAXPROCS=1 and its share of the requests, does several times a
// request: perf put a fifth of such a process's CPU in the monitor. Kept
// awake, the monitor's poll backs off to every 10 ms while it finds
// nothing to do. In the 2+2 pipeline benchmark (two web and two worker
// processes) Tessera's CPU a request went from 0.75-0.92 ms to 0.62 ms
// and its context switches from 16-17.6 a request to 5.5 (the single
// process: 0.64-0.87 to 0.60 ms, 13-15.6 to 7.7), on the same machine.
// The price is a wake-up every 10 ms in an idle process.
const sysmonAwake = "schedtrace=2147483647"

// sysmonEnv returns the environment `tessera serve` (args, as os.Args)
// should run in, and whether it differs from env: GODEBUG with
// sysmonAwake, unless GODEBUG already sets schedtrace (schedtrace=0 keeps
// Go's default).
func sysmonEnv(args, env []string) ([]string, bool) {
	if len(args) < 2 || args[1] != "serve" {
		return env, false
	}
	// The runtime reads the first GODEBUG in the environment.
	godebug := ""
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "GODEBUG="); ok {
			godebug = v
			break
		}
	}
	for _, s := range strings.Split(godebug, ",") {
		if strings.HasPrefix(strings.TrimSpace(s), "schedtrace=") {
			return env, false
		}
	}
	if godebug != "" {
		godebug += ","
	}
	out := slices.DeleteFunc(slices.Clone(env), func(e string) bool { return strings.HasPrefix(e, "GODEBUG=") })
	return append(out, "GODEBUG="+godebug+sysmonAwake), true
}

// keepSysmonAwake runs `serve` again in its own process (exec: the same
// PID, every package's init run again) with sysmonEnv's environment,
// which Go reads only at start. When the exec fails, serve runs as it is,
// and sysmonErr says why for serve to log once its logger is set up.
func keepSysmonAwake() {
	env, again := sysmonEnv(os.Args, os.Environ())
	if !again {
		return
	}
	exe, err := os.Executable()
	if err == nil {
		err = syscall.Exec(exe, os.Args, env) // returns only when it failed
	}
	sysmonErr = err
}

// sysmonErr is why keepSysmonAwake could not run serve again, if it could
// not.
var sysmonErr error
