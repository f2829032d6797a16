// Package localpg starts a private PostgreSQL cluster from the server
// binaries installed on the machine, for `tessera dev` and for tests.
//
// As root, the server runs as the "postgres" user (initdb refuses root),
// which may not be allowed into the folder that should hold the data: a
// clone in root's home folder (mode 0700) is the common case. Then the data
// directory is kept in a directory of its own under /var/lib/tessera/postgres,
// owned by the postgres user, and <Dir>/data is a symbolic link to it, so the
// data is kept between runs and deleting <Dir> starts over.
package localpg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options configure a cluster.
type Options struct {
	// Dir holds the data directory (Dir/data) and the generated password.
	Dir string
	// Port to listen on at 127.0.0.1; 0 picks a free one.
	Port int
	// Throwaway turns off durability (fsync and friends) for test clusters.
	// Never use it for data you want to keep.
	Throwaway bool
	// LogFile receives the server's log; empty means Dir/postgres.log.
	LogFile string
}

// Cluster is a running private PostgreSQL server.
type Cluster struct {
	Port     int
	User     string
	Password string
	// DataDir is the data directory the server runs on: Dir/data, or where
	// that link points when the server's user cannot enter Dir.
	DataDir string
	// Relocated says DataDir is outside Dir (under RelocatedBase).
	Relocated bool
	dir       string
	cmd       *exec.Cmd
	exited    chan struct{}
}

const superuser = "tessera"

// RelocatedBase holds the data directories of clusters whose Dir the
// server's user cannot enter, one directory each. Root owns it and anyone
// may pass through it; each cluster's directory belongs to the postgres user.
const RelocatedBase = "/var/lib/tessera/postgres"

// BinDir returns the directory of the newest installed PostgreSQL server
// binaries, or an error that says what to install.
func BinDir() (string, error) {
	if dir := os.Getenv("TESSERA_PG_BINDIR"); dir != "" {
		return dir, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	sort.Slice(matches, func(i, j int) bool {
		return pgMajor(matches[i]) > pgMajor(matches[j])
	})
	if len(matches) > 0 {
		return filepath.Dir(matches[0]), nil
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("localpg: no PostgreSQL server binaries found; install them with: apt-get install -y postgresql postgresql-contrib (or set TESSERA_PG_BINDIR, or DATABASE_URL to use an existing server)")
}

func pgMajor(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// Start initialises Dir on first use and starts the server; the server is
// stopped by Stop, and also when this process dies (parent-death signal).
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("localpg: %w", err)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("localpg: %w", err)
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	data, relocated, err := dataDir(ctx, dir, cred)
	if err != nil {
		return nil, err
	}
	pwFile := filepath.Join(dir, "password")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := initdb(ctx, bin, data, pwFile, cred); err != nil {
			return nil, err
		}
	}
	pw, err := os.ReadFile(pwFile)
	if err != nil {
		return nil, fmt.Errorf("localpg: read password: %w", err)
	}
	port := opts.Port
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	logFile := opts.LogFile
	if logFile == "" {
		logFile = filepath.Join(dir, "postgres.log")
	}
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("localpg: %w", err)
	}
	defer logf.Close()
	args := []string{"-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "max_connections=200",
		"-c", "shared_buffers=128MB",
	}
	if opts.Throwaway {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off",
			"-c", "full_page_writes=off", "-c", "max_connections=400",
			// Each autovacuum and autoanalyze in postgres.log, with its
			// time and pages (checkpoints are logged by default): what
			// the database did meanwhile when a benchmark's run is slow.
			"-c", "log_autovacuum_min_duration=0")
		// Benchmarks count the statements the product sends (per request,
		// say) from pg_stat_statements, where the installed PostgreSQL has
		// it as contrib; with those run inside functions and triggers
		// (the audit chain's), to say where the time goes.
		if _, err := os.Stat(filepath.Join(filepath.Dir(bin), "lib", "pg_stat_statements.so")); err == nil {
			args = append(args, "-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track=all")
		}
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Dir = filepath.Dir(data) // ours may be closed to the server's user
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGINT, Setpgid: true, Credential: cred}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("localpg: start postgres: %w", err)
	}
	c := &Cluster{Port: port, User: superuser, Password: strings.TrimSpace(string(pw)),
		DataDir: data, Relocated: relocated, dir: dir, cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(c.exited) }() //nolint:errcheck
	if err := c.waitReady(ctx, logFile); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) waitReady(ctx context.Context, logFile string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("localpg: postgres exited during start-up; see %s", logFile)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("localpg: postgres not ready after 60s: %v; see %s", err, logFile)
		}
	}
}

// URL returns a connection URL for database db.
func (c *Cluster) URL(db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(c.User, c.Password),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)), Path: "/" + db,
		RawQuery: "sslmode=disable"}
	return u.String()
}

// Stop shuts the server down (fast shutdown) and waits for it to exit.
func (c *Cluster) Stop() {
	if c == nil || c.cmd.Process == nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGINT) //nolint:errcheck
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill() //nolint:errcheck
		<-c.exited
	}
}

