package workflow_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"html"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/workflow"
)

// recipient gives each test its own address, as the sink is shared.
func recipient() string { return strings.ToLower(rand.Text()) + "@example.org" }

func sinkConfig(sink *harness.MailSink) workflow.SMTPConfig {
	return workflow.SMTPConfig{
		Host:     sink.Host(),
		Port:     sink.Port(),
		Username: harness.SMTPUsername,
		Password: harness.SMTPPassword,
		CAFile:   sink.CAFile(),
		From:     "Tessera <tessera@tessera.example>",
	}
}

func TestSMTPMailerSend(t *testing.T) {
	t.Parallel()
	sink := harness.SMTP(t)
	tests := []struct {
		name    string
		cfg     func(workflow.SMTPConfig) workflow.SMTPConfig
		tls     bool
		auth    string
		subject string
	}{
		{"starttls with auth", func(c workflow.SMTPConfig) workflow.SMTPConfig { return c }, true, harness.SMTPUsername, "starttls"},
		{"implicit tls with auth", func(c workflow.SMTPConfig) workflow.SMTPConfig {
			c.TLS, c.Port = workflow.SMTPTLS, sink.TLSPort()
			return c
		}, true, harness.SMTPUsername, "tls"},
		{"clear text to loopback without auth", func(c workflow.SMTPConfig) workflow.SMTPConfig {
			c.TLS, c.Username, c.Password, c.CAFile = workflow.SMTPNone, "", "", ""
			return c
		}, false, "", "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mailer, err := workflow.NewSMTPMailer(tt.cfg(sinkConfig(sink)))
			require.NoError(t, err)
			to := recipient()
			msg, err := workflow.Compose(&portal.Notification{
				Event:   portal.EventApprovalRequested,
				ToName:  "Zoë O'Brien-Müller",
				ToEmail: to,
				Request: portal.Request{Operation: portal.OpAddMember, RequesterID: "p1", RequesterName: "Ana Lima",
					PersonID: "p1", GroupName: "Finance – Zürich " + tt.subject, Justification: "Quarter close"},
				Path: "/approvals/a-42",
			}, "https://tessera.example.com")
			require.NoError(t, err)

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, mailer.Send(ctx, msg))

			got := sink.WaitFor(t, to, "Finance – Zürich "+tt.subject, 5*time.Second)
			require.Equal(t, "Approval needed: Join Finance – Zürich "+tt.subject, got.Subject)
			require.Equal(t, []string{to}, got.To)
			require.Equal(t, []string{to}, got.Rcpt)
			require.Equal(t, "tessera@tessera.example", got.From)
			require.Equal(t, tt.tls, got.TLS)
			require.Equal(t, tt.auth, got.AuthUser)

			toHeader, err := got.Header.AddressList("To")
			require.NoError(t, err)
			require.Equal(t, "Zoë O'Brien-Müller", toHeader[0].Name)
			require.Equal(t, "auto-generated", got.Header.Get("Auto-Submitted"))
			require.Regexp(t, `^<[A-Za-z0-9]+@tessera\.example>$`, got.Header.Get("Message-Id"))
			date, err := got.Header.Date()
			require.NoError(t, err)
			require.WithinDuration(t, time.Now(), date, time.Minute)
			require.True(t, strings.HasPrefix(got.Header.Get("Content-Type"), "multipart/alternative;"), got.Header.Get("Content-Type"))

			require.Contains(t, got.Text, "Hello Zoë O'Brien-Müller,")
			require.Contains(t, got.Text, "Ana Lima asks: Join Finance – Zürich "+tt.subject+".")
			require.Contains(t, got.Text, "Open it in Tessera: https://tessera.example.com/approvals/a-42")
			require.Contains(t, got.HTML, `<a href="https://tessera.example.com/approvals/a-42"`)
			require.Contains(t, got.HTML, "Zoë O&#39;Brien-Müller")
		})
	}
}

