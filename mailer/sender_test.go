package mailer

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/jobboard/jobboard/internal/smtptest"
)

// send composes a mail and hands it to a sender for url, trusting roots.
func send(t *testing.T, url string, roots *x509.CertPool) error {
	t.Helper()
	s, err := newSender(url, "", 5*time.Second, quiet(), roots)
	if err != nil {
		t.Fatalf("sender for %s: %v", url, err)
	}
	m, err := Compose("jobs@jobboard.example", "https://jobs.example/", newApplication(testApplication()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Send(ctx, m)
}

// By default a server that does not offer STARTTLS (or whose offer was
// stripped on the way) gets nothing in clear text.
func TestSenderRequiresSTARTTLS(t *testing.T) {
	is := is.New(t)
	server := smtptest.Start(t) // no STARTTLS
	for _, url := range []string{"smtp://" + server.Addr(), "smtp://" + server.Addr() + "?tls=mandatory"} {
		err := send(t, url, nil)
		is.True(err != nil)                                // refused
		is.True(strings.Contains(err.Error(), "STARTTLS")) // saying why
		is.True(!Permanent(err))                           // and tried again later: the offer may come back
		is.Equal(len(server.Messages()), 0)                // nothing was sent
	}
}

// With STARTTLS offered, the mail goes encrypted, and only to a server
// whose certificate verifies.
func TestSenderUsesSTARTTLS(t *testing.T) {
	is := is.New(t)
	server := smtptest.StartTLS(t)
	is.NoErr(send(t, server.URL(), server.RootCAs())) // sent
	got := server.Messages()
	is.Equal(len(got), 1)
	is.True(got[0].TLS) // over TLS

	err := send(t, server.URL(), nil) // the system's roots do not know the test certificate
	is.True(err != nil)               // refused
	is.True(strings.Contains(err.Error(), "certificate"))
	is.Equal(len(server.Messages()), 1) // nothing more was sent
}

// ?tls=opportunistic and ?tls=none do what they say.
func TestSenderTLSPolicies(t *testing.T) {
	plain, withTLS := smtptest.Start(t), smtptest.StartTLS(t)
	for _, c := range []struct {
		name    string
		server  *smtptest.Server
		query   string
		wantTLS bool
	}{
		{"opportunistic without STARTTLS", plain, "?tls=opportunistic", false},
		{"opportunistic with STARTTLS", withTLS, "?tls=opportunistic", true},
		{"none without STARTTLS", plain, "?tls=none", false},
		{"none with STARTTLS", withTLS, "?tls=none", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			before := len(c.server.Messages())
			is.NoErr(send(t, "smtp://"+c.server.Addr()+c.query, c.server.RootCAs())) // sent
			got := c.server.Messages()
			is.Equal(len(got), before+1)
			is.Equal(got[len(got)-1].TLS, c.wantTLS)
		})
	}
}

// A tls value or parameter NewSender does not know stops the start, with
// an error that names SMTP_URL and does not show the password.
func TestNewSenderRefusesUnknownTLS(t *testing.T) {
	for _, url := range []string{
		"smtp://mail.example?tls=bogus",
		"smtp://mail.example?tls=",
		"smtp://mail.example?tls=NONE",
		"smtp://mail.example?tls=none&tls=mandatory",
		"smtp://mail.example?tsl=none",
		"smtp://mail.example?tls=none&debug=1",
		"smtps://mail.example?tls=none",
		"smtps://mail.example?tls=mandatory",
		"smtp://mail.example?tls=%zz",
		"smtp://user:secret@mail.example:x",
	} {
		t.Run(url, func(t *testing.T) {
			is := is.New(t)
			_, err := NewSender(url, "", time.Second, quiet())
			is.True(err != nil)                                   // refused
			is.True(strings.HasPrefix(err.Error(), "SMTP_URL: ")) // naming the setting
			is.True(!strings.Contains(err.Error(), "secret"))     // not the password
		})
	}
}

func TestNewSenderTLSForms(t *testing.T) {
	is := is.New(t)
	for url, where := range map[string]string{
		"smtp://mail.example":                        "smtp://mail.example",
		"smtp://mail.example:25?tls=mandatory":       "smtp://mail.example:25",
		"smtp://mail.example?tls=opportunistic":      "smtp://mail.example?tls=opportunistic",
		"smtp://user:secret@127.0.0.1:1025?tls=none": "smtp://127.0.0.1:1025?tls=none",
		"smtps://user:secret@mail.example:465":       "smtps://mail.example:465",
	} {
		s, err := NewSender(url, "", time.Second, quiet())
		is.NoErr(err)               // accepted
		is.Equal(s.String(), where) // and logged without the password, with the policy when not the default
	}
}