// Destroy stops the server and removes its files: Dir, and the relocated
// data directory if there is one. For throwaway clusters.
func (c *Cluster) Destroy() error {
	c.Stop()
	if c.Relocated {
		if err := os.RemoveAll(filepath.Dir(c.DataDir)); err != nil {
			return fmt.Errorf("localpg: %w", err)
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	return nil
}

// dataDir returns the data directory for a cluster kept in dir, and whether
// it is relocated: dir/data when the server's user can reach dir (giving
// dir to that user), else the directory the link dir/data points to, made
// under RelocatedBase on first use.
func dataDir(ctx context.Context, dir string, cred *syscall.Credential) (string, bool, error) {
	data := filepath.Join(dir, "data")
	if cred == nil {
		return data, false, nil // we run the server ourselves, and can enter dir
	}
	if target, err := os.Readlink(data); err == nil {
		if !filepath.IsAbs(target) {
			target = filepath.Join(dir, target)
		}
		// The target's own directory may be gone (a cleaned /var/lib): the
		// link still says where this cluster lives; initdb starts it again.
		if err := makeServerDir(filepath.Dir(target), cred); err != nil {
			return "", false, err
		}
		return target, true, nil
	}
	// dir itself is ours to give (a fresh temporary directory is 0700):
	// what matters is whether the server's user can get to it.
	ok, err := canEnter(ctx, filepath.Dir(dir), cred)
	if err != nil {
		return "", false, err
	}
	if ok {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return "", false, fmt.Errorf("localpg: chown %s: %w", dir, err)
		}
		return data, false, nil
	}
	if _, err := os.Stat(data); err == nil {
		return "", false, fmt.Errorf("localpg: the postgres user cannot enter %s, where the data directory %s is; "+
			"move it under %s and link it (ln -s) as %s, or delete it to start over", filepath.Dir(dir), data, RelocatedBase, data)
	}
	if err := os.MkdirAll(RelocatedBase, 0o755); err != nil {
		return "", false, fmt.Errorf("localpg: %w", err)
	}
	removeOrphans(dir)
	home, err := os.MkdirTemp(RelocatedBase, safeName(dir)+"-")
	if err != nil {
		return "", false, fmt.Errorf("localpg: %w", err)
	}
	// owner names the folder whose link points here, so that a later start
	// from it after deleting that folder can remove this orphan.
	if err := os.WriteFile(filepath.Join(home, "owner"), []byte(dir+"\n"), 0o644); err != nil {
		return "", false, fmt.Errorf("localpg: %w", err)
	}
	if err := makeServerDir(home, cred); err != nil {
		return "", false, err
	}
	if ok, err := canEnter(ctx, home, cred); err != nil || !ok {
		os.RemoveAll(home)
		return "", false, fmt.Errorf("localpg: the postgres user cannot enter %s either (err: %v); make %s world-searchable (chmod o+x)", home, err, RelocatedBase)
	}
	if err := os.Symlink(filepath.Join(home, "data"), data); err != nil {
		os.RemoveAll(home)
		return "", false, fmt.Errorf("localpg: %w", err)
	}
	return filepath.Join(home, "data"), true, nil
}

// makeServerDir makes dir (0700) and gives it to the server's user.
func makeServerDir(dir string, cred *syscall.Credential) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("localpg: chown %s: %w", dir, err)
	}
	return nil
}

// removeOrphans removes the relocated directories made for dir before
// whose link is gone: someone deleted dir's folder to start over.
func removeOrphans(dir string) {
	owners, _ := filepath.Glob(filepath.Join(RelocatedBase, "*", "owner"))
	for _, f := range owners {
		b, err := os.ReadFile(f)
		if err != nil || strings.TrimSpace(string(b)) != dir {
			continue
		}
		home := filepath.Dir(f)
		if target, err := os.Readlink(filepath.Join(dir, "data")); err == nil && filepath.Dir(target) == home {
			continue
		}
		os.RemoveAll(home) //nolint:errcheck // best effort: what is left is only disk space
	}
}

// canEnter reports whether the server's user may enter dir, asking the
// kernel (as that user) rather than reading modes, so ACLs and
// root-squashing mounts answer too.
func canEnter(ctx context.Context, dir string, cred *syscall.Credential) (bool, error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `cd -- "$1"`, "sh", dir)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("localpg: check access to %s as the postgres user: %w", dir, err)
	}
	return true, nil
}

// safeName turns dir into a readable file name for RelocatedBase, so that
// a person listing it sees whose cluster each one is.
func safeName(dir string) string {
	s := strings.Trim(dir, "/")
	if len(s) > 60 {
		s = s[len(s)-60:]
	}
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
	if s == "" || strings.Trim(s, ".") == "" {
		return "cluster"
	}
	return s
}

func initdb(ctx context.Context, bin, data, pwFile string, cred *syscall.Credential) error {
	secret := make([]byte, 18)
	rand.Read(secret)
	if err := os.WriteFile(pwFile, []byte(hex.EncodeToString(secret)+"\n"), 0o600); err != nil {
		return fmt.Errorf("localpg: write password: %w", err)
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	// initdb reads the password file as the server user; give it a copy
	// beside the data directory, which that user can reach.
	tmpPw := filepath.Join(filepath.Dir(data), ".initdb-password")
	if err := os.WriteFile(tmpPw, []byte(hex.EncodeToString(secret)+"\n"), 0o600); err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	defer os.Remove(tmpPw)
	if cred != nil {
		for _, p := range []string{data, tmpPw} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return fmt.Errorf("localpg: chown %s: %w", p, err)
			}
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", superuser,
		"--pwfile", tmpPw, "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	cmd.Dir = filepath.Dir(data) // ours may be closed to the server's user
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(data)
		return fmt.Errorf("localpg: initdb: %w: %s", err, out)
	}
	return nil
}

// runAs returns the credentials to run the server with: the "postgres" user
// when this process is root (initdb refuses root), otherwise nil (ourselves).
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("localpg: running as root needs a 'postgres' user to run the server as; create it with: useradd --system postgres")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("localpg: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