func TestSMTPMailerWrongPassword(t *testing.T) {
	t.Parallel()
	cfg := sinkConfig(harness.SMTP(t))
	cfg.Password = "not-the-password"
	mailer, err := workflow.NewSMTPMailer(cfg)
	require.NoError(t, err)
	err = mailer.Send(context.Background(), workflow.Message{ToEmail: recipient(), Subject: "Hi", Text: "Hi"})
	require.Error(t, err)
	// The relay's own answer reaches the log; the password never does.
	require.Contains(t, err.Error(), "535")
	require.Contains(t, err.Error(), "Authentication failed")
	require.NotContains(t, err.Error(), cfg.Password)
}

func TestSMTPMailerUntrustedCertificate(t *testing.T) {
	t.Parallel()
	cfg := sinkConfig(harness.SMTP(t))
	cfg.CAFile = "" // the sink's certificate is self-signed
	mailer, err := workflow.NewSMTPMailer(cfg)
	require.NoError(t, err)
	to := recipient()
	err = mailer.Send(context.Background(), workflow.Message{ToEmail: to, Subject: "Hi", Text: "Hi"})
	require.ErrorContains(t, err, "certificate")
	require.NotContains(t, err.Error(), cfg.Password)
}

func TestSMTPMailerUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().(*net.TCPAddr)
	l.Close() // nothing listens there now
	mailer, err := workflow.NewSMTPMailer(workflow.SMTPConfig{Host: "127.0.0.1", Port: addr.Port, From: "tessera@tessera.example"})
	require.NoError(t, err)
	err = mailer.Send(context.Background(), workflow.Message{ToEmail: recipient(), Subject: "Hi", Text: "Hi"})
	// Refused, or reset when another test's socket took the freed port
	// for a moment: either way a failed dial, naming the relay.
	var dial *net.OpError
	require.ErrorAs(t, err, &dial)
	require.Equal(t, "dial", dial.Op, "%v", err)
	require.ErrorContains(t, err, addr.String())
}

// A relay that accepts the connection and then says nothing must not hold
// the worker longer than its context allows.
func TestSMTPMailerSilentRelayHonoursContext(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	mailer, err := workflow.NewSMTPMailer(workflow.SMTPConfig{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, From: "tessera@tessera.example"})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = mailer.Send(ctx, workflow.Message{ToEmail: recipient(), Subject: "Hi", Text: "Hi"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 3*time.Second)

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start = time.Now()
	err = mailer.Send(ctx, workflow.Message{ToEmail: recipient(), Subject: "Hi", Text: "Hi"})
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, time.Since(start), 3*time.Second)
}

