package sambadc

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// aptLockWait bounds how long AptGet waits for another process to release
// apt's or dpkg's lock: long enough for an unattended upgrade or a parallel
// install to finish, short enough that a stuck one is reported.
const aptLockWait = 10 * time.Minute

// aptLockPoll is how often AptGet tries again while the lock is held.
const aptLockPoll = 3 * time.Second

// AptGet runs apt-get without questions. When another process holds apt's
// or dpkg's lock (an unattended upgrade, a parallel test binary), it tells
// logf who holds it and tries again, for up to 10 minutes. An error carries
// the end of apt-get's own output, where apt says what went wrong.
func AptGet(logf Logf, args ...string) error {
	return aptGet(logf, aptLockWait, aptLockPoll, args...)
}

func aptGet(logf Logf, wait, poll time.Duration, args ...string) error {
	command := "apt-get " + strings.Join(args, " ")
	deadline := time.Now().Add(wait)
	var told time.Time
	for {
		// -q: no progress bars in the output that an error quotes.
		cmd := exec.Command("apt-get", append([]string{"-q"}, args...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Dir = "/"
		out, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		lock, held := aptLockHolder(out)
		if !held {
			return commandError(command, err, out)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w\nwaited %s for %s; try again when it has finished%s",
				commandError(command, err, out), wait, lock, lock.check())
		}
		if time.Since(told) >= time.Minute {
			logf("%s: waiting for %s to finish (up to %s more)", command, lock, time.Until(deadline).Round(time.Second))
			told = time.Now()
		}
		time.Sleep(poll)
	}
}

// aptLockMessage is apt's "E: Could not get lock /var/lib/dpkg/lock-frontend.
// It is held by process 1234 (apt-get)"; older apt names no process ("E:
// Could not get lock /var/lib/dpkg/lock - open (11: Resource temporarily
// unavailable)").
var aptLockMessage = regexp.MustCompile(`Could not get lock (\S+?)\.?(?:\s+It is held by process (\d+)(?: \(([^)]*)\))?)?(?:\s|$)`)

// aptLock is a lock of apt's or dpkg's that another process holds.
type aptLock struct {
	path string // /var/lib/dpkg/lock-frontend
	pid  string // empty when apt does not say
	name string // the holder's command name, when apt says
}

func (l aptLock) String() string {
	who := "another process"
	if l.pid != "" {
		who = "process " + l.pid
		if l.name != "" {
			who += " (" + l.name + ")"
		}
	}
	return who + ", which holds " + l.path
}

// check names the command that shows whether the holder still runs.
func (l aptLock) check() string {
	if l.pid == "" {
		return " (ps -e | grep -E 'apt|dpkg' shows who)"
	}
	return " (ps -p " + l.pid + " shows whether it still runs)"
}

// aptLockHolder finds, in apt-get's output, a lock that another process holds.
func aptLockHolder(out []byte) (aptLock, bool) {
	for _, line := range strings.Split(string(out), "\n") {
		if m := aptLockMessage.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			return aptLock{path: m[1], pid: m[2], name: m[3]}, true
		}
	}
	return aptLock{}, false
}

// commandError is a failed command's error with the end of its output,
// indented under it: the tool's own words say what went wrong.
func commandError(command string, err error, out []byte) error {
	tail := outputTail(out)
	if tail == "" {
		return fmt.Errorf("%s: %w (no output)", command, err)
	}
	return fmt.Errorf("%s: %w; its output ends:\n%s", command, err, indent(tail))
}

// outputTailLines is how much of a tool's output an error quotes.
const outputTailLines = 20

// outputTail returns the last lines of a tool's output, without the
// blank ones around them.
func outputTail(out []byte) string {
	lines := strings.Split(string(bytes.TrimSpace(out)), "\n")
	if len(lines) > outputTailLines {
		lines = append([]string{"..."}, lines[len(lines)-outputTailLines:]...)
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
