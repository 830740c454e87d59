// Package smtptest runs a real SMTP server inside a test process (go-smtp),
// which records what it receives and can offer STARTTLS or not, refuse
// recipients, stall, or go down and come back on the same address.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one mail the server accepted.
type Message struct {
	From string
	To   []string
	Data []byte
	// TLS tells whether the session had switched to TLS (STARTTLS) before
	// the mail was sent.
	TLS bool
}

// Server is an SMTP server on a loopback port.
type Server struct {
	t    testing.TB
	addr string
	// tls, when set, is offered through STARTTLS; roots trusts its
	// certificate.
	tls   *tls.Config
	roots *x509.CertPool

	mu       sync.Mutex
	srv      *smtp.Server
	ln       net.Listener
	received []Message
	refuse   map[string]bool
	stall    time.Duration
	arrived  chan struct{} // closed and replaced at every accepted mail
	// unstall ends every stall in progress (the test is over).
	unstall chan struct{}
}

// Start starts a server that the test's cleanup stops. It does not offer
// STARTTLS: a local mail catcher.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, nil, nil)
}

// StartTLS starts a server that offers STARTTLS, with a self-signed
// certificate for 127.0.0.1 made for it: RootCAs trusts it.
func StartTLS(t testing.TB) *Server {
	t.Helper()
	cert, roots := selfSigned(t)
	return start(t, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, roots)
}

func start(t testing.TB, tlsConfig *tls.Config, roots *x509.CertPool) *Server {
	t.Helper()
	s := &Server{t: t, tls: tlsConfig, roots: roots, refuse: map[string]bool{}, arrived: make(chan struct{}), unstall: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(func() {
		s.mu.Lock()
		close(s.unstall)
		s.mu.Unlock()
		s.Stop()
	})
	return s
}

// URL is the server's address as SMTP_URL takes it: with ?tls=none for a
// server without STARTTLS, which the sender would otherwise refuse.
func (s *Server) URL() string {
	if s.tls == nil {
		return "smtp://" + s.addr + "?tls=none"
	}
	return "smtp://" + s.addr
}

// RootCAs trusts the certificate of a server started by StartTLS; it is
// nil for one started by Start.
func (s *Server) RootCAs() *x509.CertPool { return s.roots }

// Addr is host:port.
func (s *Server) Addr() string { return s.addr }

func (s *Server) serve(ln net.Listener) {
	// go-smtp starts a new session after STARTTLS, so a session's
	// connection stays as it began.
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &session{s: s, tls: isTLS}, nil
	}))
	srv.TLSConfig = s.tls
	srv.Domain = "smtptest.localhost"
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.MaxMessageBytes = 32 << 20
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	go srv.Serve(ln) //nolint:errcheck // ends with Close
}

// Stop closes the listener and every connection: connections are refused
// until Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if ln != nil {
		// Closed here too: Close only knows the listener once Serve,
		// which runs on its own goroutine, has started.
		ln.Close()
	}
	if srv != nil {
		srv.Close()
	}
}

// Restart listens again on the same address.
func (s *Server) Restart() {
	s.t.Helper()
	var ln net.Listener
	var err error
	// The port was ours a moment ago; nothing else on loopback takes it,
	// but closing may take a moment to release it.
	deadline := time.Now().Add(10 * time.Second)
	for ln, err = net.Listen("tcp", s.addr); err != nil && time.Now().Before(deadline); ln, err = net.Listen("tcp", s.addr) {
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("smtptest: listen again on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

// Refuse makes the server answer RCPT TO for addr with 550.
func (s *Server) Refuse(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse[addr] = true
}

// Stall makes every session wait d after the greeting, before it answers
// MAIL FROM: a server that accepts connections and then hangs.
func (s *Server) Stall(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stall = d
}

// Messages returns what was accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.received...)
}

// WaitFor waits until at least n mails were accepted, or fails the test
// after within.
func (s *Server) WaitFor(n int, within time.Duration) []Message {
	s.t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, arrived := len(s.received), s.arrived
		s.mu.Unlock()
		if got >= n {
			return s.Messages()
		}
		select {
		case <-arrived:
		case <-deadline.C:
			s.t.Fatalf("smtptest: %d mails after %s, want %d", got, within, n)
			return nil
		}
	}
}

type session struct {
	s    *Server
	tls  bool
	from string
	to   []string
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	x.s.mu.Lock()
	stall, unstall := x.s.stall, x.s.unstall
	x.s.mu.Unlock()
	if stall > 0 {
		select {
		case <-time.After(stall):
		case <-unstall:
			return errors.New("stopped")
		}
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.s.mu.Lock()
	refused := x.s.refuse[to]
	x.s.mu.Unlock()
	if refused {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: fmt.Sprintf("no mailbox %s here", to)}
	}
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	x.s.received = append(x.s.received, Message{From: x.from, To: x.to, Data: data, TLS: x.tls})
	close(x.s.arrived)
	x.s.arrived = make(chan struct{})
	return nil
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

// selfSigned makes a throwaway key and a certificate for 127.0.0.1 and
// localhost signed by it, and a pool that trusts the certificate.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("smtptest: key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("smtptest: certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("smtptest: certificate: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, roots
}

// Part is a leaf part of a parsed mail, its transfer encoding undone.
type Part struct {
	ContentType string // the media type, without parameters
	Disposition string
	Body        []byte
}

// Parse reads a mail as a mail client would: its headers, and every leaf
// part of its MIME tree in order.
func Parse(raw []byte) (*mail.Message, []Part, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, err
	}
	var parts []Part
	var walk func(h mail.Header, body io.Reader) error
	walk = func(h mail.Header, body io.Reader) error {
		mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
		if err != nil {
			return fmt.Errorf("content type %q: %w", h.Get("Content-Type"), err)
		}
		if strings.HasPrefix(mediaType, "multipart/") {
			r := multipart.NewReader(body, params["boundary"])
			for {
				p, err := r.NextRawPart()
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				if err := walk(mail.Header(p.Header), p); err != nil {
					return err
				}
			}
		}
		switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
		case "base64":
			body = base64.NewDecoder(base64.StdEncoding, body)
		case "quoted-printable":
			body = quotedprintable.NewReader(body)
		}
		data, err := io.ReadAll(body)
		if err != nil {
			return err
		}
		parts = append(parts, Part{ContentType: mediaType, Disposition: h.Get("Content-Disposition"), Body: data})
		return nil
	}
	if err := walk(msg.Header, msg.Body); err != nil {
		return nil, nil, err
	}
	return msg, parts, nil
}
