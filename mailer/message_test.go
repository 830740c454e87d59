package mailer

import (
	"bytes"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/matryer/is"

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

func composed(t *testing.T, a Application) []byte {
	t.Helper()
	m, err := Compose("Job Board <jobs@jobboard.example>", "https://jobs.example/", a)
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
			m, err := Compose("Job Board <jobs@jobboard.example>", "https://jobs.example/", a)
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
		_, err := Compose("jobs@jobboard.example", "https://jobs.example/", a)
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
