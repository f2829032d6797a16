package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/tessera-idm/tessera/workflow"
)

// The dev stack's mailbox: `tessera dev` without TESSERA_SMTP_HOST runs a
// real SMTP server on loopback that keeps the mail Tessera sends (reset
// codes, notices, approvals), and a page on its own loopback listener that
// shows it, as Mailpit would. Only `dev` starts it; `serve` never does.

// devMailLimit is how many messages the mailbox keeps, newest first.
const devMailLimit = 200

// devMail is one message as the mailbox shows it.
type devMail struct {
	At      time.Time
	To      string
	Subject string
	Text    string
}

// devMailbox is the SMTP sink and the page that shows what it received.
type devMailbox struct {
	smtp *smtp.Server
	web  *http.Server
	// SMTPAddr is where Tessera sends; URL where a person reads.
	SMTPAddr, URL string
	// received, when set, is told each message as it arrives.
	received func(devMail)

	mu    sync.Mutex
	mails []devMail // newest first
}

// startDevMailbox starts the SMTP sink on a free loopback port and the
// mailbox page on webAddr (a free port when it is taken).
func startDevMailbox(webAddr string, received func(devMail)) (*devMailbox, error) {
	m := &devMailbox{received: received}
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("dev mailbox: %w", err)
	}
	wl, err := net.Listen("tcp", webAddr)
	if err != nil {
		if wl, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			sl.Close()
			return nil, fmt.Errorf("dev mailbox: %w", err)
		}
	}
	m.SMTPAddr, m.URL = sl.Addr().String(), "http://"+wl.Addr().String()
	m.smtp = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &devSession{box: m}, nil }))
	m.smtp.Domain = "localhost"
	m.smtp.MaxMessageBytes = 10 << 20
	m.smtp.ReadTimeout, m.smtp.WriteTimeout = 30*time.Second, 30*time.Second
	m.smtp.ErrorLog = log.New(io.Discard, "", 0)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", m.serveList)
	m.web = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go m.smtp.Serve(sl) //nolint:errcheck // ends with ErrServerClosed on Close
	go m.web.Serve(wl)  //nolint:errcheck
	return m, nil
}

// Close stops both listeners.
func (m *devMailbox) Close() {
	m.smtp.Close() //nolint:errcheck
	m.web.Close()  //nolint:errcheck
}

// SMTPConfig is how Tessera reaches the sink: clear text, which the
// mailer allows to loopback only.
func (m *devMailbox) SMTPConfig() workflow.SMTPConfig {
	host, port, _ := net.SplitHostPort(m.SMTPAddr)
	var p int
	fmt.Sscan(port, &p) //nolint:errcheck // net.Listen gave it
	return workflow.SMTPConfig{Host: host, Port: p, TLS: workflow.SMTPNone, From: "Tessera demo <tessera@tessera.test>"}
}

// Messages returns the messages kept, newest first.
func (m *devMailbox) Messages() []devMail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]devMail(nil), m.mails...)
}

func (m *devMailbox) keep(d devMail) {
	m.mu.Lock()
	m.mails = append([]devMail{d}, m.mails...)
	if len(m.mails) > devMailLimit {
		m.mails = m.mails[:devMailLimit]
	}
	m.mu.Unlock()
	if m.received != nil {
		m.received(d)
	}
}

var devMailPage = template.Must(template.New("mailbox").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tessera demo mailbox</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:1rem auto;padding:0 1rem;color:#1a1a1a}
article{border:1px solid #999;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}pre{white-space:pre-wrap;overflow-wrap:anywhere}
h2{font-size:1.1rem;margin:.25rem 0}p{margin:.25rem 0;color:#333}</style></head>
<body><main><h1>Tessera demo mailbox</h1>
<p>The mail the demo sends (reset codes, notices, approvals), newest first. Only <code>tessera dev</code> has it; reload to see new mail.</p>
{{range .}}<article><h2>{{.Subject}}</h2><p>To {{.To}}, {{.At.Format "15:04:05"}}</p><pre>{{.Text}}</pre></article>
{{else}}<p>No mail yet.</p>{{end}}
</main></body></html>`))

func (m *devMailbox) serveList(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	devMailPage.Execute(w, m.Messages()) //nolint:errcheck // the client went away
}

// devSession is one SMTP connection to the sink.
type devSession struct {
	box *devMailbox
	to  []string
}

func (s *devSession) AuthMechanisms() []string { return nil }

func (s *devSession) Mail(string, *smtp.MailOptions) error { return nil }

func (s *devSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *devSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	d, err := readDevMail(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "dev mailbox: " + err.Error()}
	}
	d.To, d.At = strings.Join(s.to, ", "), time.Now()
	s.box.keep(d)
	return nil
}

func (s *devSession) Reset() { s.to = nil }

func (s *devSession) Logout() error { return nil }

// readDevMail decodes a message's subject and its text part.
func readDevMail(raw []byte) (devMail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return devMail{}, err
	}
	var d devMail
	if d.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return devMail{}, err
	}
	d.Text, err = textPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	d.Text = strings.ReplaceAll(d.Text, "\r\n", "\n") // mail's line ends, as a page shows them
	return d, err
}

// textPart returns the first text/plain part of a MIME tree, decoded.
func textPart(contentType, encoding string, body io.Reader) (string, error) {
	if contentType == "" {
		contentType = "text/plain"
	}
	media, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(media, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return "", nil
			} else if err != nil {
				return "", err
			}
			if text, err := textPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err != nil || text != "" {
				return text, err
			}
		}
	}
	if media != "text/plain" {
		return "", nil
	}
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	return string(b), err
}
