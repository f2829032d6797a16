package e2e_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
)

// processCPU is the CPU each `tessera serve` process of a benchmark used so
// far, and the CPU of the PostgreSQL backends serving its connections
// (told by their client ports): with several processes on one database,
// where the cost of a request goes, process by process.
type processCPU struct {
	tessera  []time.Duration // by process, in the order given
	events   []kernelEvents  // by process, as tessera
	backends map[int]backendCPU
}

// kernelEvents are a process's page faults (minor and major) and context
// switches (voluntary and not) so far, over all its threads: two costs of
// the kernel's that CPU time includes and that several processes can pay
// more of for the same work (a fresh heap's pages, more sleeping and
// waking).
type kernelEvents struct{ faults, switches int64 }

func (e kernelEvents) minus(o kernelEvents) kernelEvents {
	return kernelEvents{e.faults - o.faults, e.switches - o.switches}
}

// backendCPU is a PostgreSQL backend's CPU so far and whose it is (an
// index into the processes, -1 for any other client).
type backendCPU struct {
	owner  int
	app    string
	cpu    time.Duration
	events kernelEvents
}

// readProcessCPU reads the CPU of procs and of the database's backends
// (pool: a connection of the benchmark's own, whose backend is counted as
// another client's).
func readProcessCPU(tb testing.TB, pool *pgxpool.Pool, procs []*harness.Tessera) processCPU {
	tb.Helper()
	c := processCPU{backends: map[int]backendCPU{}}
	owners := map[int]int{} // local port → process
	for i, p := range procs {
		c.tessera = append(c.tessera, statCPU(p.Cmd.Process.Pid))
		c.events = append(c.events, readKernelEvents(p.Cmd.Process.Pid))
		for _, port := range localPorts(p.Cmd.Process.Pid) {
			owners[port] = i
		}
	}
	rows, err := pool.Query(context.Background(), `SELECT pid, coalesce(client_port, -1), application_name FROM pg_stat_activity
		WHERE datname = current_database() AND backend_type = 'client backend'`)
	require.NoError(tb, err)
	defer rows.Close()
	for rows.Next() {
		var pid, port int
		var app string
		require.NoError(tb, rows.Scan(&pid, &port, &app))
		owner, ok := owners[port]
		if !ok {
			owner = -1
		}
		c.backends[pid] = backendCPU{owner: owner, app: app, cpu: schedCPU(pid), events: readKernelEvents(pid)}
	}
	require.NoError(tb, rows.Err())
	return c
}

// since says, for each process, the CPU it and its backends used since
// before, a request of n: "web#1 0.40 ms + 0.60 ms in PostgreSQL (tessera
// 0.5, tessera river 0.1)".
func (c processCPU) since(before processCPU, procs []*harness.Tessera, n int) string {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }
	pg := make([]time.Duration, len(procs)+1)
	pgEvents := make([]kernelEvents, len(procs)+1)
	apps := make([]map[string]time.Duration, len(procs)+1)
	for pid, b := range c.backends {
		d := b.cpu - before.backends[pid].cpu
		i := b.owner
		if i < 0 {
			i = len(procs)
		}
		pg[i] += d
		e := b.events.minus(before.backends[pid].events)
		pgEvents[i].faults += e.faults
		pgEvents[i].switches += e.switches
		if apps[i] == nil {
			apps[i] = map[string]time.Duration{}
		}
		apps[i][b.app] += d
	}
	var parts []string
	for i := range len(procs) + 1 {
		name := "other clients"
		var own time.Duration
		var events kernelEvents
		if i < len(procs) {
			name = fmt.Sprintf("%s#%d", procs[i].Role, i+1)
			own = c.tessera[i] - before.tessera[i]
			events = c.events[i].minus(before.events[i])
		}
		var byApp []string
		for _, app := range slices.Sorted(func(yield func(string) bool) {
			for a := range apps[i] {
				if !yield(a) {
					return
				}
			}
		}) {
			byApp = append(byApp, fmt.Sprintf("%q %.2f", app, ms(apps[i][app])))
		}
		per := func(k int64) float64 { return float64(k) / float64(n) }
		parts = append(parts, fmt.Sprintf("%s %.2f ms + %.2f ms in PostgreSQL (%s), %.1f + %.1f page faults, %.1f + %.1f switches",
			name, ms(own), ms(pg[i]), strings.Join(byApp, ", "), per(events.faults), per(pgEvents[i].faults),
			per(events.switches), per(pgEvents[i].switches)))
	}
	return strings.Join(parts, "; ")
}

// statCPU is the user and system CPU of every thread of pid so far, in
// clock ticks of 10 ms.
func statCPU(pid int) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	end := strings.LastIndexByte(string(stat), ')')
	if end < 0 {
		return 0
	}
	f := strings.Fields(string(stat[end+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// readKernelEvents reads pid's page faults (from its stat, which counts
// every thread's) and context switches (from each thread's status).
func readKernelEvents(pid int) kernelEvents {
	var e kernelEvents
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return e
	}
	if end := strings.LastIndexByte(string(stat), ')'); end >= 0 {
		// state ppid pgrp session tty tpgid flags minflt cminflt majflt
		if f := strings.Fields(string(stat[end+1:])); len(f) > 9 {
			minflt, _ := strconv.ParseInt(f[7], 10, 64)
			majflt, _ := strconv.ParseInt(f[9], 10, 64)
			e.faults = minflt + majflt
		}
	}
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				e.switches += n
			}
		}
	}
	return e
}

// schedCPU is the time the single-threaded process pid ran so far, in
// nanoseconds (a PostgreSQL backend).
func schedCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return 0
	}
	ns, _ := strconv.ParseInt(f[0], 10, 64)
	return time.Duration(ns)
}

// localPorts are the local TCP ports of pid's sockets.
func localPorts(pid int) []int {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var ports []int
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || !inodes[f[9]] {
				continue
			}
			_, hexPort, ok := strings.Cut(f[1], ":")
			if port, err := strconv.ParseInt(hexPort, 16, 32); ok && err == nil {
				ports = append(ports, int(port))
			}
		}
	}
	return ports
}

// benchLog logs a line of a benchmark's details on the standard output,
// where go test keeps every line (it cuts a benchmark's b.Logf lines after
// the tenth, and with them the runs of the 2+2 pipeline).
func benchLog(b *testing.B, format string, args ...any) {
	fmt.Printf("    %s: %s\n", b.Name(), fmt.Sprintf(format, args...))
}
