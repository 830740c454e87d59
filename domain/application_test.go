package domain_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/internal/testfiles"
)

func seeker() domain.Applicant {
	return domain.Applicant{ID: uuid.New(), Role: domain.RoleJobSeeker, Name: "Ada Lovelace", Email: "ada@example.com"}
}

// openJob posts a job and returns it, open.
func openJob(t *testing.T) *domain.Job {
	t.Helper()
	job, _, err := domain.PostJob(uuid.New(), recruiter(), validDraft(), t0)
	if err != nil {
		t.Fatalf("post job: %v", err)
	}
	return job
}

func submit(job *domain.Job, a domain.Applicant, form domain.ApplicationForm, resume *domain.ResumeUpload) (*domain.Application, []domain.Event, error) {
	return domain.SubmitApplication(uuid.New(), job, a, form, resume, t0)
}

func TestSubmitApplicationDefaults(t *testing.T) {
	is := is.New(t)
	job, a := openJob(t), seeker()
	id := uuid.New()
	app, events, err := domain.SubmitApplication(id, job, a, domain.ApplicationForm{}, nil, t0)
	is.NoErr(err)            // an empty form is a valid application
	is.Equal(len(events), 1) // one event
	e, ok := events[0].(domain.ApplicationSubmitted)
	is.True(ok) // an ApplicationSubmitted
	is.Equal(e, domain.ApplicationSubmitted{
		ApplicationID: id, JobID: job.ID(), ApplicantID: a.ID, RecruiterID: job.RecruiterID(),
		Name: "Ada Lovelace", Email: "ada@example.com", SubmittedAt: t0,
	}) // name and email default to the account's; no cover letter, no resume
	is.Equal(app.ID(), id)
	is.Equal(app.Status(), domain.ApplicationSubmittedStatus)
	is.Equal(app.Version(), int64(1))
	is.Equal(app.Resume(), nil)
}

func TestSubmitApplicationGivenFields(t *testing.T) {
	is := is.New(t)
	letter := "  Dear team,\n\tI would like to apply.\r\nAda  "
	app, _, err := submit(openJob(t), seeker(), domain.ApplicationForm{
		Name: ptr("  Augusta Ada King "), Email: ptr(" Ada.King@Example.COM "), CoverLetter: &letter,
	}, nil)
	is.NoErr(err)                                                              // a complete form is valid
	is.Equal(app.Name(), "Augusta Ada King")                                   // trimmed
	is.Equal(app.Email(), "ada.king@example.com")                              // normalised like an account's
	is.Equal(app.CoverLetter(), "Dear team,\n\tI would like to apply.\r\nAda") // trimmed, line breaks and tabs kept
	_, _, err = submit(openJob(t), seeker(), domain.ApplicationForm{CoverLetter: ptr(strings.Repeat("é", 10000))}, nil)
	is.NoErr(err) // 10000 characters is a valid cover letter, however many bytes
}

