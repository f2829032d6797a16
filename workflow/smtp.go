package workflow

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/tessera-idm/tessera/portal"
)

// SMTP transport security modes.
const (
	SMTPStartTLS = "starttls" // port 587, STARTTLS required (the default)
	SMTPTLS      = "tls"      // port 465, TLS from the first byte
	SMTPNone     = "none"     // port 25, clear text: loopback relays only
)

// smtpTimeout bounds one delivery when ctx has no earlier deadline.
const smtpTimeout = 30 * time.Second

// SMTPConfig says how Tessera reaches its mail relay.
type SMTPConfig struct {
	Host     string // TESSERA_SMTP_HOST
	Port     int    // TESSERA_SMTP_PORT; 0 means 587, 465 or 25 by TLS mode
	Username string // TESSERA_SMTP_USERNAME; empty sends without AUTH
	Password string // TESSERA_SMTP_PASSWORD
	TLS      string // TESSERA_SMTP_TLS: starttls (default), tls or none
	// CAFile is a PEM file of the CAs that sign the relay's certificate
	// (TESSERA_SMTP_CA_FILE), for a relay with a private CA; empty trusts
	// the system's CAs.
	CAFile string
	From   string // TESSERA_MAIL_FROM, e.g. "Tessera <tessera@example.com>"
}

// Enabled reports whether email is configured at all.
func (c SMTPConfig) Enabled() bool { return c.Host != "" }

// String describes the configuration without the password, so that a
// logged or printed config never leaks it.
func (c SMTPConfig) String() string {
	auth := "no auth"
	if c.Username != "" {
		auth = "user " + c.Username
	}
	return fmt.Sprintf("smtp://%s (%s, %s, from %s)", net.JoinHostPort(c.Host, strconv.Itoa(c.port())), c.tlsMode(), auth, c.From)
}

// Validate reports every mistake in c at once.
func (c SMTPConfig) Validate() error {
	var errs []string
	if c.Host == "" {
		errs = append(errs, "TESSERA_SMTP_HOST must name the mail relay")
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Sprintf("TESSERA_SMTP_PORT must be from 1 to 65535, not %d", c.Port))
	}
	switch c.tlsMode() {
	case SMTPStartTLS, SMTPTLS:
	case SMTPNone:
		if c.Host != "" && !isLoopback(c.Host) {
			errs = append(errs, fmt.Sprintf("TESSERA_SMTP_TLS=none sends mail and passwords in clear text, so it is only allowed to a relay on this machine (localhost), not to %s; use starttls or tls", c.Host))
		}
	default:
		errs = append(errs, fmt.Sprintf("TESSERA_SMTP_TLS must be starttls, tls or none, not %q", c.TLS))
	}
	if c.Password != "" && c.Username == "" {
		errs = append(errs, "TESSERA_SMTP_PASSWORD is set but TESSERA_SMTP_USERNAME is not")
	}
	if c.From == "" {
		errs = append(errs, `TESSERA_MAIL_FROM must give the sender, e.g. "Tessera <tessera@example.com>"`)
	} else if _, err := netmail.ParseAddress(c.From); err != nil {
		errs = append(errs, fmt.Sprintf("TESSERA_MAIL_FROM is not an email address (%v): %q", err, c.From))
	}
	if len(errs) > 0 {
		return portal.Errorf(portal.EINVALID, "Email settings: %s.", strings.Join(errs, "; "))
	}
	return nil
}

func (c SMTPConfig) tlsMode() string {
	if c.TLS == "" {
		return SMTPStartTLS
	}
	return strings.ToLower(c.TLS)
}

