package http

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/projections"
)

// routeApply names the upload route, which has a body cap of its own.
const routeApply = "apply"

// maxApplyBody caps the body of POST /jobs/{id}/apply: a resume of the
// largest size, the form's text fields and the multipart framing.
const maxApplyBody = domain.MaxResumeBytes + 64<<10

// maxFormField caps each text field of the multipart form, in bytes: well
// above the longest valid cover letter, so that the domain's own length
// rules give the answer to everything short of absurd.
const maxFormField = 60 << 10

// resumeJSON describes an application's resume.
type resumeJSON struct {
	FileName    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
}

// applicationJobJSON is what GET /me/applications shows of each job.
type applicationJobJSON struct {
	ID      uuid.UUID `json:"id"`
	Title   string    `json:"title"`
	Company string    `json:"company"`
}

// applicationJSON is an application as the API shows it.
type applicationJSON struct {
	ID          uuid.UUID   `json:"id"`
	JobID       uuid.UUID   `json:"job_id"`
	ApplicantID uuid.UUID   `json:"applicant_id"`
	Name        string      `json:"name"`
	Email       *string     `json:"email"` // null once the applicant is erased
	CoverLetter *string     `json:"cover_letter"`
	Status      string      `json:"status"`
	Resume      *resumeJSON `json:"resume"`
	CreatedAt   time.Time   `json:"created_at"`
	UpdatedAt   time.Time   `json:"updated_at"`
	Version     int64       `json:"version"`
	// RejectionReason is shown to the job's recruiter only.
	RejectionReason *string             `json:"rejection_reason,omitempty"`
	Job             *applicationJobJSON `json:"job,omitempty"`
}

// newApplicationJSON renders an application for viewer; withJob adds its
// job's id, title and company. Only the job's recruiter sees the reason of
// a rejection.
func newApplicationJSON(a projections.ApplicationRow, viewer uuid.UUID, withJob bool) applicationJSON {
	out := applicationJSON{
		ID: a.ID, JobID: a.JobID, ApplicantID: a.ApplicantID, Name: a.Name, Email: &a.Email,
		CoverLetter: a.CoverLetter, Status: a.Status, CreatedAt: a.CreatedAt.Truncate(time.Second),
		UpdatedAt: a.UpdatedAt.Truncate(time.Second), Version: a.Version,
	}
	if viewer == a.RecruiterID {
		out.RejectionReason = a.RejectionReason
	}
	if a.Erased {
		out.Email = nil
	}
	if a.Resume != nil {
		out.Resume = &resumeJSON{FileName: a.Resume.FileName, ContentType: a.Resume.ContentType, Size: a.Resume.Size, SHA256: a.Resume.SHA256}
	}
	if withJob {
		out.Job = &applicationJobJSON{ID: a.JobID, Title: a.JobTitle, Company: a.JobCompany}
	}
	return out
}

// handleApply handles the "POST /jobs/{id}/apply" route.
func (s *Server) handleApply(w http.ResponseWriter, r *http.Request) {
	caller, _ := callerFrom(r.Context())
	jobID, err := pathID(r)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	// Refuse what can be refused before reading up to 5 MiB of upload:
	// the role, the size, then the account, the job and, for an upload,
	// an application already made.
	if err := domain.CheckCanApply(caller.Role); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if r.ContentLength > maxApplyBody {
		writeError(w, r, s.Logger, errApplyTooLarge)
		return
	}
	upload := isMultipart(r)
	start, err := s.Commands.StartApplication(r.Context(), caller, jobID, upload)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if upload {
		release, err := uploads.reserve(r.Context(), uploadSize(r))
		if err != nil {
			writeError(w, r, s.Logger, err)
			return
		}
		defer release()
	}
	form, resume, err := readApplication(w, r)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	a, err := s.Commands.SubmitApplication(r.Context(), start, form, resume)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeApplicationETag(w, a)
	created(w, "/applications/"+a.ID.String(), newApplicationJSON(a, caller.UserID, false))
}