func TestSubmitApplicationRules(t *testing.T) {
	closed := openJob(t)
	if _, err := closed.Patch(domain.Poster{ID: closed.RecruiterID(), Role: domain.RoleRecruiter, Company: "Acme"},
		domain.JobPatch{Status: ptr("closed")}, t0); err != nil {
		t.Fatalf("close: %v", err)
	}
	deleted := openJob(t)
	if _, err := deleted.Delete(domain.Poster{ID: deleted.RecruiterID(), Role: domain.RoleRecruiter}, t0); err != nil {
		t.Fatalf("delete: %v", err)
	}
	asRecruiter := seeker()
	asRecruiter.Role = domain.RoleRecruiter
	cases := []struct {
		name      string
		job       *domain.Job
		applicant domain.Applicant
		form      domain.ApplicationForm
		kind      domain.Kind
		field     string
	}{
		{"a recruiter", openJob(t), asRecruiter, domain.ApplicationForm{}, domain.KindForbidden, ""},
		{"no role", openJob(t), domain.Applicant{ID: uuid.New()}, domain.ApplicationForm{}, domain.KindForbidden, ""},
		{"a closed job", closed, seeker(), domain.ApplicationForm{}, domain.KindConflict, ""},
		{"a deleted job", deleted, seeker(), domain.ApplicationForm{}, domain.KindNotFound, ""},
		{"no job", nil, seeker(), domain.ApplicationForm{}, domain.KindNotFound, ""},
		{"a blank name", openJob(t), seeker(), domain.ApplicationForm{Name: ptr("  ")}, domain.KindInvalid, "name"},
		{"a long name", openJob(t), seeker(), domain.ApplicationForm{Name: ptr(strings.Repeat("n", 101))}, domain.KindInvalid, "name"},
		{"a name with a line break", openJob(t), seeker(), domain.ApplicationForm{Name: ptr("Ada\nLovelace")}, domain.KindInvalid, "name"},
		{"a bad email", openJob(t), seeker(), domain.ApplicationForm{Email: ptr("ada at example.com")}, domain.KindInvalid, "email"},
		{"an email with a display name", openJob(t), seeker(), domain.ApplicationForm{Email: ptr("Ada <ada@example.com>")}, domain.KindInvalid, "email"},
		{"a blank email", openJob(t), seeker(), domain.ApplicationForm{Email: ptr("")}, domain.KindInvalid, "email"},
		{"a cover letter of 10001 characters", openJob(t), seeker(), domain.ApplicationForm{CoverLetter: ptr(strings.Repeat("c", 10001))}, domain.KindInvalid, "cover_letter"},
		{"a cover letter with a NUL", openJob(t), seeker(), domain.ApplicationForm{CoverLetter: ptr("Dear\x00team")}, domain.KindInvalid, "cover_letter"},
		{"a cover letter that is not UTF-8", openJob(t), seeker(), domain.ApplicationForm{CoverLetter: ptr("caf\xe9")}, domain.KindInvalid, "cover_letter"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			app, events, err := submit(c.job, c.applicant, c.form, nil)
			is.Equal(domain.KindOf(err), c.kind) // refused with the right kind
			is.Equal(app, nil)                   // no application
			is.Equal(len(events), 0)             // and no event
			if c.field != "" {
				_, named := fieldsOf(err)[c.field]
				is.True(named) // the error names the field
			}
		})
	}
}

func TestSubmitApplicationReportsEveryField(t *testing.T) {
	is := is.New(t)
	_, _, err := submit(openJob(t), seeker(), domain.ApplicationForm{Name: ptr(""), Email: ptr("x"), CoverLetter: ptr(strings.Repeat("c", 10001))}, nil)
	fields := fieldsOf(err)
	is.Equal(len(fields), 3) // name, email and cover_letter at once
}

func TestSubmitApplicationWithResume(t *testing.T) {
	is := is.New(t)
	pdf := testfiles.PDF(2048)
	_, events, err := submit(openJob(t), seeker(), domain.ApplicationForm{}, &domain.ResumeUpload{FileName: "../../etc/passwd.pdf", Content: pdf})
	is.NoErr(err) // a PDF is a resume
	e := events[0].(domain.ApplicationSubmitted)
	sum := sha256.Sum256(pdf)
	is.Equal(*e.Resume, domain.ResumeFile{FileName: "passwd.pdf", ContentType: "application/pdf", Size: 2048, SHA256: hex.EncodeToString(sum[:])})

	data, err := json.Marshal(e)
	is.NoErr(err)                                                         // the event encodes
	is.True(len(data) < 1024)                                             // without the file's bytes
	is.True(!strings.Contains(string(data), "1 0 obj"))                   // not even a part of them
	is.True(strings.Contains(string(data), `"sha256":"`+e.Resume.SHA256)) // but with its digest
	decoded, err := domain.DecodeEvent(e.EventType(), domain.SchemaVersion(e), data)
	is.NoErr(err)        // it decodes from the log
	is.Equal(decoded, e) // as it was
	app, err := domain.ApplicationFromHistory([]domain.Event{decoded})
	is.NoErr(err)                      // and folds into an application
	is.Equal(*app.Resume(), *e.Resume) // with its resume
	is.Equal(app.ApplicantID(), e.ApplicantID)

	_, _, err = submit(openJob(t), seeker(), domain.ApplicationForm{Email: ptr("bad")}, &domain.ResumeUpload{FileName: "cv.html", Content: testfiles.HTML()})
	is.Equal(domain.KindOf(err), domain.KindInvalid) // fields are checked before the file
}