func (c SMTPConfig) port() int {
	if c.Port != 0 {
		return c.Port
	}
	switch c.tlsMode() {
	case SMTPTLS:
		return 465
	case SMTPNone:
		return 25
	}
	return 587
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SMTPMailer sends Messages through the relay, keeping a few connections
// open between them: a password reset mails a code and, a moment later, a
// notice, and every new connection costs a TLS handshake and an AUTH on
// both ends, more than the mail itself. A connection idle for smtpIdle is
// closed, well before a relay drops it (RFC 5321 asks relays to wait 5
// minutes). One the relay dropped anyway fails the mail's first command
// (MAIL FROM), before anything is sent, and the mail goes over a new one:
// go-mail's NOOP before each mail and RSET after it (a delivered mail
// ends its transaction already, RFC 5321 4.1.1.4) are not sent, two round
// trips of the six a mail took.
type SMTPMailer struct {
	cfg    SMTPConfig
	from   *netmail.Address
	tlsCfg *tls.Config

	mu    sync.Mutex
	idle  []*smtpConn // the newest last
	sweep *time.Timer // closes idle connections that outlived smtpIdle
}

// smtpConn is one open, authenticated connection to the relay.
type smtpConn struct {
	client *gomail.Client
	conn   net.Conn
	since  time.Time // idle since
}

// At most smtpMaxIdle connections are kept, each for smtpIdle.
const (
	smtpMaxIdle = 4
	smtpIdle    = 30 * time.Second
)

// NewSMTPMailer checks cfg and loads its CA file; it does not connect.
func NewSMTPMailer(cfg SMTPConfig) (*SMTPMailer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	from, _ := netmail.ParseAddress(cfg.From) // checked by Validate
	tlsCfg := &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("smtp: CA file: %w", err)
		}
		tlsCfg.RootCAs = x509.NewCertPool()
		if !tlsCfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("smtp: CA file %s holds no PEM certificate", cfg.CAFile)
		}
	}
	return &SMTPMailer{cfg: cfg, from: from, tlsCfg: tlsCfg}, nil
}

// Send delivers m, or returns an error that carries the relay's answer.
// ctx bounds the whole conversation, not only the dial.
func (s *SMTPMailer) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("smtp: send to %s: %w", m.ToEmail, err)
	}
	msg, err := s.message(m)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	// go-mail's own timeout is a second later than ctx's deadline, so
	// that ctx closes the connection first and says why.
	timeout := smtpTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl)+time.Second)
	}
	for {
		c := s.take()
		reused := c != nil
		if !reused {
			if c, err = s.dial(ctx, timeout); err != nil {
				return fmt.Errorf("smtp: send %q to %s via %s: %w", m.Subject, m.ToEmail, s.addr(), err)
			}
		}
		err = c.send(ctx, timeout, msg)
		if err == nil {
			s.put(c)
			return nil
		}
		c.close()
		if reused && ctx.Err() == nil && relayHungUp(err) {
			continue
		}
		return fmt.Errorf("smtp: send %q to %s via %s: %w", m.Subject, m.ToEmail, s.addr(), err)
	}
}

// relayHungUp reports whether err is a kept connection found closed by
// the relay before the mail was given: its MAIL FROM got no answer, or
// 421 (the relay is closing the channel, RFC 5321 3.8).
func relayHungUp(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Reason {
	case gomail.ErrConnCheck:
		return true
	case gomail.ErrSMTPMailFrom:
		return se.ErrorCode() == 0 || se.ErrorCode() == 421
	}
	return false
}

func (s *SMTPMailer) addr() string { return net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.port())) }

// dial connects, says EHLO, starts TLS and authenticates, within ctx.
func (s *SMTPMailer) dial(ctx context.Context, timeout time.Duration) (*smtpConn, error) {
	c := &smtpConn{}
	// go-mail applies ctx to the dial only; closing the connection when
	// ctx ends also cuts a relay that stops answering in the handshake.
	var stop func() bool
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{}
		var conn net.Conn
		var err error
		if s.cfg.tlsMode() == SMTPTLS {
			conn, err = (&tls.Dialer{NetDialer: d, Config: s.tlsCfg}).DialContext(dctx, network, addr)
		} else {
			conn, err = d.DialContext(dctx, network, addr)
		}
		if err == nil {
			c.conn = conn
			conn.SetDeadline(time.Now().Add(timeout)) //nolint:errcheck // a closed connection fails the next write anyway
			stop = context.AfterFunc(ctx, func() { conn.Close() })
		}
		return conn, err
	}
	policy := gomail.NoTLS // for tls, dial has done the handshake already
	if s.cfg.tlsMode() == SMTPStartTLS {
		policy = gomail.TLSMandatory
	}
	opts := []gomail.Option{
		gomail.WithPort(s.cfg.port()),
		gomail.WithTimeout(timeout),
		gomail.WithDialContextFunc(dial),
		gomail.WithTLSConfig(s.tlsCfg),
		gomail.WithTLSPolicy(policy),
		gomail.WithoutNoop(),
		gomail.WithoutRset(),
	}
	if s.cfg.Username != "" {
		// go-mail's PLAIN and LOGIN refuse to send the password over a
		// connection that is neither TLS nor to localhost.
		opts = append(opts, gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	client, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return nil, err
	}
	c.client = client
	if err := client.DialWithContext(ctx); err != nil {
		if c.conn != nil {
			c.conn.Close()
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = errors.Join(ctxErr, err)
		}
		return nil, err
	}
	return c, nil
}

