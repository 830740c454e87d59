package mailer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Sender hands a message over for delivery. An error says whether trying
// again may help: see Permanent.
type Sender interface {
	Send(ctx context.Context, m *gomail.Msg) error
	// String describes where messages go, for logs.
	String() string
}

// NewSender returns the sender that SMTP_URL names:
//
//   - smtp://[user:pass@]host[:port] (port 587 by default) requires
//     STARTTLS: a server that does not offer it, or whose offer an attacker
//     strips, gets nothing, neither password nor mail.
//   - smtp://…?tls=opportunistic uses STARTTLS when offered and plain text
//     otherwise; smtp://…?tls=none never encrypts, for a mail catcher on
//     the same machine or network (Mailpit). ?tls=mandatory is the default
//     spelled out.
//   - smtps://[user:pass@]host[:port] is TLS from the start, port 465 by
//     default.
//
// The server's certificate is verified against the system's roots. Any
// other query parameter, or tls value, is an error: a typo must not quietly
// change how mail travels. With an empty smtpURL, messages are written as
// .eml files into dir, a sink a developer can open.
func NewSender(smtpURL, dir string, timeout time.Duration, log *slog.Logger) (Sender, error) {
	return newSender(smtpURL, dir, timeout, log, nil)
}

// tlsPolicies are the values of SMTP_URL's tls parameter.
var tlsPolicies = map[string]gomail.TLSPolicy{
	"mandatory":     gomail.TLSMandatory,
	"opportunistic": gomail.TLSOpportunistic,
	"none":          gomail.NoTLS,
}

// newSender is NewSender with the roots the server's certificate must
// chain to: nil for the system's. Only tests pass others, to trust a
// test server's certificate.
func newSender(smtpURL, dir string, timeout time.Duration, log *slog.Logger, roots *x509.CertPool) (Sender, error) {
	if smtpURL == "" {
		return DirSender{Dir: dir, Log: log}, nil
	}
	u, err := url.Parse(smtpURL)
	if err != nil {
		// Not url.Error's message: it quotes the URL, password and all.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("SMTP_URL: %w", err)
	}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("SMTP_URL: query: %w", err)
	}
	for key := range query {
		if key != "tls" {
			return nil, fmt.Errorf("SMTP_URL: unknown parameter %q (the only one is tls)", key)
		}
	}
	modes, hasMode := query["tls"]
	if len(modes) > 1 {
		return nil, errors.New("SMTP_URL: tls given more than once")
	}
	where := u.Scheme + "://" + u.Host
	// The certificate is always verified, for STARTTLS and smtps alike.
	tlsConfig := &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12, RootCAs: roots}
	opts := []gomail.Option{gomail.WithTLSConfig(tlsConfig)}
	port := 587
	switch u.Scheme {
	case "smtp":
		policy := gomail.TLSMandatory // go-mail's default too, but said here
		if hasMode {
			var ok bool
			if policy, ok = tlsPolicies[modes[0]]; !ok {
				return nil, fmt.Errorf("SMTP_URL: tls=%q: want mandatory (the default), opportunistic or none", modes[0])
			}
		}
		if policy != gomail.TLSMandatory {
			where += "?tls=" + modes[0] // the logs say when mail may go in clear
		}
		opts = append(opts, gomail.WithTLSPolicy(policy))
	case "smtps":
		if hasMode {
			return nil, errors.New("SMTP_URL: tls is for smtp://; smtps:// is TLS from the start")
		}
		port = 465
		opts = append(opts, gomail.WithSSL())
	default:
		return nil, fmt.Errorf("SMTP_URL: scheme must be smtp or smtps, not %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, errors.New("SMTP_URL: no host")
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("SMTP_URL: bad port %q", p)
		}
	}
	opts = append(opts, gomail.WithPort(port), gomail.WithTimeout(timeout))
	if u.User != nil {
		pass, _ := u.User.Password()
		// The best mechanism the server offers; go-mail refuses to send a
		// password in the clear over a connection without TLS (except to
		// localhost).
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(u.User.Username()), gomail.WithPassword(pass))
	}
	client, err := gomail.NewClient(u.Hostname(), opts...)
	if err != nil {
		return nil, fmt.Errorf("SMTP_URL: %w", err)
	}
	return &SMTPSender{client: client, log: log, where: where}, nil
}

// SMTPSender sends through one mail server, a connection per message.
type SMTPSender struct {
	client *gomail.Client
	log    *slog.Logger
	where  string
}

func (s *SMTPSender) String() string { return s.where }

// Send delivers m. Once the server has accepted the message, a failure to
// close the connection politely is only logged: reporting it would make
// the caller send the message again.
func (s *SMTPSender) Send(ctx context.Context, m *gomail.Msg) error {
	c, err := s.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", s.where, err)
	}
	sendErr := s.client.SendWithSMTPClient(c, m)
	if err := s.client.CloseWithSMTPClient(c); err != nil && sendErr == nil {
		s.log.Debug("closing the SMTP connection failed after the message was accepted", "err", err)
	}
	if sendErr != nil {
		return fmt.Errorf("send to %s: %w", s.where, sendErr)
	}
	return nil
}

// Permanent reports whether err is a refusal that trying again will not
// change: a 5xx reply from the mail server (unknown recipient, message
// refused). Anything else, from a refused connection to a 4xx reply or a
// timeout, is worth another try.
func Permanent(err error) bool {
	if isPermanent(err) {
		return true
	}
	var se *gomail.SendError
	if errors.As(err, &se) {
		code := se.ErrorCode()
		return code >= 500 && code < 600
	}
	return false
}

// DirSender writes each message as <Message-ID>.eml into Dir.
type DirSender struct {
	Dir string
	Log *slog.Logger
}

func (d DirSender) String() string { return "directory " + d.Dir }

// Send writes m into a temporary file and renames it into place, so a
// reader never sees half a message, and a message sent twice replaces
// itself.
func (d DirSender) Send(_ context.Context, m *gomail.Msg) error {
	if err := os.MkdirAll(d.Dir, 0o750); err != nil {
		return fmt.Errorf("mail directory: %w", err)
	}
	name := safeFileName(m.GetMessageID())
	if name == "" {
		return errors.New("message without a Message-ID")
	}
	tmp, err := os.CreateTemp(d.Dir, ".writing-*")
	if err != nil {
		return fmt.Errorf("mail directory: %w", err)
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename
	if _, err := m.WriteTo(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write message: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	path := filepath.Join(d.Dir, name+".eml")
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	if d.Log != nil {
		d.Log.Info("mail written", "path", path)
	}
	return nil
}

// safeFileName keeps letters, digits and -._@ of a Message-ID.
func safeFileName(id string) string {
	out := make([]rune, 0, len(id))
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_', r == '@':
			out = append(out, r)
		}
	}
	return string(out)
}
