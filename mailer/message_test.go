package mailer

import (
	"bytes"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/internal/smtptest"
)

type part struct {
	contentType string
	disposition string
	body        []byte
}

// parseMail reads raw as a mail client would.
func parseMail(t *testing.T, raw []byte) (*mail.Message, []part) {
	t.Helper()
	msg, leaves, err := smtptest.Parse(raw)
	if err != nil {
		t.Fatalf("not a mail: %v\n%s", err, raw)
	}
	parts := make([]part, len(leaves))
	for i, l := range leaves {
		parts[i] = part{contentType: l.ContentType, disposition: l.Disposition, body: l.Body}
	}
	return msg, parts
}

func testApplication() Application {
	return Application{
		ID:             uuid.MustParse("6f1c2c1e-0d7a-4c1b-9a57-2f9a3c1d5e01"),
		JobID:          uuid.New(),
		JobTitle:       "Backend Engineer",
		RecruiterEmail: "ann@acme.example",
		RecruiterName:  "Ann Recruiter",
		ApplicantName:  "Bob Seeker",
		ApplicantEmail: "bob@example.com",
		CoverLetter:    "Dear Ann,\n\nI write Go.\nAnd PostgreSQL.\nLine four.\nLine five.\nLine six is not quoted.",
		SubmittedAt:    time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC),
		Resume:         &Attachment{Filename: "cv.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.4 a tiny resume")},
	}
}

// newApplication is the recruiter's mail about a, as the worker has it:
// its delivery's id is the application's.
func newApplication(a Application) Mail {
	return Mail{ID: a.ID, Kind: KindNewApplication, Application: a, At: a.SubmittedAt}
}

func composed(t *testing.T, a Application) []byte {
	t.Helper()
	return composedMail(t, newApplication(a))
}

// composedMail is the mail m as it goes on the wire.
func composedMail(t *testing.T, mail Mail) []byte {
	t.Helper()
	m, err := Compose("Job Board <jobs@jobboard.example>", "https://jobs.example/", mail)
	if err != nil {
		t.Fatalf("compose: %v", err)
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatalf("write: %v", err)
	}
	return buf.Bytes()
}

func TestComposeContentAndAttachment(t *testing.T) {
	is := is.New(t)
	a := testApplication()
	msg, parts := parseMail(t, composed(t, a))

	is.Equal(msg.Header.Get("Subject"), "New application: Backend Engineer")                   // the subject names the job
	is.Equal(msg.Header.Get("Message-Id"), "<application-"+a.ID.String()+"@jobboard.example>") // derived from the application
	to, err := msg.Header.AddressList("To")
	is.NoErr(err)
	is.Equal(to[0].Address, "ann@acme.example") // to the recruiter
	replyTo, err := msg.Header.AddressList("Reply-To")
	is.NoErr(err)
	is.Equal(replyTo[0].Address, "bob@example.com") // replies go to the applicant

	byType := map[string]part{}
	for _, p := range parts {
		byType[p.contentType] = p
	}
	text, html, pdf := string(byType["text/plain"].body), string(byType["text/html"].body), byType["application/pdf"]
	is.True(strings.Contains(text, "Bob Seeker <bob@example.com>"))                               // the applicant, in text
	is.True(strings.Contains(text, "I write Go."))                                                // the cover letter's first lines
	is.True(!strings.Contains(text, "Line six"))                                                  // not all of it
	is.True(strings.Contains(text, "https://jobs.example/app/applications/"+a.ID.String()))       // a link to the application
	is.True(strings.Contains(html, "Bob Seeker"))                                                 // the applicant, in HTML
	is.True(strings.Contains(html, `href="https://jobs.example/app/applications/`+a.ID.String())) // the link, in HTML
	is.Equal(pdf.body, a.Resume.Data)                                                             // the resume, attached as it was
	is.True(strings.Contains(pdf.disposition, "cv.pdf"))                                          // under its name
}

func TestComposeWithoutResume(t *testing.T) {
	is := is.New(t)
	a := testApplication()
	a.Resume, a.CoverLetter = nil, ""
	_, parts := parseMail(t, composed(t, a))
	for _, p := range parts {
		is.True(p.contentType == "text/plain" || p.contentType == "text/html") // no attachment
	}
	is.True(strings.Contains(string(parts[0].body), "No resume was attached.")) // and it says so
}

