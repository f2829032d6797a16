// Package sambadc runs Samba Active Directory domain controllers on
// loopback addresses: a real AD for Tessera's tests (e2e/harness) and for
// the `tessera dev` demo. It installs Samba with apt-get when missing and
// this process is root, provisions one domain per machine into a cache,
// and starts copies of it in about half a second each.
package sambadc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// TB is the part of testing.TB that Dial and Outage use.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Logf reports progress (testing.TB's Logf, or a logger's).
type Logf func(format string, args ...any)

// The domain every Samba DC of the harness serves. All instances are copies
// of one provisioned domain, so they share the domain SID and the
// Administrator password.
const (
	SambaRealm    = "TESSERA.TEST"
	SambaDomain   = "TESSERA" // NetBIOS name
	SambaBaseDN   = "DC=tessera,DC=test"
	SambaHostName = "dc1.tessera.test" // the DC's DNS name, in its certificate
	sambaNetBIOS  = "DC1"
	sambaAdminPwd = "Tessera-Admin-1"
)

// sambaPackages and sambaAptOptions install a Samba AD DC with the client
// tools on Debian; apt starts no daemons where policy-rc.d forbids it.
var (
	sambaPackages   = []string{"samba", "samba-ad-dc", "winbind", "ldb-tools", "ldap-utils", "krb5-user"}
	sambaAptOptions = []string{"-y", "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"}
)

// sambaReadyTimeout bounds how long a DC may take to accept an LDAPS bind.
const sambaReadyTimeout = 60 * time.Second

// DC is a running Samba Active Directory domain controller that only
// serves LDAP (389, 636, 3268, 3269) on its own loopback address. Simple
// binds need TLS: use LDAPSURL with TLSConfig, or Dial.
type DC struct {
	IP            string // its own loopback address, 127.0.n.m
	LDAPSURL      string // ldaps://IP:636
	BaseDN        string // DC=tessera,DC=test
	Realm         string // TESSERA.TEST
	Domain        string // TESSERA, the NetBIOS domain name
	HostName      string // dc1.tessera.test, the name in its certificate
	AdminUPN      string // Administrator@TESSERA.TEST
	AdminPassword string
	CAFile        string // PEM file of the CA that signed the DC's certificate

	dir      string
	roots    *x509.CertPool
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the samba process has exited
	addrLock *os.File
	keepDir  bool // the directory outlives the DC (the template, a dev DC)
	shared   bool // Shared's
	stopOnce sync.Once
}

var samba struct {
	prepareOnce sync.Once
	prepareErr  error
	bin         string // path of the samba executable
	tool        string // path of samba-tool
	cache       string // per-machine cache dir, one per Samba version

	sharedOnce sync.Once
	sharedErr  error
	shared     *DC

	mu      sync.Mutex
	running map[*DC]bool
	n       atomic.Int64 // instances started by this process
	addrN   atomic.Int64 // addresses tried by this process
}

// New starts a domain controller of its own: a new copy of the
// provisioned domain on its own address. Stop it with Stop.
func New(logf Logf) (*DC, error) {
	return newSamba(logf)
}

// Shared returns the process's shared domain controller, started on first
// use and stopped by StopAll. Its users share its directory, so each should
// create objects under names of its own.
func Shared(logf Logf) (*DC, error) {
	samba.sharedOnce.Do(func() {
		samba.shared, samba.sharedErr = newSamba(logf)
		if samba.shared != nil {
			samba.shared.shared = true
		}
	})
	return samba.shared, samba.sharedErr
}

// TLSConfig trusts only the DC's CA and expects its host name, so a client
// checks the server certificate as it would against a production DC.
func (dc *DC) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: dc.roots, ServerName: dc.HostName, MinVersion: tls.VersionTLS12}
}