func TestCheckResumeTypes(t *testing.T) {
	cases := []struct {
		name    string
		content []byte
		want    string // "" when refused as unsupported
	}{
		{"PDF", testfiles.PDF(100), domain.ContentTypePDF},
		{"DOCX", testfiles.DOCX(false), domain.ContentTypeDOCX},
		{"DOCX whose telling entries are past the first 64 KiB", testfiles.DOCX(true), domain.ContentTypeDOCX},
		{"DOC", testfiles.DOC(), domain.ContentTypeDOC},
		{"ODT", testfiles.ODT(), domain.ContentTypeODT},
		{"plain text", testfiles.Text(5000), domain.ContentTypePlainText},
		{"plain text with a UTF-8 BOM", append([]byte("\xef\xbb\xbf"), "Ada Lovelace — analyst\n"...), domain.ContentTypePlainText},
		{"text that looks like CSV", []byte("Ada, Lovelace\nGo, SQL\nLondon, UK\n"), domain.ContentTypePlainText},
		{"HTML", testfiles.HTML(), ""},
		{"an HTML fragment", []byte("<script>alert(1)</script>"), ""},
		{"SVG", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), ""},
		{"XML", []byte(`<?xml version="1.0"?><cv/>`), ""},
		{"a shell script", []byte("#!/bin/sh\nrm -rf /\n"), ""},
		{"ELF", testfiles.ELF(), ""},
		{"PE", testfiles.PE(), ""},
		{"a ZIP that is no document", testfiles.ZIP(), ""},
		{"PNG", append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 100)...), ""},
		{"text in Latin-1", []byte("caf\xe9 cr\xe8me\n"), ""},
		{"text in UTF-16", append([]byte{0xFF, 0xFE}, []byte("A\x00d\x00a\x00")...), ""},
		{"text with binary bytes after its first kilobytes", append(testfiles.Text(8192), 0x00, 0x01, 0x02), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			start := c.content[:min(len(c.content), domain.ResumeSniffBytes)]
			if c.want != "" {
				is.NoErr(domain.CheckResumeStart(start)) // a resume is never turned away by its start
			}
			file, err := domain.CheckResume(domain.ResumeUpload{FileName: "cv.pdf", Content: c.content})
			if c.want == "" {
				is.Equal(domain.KindOf(err), domain.KindUnsupportedType) // refused by its content, whatever its name says
				return
			}
			is.NoErr(err)
			is.Equal(file.ContentType, c.want) // the official type
			is.Equal(file.Size, int64(len(c.content)))
		})
	}
}

// What no resume can start like is refused from its first bytes, before
// the rest of an upload is read.
func TestCheckResumeStart(t *testing.T) {
	for name, start := range map[string][]byte{
		"PE": testfiles.PE(), "ELF": testfiles.ELF(), "HTML": testfiles.HTML(),
		"PNG": append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 100)...),
	} {
		t.Run(name, func(t *testing.T) {
			is := is.New(t)
			is.Equal(domain.KindOf(domain.CheckResumeStart(start)), domain.KindUnsupportedType) // refused from its start
		})
	}
}

func TestCheckResumeSize(t *testing.T) {
	is := is.New(t)
	file, err := domain.CheckResume(domain.ResumeUpload{FileName: "cv.pdf", Content: testfiles.PDF(domain.MaxResumeBytes)})
	is.NoErr(err)                     // exactly 5 MiB is accepted
	is.Equal(file.Size, int64(5<<20)) // and its size recorded
	_, err = domain.CheckResume(domain.ResumeUpload{FileName: "cv.pdf", Content: testfiles.PDF(domain.MaxResumeBytes + 1)})
	is.Equal(domain.KindOf(err), domain.KindTooLarge) // one byte more is not
	_, err = domain.CheckResume(domain.ResumeUpload{FileName: "cv.pdf"})
	is.Equal(domain.KindOf(err), domain.KindInvalid) // nor is an empty file
	is.True(fieldsOf(err)["resume"] != "")           // which names the field
}