// isMultipart says whether r's body claims to be a form that may carry a
// file: the one kind of apply body that is big.
func isMultipart(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "multipart/form-data"
}

var errApplyTooLarge = &requestError{status: http.StatusRequestEntityTooLarge,
	detail: fmt.Sprintf("the request is larger than %d bytes; a resume may be at most 5 MiB", maxApplyBody)}

// readApplication reads the form of an application: multipart/form-data,
// with an optional file, or JSON without one. A request with no body at
// all applies with the account's name and email.
func readApplication(w http.ResponseWriter, r *http.Request) (domain.ApplicationForm, *domain.ResumeUpload, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" && r.ContentLength == 0 {
		return domain.ApplicationForm{}, nil, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	switch {
	case ct == "" || (err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))):
		var body struct {
			Name        *string `json:"name"`
			Email       *string `json:"email"`
			CoverLetter *string `json:"cover_letter"`
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
		if err := decodeJSON(r, &body); err != nil {
			return domain.ApplicationForm{}, nil, err
		}
		return domain.ApplicationForm{Name: body.Name, Email: body.Email, CoverLetter: body.CoverLetter}, nil, nil
	case err == nil && mt == "multipart/form-data":
		return readMultipartApplication(r)
	}
	return domain.ApplicationForm{}, nil, &requestError{status: http.StatusUnsupportedMediaType,
		detail: "send the application as multipart/form-data (to attach a resume) or as application/json"}
}

// ReadMultipartApplication reads a multipart application as
// POST /jobs/{id}/apply does, with the same limits and resume checks, for
// the apply form of the pages (package web). On an error, the form holds
// the text fields read before it.
func ReadMultipartApplication(r *http.Request) (domain.ApplicationForm, *domain.ResumeUpload, error) {
	return readMultipartApplication(r)
}

// readMultipartApplication streams the parts of a multipart application.
// Nothing is spilled to disk and nothing is held beyond its cap: a text
// field is read up to maxFormField, the resume until it passes
// domain.MaxResumeBytes, which is how an oversized one is told.
func readMultipartApplication(r *http.Request) (domain.ApplicationForm, *domain.ResumeUpload, error) {
	var form domain.ApplicationForm
	var resume *domain.ResumeUpload
	mr, err := r.MultipartReader()
	if err != nil {
		return form, nil, errNotMultipart
	}
	texts := map[string]**string{"name": &form.Name, "email": &form.Email, "cover_letter": &form.CoverLetter}
	seen := map[string]bool{}
	for {
		part, err := mr.NextPart()
		// Only a bare io.EOF is the end of the form: a body that ends
		// without its closing boundary gives an error that wraps io.EOF.
		if err == io.EOF { //nolint:errorlint // see above
			break
		}
		if err != nil {
			return form, nil, bodyReadError(err)
		}
		field := part.FormName()
		if field == "" {
			return form, nil, &requestError{status: http.StatusBadRequest, detail: "every part of the form must have a Content-Disposition with a name"}
		}
		if seen[field] {
			return form, nil, invalidField(field, "is given more than once")
		}
		seen[field] = true
		if dst, ok := texts[field]; ok {
			value, err := readFormField(part, field)
			if err != nil {
				return form, nil, err
			}
			*dst = &value
		} else if field == "resume" {
			if resume, err = readResume(part, r.ContentLength); err != nil {
				return form, nil, err
			}
		} else {
			return form, nil, invalidField(field, "is not a field this endpoint accepts")
		}
		part.Close()
	}
	return form, resume, nil
}

var errNotMultipart = &requestError{status: http.StatusBadRequest, detail: "the body is not valid multipart/form-data"}

func readFormField(part *multipart.Part, field string) (string, error) {
	b, err := io.ReadAll(io.LimitReader(part, maxFormField+1))
	if err != nil {
		return "", bodyReadError(err)
	}
	if len(b) > maxFormField {
		return "", invalidField(field, fmt.Sprintf("is far too long (more than %d bytes)", maxFormField))
	}
	return string(b), nil
}