// send sends msg over c within ctx and timeout.
func (c *smtpConn) send(ctx context.Context, timeout time.Duration, msg *gomail.Msg) error {
	c.conn.SetDeadline(time.Now().Add(timeout)) //nolint:errcheck // a closed connection fails the send anyway
	stop := context.AfterFunc(ctx, func() { c.conn.Close() })
	err := c.client.Send(msg)
	if !stop() {
		// ctx ended meanwhile and closed the connection.
		err = errors.Join(ctx.Err(), err, errors.New("connection closed"))
	} else if err != nil && ctx.Err() != nil {
		err = errors.Join(ctx.Err(), err)
	}
	return err
}

// close ends c without waiting for the relay.
func (c *smtpConn) close() { c.conn.Close() }

// quit says goodbye to the relay and closes c, waiting a few seconds at
// most.
func (c *smtpConn) quit() {
	c.conn.SetDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck // closed below anyway
	c.client.Close()                                    //nolint:errcheck // the relay's goodbye changes nothing
	c.conn.Close()
}

// take returns the newest idle connection, or nil.
func (s *SMTPMailer) take() *smtpConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.idle); n > 0 {
		c := s.idle[n-1]
		s.idle = s.idle[:n-1]
		if time.Since(c.since) < smtpIdle {
			return c
		}
		go c.quit()
	}
	return nil
}

// put keeps c for the next mail, or quits it when enough are kept.
func (s *SMTPMailer) put(c *smtpConn) {
	c.conn.SetDeadline(time.Time{}) //nolint:errcheck // send sets its own
	c.since = time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.idle) >= smtpMaxIdle {
		go c.quit()
		return
	}
	s.idle = append(s.idle, c)
	if s.sweep == nil {
		s.sweep = time.AfterFunc(smtpIdle, s.sweepIdle)
	}
}

// sweepIdle quits the connections idle for smtpIdle, and looks again when
// the next one will be.
func (s *SMTPMailer) sweepIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep = nil
	keep := s.idle[:0]
	for _, c := range s.idle {
		if time.Since(c.since) >= smtpIdle {
			go c.quit()
		} else {
			keep = append(keep, c)
		}
	}
	clear(s.idle[len(keep):])
	s.idle = keep
	if len(s.idle) > 0 {
		s.sweep = time.AfterFunc(smtpIdle-time.Since(s.idle[0].since), s.sweepIdle)
	}
}

// Close quits the idle connections. The mailer stays usable.
func (s *SMTPMailer) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.idle {
		c.quit()
	}
	s.idle = nil
	if s.sweep != nil {
		s.sweep.Stop()
		s.sweep = nil
	}
}

// message builds the MIME message: multipart/alternative with the plain
// text first and the HTML last, as mail readers prefer the last part they
// can show.
func (s *SMTPMailer) message(m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	to := (&netmail.Address{Name: m.ToName, Address: m.ToEmail}).String()
	if err := msg.To(to); err != nil {
		return nil, fmt.Errorf("recipient %q: %w", m.ToEmail, err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(rand.Text() + "@" + s.from.Address[strings.LastIndexByte(s.from.Address, '@')+1:])
	msg.SetDate()
	// Ask mail systems not to answer a robot: no out-of-office replies
	// (RFC 3834, and Exchange's own header).
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "OOF, AutoReply")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}