// User text cannot add headers, and is escaped in HTML.
func TestComposeEscapesUserText(t *testing.T) {
	is := is.New(t)
	a := testApplication()
	a.JobTitle = "Engineer\r\nBcc: victim@example.com\r\n\r\n<b>body</b>"
	a.ApplicantName = `<script>alert("x")</script>`
	a.CoverLetter = `<img src=x onerror=alert(1)> & more`
	a.Resume.Filename = "cv\r\nX-Evil: 1.pdf"
	raw := composed(t, a)
	msg, parts := parseMail(t, raw)

	is.Equal(msg.Header.Get("Bcc"), "")                                                                  // no header was injected through the title
	is.Equal(msg.Header.Get("X-Evil"), "")                                                               // nor through the file name
	is.Equal(msg.Header.Get("Subject"), "New application: Engineer Bcc: victim@example.com <b>body</b>") // the title is one line
	htmlParts := 0
	for _, p := range parts {
		if p.contentType != "text/html" {
			continue
		}
		htmlParts++
		html := string(p.body)
		is.True(!strings.Contains(html, "<script>"))                                     // no script in HTML
		is.True(strings.Contains(html, "&lt;script&gt;"))                                // it is shown as text
		is.True(!strings.Contains(html, "<img"))                                         // no element from the cover letter
		is.True(strings.Contains(html, "&lt;img src=x onerror=alert(1)&gt; &amp; more")) // escaped
	}
	is.Equal(htmlParts, 1) // there is an HTML part
}

func TestFirstLines(t *testing.T) {
	is := is.New(t)
	is.Equal(firstLines(""), "")
	is.Equal(firstLines("one line"), "one line")
	is.Equal(firstLines("\n\nafter blank lines"), "after blank lines")
	is.Equal(firstLines("1\n2\n3\n4\n5\n6"), "1\n2\n3\n4\n5\n…")
	long := strings.Repeat("word ", 300)
	out := firstLines(long)
	is.True(len([]rune(out)) <= coverChars+2) // cut
	is.True(strings.HasSuffix(out, " …"))     // and says so
}

func TestHeaderText(t *testing.T) {
	is := is.New(t)
	is.Equal(headerText("a\r\nb"), "a b")
	is.Equal(headerText("a\u2028b\x00c\td"), "a b c d")
	is.Equal(headerText("  spaced   out  "), "spaced out")
}

// A display name holding quotes or backslashes reaches the To header
// intact, quoted; one holding line breaks adds no header.
func TestComposeQuotesTheRecruitersName(t *testing.T) {
	for _, c := range []struct{ name, want string }{
		{`O"Brien \ Co`, `O"Brien \ Co`},
		{`Zoë "Z" Ünal, (Hiring)`, `Zoë "Z" Ünal, (Hiring)`},
		{"Ann\r\nBcc: victim@example.com", "Ann Bcc: victim@example.com"},
		{strings.Repeat(`O"Brien \ Co, `, 7), strings.TrimSpace(strings.Repeat(`O"Brien \ Co, `, 7))}, // folded
		{"", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			a := testApplication()
			a.RecruiterName = c.name
			m, err := Compose("Job Board <jobs@jobboard.example>", "https://jobs.example/", newApplication(a))
			is.NoErr(err) // composed
			rcpts, err := m.GetRecipients()
			is.NoErr(err)
			is.Equal(rcpts, []string{"<ann@acme.example>"}) // the envelope has the recruiter only

			msg, _ := parseMail(t, composed(t, a))
			to, err := msg.Header.AddressList("To")
			is.NoErr(err)                             // the header parses
			is.Equal(len(to), 1)                      // as one address
			is.Equal(to[0].Name, c.want)              // with the name as it was
			is.Equal(to[0].Address, a.RecruiterEmail) // to the recruiter
			is.Equal(msg.Header.Get("Bcc"), "")       // and nothing else
		})
	}
	is := is.New(t)
	msg, _ := parseMail(t, composed(t, func() Application {
		a := testApplication()
		a.RecruiterName = `O"Brien \ Co`
		return a
	}()))
	is.Equal(msg.Header.Get("To"), `"O\"Brien \\ Co" <ann@acme.example>`) // quoted as RFC 5322 says
}

// Only a bare, well-formed address is a recipient or a Reply-To.
func TestComposeChecksAddresses(t *testing.T) {
	is := is.New(t)
	for _, bad := range []string{"", "not an address", "Ann <ann@acme.example>", "ann@acme.example\r\nBcc: victim@example.com"} {
		a := testApplication()
		a.RecruiterEmail = bad
		_, err := Compose("jobs@jobboard.example", "https://jobs.example/", newApplication(a))
		is.True(err != nil) // refused
	}

	a := testApplication()
	a.ApplicantEmail = "Mallory <mallory@example.com>"
	msg, _ := parseMail(t, composed(t, a))
	is.Equal(msg.Header.Get("Reply-To"), "") // no Reply-To with a name the applicant chose
	a.ApplicantEmail = `"bob seeker"@example.com`
	msg, _ = parseMail(t, composed(t, a))
	replyTo, err := msg.Header.AddressList("Reply-To")
	is.NoErr(err)
	is.Equal(replyTo[0].Address, "bob seeker@example.com") // a quoted local part stays one address
}

