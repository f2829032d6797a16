package harness

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// The credentials the SMTP sink accepts with AUTH PLAIN. AUTH is optional:
// the sink also takes mail from a client that does not authenticate, but a
// client that tries other credentials gets 535.
const (
	SMTPUsername = "tessera"
	SMTPPassword = "sink-secret"
)

// Mail is one message the SMTP sink received, decoded.
type Mail struct {
	From     string   // address in the From header
	To       []string // addresses in the To header
	Rcpt     []string // envelope recipients (RCPT TO)
	Subject  string   // decoded
	Text     string   // the text/plain part, decoded
	HTML     string   // the text/html part, decoded
	Header   mail.Header
	AuthUser string // the AUTH PLAIN user, "" without AUTH
	TLS      bool   // whether the message came over TLS (STARTTLS or implicit)
	// Conn is the client's address and port: messages that share it came
	// over one connection.
	Conn string
	Raw  []byte
}

// MailSink is a real SMTP server on loopback, shared by the test binary,
// that keeps every message it accepts. It offers STARTTLS on Port and
// implicit TLS on TLSPort, with a self-signed certificate for 127.0.0.1 and
// localhost that CAFile holds. Tests share it, so each test should send to
// its own recipient address and look for that.
type MailSink struct {
	srv     *smtp.Server
	addr    string
	tlsAddr string
	dir     string
	caFile  string

	mu    sync.Mutex
	mails []Mail
	open  map[*smtp.Conn]bool // the connections open now
	// byAddr indexes mails by recipient (lower case, envelope and To
	// header), in the order they came; arrivedTo is closed, and
	// forgotten, when a message to its address arrives (WaitTo): a reader
	// of one mailbox among many reads and wakes for its own mail only,
	// as a mail client does, not for everyone's.
	byAddr    map[string][]int
	arrivedTo map[string]chan struct{}
}

var sink struct {
	once sync.Once
	err  error
	s    *MailSink
}

// SMTP returns the test binary's SMTP sink, started on first use and
// stopped by Stop.
func SMTP(tb testing.TB) *MailSink {
	tb.Helper()
	sink.once.Do(func() { sink.s, sink.err = startSMTP() })
	if sink.err != nil {
		tb.Fatalf("harness: smtp sink: %v", sink.err)
	}
	return sink.s
}

func startSMTP() (*MailSink, error) {
	s := &MailSink{}
	var err error
	if s.dir, err = os.MkdirTemp("", "tessera-smtp-"); err != nil {
		return nil, err
	}
	cert, certPEM, err := selfSignedCert()
	if err != nil {
		os.RemoveAll(s.dir)
		return nil, err
	}
	s.caFile = filepath.Join(s.dir, "ca.pem")
	if err := os.WriteFile(s.caFile, certPEM, 0o644); err != nil {
		os.RemoveAll(s.dir)
		return nil, err
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(s.dir)
		return nil, err
	}
	tl, err := tls.Listen("tcp", "127.0.0.1:0", tlsCfg)
	if err != nil {
		l.Close()
		os.RemoveAll(s.dir)
		return nil, err
	}
	s.addr, s.tlsAddr = l.Addr().String(), tl.Addr().String()

	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		if s.open == nil {
			s.open = map[*smtp.Conn]bool{}
		}
		s.open[c] = true
		s.mu.Unlock()
		return &sinkSession{sink: s, conn: c}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.TLSConfig = tlsCfg // advertises STARTTLS on the plain port
	s.srv.AllowInsecureAuth = true
	s.srv.MaxMessageBytes = 10 << 20
	s.srv.MaxRecipients = 100
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	// Clients that hang up mid-session (a canceled send) are normal here.
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	go s.srv.Serve(l)  //nolint:errcheck // ends with ErrServerClosed on Stop
	go s.srv.Serve(tl) //nolint:errcheck
	return s, nil
}

// NewSMTPSink starts a sink of tb's own, stopped when tb ends: for a test
// that drops the sink's connections (DropConnections), which would disturb
// the tests sharing SMTP's.
func NewSMTPSink(tb testing.TB) *MailSink {
	tb.Helper()
	s, err := startSMTP()
	if err != nil {
		tb.Fatalf("harness: smtp sink: %v", err)
	}
	tb.Cleanup(func() {
		s.srv.Close() //nolint:errcheck
		os.RemoveAll(s.dir)
	})
	return s
}

