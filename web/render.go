package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	api "github.com/jobboard/jobboard/http"

	"github.com/jobboard/jobboard/commands"
	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/projections"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static/style.css
var stylesheet []byte

// stylesheetETag lets browsers revalidate the stylesheet for a 304.
var stylesheetETag = func() string {
	sum := sha256.Sum256(stylesheet)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}()

// templates are the pages, each parsed once with the layout and the
// partials it shares: one set per page, so that each defines its own
// "content".
var templates = mustParseTemplates()

func mustParseTemplates() map[string]*template.Template {
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		panic(err)
	}
	sets := map[string]*template.Template{}
	for _, name := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")
		if base == "layout" || base == "partials" {
			continue
		}
		sets[base] = template.Must(template.New(base).Funcs(templateFuncs).
			ParseFS(templateFiles, "templates/layout.html", "templates/partials.html", name))
	}
	return sets
}

// templateFuncs are the few helpers the templates use. None of them makes
// HTML: everything they return is escaped like any other value.
var templateFuncs = template.FuncMap{
	"date": func(t time.Time) string { return t.UTC().Format("2 January 2006") },
	// dateTime is for a history, where several moves may fall on one day.
	"dateTime": func(t time.Time) string { return t.UTC().Format("2 January 2006, 15:04 UTC") },
	// isoTime is a <time> element's datetime attribute.
	"isoTime": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	// fieldError is the error of a field as the field-error partial
	// takes it, or nil.
	"fieldError": func(errs map[string]string, field string) *fieldError {
		if msg, ok := errs[field]; ok {
			return &fieldError{Field: field, Message: msg}
		}
		return nil
	},
	"employmentType":    employmentTypeLabel,
	"salary":            salaryText,
	"applicationStatus": applicationStatusLabel,
	"moveTargets":       moveTargets,
	"finalStatus":       finalStatus,
	"withdrawHref":      withdrawHref,
	"size":              sizeText,
	"passwordRule": func() string {
		return fmt.Sprintf("%d to %d bytes: a few words make a good one.", commands.MinPasswordBytes, commands.MaxPasswordBytes)
	},
	"plural": plural,
}

// page is what every template is given: the layout's part (title, where
// the page is, who is signed in) and the page's own data, with the form's
// errors, if any.
type page struct {
	Title   string
	Path    string
	Session *session
	// Problem is the error of the whole form; Errors the errors of its
	// fields, by field name.
	Problem *problem
	Errors  map[string]string
	Data    any
}

// problem is what the problem box of a page says: the domain's message,
// the fields at fault, and when to try again after a 429 or 503.
type problem struct {
	Message string
	Fields  []fieldError
	Wait    string
}

type fieldError struct {
	Field, Label, Message string
}

// fieldLabels name the fields in the problem box, as the forms label them.
var fieldLabels = map[string]string{
	"title": "Title", "description": "Description", "company": "Company", "location": "Location",
	"employment_type": "Employment type", "remote": "Remote", "salary_min": "Minimum salary",
	"salary_max": "Maximum salary", "salary_currency": "Salary currency", "email": "Email",
	"password": "Password", "name": "Name", "role": "Role", "cover_letter": "Cover letter",
	"resume": "Resume", "q": "Keywords", "limit": "Results per page", "cursor": "Page", "version": "Version",
	"status": "Move to", "reason": "Reason for rejecting",
}

// problemOf turns a refusal into what a page shows of it: the message in
// the problem box, which lists the fields too, and each field's message
// next to it (errs, which it fills).
func problemOf(ref api.Refusal, errs map[string]string) *problem {
	// The API's messages about a wait point at its Retry-After header; a
	// page says how long itself (Wait).
	p := &problem{Message: strings.TrimSuffix(ref.Detail, " (see Retry-After)")}
	for _, f := range ref.Fields {
		label := fieldLabels[f.Field]
		if label == "" {
			label = f.Field
		}
		p.Fields = append(p.Fields, fieldError{Field: f.Field, Label: label, Message: f.Message})
		if _, seen := errs[f.Field]; !seen {
			errs[f.Field] = f.Message
		}
	}
	if ref.RetryAfter > 0 {
		p.Wait = "Try again in " + waitText(ref.RetryAfter) + "."
	}
	return p
}

