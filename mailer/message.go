// Package mailer sends the board's emails in the background: to the
// job's recruiter about a new application and about a withdrawal, and to
// the applicant when their application arrives and when it moves to a
// status they are told about. A Watermill handler queues one delivery per
// event and kind of mail in the database, and workers send the queued ones
// through SMTP (or into a directory of .eml files) without holding a
// database transaction while they talk to the mail server.
package mailer

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"net/mail"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"

	"github.com/google/uuid"
	gomail "github.com/wneessen/go-mail"

	"github.com/jobboard/jobboard/domain"
)

// Application is what the mails about one application say of it.
type Application struct {
	ID    uuid.UUID
	JobID uuid.UUID
	// JobTitle is the job's title as the kind of mail shows it: as the
	// applicant saw it for the recruiter's mail about a new application,
	// as it is now for every other mail.
	JobTitle string
	// RecruiterEmail and RecruiterName are the job's recruiter's, for the
	// mails to them (empty in the applicant's).
	RecruiterEmail string
	RecruiterName  string
	ApplicantName  string
	ApplicantEmail string
	CoverLetter    string
	SubmittedAt    time.Time
	// Resume is nil when the applicant sent none, and in every mail but
	// the recruiter's about a new application.
	Resume *Attachment
}

// Mail is what one queued mail says.
type Mail struct {
	// ID is the delivery's, which the Message-ID is derived from; Kind
	// says which mail this is, and to whom.
	ID   uuid.UUID
	Kind Kind
	Application
	// Status is where the application moved, for a KindStatusChanged mail.
	// There is deliberately no field for the recruiter's reason: what the
	// mailer is not given, no mail can show.
	Status domain.ApplicationStatus
	// At is when the event happened: the mail's Date.
	At time.Time
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

// templates holds the mails' bodies: for each kind, <kind>.txt.tmpl for
// the text part (text/template: the text is shown as written) and
// <kind>.html.tmpl for the HTML part (html/template, which escapes every
// value for where it lands).
//
//go:embed templates/*.tmpl
var templates embed.FS

var (
	textBodies = texttemplate.Must(texttemplate.New("").Option("missingkey=error").ParseFS(templates, "templates/*.txt.tmpl"))
	htmlBodies = htmltemplate.Must(htmltemplate.New("").Option("missingkey=error").ParseFS(templates, "templates/*.html.tmpl"))
)

// subjects are the subjects of the mails, before the job's title.
var subjects = map[Kind]string{
	KindNewApplication:       "New application: ",
	KindApplicationReceived:  "Application received: ",
	KindStatusChanged:        "Your application for ",
	KindApplicationWithdrawn: "Application withdrawn: ",
}

// Compose builds the mail m. from is the sender address (MAIL_FROM) and
// baseURL the public address of the service, for the link to the
// application's page (/app/applications/{id}), where the recruiter or the
// applicant signs in if need be and reads it.
//
// The Message-ID is derived from the delivery's id, so that a mail sent
// twice (after a crash between the server's acceptance and its record)
// is recognisable as one. Text from users reaches headers only through
// headerText, which removes line breaks and other control characters, and
// addresses only as net/mail.Address values, which quote or encode a
// display name however it is spelled (go-mail's *Format setters paste the
// name between quotes, and a name holding " or \ then fails to parse). The
// HTML part is escaped by html/template.
func Compose(from, baseURL string, m Mail) (*gomail.Msg, error) {
	subject, ok := subjects[m.Kind]
	if !ok {
		return nil, fmt.Errorf("unknown kind of mail %q", m.Kind)
	}
	a := m.Application
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(from); err != nil {
		return nil, fmt.Errorf("MAIL_FROM %q: %w", from, err)
	}
	v := view{
		JobTitle:       a.JobTitle,
		ApplicantName:  a.ApplicantName,
		ApplicantEmail: a.ApplicantEmail,
		Link:           strings.TrimRight(baseURL, "/") + "/app/applications/" + a.ID.String(),
		SubmittedAt:    formatTime(a.SubmittedAt),
		At:             formatTime(m.At),
	}
	date := m.At
	switch m.Kind {
	case KindNewApplication:
		if err := toRecruiter(msg, a); err != nil {
			return nil, err
		}
		// Replying answers the applicant. Only a well-formed bare address
		// is used: it went through the domain's checks, but a header is no
		// place to trust that.
		if addr, err := bareAddress(a.ApplicantEmail); err == nil {
			msg.ReplyToMailAddress(addr)
		}
		v.Cover = firstLines(a.CoverLetter)
		if a.Resume != nil {
			v.Resume = a.Resume.Filename
		}
		date = a.SubmittedAt
	case KindApplicationWithdrawn:
		// No Reply-To: the applicant has withdrawn, and the recruiter has
		// their address in the application if need be.
		if err := toRecruiter(msg, a); err != nil {
			return nil, err
		}
	case KindApplicationReceived:
		if err := toApplicant(msg, a); err != nil {
			return nil, err
		}
		date = a.SubmittedAt
	case KindStatusChanged:
		switch m.Status {
		case domain.StatusInterview, domain.StatusOffer, domain.StatusHired, domain.StatusRejected:
		default:
			return nil, fmt.Errorf("no mail tells an applicant about the status %q", m.Status)
		}
		if err := toApplicant(msg, a); err != nil {
			return nil, err
		}
		v.Status = m.Status.String()
	}
	msg.Subject(subject + headerText(a.JobTitle))
	msg.SetMessageIDWithValue(MessageID(m.Kind, m.ID, from))
	if !date.IsZero() {
		msg.SetDateWithValue(date)
	}
	msg.SetGenHeader("X-Jobboard-Application", a.ID.String())

	var text, html bytes.Buffer
	if err := textBodies.ExecuteTemplate(&text, string(m.Kind)+".txt.tmpl", v); err != nil {
		return nil, err
	}
	if err := htmlBodies.ExecuteTemplate(&html, string(m.Kind)+".html.tmpl", v); err != nil {
		return nil, err
	}
	msg.SetBodyString(gomail.TypeTextPlain, text.String())
	msg.AddAlternativeString(gomail.TypeTextHTML, html.String())
	if m.Kind == KindNewApplication && a.Resume != nil {
		// A ReadSeeker is read as the message is written; a Reader would
		// be copied whole first (up to 5 MiB more per mail in memory).
		msg.AttachReadSeeker(headerText(a.Resume.Filename), bytes.NewReader(a.Resume.Data),
			gomail.WithFileContentType(gomail.ContentType(a.Resume.ContentType)))
	}
	return msg, nil
}

// toRecruiter addresses msg to the job's recruiter.
func toRecruiter(msg *gomail.Msg, a Application) error {
	to, err := bareAddress(a.RecruiterEmail)
	if err != nil {
		return fmt.Errorf("recruiter address: %w", err)
	}
	msg.ToMailAddress(&mail.Address{Name: headerText(a.RecruiterName), Address: to.Address})
	return nil
}

// toApplicant addresses msg to the applicant, at the address the
// application was made with.
func toApplicant(msg *gomail.Msg, a Application) error {
	to, err := bareAddress(a.ApplicantEmail)
	if err != nil {
		return fmt.Errorf("applicant address: %w", err)
	}
	msg.ToMailAddress(&mail.Address{Name: headerText(a.ApplicantName), Address: to.Address})
	return nil
}

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// MessageID is the Message-ID (without angle brackets) of the mail of
// kind with delivery id id: the id at the sender's domain, after a word
// for the kind. The recruiter's mail about a new application, whose
// delivery has the application's id, is application-<application id>, as
// it was before there were other mails.
func MessageID(kind Kind, id uuid.UUID, from string) string {
	host := "jobboard.invalid"
	if addr, err := mail.ParseAddress(from); err == nil {
		if at := strings.LastIndexByte(addr.Address, '@'); at >= 0 && at < len(addr.Address)-1 {
			host = addr.Address[at+1:]
		}
	}
	return messageIDPrefixes[kind] + id.String() + "@" + host
}

// messageIDPrefixes tell the kinds of mail apart in a Message-ID (and in
// the name of a mail written to MAIL_DIR).
var messageIDPrefixes = map[Kind]string{
	KindNewApplication:       "application-",
	KindApplicationReceived:  "received-",
	KindStatusChanged:        "status-",
	KindApplicationWithdrawn: "withdrawn-",
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

// view is what the templates are given. Every field is text: the
// templates decide how it is shown, and html/template escapes it.
type view struct {
	JobTitle, ApplicantName, ApplicantEmail, Cover, Link, SubmittedAt, At, Resume string
	// Status is the new status, for status_changed: interview, offer,
	// hired or rejected.
	Status string
}