// DropConnections closes every connection open now without a word, as a
// relay does that restarts or forgets idle clients.
func (s *MailSink) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.open {
		c.Conn().Close()
	}
}

// stopSMTP closes the sink and removes its certificate.
func stopSMTP() {
	if sink.s == nil {
		return
	}
	sink.s.srv.Close() //nolint:errcheck
	os.RemoveAll(sink.s.dir)
	sink.s = nil
}

// Addr is host:port of the STARTTLS (and clear-text) listener.
func (s *MailSink) Addr() string { return s.addr }

// Host is the listeners' host, 127.0.0.1.
func (s *MailSink) Host() string { h, _, _ := net.SplitHostPort(s.addr); return h }

// Port is the port that offers STARTTLS and also accepts clear text.
func (s *MailSink) Port() int { return portOf(s.addr) }

// TLSPort is the port that speaks TLS from the first byte.
func (s *MailSink) TLSPort() int { return portOf(s.tlsAddr) }

// CAFile is a PEM file with the sink's certificate, for clients to trust.
func (s *MailSink) CAFile() string { return s.caFile }

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

// Messages returns a copy of every message received since the start or the
// last Reset.
func (s *MailSink) Messages() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mails)
}

// Count is how many messages were received since the start or the last
// Reset: Since(Count()) later holds only what came after.
func (s *MailSink) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mails)
}

// Since returns a copy of the messages received after the first n, as a
// mail client reads only what is new rather than the whole mailbox.
func (s *MailSink) Since(n int) []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n > len(s.mails) {
		return nil
	}
	return slices.Clone(s.mails[n:])
}

// To returns a copy of the messages to addr (header or envelope, any
// case) among those received after the first n, in the order they came.
func (s *MailSink) To(addr string, n int) []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := s.byAddr[strings.ToLower(addr)]
	first, _ := slices.BinarySearch(idx, n)
	out := make([]Mail, 0, len(idx)-first)
	for _, i := range idx[first:] {
		out = append(out, s.mails[i])
	}
	return out
}

// WaitTo waits until more than k messages to addr (as To counts them)
// came after the first n of the sink's, or until deadline, woken only by
// mail to addr; it reports whether they did.
func (s *MailSink) WaitTo(addr string, n, k int, deadline time.Time) bool {
	addr = strings.ToLower(addr)
	for {
		s.mu.Lock()
		idx := s.byAddr[addr]
		if first, _ := slices.BinarySearch(idx, n); len(idx)-first > k {
			s.mu.Unlock()
			return true
		}
		if s.arrivedTo == nil {
			s.arrivedTo = map[string]chan struct{}{}
		}
		arrived, ok := s.arrivedTo[addr]
		if !ok {
			arrived = make(chan struct{})
			s.arrivedTo[addr] = arrived
		}
		s.mu.Unlock()
		wait := time.Until(deadline)
		if wait <= 0 {
			return false
		}
		t := time.NewTimer(wait)
		select {
		case <-arrived:
			t.Stop()
		case <-t.C:
			return false
		}
	}
}

// Reset forgets the messages received so far. The sink is shared by the
// test binary: a parallel test should filter by recipient instead.
func (s *MailSink) Reset() {
	s.mu.Lock()
	s.mails, s.byAddr = nil, nil
	s.mu.Unlock()
}

// WaitFor returns the first message to `to` (header or envelope, any case)
// whose subject contains subjectContains, waiting up to timeout; otherwise
// it fails tb with the list of what did arrive.
func (s *MailSink) WaitFor(tb testing.TB, to, subjectContains string, timeout time.Duration) Mail {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, m := range s.Messages() {
			if strings.Contains(m.Subject, subjectContains) && (containsFold(m.To, to) || containsFold(m.Rcpt, to)) {
				return m
			}
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var got []string
	for _, m := range s.Messages() {
		got = append(got, fmt.Sprintf("to %s: %q", strings.Join(m.Rcpt, ", "), m.Subject))
	}
	if len(got) == 0 {
		got = []string{"(none)"}
	}
	tb.Fatalf("harness: no mail to %s with subject containing %q within %s; received:\n  %s",
		to, subjectContains, timeout, strings.Join(got, "\n  "))
	return Mail{}
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(v string) bool { return strings.EqualFold(v, s) })
}