// Dial opens an LDAPS connection bound as Administrator, closed when tb ends.
func (dc *DC) Dial(tb TB) *ldap.Conn {
	tb.Helper()
	conn, err := dc.bind(dc.AdminUPN, dc.AdminPassword)
	if err != nil {
		tb.Fatalf("harness: samba %s: %v", dc.IP, err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

func (dc *DC) bind(user, password string) (*ldap.Conn, error) {
	conn, err := ldap.DialURL(dc.LDAPSURL,
		ldap.DialWithTLSConfig(dc.TLSConfig()),
		ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
	if err != nil {
		return nil, err
	}
	conn.SetTimeout(30 * time.Second)
	if err := conn.Bind(user, password); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// StopAll stops every DC this process started and still runs.
func StopAll() {
	samba.mu.Lock()
	var dcs []*DC
	for dc := range samba.running {
		dcs = append(dcs, dc)
	}
	samba.mu.Unlock()
	for _, dc := range dcs {
		dc.Stop()
	}
}

// newSamba copies the provisioned domain into a directory of its own,
// points its smb.conf there and at a free loopback address with a new
// certificate, and starts samba on it.
func newSamba(logf Logf) (*DC, error) {
	samba.prepareOnce.Do(func() { samba.prepareErr = prepareSamba(logf) })
	if samba.prepareErr != nil {
		return nil, samba.prepareErr
	}
	start := time.Now()
	dir := filepath.Join(samba.cache, fmt.Sprintf("dc-%d-%d", os.Getpid(), samba.n.Add(1)))
	// The shared lock keeps the cleanup in prepareSamba away from the
	// template and the address locks while this copies and picks.
	lock, err := lockFile(filepath.Join(samba.cache, "lock"), syscall.LOCK_SH)
	if err != nil {
		return nil, err
	}
	var (
		ip       string
		addrLock *os.File
	)
	err = copyDir(filepath.Join(samba.cache, "template"), dir)
	if err == nil {
		ip, addrLock, err = pickSambaAddr()
	}
	lock.Close()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	dc, err := startSambaIn(dir, ip, addrLock)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	logf("samba DC on %s ready in %s", dc.IP, time.Since(start).Round(time.Millisecond))
	return dc, nil
}

// startSambaIn rewrites dir/etc/smb.conf for dir and ip, makes the DC's
// certificate and starts samba; it returns once Administrator can bind over
// LDAPS. The DC owns addrLock from here on.
func startSambaIn(dir, ip string, addrLock *os.File) (*DC, error) {
	dc := &DC{
		IP:            ip,
		LDAPSURL:      "ldaps://" + ip + ":636",
		BaseDN:        SambaBaseDN,
		Realm:         SambaRealm,
		Domain:        SambaDomain,
		HostName:      SambaHostName,
		AdminUPN:      "Administrator@" + SambaRealm,
		AdminPassword: sambaAdminPwd,
		CAFile:        filepath.Join(dir, "tls", "ca.pem"),
		dir:           dir,
		addrLock:      addrLock,
		exited:        make(chan struct{}),
	}
	fail := func(err error) (*DC, error) {
		addrLock.Close()
		return nil, err
	}
	if err := rewriteSmbConf(dir, ip); err != nil {
		return fail(err)
	}
	var err error
	if dc.roots, err = writeSambaTLS(filepath.Join(dir, "tls"), ip); err != nil {
		return fail(err)
	}
	out, err := os.Create(filepath.Join(dir, "log", "samba.out"))
	if err != nil {
		return fail(err)
	}
	defer out.Close() // the child has its own descriptor
	// `samba -i` ends at EOF on stdin from a pipe, but not on /dev/null,
	// which is what a nil Stdin gives.
	dc.cmd = exec.Command(samba.bin, "-i", "-M", "single", "-s", filepath.Join(dir, "etc", "smb.conf"))
	dc.cmd.Stdout, dc.cmd.Stderr = out, out
	dc.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // dies with the test binary
	if err := dc.cmd.Start(); err != nil {
		return fail(fmt.Errorf("start samba: %w", err))
	}
	go func() { dc.cmd.Wait(); close(dc.exited) }() //nolint:errcheck // the exit shows in the log
	samba.mu.Lock()
	if samba.running == nil {
		samba.running = map[*DC]bool{}
	}
	samba.running[dc] = true
	samba.mu.Unlock()

	if err := dc.waitReady(); err != nil {
		dc.Stop()
		return nil, err
	}
	return dc, nil
}

// waitReady polls until Administrator can bind over LDAPS, which is also
// what a test does first.
func (dc *DC) waitReady() error {
	deadline := time.Now().Add(sambaReadyTimeout)
	var lastErr error
	for {
		select {
		case <-dc.exited:
			return fmt.Errorf("samba on %s exited (%v) before it accepted a bind; log:\n%s", dc.IP, dc.cmd.ProcessState, dc.log())
		default:
		}
		conn, err := dc.bind(dc.AdminUPN, dc.AdminPassword)
		if err == nil {
			conn.Close()
			return nil
		}
		lastErr = err
		if time.Now().After(deadline) {
			return fmt.Errorf("samba on %s: no LDAPS bind within %s (last error: %v); log:\n%s", dc.IP, sambaReadyTimeout, lastErr, dc.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// log returns the end of samba's output, for failure messages.
func (dc *DC) log() string {
	b, err := os.ReadFile(filepath.Join(dc.dir, "log", "samba.out"))
	if err != nil {
		return err.Error()
	}
	return outputTail(b)
}

// Stop ends samba with SIGTERM (SIGKILL after 10 s), then removes its
// directory (unless it is kept) and frees its address.
func (dc *DC) Stop() {
	dc.stopOnce.Do(func() {
		dc.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // may have exited already
		select {
		case <-dc.exited:
		case <-time.After(10 * time.Second):
			dc.cmd.Process.Kill() //nolint:errcheck
			<-dc.exited
		}
		if !dc.keepDir {
			os.RemoveAll(dc.dir)
		}
		dc.addrLock.Close()
		samba.mu.Lock()
		delete(samba.running, dc)
		samba.mu.Unlock()
	})
}

// prepareSamba installs Samba when it is missing and provisions the domain
// once per machine and Samba version into the cache directory.
func prepareSamba(logf Logf) error {
	if !sambaInstalled() {
		start := time.Now()
		if err := installSamba(logf); err != nil {
			return err
		}
		logf("installed Samba in %s", time.Since(start).Round(time.Millisecond))
	}
	samba.bin, samba.tool = lookSbin("samba"), lookSbin("samba-tool")
	out, err := exec.Command(samba.bin, "-V").CombinedOutput()
	if err != nil {
		return commandError(samba.bin+" -V", err, out)
	}
	version := strings.TrimPrefix(strings.TrimSpace(string(out)), "Version ")
	version = regexp.MustCompile(`[^A-Za-z0-9.+-]`).ReplaceAllString(version, "_")
	samba.cache = filepath.Join(os.TempDir(), "tessera-samba-"+version)
	if err := os.MkdirAll(filepath.Join(samba.cache, "addr"), 0o755); err != nil {
		return err
	}

	// Provision under an exclusive lock, so that parallel test binaries
	// wait for one provisioning instead of each running their own.
	lock, err := lockFile(filepath.Join(samba.cache, "lock"), syscall.LOCK_EX)
	if err != nil {
		return err
	}
	defer lock.Close()
	removeStaleSambaFiles()
	// template.ok names how the template was made: a harness that makes it
	// differently provisions again.
	recipe := fmt.Sprintf("realm=%s domain=%s host=%s admin=%s harness=1\n", SambaRealm, SambaDomain, sambaNetBIOS, sambaAdminPwd)
	if b, err := os.ReadFile(filepath.Join(samba.cache, "template.ok")); err == nil && string(b) == recipe {
		return nil
	}
	start := time.Now()
	if err := provisionSamba(filepath.Join(samba.cache, "template")); err != nil {
		return fmt.Errorf("provision the domain in %s: %w", samba.cache, err)
	}
	logf("provisioned the Samba domain into %s in %s (once per machine)",
		samba.cache, time.Since(start).Round(time.Millisecond))
	return os.WriteFile(filepath.Join(samba.cache, "template.ok"), []byte(recipe), 0o644)
}

// installSamba installs the Samba packages with apt-get when the tests run
// as root; otherwise, or when apt-get fails, it names the command to run.
func installSamba(logf Logf) error {
	install := "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -q " +
		strings.Join(sambaAptOptions, " ") + " " + strings.Join(sambaPackages, " ")
	if os.Geteuid() != 0 {
		return fmt.Errorf("samba is not installed; install it as root with: %s", install)
	}
	logf("installing Samba with apt-get (about a minute, once per machine)")
	if err := AptGet(logf, "update"); err != nil {
		return fmt.Errorf("install Samba: %w\nto install it by hand: %s", err, install)
	}
	if err := AptGet(logf, append(append([]string{"install"}, sambaAptOptions...), sambaPackages...)...); err != nil {
		return fmt.Errorf("install Samba: %w\nto install it by hand: %s", err, install)
	}
	if !sambaInstalled() {
		return fmt.Errorf("installed %s, but samba or samba-tool is still missing", strings.Join(sambaPackages, " "))
	}
	return nil
}

func sambaInstalled() bool {
	return lookSbin("samba") != "" && lookSbin("samba-tool") != ""
}

// lookSbin finds command on PATH or in the sbin directories, which a
// non-root PATH often lacks.
func lookSbin(command string) string {
	if p, err := exec.LookPath(command); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		if p, err := exec.LookPath(filepath.Join(dir, command)); err == nil {
			return p
		}
	}
	return ""
}

// provisionSamba provisions the domain into dir, configures TLS with the
// harness's own certificate and starts and stops it once: the first start
// still writes to the databases, and every copy should begin where it ended.
func provisionSamba(dir string) error {
	ip, addrLock, err := pickSambaAddr()
	if err != nil {
		return err
	}
	if err := provisionSambaConf(dir, ip); err != nil {
		addrLock.Close()
		return err
	}
	dc, err := startSambaIn(dir, ip, addrLock)
	if err != nil {
		return err
	}
	dc.keepDir = true
	dc.Stop()
	os.Remove(filepath.Join(dir, "run", "samba.pid"))
	os.RemoveAll(filepath.Join(dir, "log"))
	return os.MkdirAll(filepath.Join(dir, "log"), 0o755)
}

// provisionSambaConf runs samba-tool domain provision into dir for ip and
// adds the harness's settings to the smb.conf it writes.
func provisionSambaConf(dir, ip string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	// Provision creates neither cache/ nor the others' parents; ntp_signd
	// must be left to samba, which wants it 0750.
	for _, sub := range []string{"run", "log", "cache"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	cmd := exec.Command(samba.tool, "domain", "provision", "--quiet",
		"--targetdir="+dir, "--realm="+SambaRealm, "--domain="+SambaDomain,
		"--host-name="+sambaNetBIOS, "--server-role=dc", "--dns-backend=NONE",
		"--use-rfc2307", "--adminpass="+sambaAdminPwd, "--host-ip="+ip,
		"--option=interfaces = "+ip+"/8", "--option=bind interfaces only = yes",
		"--option=server services = ldap",
		"--option=pid directory = "+dir+"/run", "--option=log file = "+dir+"/log/log.%m",
		"--option=ncalrpc dir = "+dir+"/run/ncalrpc",
		"--option=winbindd socket directory = "+dir+"/run/winbindd",
		"--option=ntp signd socket directory = "+dir+"/run/ntp_signd")
	if out, err := cmd.CombinedOutput(); err != nil {
		return commandError("samba-tool domain provision", err, out)
	}

	conf := filepath.Join(dir, "etc", "smb.conf")
	b, err := os.ReadFile(conf)
	if err != nil {
		return err
	}
	// Provision does not keep `old password allowed period`; without 0 an
	// old password still binds for an hour after a reset.
	extra := strings.Join([]string{
		"\ttls enabled = yes",
		"\ttls keyfile = " + dir + "/tls/key.pem",
		"\ttls certfile = " + dir + "/tls/cert.pem",
		"\ttls cafile = " + dir + "/tls/ca.pem",
		"\told password allowed period = 0",
	}, "\n")
	rest, ok := strings.CutPrefix(string(b), "# Global parameters\n[global]\n")
	if !ok {
		return fmt.Errorf("%s does not start with [global]:\n%s", conf, b)
	}
	return os.WriteFile(conf, []byte("# Global parameters\n[global]\n"+extra+"\n"+rest), 0o644)
}

var sambaInterfacesLine = regexp.MustCompile(`(?m)^(\s*interfaces\s*=).*$`)

// rewriteSmbConf points the smb.conf of a copied domain at its new
// directory and address: provision writes absolute paths into smb.conf, and
// nowhere else.
func rewriteSmbConf(dir, ip string) error {
	conf := filepath.Join(dir, "etc", "smb.conf")
	b, err := os.ReadFile(conf)
	if err != nil {
		return err
	}
	s := strings.ReplaceAll(string(b), filepath.Join(samba.cache, "template"), dir)
	if !sambaInterfacesLine.MatchString(s) {
		return fmt.Errorf("%s has no interfaces line", conf)
	}
	s = sambaInterfacesLine.ReplaceAllString(s, "${1} "+ip+"/8")
	return os.WriteFile(conf, []byte(s), 0o644)
}

// pickSambaAddr returns a loopback address 127.0.n.m (n ≥ 2: Debian maps the
// host name to 127.0.1.1) on which nothing serves LDAP, and a lock on it that
// other test binaries respect. The first candidate follows from the process
// ID, so parallel test binaries rarely try the same ones.
func pickSambaAddr() (string, *os.File, error) {
	const size = 253 * 254
	base := os.Getpid() * 16
	for range 4096 {
		k := (base + int(samba.addrN.Add(1)) - 1) % size
		ip := fmt.Sprintf("127.0.%d.%d", 2+k/254, 1+k%254)
		lock, err := lockFile(filepath.Join(samba.cache, "addr", ip), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			continue
		} else if err != nil {
			return "", nil, err
		}
		if ldapPortsFree(ip) {
			return ip, lock, nil
		}
		lock.Close()
	}
	return "", nil, errors.New("no free loopback address for samba in 127.0.2.1–127.0.254.254")
}

// ldapPortsFree reports whether no server answers on ip's LDAP ports,
// including one listening on all addresses.
func ldapPortsFree(ip string) bool {
	for _, port := range []int{389, 636, 3268, 3269} {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, strconv.Itoa(port)), time.Second)
		if err == nil {
			c.Close()
			return false
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return false
		}
	}
	return true
}

// lockFile opens (creating) path and flocks it with how; closing the file
// releases the lock, as does the process's exit.
func lockFile(path string, how int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// removeStaleSambaFiles removes the directories of instances whose test
// binary died without stopping them (samba died with it), and the address
// locks nobody holds. The caller holds the exclusive lock, so no one is
// about to open an address lock that this unlinks.
func removeStaleSambaFiles() {
	dirs, _ := filepath.Glob(filepath.Join(samba.cache, "dc-*-*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.Split(filepath.Base(d), "-")[1])
		if err != nil || syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(d)
		}
	}
	locks, _ := filepath.Glob(filepath.Join(samba.cache, "addr", "*"))
	for _, path := range locks {
		if f, err := lockFile(path, syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
			os.Remove(path)
			f.Close()
		}
	}
}

// copyDir copies the provisioned domain; cp keeps the modes that samba
// checks (private/ 0700, ntp_signd 0750).
func copyDir(src, dst string) error {
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		return commandError("cp -a "+src+" "+dst, err, out)
	}
	return nil
}

// writeSambaTLS writes a new CA and a server certificate it signs for ip and
// SambaHostName into dir, and returns a pool with the CA. Samba's own
// self-signed certificate sometimes has a negative serial number, which Go
// refuses to parse.
func writeSambaTLS(dir, ip string) (*x509.CertPool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	serial := func() *big.Int {
		n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
		return n
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Tessera test CA for Samba " + ip},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: SambaHostName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{SambaHostName, sambaNetBIOS},
		IPAddresses:  []net.IP{net.ParseIP(ip)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"ca.pem", caPEM, 0o644},
		{"cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644},
		{"key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600}, // samba insists on 0600
	}
	for _, f := range files {
		os.Remove(filepath.Join(dir, f.name)) // WriteFile keeps an old file's mode
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return nil, err
		}
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return roots, nil
}

// Outage stops a FreshSamba DC, keeping its domain, so that tests see AD
// unreachable (connections refused); calling the returned function starts
// it again on the same address with the same data.
func (dc *DC) Outage(tb TB) (restore func()) {
	tb.Helper()
	if dc.shared {
		tb.Fatal("harness: Outage needs a DC of its own, not the shared one")
	}
	dc.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck
	<-dc.exited
	return func() {
		tb.Helper()
		dc.exited = make(chan struct{})
		dc.cmd = exec.Command(samba.bin, "-i", "-M", "single", "-s", filepath.Join(dc.dir, "etc", "smb.conf"))
		out, err := os.OpenFile(filepath.Join(dc.dir, "log", "samba.out"), os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			tb.Fatal(err)
		}
		defer out.Close()
		dc.cmd.Stdout, dc.cmd.Stderr = out, out
		dc.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		if err := dc.cmd.Start(); err != nil {
			tb.Fatalf("harness: restart samba: %v", err)
		}
		exited := dc.exited
		go func() { dc.cmd.Wait(); close(exited) }() //nolint:errcheck
		if err := dc.waitReady(); err != nil {
			tb.Fatalf("harness: restart samba: %v", err)
		}
	}
}

// StartIn starts the domain controller kept in dir (the dev stack's),
// copying the provisioned domain there on first use. It listens on the
// address it had last time when that is free, so that a connected system
// saved with it still reaches it; Stop keeps dir. Its certificate is new at
// every start: give clients the CA in CAFile again.
func StartIn(dir string, logf Logf) (*DC, error) {
	samba.prepareOnce.Do(func() { samba.prepareErr = prepareSamba(logf) })
	if samba.prepareErr != nil {
		return nil, samba.prepareErr
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "etc", "smb.conf")); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return nil, err
		}
		os.RemoveAll(dir)
		lock, err := lockFile(filepath.Join(samba.cache, "lock"), syscall.LOCK_SH)
		if err != nil {
			return nil, err
		}
		err = copyDir(filepath.Join(samba.cache, "template"), dir)
		lock.Close()
		if err != nil {
			return nil, err
		}
	}
	var (
		ip       string
		addrLock *os.File
	)
	if b, err := os.ReadFile(filepath.Join(dir, "address")); err == nil {
		last := strings.TrimSpace(string(b))
		if l, err := lockFile(filepath.Join(samba.cache, "addr", last), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
			if ldapPortsFree(last) {
				ip, addrLock = last, l
			} else {
				l.Close()
			}
		}
	}
	if ip == "" {
		if ip, addrLock, err = pickSambaAddr(); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "address"), []byte(ip+"\n"), 0o644); err != nil {
		addrLock.Close()
		return nil, err
	}
	os.Remove(filepath.Join(dir, "run", "samba.pid"))
	dc, err := startSambaIn(dir, ip, addrLock)
	if err != nil {
		return nil, err
	}
	dc.keepDir = true
	logf("samba DC in %s on %s", dir, ip)
	return dc, nil
}
