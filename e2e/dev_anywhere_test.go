package e2e_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal/postgres/localpg"
	"github.com/tessera-idm/tessera/syncsvc/ad/sambadc"
)

// TestDevFromClosedFolder runs `tessera dev` as a newcomer does after
// cloning into root's home folder: from a folder only its owner may enter
// (mode 0700). As root, PostgreSQL runs as the postgres user, which cannot
// enter it; the portal must serve all the same, keep its data for the next
// start, and (as root) bring up the demo AD.
func TestDevFromClosedFolder(t *testing.T) {
	t.Parallel()
	clone := filepath.Join(t.TempDir(), "clone")
	require.NoError(t, os.Mkdir(clone, 0o700))
	require.NoError(t, os.Chmod(clone, 0o700)) // whatever the umask
	bin := filepath.Join(clone, "bin", "tessera")
	require.NoError(t, os.MkdirAll(filepath.Dir(bin), 0o755))
	copyExecutable(t, harness.Binary(t), bin, 0o755)
	asRoot := os.Geteuid() == 0
	t.Cleanup(func() {
		// Where the postgres user keeps the data, outside the clone.
		if target, err := os.Readlink(filepath.Join(clone, "var", "postgres", "data")); err == nil &&
			strings.HasPrefix(target, localpg.RelocatedBase+"/") {
			os.RemoveAll(filepath.Dir(target))
		}
	})

	addr := devAddr(t)
	env := append(os.Environ(), "TESSERA_LISTEN="+addr, "TESSERA_BASE_URL=http://"+addr,
		"TESSERA_DEV_PG_PORT="+strconv.Itoa(devPort(t)), "TESSERA_DEMO_PEOPLE=40",
		"DATABASE_URL=", "TESSERA_SECRET_KEY=", "TESSERA_DATA_DIR=")
	// Samba needs root (it serves LDAP on port 389): only then is the demo
	// AD part of what a newcomer gets.
	if asRoot {
		env = append(env, "TESSERA_DEMO_AD=on")
	} else {
		env = append(env, "TESSERA_DEMO_AD=off")
	}

	first := startDev(t, bin, clone, env)
	first.waitFor(t, "Tessera is serving at")
	get := func(path, want string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", path, body)
		require.Contains(t, string(body), want, "GET %s", path)
	}
	get("/healthz", "")
	get("/signin", `name="account"`)
	require.Contains(t, first.output(), "seeded 40 people")
	if asRoot {
		exported := first.waitFor(t, "demo AD: exported")
		m := regexp.MustCompile(`exported (\d+) objects \((\d+) errors\)`).FindStringSubmatch(exported)
		require.NotNil(t, m, exported)
		require.NotEqual(t, "0", m[1], exported)
		require.Equal(t, "0", m[2], exported)

		// A newcomer's reset: the code from the demo mailbox, the new
		// password set in the demo AD, where Zoë's account binds with it.
		mailbox := regexp.MustCompile(`goes to the mailbox at (http://\S+)`).FindStringSubmatch(first.output())
		require.NotNil(t, mailbox, "the demo mailbox is printed")
		jar, _ := cookiejar.New(nil)
		c := &pwClient{t: t, base: "http://" + addr, addr: "127.0.0.1", http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
		status, _ := c.startReset("zoe")
		require.Equal(t, http.StatusOK, status)
		first.waitFor(t, `"Your password reset code"`)
		resp, err := http.Get(mailbox[1])
		require.NoError(t, err)
		page, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		code := resetCodeRE.FindStringSubmatch(string(page))
		require.NotNil(t, code, "a code in the mailbox: %s", page)
		status, body := c.post("/password/reset/verify", url.Values{"code": {code[1]}})
		require.Equal(t, http.StatusOK, status, body)
		const chosen = "Lantern harbour 58 quietly Orchid"
		status, body = c.post("/password/reset/new", url.Values{"new_password": {chosen}, "confirm_password": {chosen}, "action": {"reset"}})
		require.Equal(t, http.StatusOK, status, body)
		require.Contains(t, body, "Demo AD (Samba)")
		ldaps := regexp.MustCompile(`Samba AD DC at (ldaps://\S+)`).FindStringSubmatch(first.output())
		require.NotNil(t, ldaps)
		ca, err := os.ReadFile(filepath.Join(clone, "var", "samba", "tls", "ca.pem"))
		require.NoError(t, err)
		roots := x509.NewCertPool()
		require.True(t, roots.AppendCertsFromPEM(ca))
		conn, err := ldap.DialURL(ldaps[1], ldap.DialWithTLSConfig(&tls.Config{RootCAs: roots, ServerName: sambadc.SambaHostName, MinVersion: tls.VersionTLS12}))
		require.NoError(t, err)
		require.NoError(t, conn.Bind("zoe@tessera.test", chosen), "Zoë signs in to the demo AD with her new password")
		conn.Close()

		link, err := os.Readlink(filepath.Join(clone, "var", "postgres", "data"))
		require.NoError(t, err, "as root the data directory lives where the postgres user can reach it")
		require.True(t, strings.HasPrefix(link, localpg.RelocatedBase+"/"), link)
	}
	first.stop(t)

	// The data is kept: the second start seeds nothing.
	second := startDev(t, bin, clone, append(env, "TESSERA_DEMO_AD=off"))
	second.waitFor(t, "Tessera is serving at")
	get("/signin", `name="account"`)
	second.stop(t)
	require.NotContains(t, second.output(), "seeded")
}

// devProcess is a running `tessera dev` whose output the test reads.
type devProcess struct {
	cmd   *exec.Cmd
	lines chan string
	done  chan struct{}
	out   strings.Builder
}

func startDev(t *testing.T, bin, dir string, env []string) *devProcess {
	t.Helper()
	cmd := exec.Command(bin, "dev")
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	require.NoError(t, cmd.Start())
	p := &devProcess{cmd: cmd, lines: make(chan string, 1024), done: make(chan struct{})}
	go func() {
		cmd.Wait() //nolint:errcheck // the output says why
		pw.Close()
	}()
	go func() {
		defer close(p.done)
		defer close(p.lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // may have ended
		<-p.done
		if t.Failed() {
			t.Logf("tessera dev output:\n%s", p.out.String())
		}
	})
	return p
}

// waitFor returns the first line of output containing s, failing the test
// when the process ends first or 5 minutes pass (a first demo AD installs
// Samba).
func (p *devProcess) waitFor(t *testing.T, s string) string {
	t.Helper()
	deadline := time.After(5 * time.Minute)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("tessera dev ended before printing %q:\n%s", s, p.out.String())
			}
			p.out.WriteString(line + "\n")
			if strings.Contains(line, s) {
				return line
			}
		case <-deadline:
			t.Fatalf("tessera dev did not print %q within 5 minutes:\n%s", s, p.out.String())
		}
	}
}

// stop ends the process as Ctrl-C does and collects the rest of its output.
func (p *devProcess) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	for line := range p.lines {
		p.out.WriteString(line + "\n")
	}
	<-p.done
}

// output is what the process printed so far, as read by waitFor and stop.
func (p *devProcess) output() string { return p.out.String() }

func copyExecutable(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}

func devPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func devAddr(t *testing.T) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(devPort(t))
}