// waitText says how long a wait is, rounded up, in words.
func waitText(d time.Duration) string {
	switch {
	case d <= time.Second:
		return "a second"
	case d < time.Minute:
		return strconv.Itoa(int(math.Ceil(d.Seconds()))) + " seconds"
	case d <= time.Minute:
		return "a minute"
	default:
		return strconv.Itoa(int(math.Ceil(d.Minutes()))) + " minutes"
	}
}

// buffers keep the pages' buffers between requests.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// render writes a page with status. It is rendered whole before anything
// is sent, so that a template error is a 500, not half a page.
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	t, ok := templates[name]
	if !ok {
		panic("web: no template " + name)
	}
	p.Path = r.URL.Path
	p.Session = sessionFrom(r.Context())
	buf := buffers.Get().(*bytes.Buffer)
	defer func() {
		buf.Reset()
		buffers.Put(buf)
	}()
	if err := t.ExecuteTemplate(buf, "layout", p); err != nil {
		u.Logger.ErrorContext(r.Context(), "render a page", "page", name, "err", err)
		http.Error(w, "The page could not be shown; it has been logged.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	if p.Session != nil {
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes()) //nolint:errcheck // the client is gone
	}
}

// errorTitles are the headings of the error pages.
var errorTitles = map[int]string{
	http.StatusBadRequest:            "Bad request",
	http.StatusUnauthorized:          "Please sign in",
	http.StatusForbidden:             "Not allowed",
	http.StatusNotFound:              "Not found",
	http.StatusConflict:              "Conflict",
	http.StatusPreconditionFailed:    "Changed meanwhile",
	http.StatusRequestEntityTooLarge: "Too large",
	http.StatusTooManyRequests:       "Too many requests",
	http.StatusServiceUnavailable:    "Busy",
}

// errorPage answers with a page that says only message.
func (u *UI) errorPage(w http.ResponseWriter, r *http.Request, status int, message string) {
	u.writeError(w, r, api.Refusal{Status: status, Detail: message})
}

// writeError answers with an error page for a refusal.
func (u *UI) writeError(w http.ResponseWriter, r *http.Request, ref api.Refusal) {
	title := errorTitles[ref.Status]
	if title == "" {
		title = http.StatusText(ref.Status)
		if ref.Status >= 500 {
			title = "Something went wrong"
		}
	}
	if ref.RetryAfter > 0 {
		w.Header().Set("Retry-After", ref.RetryAfterHeader())
	}
	errs := map[string]string{}
	u.render(w, r, ref.Status, "error", &page{Title: title, Problem: problemOf(ref, errs), Errors: errs})
}

// WriteErrorPage shows an error that the API's middleware answers on one
// of the pages' paths (a 429 of the rate limits, a 431, a panic): it makes
// UI an http.ErrorPageWriter. The session is read here, since the request
// has not reached withSession.
func (u *UI) WriteErrorPage(w http.ResponseWriter, r *http.Request, ref api.Refusal) {
	if s := u.sessions.read(r); s != nil {
		r = r.WithContext(context.WithValue(r.Context(), sessionKey, s))
	}
	w.Header().Set("Vary", "Cookie")
	u.writeError(w, r, ref)
}

// fail answers err, which a command or a view returned, with an error
// page: its own message for the errors written for people, a generic
// one (and a log line) for the others. A request whose client has gone
// gets nothing.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return
	}
	ref := u.explain(r, err)
	u.writeError(w, r, ref)
}

// explain is api.Explain, which logs the errors of the server: the pages
// and the API say the same thing of an error, with the same status.
func (u *UI) explain(r *http.Request, err error) api.Refusal {
	ref := api.Explain(err)
	if ref.Status >= 500 {
		u.Logger.ErrorContext(r.Context(), "page failed", "path", r.URL.Path, "status", ref.Status, "err", err)
	}
	return ref
}