func TestSMTPConfigValidate(t *testing.T) {
	t.Parallel()
	ok := workflow.SMTPConfig{Host: "smtp.example.com", From: "Tessera <tessera@example.com>"}
	tests := []struct {
		name string
		edit func(*workflow.SMTPConfig)
		want string // "" means valid
	}{
		{"defaults to starttls on 587", func(c *workflow.SMTPConfig) {}, ""},
		{"implicit tls", func(c *workflow.SMTPConfig) { c.TLS, c.Port = "tls", 465 }, ""},
		{"mode in capitals", func(c *workflow.SMTPConfig) { c.TLS = "STARTTLS" }, ""},
		{"with credentials", func(c *workflow.SMTPConfig) { c.Username, c.Password = "tessera", "secret" }, ""},
		{"none to localhost", func(c *workflow.SMTPConfig) { c.TLS, c.Host, c.Port = "none", "localhost", 25 }, ""},
		{"none to ::1", func(c *workflow.SMTPConfig) { c.TLS, c.Host = "none", "::1" }, ""},
		{"missing host", func(c *workflow.SMTPConfig) { c.Host = "" }, "TESSERA_SMTP_HOST must name the mail relay"},
		{"negative port", func(c *workflow.SMTPConfig) { c.Port = -1 }, "TESSERA_SMTP_PORT must be from 1 to 65535, not -1"},
		{"port too large", func(c *workflow.SMTPConfig) { c.Port = 70000 }, "TESSERA_SMTP_PORT must be from 1 to 65535, not 70000"},
		{"bad tls mode", func(c *workflow.SMTPConfig) { c.TLS = "ssl" }, `TESSERA_SMTP_TLS must be starttls, tls or none, not "ssl"`},
		{"none to a remote relay", func(c *workflow.SMTPConfig) { c.TLS = "none" }, "only allowed to a relay on this machine (localhost), not to smtp.example.com"},
		{"none to a private address", func(c *workflow.SMTPConfig) { c.TLS, c.Host = "none", "10.0.0.5" }, "not to 10.0.0.5"},
		{"password without user", func(c *workflow.SMTPConfig) { c.Password = "secret" }, "TESSERA_SMTP_PASSWORD is set but TESSERA_SMTP_USERNAME is not"},
		{"missing from", func(c *workflow.SMTPConfig) { c.From = "" }, "TESSERA_MAIL_FROM must give the sender"},
		{"from not an address", func(c *workflow.SMTPConfig) { c.From = "Tessera" }, `TESSERA_MAIL_FROM is not an email address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
			require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
		})
	}

	t.Run("every mistake at once", func(t *testing.T) {
		t.Parallel()
		err := workflow.SMTPConfig{Port: 99999, TLS: "ssl"}.Validate()
		for _, want := range []string{"TESSERA_SMTP_HOST", "TESSERA_SMTP_PORT", "TESSERA_SMTP_TLS", "TESSERA_MAIL_FROM"} {
			require.ErrorContains(t, err, want)
		}
	})
}

func TestNewSMTPMailerRejects(t *testing.T) {
	t.Parallel()
	_, err := workflow.NewSMTPMailer(workflow.SMTPConfig{From: "tessera@example.com"})
	require.ErrorContains(t, err, "TESSERA_SMTP_HOST")

	cfg := workflow.SMTPConfig{Host: "smtp.example.com", From: "tessera@example.com", CAFile: t.TempDir() + "/missing.pem"}
	_, err = workflow.NewSMTPMailer(cfg)
	require.ErrorContains(t, err, "missing.pem")
}

func TestSMTPConfigStringHidesPassword(t *testing.T) {
	t.Parallel()
	c := workflow.SMTPConfig{Host: "smtp.example.com", Username: "tessera", Password: "hunter2-secret", From: "tessera@example.com"}
	for _, s := range []string{c.String(), fmt.Sprintf("%+v", c), fmt.Sprint(&c)} {
		require.NotContains(t, s, "hunter2-secret")
		require.Contains(t, s, "smtp.example.com:587")
	}
}

func TestCompose(t *testing.T) {
	t.Parallel()
	req := portal.Request{
		ID: "r-7", Operation: portal.OpAddMember, RequesterID: "p1", RequesterName: "Ana Lima",
		PersonID: "p2", PersonName: "Ben Okafor", GroupName: "Payroll",
		Justification: `Needs it for <script>alert("x")</script> & more`,
	}
	tests := []struct {
		event   string
		path    string
		subject string
		lead    string
	}{
		{portal.EventApprovalRequested, "/approvals/a-1", "Approval needed: Add Ben Okafor to Payroll", "Ana Lima asks: Add Ben Okafor to Payroll."},
		{portal.EventReminder, "/approvals/a-1", "Reminder, approval needed: Add Ben Okafor to Payroll", "Ana Lima's request is still waiting for your decision"},
		{portal.EventEscalated, "/approvals/a-1", "Escalated to you: Add Ben Okafor to Payroll", "No one decided in time"},
		{portal.EventCompleted, "/requests/r-7", "Done: Add Ben Okafor to Payroll", "Your request is done: Add Ben Okafor to Payroll."},
		{portal.EventDenied, "/requests/r-7", "Rejected: Add Ben Okafor to Payroll", "Your request was rejected: Add Ben Okafor to Payroll."},
		{portal.EventExpired, "/requests/r-7", "Expired: Add Ben Okafor to Payroll", "Your request expired without a decision"},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			t.Parallel()
			n := &portal.Notification{Event: tt.event, ToName: "Chloé Dubois", ToEmail: "chloe@example.org",
				Request: req, Path: tt.path, Detail: portal.Textf("%s", "Reason: <b>not now</b>")}
			msg, err := workflow.Compose(n, "https://tessera.example.com/")
			require.NoError(t, err)
			link := "https://tessera.example.com" + tt.path
			require.Equal(t, tt.subject, msg.Subject)
			require.Equal(t, "Chloé Dubois", msg.ToName)
			require.Equal(t, "chloe@example.org", msg.ToEmail)

			require.Contains(t, msg.Text, tt.lead)
			require.Contains(t, msg.Text, "Open it in Tessera: "+link+"\n")
			require.Contains(t, msg.Text, `Justification: Needs it for <script>alert("x")</script> & more`)

			require.Contains(t, msg.HTML, `<a href="`+link+`"`)
			require.Contains(t, msg.HTML, strings.ReplaceAll(tt.lead, "'", "&#39;"))
			require.NotContains(t, msg.HTML, "<script>")
			require.NotContains(t, msg.HTML, "<b>")
			require.Contains(t, msg.HTML, "Needs it for &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; more")
			require.Contains(t, msg.HTML, "Reason: &lt;b&gt;not now&lt;/b&gt;")
		})
	}

	t.Run("times in the recipient's zone, which the email names", func(t *testing.T) {
		t.Parallel()
		r := req
		r.CreatedAt = time.Date(2026, 12, 5, 13, 30, 0, 0, time.UTC)
		due := time.Date(2026, 12, 8, 17, 0, 0, 0, time.UTC)
		n := &portal.Notification{Event: portal.EventApprovalRequested, Request: r, Path: "/approvals/a-1",
			ToTimeZone: "Europe/Berlin", Deadline: &due}
		msg, err := workflow.Compose(n, "https://tessera.example.com")
		require.NoError(t, err)
		want := "Asked on 5 Dec 2026, 14:30 CET; due by 8 Dec 2026, 18:00 CET (times in Europe/Berlin (CET))."
		require.Contains(t, msg.Text, want)
		require.Contains(t, msg.HTML, want)

		n.ToTimeZone, n.Deadline = "", nil
		msg, err = workflow.Compose(n, "https://tessera.example.com")
		require.NoError(t, err)
		require.Contains(t, msg.Text, "Asked on 5 Dec 2026, 13:30 UTC (times in UTC).")
	})

	t.Run("in the recipient's language", func(t *testing.T) {
		t.Parallel()
		r := req
		r.CreatedAt = time.Date(2026, 3, 5, 13, 30, 0, 0, time.UTC)
		due := time.Date(2026, 3, 8, 17, 0, 0, 0, time.UTC)
		n := &portal.Notification{Event: portal.EventApprovalRequested, ToName: "Jörg Müller", Request: r, Path: "/approvals/a-1",
			ToTimeZone: "Europe/Berlin", ToLanguage: "de", Deadline: &due}
		msg, err := workflow.Compose(n, "https://tessera.example.com")
		require.NoError(t, err)
		require.Equal(t, "Genehmigung erforderlich: Ben Okafor zu Payroll hinzufügen", msg.Subject)
		for _, want := range []string{"Guten Tag Jörg Müller,", "Ana Lima beantragt: Ben Okafor zu Payroll hinzufügen.",
			"Beantragt am 5. März 2026, 14:30 CET; fällig bis 8. März 2026, 18:00 CET (Zeiten in Europe/Berlin (CET)).",
			"Begründung: Needs it", "In Tessera öffnen: https://tessera.example.com/approvals/a-1"} {
			require.Contains(t, msg.Text, want)
		}
		require.Contains(t, msg.HTML, `<html lang="de">`)
		require.Contains(t, msg.HTML, "fällig bis 8. März 2026")

		code, err := workflow.ComposeCode(portal.CodeMail{ToName: "Jörg", Code: "123456", Purpose: portal.CodeReset, Language: "de",
			ExpiresAt: time.Now().Add(15 * time.Minute)})
		require.NoError(t, err)
		require.Equal(t, "Ihr Code zum Zurücksetzen des Kennworts", code.Subject)
		require.Contains(t, code.Text, "Der Code gilt einmal, 15 Minuten lang.")
	})

	t.Run("unknown event", func(t *testing.T) {
		t.Parallel()
		_, err := workflow.Compose(&portal.Notification{Event: "party", Request: req}, "https://tessera.example.com")
		require.ErrorContains(t, err, `unknown notification event "party"`)
	})

	t.Run("link is attribute-escaped", func(t *testing.T) {
		t.Parallel()
		n := &portal.Notification{Event: portal.EventCompleted, Request: req, Path: `/requests/r-7?a=1&b="x"`}
		msg, err := workflow.Compose(n, "https://tessera.example.com")
		require.NoError(t, err)
		require.NotContains(t, msg.HTML, `"x"`)
		require.Contains(t, msg.HTML, `href="https://tessera.example.com/requests/r-7?a=1&amp;b=%22x%22"`)
	})
}

// TestComposeIsolatesNames: a right-to-left override in a name or a
// justification cannot turn the email's sentences around (issue 9).
func TestComposeIsolatesNames(t *testing.T) {
	t.Parallel()
	req := portal.Request{ID: "r-8", Operation: portal.OpUpdatePerson, RequesterID: "p1", RequesterName: "\u202eANA",
		PersonID: "p1", PersonName: "\u202egnalegnA", Justification: "\u202eplease"}
	n := &portal.Notification{Event: portal.EventApprovalRequested, ToName: "Chloé Dubois", ToEmail: "chloe@example.org",
		Request: req, Path: "/approvals/a-2"}
	msg, err := workflow.Compose(n, "https://tessera.example.com/")
	require.NoError(t, err)
	require.Equal(t, "Approval needed: Change \u2068\u202egnalegnA\u2069's profile", msg.Subject)
	for _, body := range []string{msg.Text, html.UnescapeString(msg.HTML)} {
		require.Contains(t, body, "\u2068\u202eANA\u2069 asks: Change \u2068\u202egnalegnA\u2069's profile.")
		require.Contains(t, body, "\u2068\u202eplease\u2069")
	}
}

// Mails sent one after the other go over one connection: each new one
// costs a TLS handshake and an AUTH on both ends. Close quits it, and the
// next mail opens another.
func TestSMTPMailerReusesConnection(t *testing.T) {
	t.Parallel()
	sink := harness.SMTP(t)
	mailer, err := workflow.NewSMTPMailer(sinkConfig(sink))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var conns []string
	for i := range 3 {
		to := recipient()
		require.NoError(t, mailer.Send(ctx, workflow.Message{ToEmail: to, Subject: fmt.Sprintf("Reuse %d", i), Text: "Hi"}))
		got := sink.WaitFor(t, to, "Reuse", 5*time.Second)
		require.True(t, got.TLS)
		require.Equal(t, harness.SMTPUsername, got.AuthUser)
		conns = append(conns, got.Conn)
	}
	require.Equal(t, conns[0], conns[1])
	require.Equal(t, conns[0], conns[2])

	mailer.Close()
	to := recipient()
	require.NoError(t, mailer.Send(ctx, workflow.Message{ToEmail: to, Subject: "After close", Text: "Hi"}))
	require.NotEqual(t, conns[0], sink.WaitFor(t, to, "After close", 5*time.Second).Conn)
	mailer.Close()
}

// A kept connection that the relay dropped meanwhile (a restart, an idle
// timeout shorter than ours) is found by the mail's first command, before
// anything is sent: the mail goes over a new connection, once, and
// arrives once.
func TestSMTPMailerRelayDroppedKeptConnection(t *testing.T) {
	t.Parallel()
	sink := harness.NewSMTPSink(t)
	mailer, err := workflow.NewSMTPMailer(sinkConfig(sink))
	require.NoError(t, err)
	defer mailer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := recipient()
	require.NoError(t, mailer.Send(ctx, workflow.Message{ToEmail: first, Subject: "Before the drop", Text: "Hi"}))
	before := sink.WaitFor(t, first, "Before the drop", 5*time.Second).Conn

	sink.DropConnections()
	to := recipient()
	require.NoError(t, mailer.Send(ctx, workflow.Message{ToEmail: to, Subject: "After the drop", Text: "Hi"}))
	after := sink.WaitFor(t, to, "After the drop", 5*time.Second)
	require.NotEqual(t, before, after.Conn)
	require.Len(t, sink.Messages(), 2)
}