// readResume reads the file part of the form. The name it is stored under
// comes from the raw Content-Disposition (multipart's FileName would already
// have cut Unix directories, but not Windows ones), and is cleaned by the
// domain. An empty part without a file name is what a browser sends when
// no file was chosen: no resume.
func readResume(part *multipart.Part, bodySize int64) (*domain.ResumeUpload, error) {
	var name string
	if _, params, err := mime.ParseMediaType(part.Header.Get("Content-Disposition")); err == nil {
		name = params["filename"]
	}
	content, err := readAtMost(part, domain.MaxResumeBytes, bodySize, domain.CheckResumeStart)
	if err != nil {
		return nil, err
	}
	if name == "" && len(content) == 0 {
		return nil, nil
	}
	return &domain.ResumeUpload{FileName: name, Content: content}, nil
}

// readAtMost reads r to its end into one buffer, refusing it with
// domain.ErrResumeTooLarge once it has more than max bytes, and with what
// checkStart says of its first domain.ResumeSniffBytes bytes (all of it
// when shorter) as soon as they are in: a file of the wrong type is
// refused before the rest of it is read. size is what r can hold at most,
// the request body's length when the client gave it (a part is never
// longer): the buffer is allocated once, at that size or just past max,
// never grown by doubling (which would cost about twice the file, in
// copies, for the largest ones).
func readAtMost(r io.Reader, max int, size int64, checkStart func([]byte) error) ([]byte, error) {
	if size <= 0 || size > int64(max) {
		size = int64(max) + 1
	}
	buf := make([]byte, 0, size)
	checked := false
	for {
		if len(buf) == cap(buf) {
			if len(buf) > max {
				return nil, domain.ErrResumeTooLarge
			}
			buf = slices.Grow(buf, max+1-len(buf)) // longer than the client said: not possible with a length
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > max {
			return nil, domain.ErrResumeTooLarge
		}
		eof := err == io.EOF //nolint:errorlint // Read returns io.EOF itself at the end
		if !checked && len(buf) > 0 && (len(buf) >= domain.ResumeSniffBytes || eof) {
			if err := checkStart(buf); err != nil {
				return nil, err
			}
			checked = true
		}
		switch {
		case eof:
			return buf, nil
		case err != nil:
			return nil, bodyReadError(err)
		}
	}
}

// bodyReadError is the answer to a failure to read a request body: too
// large, or not the multipart it claims to be.
func bodyReadError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &requestError{status: http.StatusRequestEntityTooLarge,
			detail: fmt.Sprintf("the request is larger than %d bytes; a resume may be at most 5 MiB", tooBig.Limit)}
	}
	return errNotMultipart
}

// handleGetApplication handles the "GET /applications/{id}" route.
func (s *Server) handleGetApplication(w http.ResponseWriter, r *http.Request) {
	caller, _ := callerFrom(r.Context())
	a, err := s.visibleApplication(r)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeApplicationETag(w, a)
	ok(w, newApplicationJSON(a, caller.UserID, false))
}

// writeApplicationETag sets an application's version as its ETag, which
// If-Match on PATCH /applications/{id} compares with.
func writeApplicationETag(w http.ResponseWriter, a projections.ApplicationRow) {
	w.Header().Set("ETag", strconv.Quote(strconv.FormatInt(a.Version, 10)))
}

// moveBody is the body of PATCH /applications/{id}.
type moveBody struct {
	Status *string `json:"status"`
	Reason *string `json:"reason"`
}

// handleMoveApplication handles the "PATCH /applications/{id}" route: the
// job's recruiter moves the application along the pipeline, its applicant
// withdraws it. The answer is the application as it now is.
func (s *Server) handleMoveApplication(w http.ResponseWriter, r *http.Request) {
	caller, _ := callerFrom(r.Context())
	var body moveBody
	id, ifMatch, err := readChange(r, &body)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	move := domain.ApplicationMove{Reason: body.Reason}
	if body.Status != nil {
		move.Status = *body.Status
	}
	if err := s.Commands.MoveApplication(r.Context(), caller, id, ifMatch, move); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	a, err := s.Applications.Get(r.Context(), id)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeApplicationETag(w, a)
	ok(w, newApplicationJSON(a, caller.UserID, false))
}

