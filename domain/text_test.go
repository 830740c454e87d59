package domain_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/domain"
)

// invisible are Unicode format characters (category Cf) that change what a
// reader sees without being seen: bidi overrides, embeddings and isolates,
// zero-width characters, the byte order mark, the soft hyphen.
var invisible = []rune{'\u202E', '\u202A', '\u2066', '\u2069', '\u200B', '\u200D', '\u200E', '\uFEFF', '\u00AD', '\U000E0001'}

// singleLineFields tries s in every single-line text field the domain checks
// and returns, per field, the error of the decision that took it.
func singleLineFields(t *testing.T, s string) map[string]error {
	t.Helper()
	errs := map[string]error{}
	post := func(field string, edit func(*domain.JobDraft)) {
		d := validDraft()
		edit(&d)
		_, events, err := domain.PostJob(uuid.New(), recruiter(), d, t0)
		if err == nil && len(events) == 0 {
			t.Fatalf("PostJob decided nothing")
		}
		errs["job "+field] = err
	}
	post("title", func(d *domain.JobDraft) { d.Title = &s })
	post("company", func(d *domain.JobDraft) { d.Company = &s })
	post("location", func(d *domain.JobDraft) { d.Location = &s })
	post("salary_currency", func(d *domain.JobDraft) { c := "EUR" + s; d.SalaryCurrency = &c })

	p := recruiter()
	job, _, err := domain.PostJob(uuid.New(), p, validDraft(), t0)
	if err != nil {
		t.Fatalf("post job: %v", err)
	}
	_, errs["patched job title"] = job.Patch(p, domain.JobPatch{Title: &s}, t0)

	recruiterCompany := s
	_, _, errs["user name"] = domain.RegisterUser(uuid.New(), "ada@example.com", s, domain.RoleRecruiter, nil, t0)
	_, _, errs["user company"] = domain.RegisterUser(uuid.New(), "ada@example.com", "Ada", domain.RoleRecruiter, &recruiterCompany, t0)
	_, _, errs["user email"] = domain.RegisterUser(uuid.New(), "ada"+s+"@example.com", "Ada", domain.RoleJobSeeker, nil, t0)

	_, _, errs["applicant name"] = submit(openJob(t), seeker(), domain.ApplicationForm{Name: &s}, nil)
	email := "ada" + s + "@example.com"
	_, _, errs["applicant email"] = submit(openJob(t), seeker(), domain.ApplicationForm{Email: &email}, nil)
	return errs
}

// TestSingleLineFieldsRefuseFormatCharacters checks that no single-line
// field takes an invisible formatting character, wherever it stands, and
// that the 422 names the field.
func TestSingleLineFieldsRefuseFormatCharacters(t *testing.T) {
	for _, r := range invisible {
		for _, at := range []string{"start", "middle", "end"} {
			s := map[string]string{"start": string(r) + "Ada", "middle": "A" + string(r) + "da", "end": "Ada" + string(r)}[at]
			t.Run(fmt.Sprintf("U+%04X at the %s", r, at), func(t *testing.T) {
				for name, err := range singleLineFields(t, s) {
					field := name[strings.LastIndexByte(name, ' ')+1:]
					msg, ok := invalidFields(err)[field]
					if domain.KindOf(err) != domain.KindInvalid || !ok {
						t.Errorf("%s with U+%04X: %v, want an invalid %s", name, r, err, field)
						continue
					}
					if field != "salary_currency" && !strings.Contains(msg, fmt.Sprintf("U+%04X", r)) {
						t.Errorf("%s: %q does not name the character", name, msg)
					}
				}
			})
		}
	}
}

// TestSingleLineFieldsRefuseLineSeparators checks that the Unicode line and
// paragraph separators, which are neither control nor format characters,
// do not make a title or a name two lines.
func TestSingleLineFieldsRefuseLineSeparators(t *testing.T) {
	for _, sep := range []string{"\u2028", "\u2029"} {
		for name, err := range singleLineFields(t, "Ada"+sep+"Lovelace") {
			if domain.KindOf(err) != domain.KindInvalid {
				t.Errorf("%s with %+q: %v, want invalid", name, sep, err)
			}
		}
	}
}

// TestSingleLineFieldsTakeVisibleText checks that the refusals above are
// about format characters only: scripts, accents and emoji made of one
// character are fine.
func TestSingleLineFieldsTakeVisibleText(t *testing.T) {
	for _, s := range []string{"Zoë Ünal", "محمد", "東京 🚀", "Ada-Lovelace"} {
		for name, err := range singleLineFields(t, s) {
			if strings.HasSuffix(name, "email") || strings.HasSuffix(name, "currency") {
				continue // an address or a code is not free text
			}
			if err != nil {
				t.Errorf("%s %q: %v", name, s, err)
			}
		}
	}
}

// multiLineFields tries s as a job description and as a cover letter.
func multiLineFields(t *testing.T, s string) map[string]error {
	t.Helper()
	d := validDraft()
	d.Description = &s
	_, _, posted := domain.PostJob(uuid.New(), recruiter(), d, t0)
	_, _, applied := submit(openJob(t), seeker(), domain.ApplicationForm{CoverLetter: &s}, nil)
	return map[string]error{"description": posted, "cover_letter": applied}
}

// TestMultiLineFieldsRefuseBidiControls checks that a description or a cover
// letter cannot carry the controls that reorder the text around them (the
// "Trojan Source" characters), while the invisible characters that prose
// needs stay allowed.
func TestMultiLineFieldsRefuseBidiControls(t *testing.T) {
	for _, r := range []rune{'\u202A', '\u202B', '\u202C', '\u202D', '\u202E', '\u2066', '\u2067', '\u2068', '\u2069'} {
		for field, err := range multiLineFields(t, "Dear team,\nI apply "+string(r)+"today.") {
			msg, ok := invalidFields(err)[field]
			if !ok || !strings.Contains(msg, fmt.Sprintf("U+%04X", r)) {
				t.Errorf("%s with U+%04X: %v, want it refused by name", field, r, err)
			}
		}
	}
	for _, s := range []string{
		"I build 👩\u200d💻 tools.\n\tThanks",                // a zero-width joiner inside an emoji
		"\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", // Persian, with a zero-width non-joiner
		"Version \u200e2.0\u200f, hyphen\u00adated",        // direction marks and a soft hyphen
		"Flag: 🏴\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F",
	} {
		for field, err := range multiLineFields(t, s) {
			if err != nil {
				t.Errorf("%s %+q: %v", field, s, err)
			}
		}
	}
	is := is.New(t)
	for field, err := range multiLineFields(t, "Dear team,\x07") {
		is.Equal(invalidFields(err)[field], "must not contain control characters") // other control characters stay refused
	}
}
