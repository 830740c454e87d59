// Package mailer tells recruiters about applications by email, in the
// background: a Watermill handler queues one delivery per
// ApplicationSubmitted in the database, and workers send the queued ones
// through SMTP (or into a directory of .eml files) without holding a
// database transaction while they talk to the mail server.
package mailer

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"net/mail"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"

	"github.com/google/uuid"
	gomail "github.com/wneessen/go-mail"
)

// Application is what the email about one application says.
type Application struct {
	ID             uuid.UUID
	JobID          uuid.UUID
	JobTitle       string
	RecruiterEmail string
	RecruiterName  string
	ApplicantName  string
	ApplicantEmail string
	CoverLetter    string
	SubmittedAt    time.Time
	// Resume is nil when the applicant sent none.
	Resume *Attachment
}

// Attachment is a file sent with the email.
type Attachment struct {
	Filename    string
	ContentType string
	Data        []byte
}

// coverLines is how much of the cover letter the email quotes.
const (
	coverLines = 5
	coverChars = 600
)

// Compose builds the email to the recruiter. from is the sender address
// (MAIL_FROM) and baseURL the public address of the service, for the link
// to the application's page (/app/applications/{id}), where the recruiter
// signs in if need be and reads it, resume included.
//
// The Message-ID is derived from the application id, so that a mail sent
// twice (after a crash between the server's acceptance and its record)
// is recognisable as one. Text from users reaches headers only through
// headerText, which removes line breaks and other control characters, and
// addresses only as net/mail.Address values, which quote or encode a
// display name however it is spelled (go-mail's *Format setters paste the
// name between quotes, and a name holding " or \ then fails to parse). The
// HTML part is escaped by html/template.
func Compose(from, baseURL string, a Application) (*gomail.Msg, error) {
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := m.From(from); err != nil {
		return nil, fmt.Errorf("MAIL_FROM %q: %w", from, err)
	}
	to, err := bareAddress(a.RecruiterEmail)
	if err != nil {
		return nil, fmt.Errorf("recruiter address: %w", err)
	}
	m.ToMailAddress(&mail.Address{Name: headerText(a.RecruiterName), Address: to.Address})
	// Replying answers the applicant. Only a well-formed bare address is
	// used: it went through the domain's checks, but a header is no place
	// to trust that.
	if addr, err := bareAddress(a.ApplicantEmail); err == nil {
		m.ReplyToMailAddress(addr)
	}
	m.Subject("New application: " + headerText(a.JobTitle))
	m.SetMessageIDWithValue(MessageID(a.ID, from))
	m.SetDateWithValue(a.SubmittedAt)
	m.SetGenHeader("X-Jobboard-Application", a.ID.String())

	v := view{
		JobTitle:       a.JobTitle,
		ApplicantName:  a.ApplicantName,
		ApplicantEmail: a.ApplicantEmail,
		Cover:          firstLines(a.CoverLetter),
		Link:           strings.TrimRight(baseURL, "/") + "/app/applications/" + a.ID.String(),
		SubmittedAt:    a.SubmittedAt.UTC().Format("2006-01-02 15:04 UTC"),
	}
	if a.Resume != nil {
		v.Resume = a.Resume.Filename
	}
	var text, html bytes.Buffer
	if err := textBody.Execute(&text, v); err != nil {
		return nil, err
	}
	if err := htmlBody.Execute(&html, v); err != nil {
		return nil, err
	}
	m.SetBodyString(gomail.TypeTextPlain, text.String())
	m.AddAlternativeString(gomail.TypeTextHTML, html.String())
	if a.Resume != nil {
		// A ReadSeeker is read as the message is written; a Reader would
		// be copied whole first (up to 5 MiB more per mail in memory).
		m.AttachReadSeeker(headerText(a.Resume.Filename), bytes.NewReader(a.Resume.Data),
			gomail.WithFileContentType(gomail.ContentType(a.Resume.ContentType)))
	}
	return m, nil
}

// MessageID is the Message-ID (without angle brackets) of the email about
// application id: its id at the sender's domain.
func MessageID(id uuid.UUID, from string) string {
	domain := "jobboard.invalid"
	if addr, err := mail.ParseAddress(from); err == nil {
		if at := strings.LastIndexByte(addr.Address, '@'); at >= 0 && at < len(addr.Address)-1 {
			domain = addr.Address[at+1:]
		}
	}
	return "application-" + id.String() + "@" + domain
}

// bareAddress parses s, which must be an address without a display name.
func bareAddress(s string) (*mail.Address, error) {
	addr, err := mail.ParseAddress(s)
	if err != nil {
		return nil, err
	}
	if addr.Name != "" {
		return nil, fmt.Errorf("%q has a display name", s)
	}
	return addr, nil
}

// headerText makes s safe inside a header: every control character (CR and
// LF above all, which would start a new header) becomes a space, and runs
// of spaces shrink to one.
func headerText(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// firstLines is the start of the cover letter: its first non-empty lines,
// cut at a word when long.
func firstLines(s string) string {
	var lines []string
	for line := range strings.Lines(s) {
		line = strings.TrimRight(line, "\r\n \t")
		if line == "" && len(lines) == 0 {
			continue
		}
		lines = append(lines, line)
		if len(lines) == coverLines {
			break
		}
	}
	out := strings.TrimSpace(strings.Join(lines, "\n"))
	if r := []rune(out); len(r) > coverChars {
		cut := string(r[:coverChars])
		if i := strings.LastIndexAny(cut, " \n"); i > coverChars/2 {
			cut = cut[:i]
		}
		out = cut + " …"
	} else if out != strings.TrimSpace(s) {
		out += "\n…"
	}
	return out
}

type view struct {
	JobTitle, ApplicantName, ApplicantEmail, Cover, Link, SubmittedAt, Resume string
}

var textBody = texttemplate.Must(texttemplate.New("text").Parse(`{{.ApplicantName}} <{{.ApplicantEmail}}> applied to "{{.JobTitle}}" on {{.SubmittedAt}}.
{{if .Cover}}
Cover letter:

{{.Cover}}
{{end}}
{{if .Resume}}Resume: attached ({{.Resume}}).{{else}}No resume was attached.{{end}}

The application: {{.Link}}
`))

var htmlBody = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html><body>
<p><strong>{{.ApplicantName}}</strong> &lt;<a href="mailto:{{.ApplicantEmail}}">{{.ApplicantEmail}}</a>&gt;
applied to <strong>{{.JobTitle}}</strong> on {{.SubmittedAt}}.</p>
{{if .Cover}}<p>Cover letter:</p>
<blockquote style="white-space: pre-wrap">{{.Cover}}</blockquote>{{end}}
<p>{{if .Resume}}Resume: attached ({{.Resume}}).{{else}}No resume was attached.{{end}}</p>
<p><a href="{{.Link}}">Open the application</a></p>
</body></html>
`))