// moveJSON is the data of a move in an application's history.
type moveJSON struct {
	From   domain.ApplicationStatus `json:"from"`
	To     domain.ApplicationStatus `json:"to"`
	Reason string                   `json:"reason,omitempty"`
}

// handleApplicationHistory handles the "GET /applications/{id}/history"
// route: the application's events, as a job's history shows them, each
// move's data being its from, to and (for the recruiter) reason.
func (s *Server) handleApplicationHistory(w http.ResponseWriter, r *http.Request) {
	caller, _ := callerFrom(r.Context())
	id, err := pathID(r)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	records, _, err := s.Commands.ApplicationHistory(r.Context(), caller, id)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	items := make([]historyJSON, len(records))
	for i, rec := range records {
		if items[i], err = historyItem(rec, caller.UserID); err != nil {
			writeError(w, r, s.Logger, err)
			return
		}
	}
	ok(w, map[string]any{"items": items})
}

// historyItem is an event as the histories show it to viewer (and the
// export, GET /me/export): a move of an application (a status change or a
// withdrawal) has for data its from, to and, for the application's
// recruiter alone, the reason; any other event its own fields.
func historyItem(rec eventstore.Record, viewer uuid.UUID) (historyJSON, error) {
	item := newHistoryJSON(rec)
	if rec.Type != (domain.ApplicationStatusChanged{}).EventType() && rec.Type != (domain.ApplicationWithdrawn{}).EventType() {
		return item, nil
	}
	e, err := rec.Event()
	if err != nil {
		return historyJSON{}, err
	}
	var move *moveJSON
	switch e := e.(type) {
	case domain.ApplicationStatusChanged:
		move = &moveJSON{From: e.From, To: e.To}
		if viewer == e.RecruiterID {
			move.Reason = e.Reason
		}
	case domain.ApplicationWithdrawn:
		move = &moveJSON{From: e.From, To: domain.StatusWithdrawn}
	}
	if move != nil {
		if item.Data, err = json.Marshal(move); err != nil {
			return historyJSON{}, err
		}
	}
	return item, nil
}

// handleGetResume handles the "GET /applications/{id}/resume" route. The
// file goes out as an attachment of the type it was stored with (judged by
// its content when uploaded), never to be sniffed or rendered inline.
func (s *Server) handleGetResume(w http.ResponseWriter, r *http.Request) {
	a, err := s.visibleApplication(r)
	if err == nil && a.Resume == nil {
		err = domain.Errorf(domain.KindNotFound, "this application has no resume")
	}
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	content, err := s.Applications.ResumeContent(r.Context(), a.ID)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	WriteResume(w, *a.Resume, content)
}