// mailOf is the mail of kind about testApplication, as LogSource makes it:
// only the recruiter's mail about a new application has the cover letter
// and the resume, and only the recruiter's mails the recruiter.
func mailOf(kind Kind, status domain.ApplicationStatus) Mail {
	a := testApplication()
	m := Mail{ID: uuid.MustParse("0193f4a2-7b1c-7d4e-8f00-0000000000aa"), Kind: kind, Application: a, Status: status,
		At: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	if kind != KindNewApplication {
		m.CoverLetter, m.Resume = "", nil
	}
	if kind.Recipient() == "applicant" {
		m.RecruiterEmail, m.RecruiterName = "", ""
	}
	return m
}

// textAndHTML returns a mail's text and HTML parts, and fails the test if
// it has anything else.
func textAndHTML(t *testing.T, parts []part) (text, html string) {
	t.Helper()
	for _, p := range parts {
		switch p.contentType {
		case "text/plain":
			text = string(p.body)
		case "text/html":
			html = string(p.body)
		default:
			t.Errorf("a part of type %s", p.contentType)
		}
	}
	if text == "" || html == "" {
		t.Fatalf("no text or no HTML part")
	}
	return text, html
}

func TestComposeApplicationReceived(t *testing.T) {
	is := is.New(t)
	m := mailOf(KindApplicationReceived, domain.ApplicationStatus{})
	msg, parts := parseMail(t, composedMail(t, m))
	is.Equal(msg.Header.Get("Subject"), "Application received: Backend Engineer")
	to, err := msg.Header.AddressList("To")
	is.NoErr(err)
	is.Equal(to, []*mail.Address{{Name: "Bob Seeker", Address: "bob@example.com"}})         // to the applicant, at the application's address
	is.Equal(msg.Header.Get("Reply-To"), "")                                                // nobody's address but theirs
	is.Equal(msg.Header.Get("Message-Id"), "<received-"+m.ID.String()+"@jobboard.example>") // derived from the delivery
	date, err := msg.Header.Date()
	is.NoErr(err)
	is.True(date.Equal(m.SubmittedAt)) // dated when the application was made
	text, html := textAndHTML(t, parts)
	is.True(strings.Contains(text, `Hello Bob Seeker,`))
	is.True(strings.Contains(text, `Your application to "Backend Engineer" was received on 2026-11-25 10:30 UTC`))
	is.True(strings.Contains(text, "https://jobs.example/app/applications/"+m.Application.ID.String())) // a link to their application
	is.True(strings.Contains(html, `href="https://jobs.example/app/applications/`+m.Application.ID.String()))
	is.True(!strings.Contains(text, "ann@acme.example")) // nothing of the recruiter's
}

func TestComposeStatusChanged(t *testing.T) {
	for status, words := range map[domain.ApplicationStatus]string{
		domain.StatusInterview: "has moved on to the interview stage",
		domain.StatusOffer:     "has reached the offer stage",
		domain.StatusHired:     "you have been hired for",
		domain.StatusRejected:  "your application was rejected",
	} {
		t.Run(status.String(), func(t *testing.T) {
			is := is.New(t)
			m := mailOf(KindStatusChanged, status)
			msg, parts := parseMail(t, composedMail(t, m))
			is.Equal(msg.Header.Get("Subject"), "Your application for Backend Engineer")
			to, err := msg.Header.AddressList("To")
			is.NoErr(err)
			is.Equal(to, []*mail.Address{{Name: "Bob Seeker", Address: "bob@example.com"}}) // to the applicant
			is.Equal(msg.Header.Get("Message-Id"), "<status-"+m.ID.String()+"@jobboard.example>")
			date, err := msg.Header.Date()
			is.NoErr(err)
			is.True(date.Equal(m.At)) // dated when it moved
			text, html := textAndHTML(t, parts)
			is.True(strings.Contains(text, words)) // the status, in words
			is.True(strings.Contains(html, words)) // in both parts
			is.True(strings.Contains(text, "https://jobs.example/app/applications/"+m.Application.ID.String()))
		})
	}
}

// Only the four statuses an applicant is told about make a mail.
func TestComposeStatusChangedRefusesOtherStatuses(t *testing.T) {
	is := is.New(t)
	for _, status := range []domain.ApplicationStatus{{}, domain.ApplicationSubmittedStatus, domain.StatusScreening, domain.StatusWithdrawn} {
		_, err := Compose("jobs@jobboard.example", "https://jobs.example/", mailOf(KindStatusChanged, status))
		is.True(err != nil) // refused
	}
	_, err := Compose("jobs@jobboard.example", "https://jobs.example/", mailOf("no_such_kind", domain.ApplicationStatus{}))
	is.True(err != nil) // and so is an unknown kind
}

func TestComposeApplicationWithdrawn(t *testing.T) {
	is := is.New(t)
	m := mailOf(KindApplicationWithdrawn, domain.ApplicationStatus{})
	msg, parts := parseMail(t, composedMail(t, m))
	is.Equal(msg.Header.Get("Subject"), "Application withdrawn: Backend Engineer")
	to, err := msg.Header.AddressList("To")
	is.NoErr(err)
	is.Equal(to, []*mail.Address{{Name: "Ann Recruiter", Address: "ann@acme.example"}}) // to the recruiter
	is.Equal(msg.Header.Get("Message-Id"), "<withdrawn-"+m.ID.String()+"@jobboard.example>")
	date, err := msg.Header.Date()
	is.NoErr(err)
	is.True(date.Equal(m.At)) // dated when it was withdrawn
	text, html := textAndHTML(t, parts)
	is.True(strings.Contains(text, `Bob Seeker withdrew their application to "Backend Engineer" on 2026-11-27 09:00 UTC.`)) // who, what, when
	is.True(strings.Contains(text, "https://jobs.example/app/applications/"+m.Application.ID.String()))                     // a link to the application
	is.True(strings.Contains(html, `href="https://jobs.example/app/applications/`+m.Application.ID.String()))
}

// In every new mail, the title and the names cannot add headers, and are
// escaped in HTML.
func TestComposeNewMailsEscapeUserText(t *testing.T) {
	for _, m := range []Mail{
		mailOf(KindApplicationReceived, domain.ApplicationStatus{}),
		mailOf(KindStatusChanged, domain.StatusInterview),
		mailOf(KindApplicationWithdrawn, domain.ApplicationStatus{}),
	} {
		t.Run(string(m.Kind), func(t *testing.T) {
			is := is.New(t)
			m.JobTitle = "Engineer\r\nBcc: victim@example.com\r\n\r\n<b>body</b>"
			m.ApplicantName = "<script>alert(\"x\")</script>\r\nX-Evil: 1"
			m.RecruiterName = "Ann\nX-Evil: 2"
			m.CoverLetter = `<img src=x onerror=alert(1)>`
			msg, parts := parseMail(t, composedMail(t, m))
			is.Equal(msg.Header.Get("Bcc"), "")                                                                  // no header was injected through the title
			is.Equal(msg.Header.Get("X-Evil"), "")                                                               // nor through a name
			is.Equal(msg.Header.Get("Subject"), subjects[m.Kind]+"Engineer Bcc: victim@example.com <b>body</b>") // the title is one line
			to, err := msg.Header.AddressList("To")
			is.NoErr(err)
			is.Equal(len(to), 1) // one recipient
			_, html := textAndHTML(t, parts)
			is.True(!strings.Contains(html, "<script>"))      // no script in HTML
			is.True(!strings.Contains(html, "<b>body"))       // no element from the title
			is.True(!strings.Contains(html, "<img"))          // nor from the cover letter
			is.True(strings.Contains(html, "&lt;b&gt;body"))  // the title is shown as text
			is.True(strings.Contains(html, "&lt;script&gt;")) // and so is the name
		})
	}
}

// Each kind of mail has its own Message-ID; the recruiter's about a new
// application has the one it always had.
func TestMessageIDs(t *testing.T) {
	is := is.New(t)
	id := uuid.New()
	seen := map[string]bool{}
	for _, k := range Kinds {
		got := MessageID(k, id, "Job Board <jobs@jobboard.example>")
		is.True(!seen[got]) // one per kind
		seen[got] = true
		_, err := mail.ParseAddress("<" + got + ">")
		is.NoErr(err) // a well-formed msg-id
	}
	is.Equal(MessageID(KindNewApplication, id, "jobs@jobboard.example"), "application-"+id.String()+"@jobboard.example")
	is.Equal(MessageID(KindStatusChanged, id, "not an address"), "status-"+id.String()+"@jobboard.invalid")
}