// formProblem is the problem box and field errors of a form refused with
// err; it also sets the answer's Retry-After when the refusal has one.
func (u *UI) formProblem(w http.ResponseWriter, r *http.Request, err error) (status int, p *problem, errs map[string]string) {
	ref := u.explain(r, err)
	if ref.RetryAfter > 0 {
		w.Header().Set("Retry-After", ref.RetryAfterHeader())
	}
	errs = map[string]string{}
	return ref.Status, problemOf(ref, errs), errs
}

// handleStyle handles the "GET /app/static/style.css" route. Browsers
// revalidate it on each use (a 304 when it has not changed), so that a
// new release's stylesheet is never mixed with an old page.
func handleStyle(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("ETag", stylesheetETag)
	h.Set("Cache-Control", "no-cache")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, stylesheetETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(stylesheet)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(stylesheet) //nolint:errcheck // the client is gone
	}
}

// invalid is a refusal of fields the pages read before any command does
// (a number that is no number): the same kind of error the domain makes.
func invalid(fields map[string]string) error {
	var v domain.Validation
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		v.Add(name, fields[name])
	}
	return v.Err()
}

// mib is a byte count in MiB, for the upload rules.
func mib(n int) string { return fmt.Sprintf("%d MiB", n>>20) }

// sizeText is a file's size for people.
func sizeText(n int64) string {
	switch {
	case n < 1000:
		return plural(int(n), "byte", "bytes")
	case n < 1000*1000:
		return fmt.Sprintf("%.0f kB", float64(n)/1000)
	default:
		return fmt.Sprintf("%.1f MB", float64(n)/1000/1000)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// salaryText is a job's salary range, "" when it has none: numbers with
// thousands separators, then the currency.
func salaryText(j projections.JobRow) string {
	var s string
	switch {
	case j.SalaryMin != nil && j.SalaryMax != nil && *j.SalaryMin == *j.SalaryMax:
		s = thousands(*j.SalaryMin)
	case j.SalaryMin != nil && j.SalaryMax != nil:
		s = thousands(*j.SalaryMin) + "–" + thousands(*j.SalaryMax)
	case j.SalaryMin != nil:
		s = "from " + thousands(*j.SalaryMin)
	case j.SalaryMax != nil:
		s = "up to " + thousands(*j.SalaryMax)
	default:
		return ""
	}
	if j.SalaryCurrency != nil {
		s += " " + *j.SalaryCurrency
	}
	return s
}

// thousands writes n with commas between groups of three digits.
func thousands(n int64) string {
	digits := strconv.FormatInt(n, 10)
	sign := ""
	if n < 0 {
		sign, digits = "-", digits[1:]
	}
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return sign + b.String()
}

// applicationStatusLabels name the statuses for people.
var applicationStatusLabels = map[string]string{
	domain.ApplicationSubmittedStatus.String(): "Submitted",
	domain.StatusScreening.String():            "Screening",
	domain.StatusInterview.String():            "Interview",
	domain.StatusOffer.String():                "Offer",
	domain.StatusHired.String():                "Hired",
	domain.StatusRejected.String():             "Rejected",
	domain.StatusWithdrawn.String():            "Withdrawn",
}

// applicationStatusLabel names an application's status for people; a
// status it does not know (a newer release's) is shown as it is stored.
func applicationStatusLabel(status string) string {
	if l, ok := applicationStatusLabels[status]; ok {
		return l
	}
	return status
}

// finalStatus reports whether an application at status moves no more: no
// page offers to move or withdraw it. A status this release does not know
// is taken as final, so that no control is offered that would only fail.
func finalStatus(status string) bool {
	st, err := domain.ParseApplicationStatus(status)
	return err != nil || st.Final()
}

// moveTargets are the statuses the job's recruiter may move an application
// at status to, in the pipeline's order: any but withdrawn (the
// applicant's alone) and the one it has; none once it is final. The
// domain decides again when the form is sent; this only keeps the form
// from offering what it would refuse.
func moveTargets(status string) []option {
	if finalStatus(status) {
		return nil
	}
	var out []option
	for _, st := range domain.ApplicationStatuses {
		if st == domain.StatusWithdrawn || st.String() == status {
			continue
		}
		out = append(out, option{Value: st.String(), Label: applicationStatusLabel(st.String())})
	}
	return out
}