// WriteResume sends a resume's content as a download: of the type it was
// stored with (judged by its content when uploaded), as an attachment that
// is never sniffed, rendered inline or allowed to run anything. The API
// and the pages both send resumes through it.
func WriteResume(w http.ResponseWriter, resume domain.ResumeFile, content []byte) {
	h := w.Header()
	h.Set("Content-Type", resume.ContentType)
	h.Set("Content-Disposition", attachment(resume.FileName))
	h.Set("Content-Length", strconv.Itoa(len(content)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.WriteHeader(http.StatusOK)
	w.Write(content) //nolint:errcheck // the client is gone
}

// visibleApplication loads the application of the request's path for the
// caller. Only its applicant and its job's recruiter see it; to anyone else
// it does not exist, so that ids reveal nothing.
func (s *Server) visibleApplication(r *http.Request) (projections.ApplicationRow, error) {
	caller, _ := callerFrom(r.Context())
	id, err := pathID(r)
	if err != nil {
		return projections.ApplicationRow{}, err
	}
	a, err := s.Applications.Get(r.Context(), id)
	if err != nil {
		return projections.ApplicationRow{}, err
	}
	applicant := caller.Role == domain.RoleJobSeeker && caller.UserID == a.ApplicantID
	recruiter := caller.Role == domain.RoleRecruiter && caller.UserID == a.RecruiterID
	if !applicant && !recruiter {
		return projections.ApplicationRow{}, domain.Errorf(domain.KindNotFound, "no such application")
	}
	return a, nil
}

// handleJobApplications handles the "GET /jobs/{id}/applications" route.
// The job itself is public, so another caller learns nothing from a 403.
func (s *Server) handleJobApplications(w http.ResponseWriter, r *http.Request) {
	caller, _ := callerFrom(r.Context())
	jobID, err := pathID(r)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	limit, after, err := parsePaging(r.URL.Query())
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	job, err := s.Jobs.Get(r.Context(), jobID)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if caller.Role != domain.RoleRecruiter || caller.UserID != job.RecruiterID {
		writeError(w, r, s.Logger, domain.Errorf(domain.KindForbidden, "only the recruiter who posted this job may read its applications"))
		return
	}
	var status string
	if v, given := r.URL.Query()["status"]; given {
		parsed, err := domain.ParseApplicationStatus(v[0])
		if err != nil || len(v) > 1 {
			writeError(w, r, s.Logger, badQuery("status", "must be one of submitted, screening, interview, offer, hired, rejected, withdrawn"))
			return
		}
		status = parsed.String()
	}
	page, err := s.Applications.ListForJob(r.Context(), jobID, status, limit, applicationCursor(after))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	ok(w, applicationPage(page, caller.UserID, false))
}

// handleMyApplications handles the "GET /me/applications" route.
func (s *Server) handleMyApplications(w http.ResponseWriter, r *http.Request) {
	caller, _ := callerFrom(r.Context())
	if caller.Role != domain.RoleJobSeeker {
		writeError(w, r, s.Logger, domain.Errorf(domain.KindForbidden,
			"only job seekers have applications; a recruiter reads those to a job at GET /jobs/{id}/applications"))
		return
	}
	limit, after, err := parsePaging(r.URL.Query())
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	page, err := s.Applications.ListForApplicant(r.Context(), caller.UserID, limit, applicationCursor(after))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	ok(w, applicationPage(page, caller.UserID, true))
}

func applicationCursor(c *cursor) *projections.ApplicationCursor {
	if c == nil {
		return nil
	}
	return &projections.ApplicationCursor{CreatedAt: c.CreatedAt, ID: c.ID}
}

func applicationPage(page projections.ApplicationPage, viewer uuid.UUID, withJob bool) pageJSON[applicationJSON] {
	items := make([]applicationJSON, len(page.Items))
	for i, a := range page.Items {
		items[i] = newApplicationJSON(a, viewer, withJob)
	}
	out := pageJSON[applicationJSON]{Items: items, Total: page.Total}
	if page.Next != nil {
		out.NextCursor = encodePageCursor(page.Next.CreatedAt, page.Next.ID)
	}
	return out
}

// attachment is the Content-Disposition of a download named filename, as
// RFC 6266 advises: an ASCII-only fallback in filename (for old clients),
// and the exact name, percent-encoded UTF-8 as RFC 8187 (5987) defines it,
// in filename*. Nothing from the name can end the quoted string or the
// header.
func attachment(filename string) string {
	var fallback, encoded strings.Builder
	for _, r := range filename {
		// '%' too: some clients percent-decode the plain filename.
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '%' {
			fallback.WriteByte('_')
		} else {
			fallback.WriteRune(r)
		}
	}
	for _, b := range []byte(filename) {
		if isAttrChar(b) {
			encoded.WriteByte(b)
		} else {
			fmt.Fprintf(&encoded, "%%%02X", b)
		}
	}
	return `attachment; filename="` + fallback.String() + `"; filename*=UTF-8''` + encoded.String()
}

// isAttrChar reports whether b may appear unencoded in an RFC 8187 value.
func isAttrChar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", b) >= 0
}