// sinkSession is one SMTP connection's state.
type sinkSession struct {
	sink     *MailSink
	conn     *smtp.Conn
	authUser string
	from     string
	rcpt     []string
}

func (ss *sinkSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *sinkSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != SMTPUsername || password != SMTPPassword {
			return smtp.ErrAuthFailed
		}
		ss.authUser = username
		return nil
	}), nil
}

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.rcpt = append(ss.rcpt, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := parseMail(raw)
	if err != nil {
		// Refuse what a mail reader could not show either, so that the
		// sending test fails with the reason.
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "harness sink: " + err.Error()}
	}
	m.Rcpt = slices.Clone(ss.rcpt)
	m.AuthUser = ss.authUser
	_, m.TLS = ss.conn.TLSConnectionState()
	m.Conn = ss.conn.Conn().RemoteAddr().String()
	s := ss.sink
	s.mu.Lock()
	s.mails = append(s.mails, m)
	if s.byAddr == nil {
		s.byAddr = map[string][]int{}
	}
	for _, a := range slices.Concat(m.Rcpt, m.To) {
		a = strings.ToLower(a)
		if idx := s.byAddr[a]; len(idx) == 0 || idx[len(idx)-1] != len(s.mails)-1 {
			s.byAddr[a] = append(idx, len(s.mails)-1)
		}
		if ch, ok := s.arrivedTo[a]; ok {
			close(ch)
			delete(s.arrivedTo, a)
		}
	}
	s.mu.Unlock()
	return nil
}

func (ss *sinkSession) Reset() { ss.from, ss.rcpt = "", nil }

func (ss *sinkSession) Logout() error {
	ss.sink.mu.Lock()
	delete(ss.sink.open, ss.conn)
	ss.sink.mu.Unlock()
	return nil
}

// parseMail decodes the headers and the text and HTML bodies of a message.
func parseMail(raw []byte) (Mail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Mail{}, fmt.Errorf("read message: %w", err)
	}
	m := Mail{Header: msg.Header, Raw: raw}
	from, err := msg.Header.AddressList("From")
	if err != nil {
		return Mail{}, fmt.Errorf("From header: %w", err)
	}
	m.From = from[0].Address // AddressList fails on an empty list
	to, err := msg.Header.AddressList("To")
	if err != nil {
		return Mail{}, fmt.Errorf("To header: %w", err)
	}
	for _, a := range to {
		m.To = append(m.To, a.Address)
	}
	if m.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return Mail{}, fmt.Errorf("Subject header: %w", err)
	}
	err = walkPart(&m, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	return m, err
}

// walkPart stores the first text/plain and text/html leaves of a MIME tree.
func walkPart(m *Mail, contentType, encoding string, body io.Reader) error {
	if contentType == "" {
		contentType = "text/plain"
	}
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("Content-Type %q: %w", contentType, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return fmt.Errorf("%s: %w", mediaType, err)
			}
			if err := walkPart(m, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "", "7bit", "8bit", "binary":
	default:
		return fmt.Errorf("unknown Content-Transfer-Encoding %q", encoding)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("%s body: %w", mediaType, err)
	}
	if cs := strings.ToLower(params["charset"]); cs != "" && cs != "utf-8" && cs != "us-ascii" {
		return fmt.Errorf("%s in charset %s: the sink reads UTF-8 only", mediaType, cs)
	}
	switch {
	case mediaType == "text/plain" && m.Text == "":
		m.Text = string(b)
	case mediaType == "text/html" && m.HTML == "":
		m.HTML = string(b)
	}
	return nil
}

// selfSignedCert makes a certificate for the loopback names that is its
// own CA, valid for a day.
func selfSignedCert() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Tessera test SMTP sink"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certPEM, nil
}