func TestCheckResumeNamesAnUnnamedFile(t *testing.T) {
	is := is.New(t)
	for name, want := range map[string]string{"": "resume.pdf", "../..": "resume.pdf", "C:\\": "resume.pdf", "\u202e": "resume.pdf"} {
		file, err := domain.CheckResume(domain.ResumeUpload{FileName: name, Content: testfiles.PDF(100)})
		is.NoErr(err)
		is.Equal(file.FileName, want) // a name nothing is left of becomes resume plus the type's extension
	}
}

func TestCleanFileName(t *testing.T) {
	long := strings.Repeat("a", 150) + ".pdf"
	cases := []struct{ in, want string }{
		{"cv.pdf", "cv.pdf"},
		{"My CV (2026).pdf", "My CV (2026).pdf"},
		{"Lebenslauf Müller – 2026.pdf", "Lebenslauf Müller – 2026.pdf"},
		{"履歴書.pdf", "履歴書.pdf"},
		{"../../etc/passwd.pdf", "passwd.pdf"},
		{"/etc/passwd", "passwd"},
		{`C:\Users\x\cv.pdf`, "cv.pdf"},
		{`\\server\share\cv.pdf`, "cv.pdf"},
		{`..\..\windows\system32\cv.pdf`, "cv.pdf"},
		{"C:cv.pdf", "cv.pdf"},
		{"dir/sub\\mixed/cv.pdf", "cv.pdf"},
		{"cv.pdf/", ""},
		{"..", ""},
		{".", ""},
		{".hidden", "hidden"},
		{"cv.pdf.", "cv.pdf"},
		{"  cv.pdf  ", "cv.pdf"},
		{"cv\x00.pdf", "cv.pdf"},
		{"cv\r\nContent-Type: text/html.pdf", "html.pdf"},
		{"cv\r\nX-Evil: 1.pdf", "cv  X-Evil_ 1.pdf"},
		{"cv\u202efdp.exe", "cvfdp.exe"},
		{"cv\u200b.pdf", "cv.pdf"},
		{`a"b<c>d|e?f*g.pdf`, "a_b_c_d_e_f_g.pdf"},
		{"tab\there.pdf", "tab here.pdf"},
		{"bad\xffutf8.pdf", "bad_utf8.pdf"},
		{long, strings.Repeat("a", 96) + ".pdf"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			is := is.New(t)
			got := domain.CleanFileName(c.in)
			is.Equal(got, c.want)
			is.True(utf8.RuneCountInString(got) <= domain.MaxFileNameLength) // bounded
			is.True(!strings.ContainsAny(got, "/\\\x00\r\n"))                // no separators or control characters
		})
	}
}

func TestCleanFileNameKeepsTheExtensionOfLongNames(t *testing.T) {
	is := is.New(t)
	got := domain.CleanFileName(strings.Repeat("é", 300) + ".docx")
	is.Equal(utf8.RuneCountInString(got), domain.MaxFileNameLength) // cut to the limit, in characters
	is.True(strings.HasSuffix(got, "é.docx"))                       // the extension kept, on a whole character
	is.True(utf8.ValidString(got))                                  // no character cut in half
}

func TestDetectionIsQuickOnLargeFiles(t *testing.T) {
	is := is.New(t)
	start := time.Now()
	_, err := domain.CheckResume(domain.ResumeUpload{FileName: "cv.txt", Content: testfiles.Text(domain.MaxResumeBytes)})
	is.NoErr(err)                              // 5 MiB of text is a resume
	is.True(time.Since(start) < 2*time.Second) // sniffing the whole file stays cheap

	noise := make([]byte, domain.MaxResumeBytes)
	rand.Read(noise)
	start = time.Now()
	_, err = domain.CheckResume(domain.ResumeUpload{FileName: "cv.pdf", Content: noise})
	is.Equal(domain.KindOf(err), domain.KindUnsupportedType) // 5 MiB of noise is not
	is.True(time.Since(start) < 2*time.Second)               // and takes no longer to refuse
}
