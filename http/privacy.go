package http

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/google/uuid"

	"github.com/jobboard/jobboard/auth"
	"github.com/jobboard/jobboard/commands"
	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/projections"
)

// exportFileName is the name the export is downloaded under.
const exportFileName = "jobboard-export.json"

// exportPageSize is how many jobs or applications the export reads at a
// time: the listings' largest page.
const exportPageSize = 100

// handleDeleteMe handles the "DELETE /me" route: the caller erases their
// own account, once their password is checked as a login checks it (a
// wrong one is a failed login of this client, and the login's throttle
// answers 429 beyond its limits).
func (s *Server) handleDeleteMe(w http.ResponseWriter, r *http.Request) {
	caller, _ := callerFrom(r.Context())
	var body struct {
		Password *string `json:"password"`
	}
	if err := decodeJSON(r, &body); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if body.Password == nil || *body.Password == "" {
		// Not a password judged, so not a failed login either.
		writeError(w, r, s.Logger, invalidField("password", "is required: the account's password, to confirm the erasure"))
		return
	}
	if _, err := s.Commands.DeleteAccount(r.Context(), caller.UserID, *body.Password, s.clientKey(r)); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// exportApplicationJSON is an application as the export shows it: as
// GET /me/applications does, with its history as GET
// /applications/{id}/history shows it to the applicant and, when it has a
// resume, where to download it.
type exportApplicationJSON struct {
	applicationJSON
	ResumeURL *string       `json:"resume_url,omitempty"`
	History   []historyJSON `json:"history"`
}

// exportEventJSON is an event of the export: a history item, with the
// stream it belongs to (a move's data does not say which application it
// moved).
type exportEventJSON struct {
	historyJSON
	StreamType string    `json:"stream_type"`
	StreamID   uuid.UUID `json:"stream_id"`
}

// handleExport handles the "GET /me/export" route: the caller's export
// (Exporter.Export), or the problem that kept it from starting.
func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) {
	caller, _ := callerFrom(r.Context())
	err := s.exporter().Export(w, r, caller)
	if domain.KindOf(err) == domain.KindNotFound {
		err = &domain.Error{Kind: domain.KindUnauthorized, Message: "the access token names an account that does not exist"}
	}
	if err != nil {
		writeError(w, r, s.Logger, err)
	}
}

// exporter is the server's Exporter.
func (s *Server) exporter() Exporter {
	return Exporter{Commands: s.Commands, Users: s.Users, Jobs: s.Jobs, Applications: s.Applications, Logger: s.Logger}
}

// Exporter writes the privacy export: everything the service keeps about
// one account, as one JSON document to download. GET /me/export writes it
// for the API's caller, and the pages (package web) for the signed-in
// account, from the same views.
type Exporter struct {
	Commands     *commands.Handlers
	Users        projections.UsersView
	Jobs         projections.JobsView
	Applications projections.ApplicationsView
	// Logger logs an export that failed once it had begun (nil: the
	// default logger).
	Logger *slog.Logger
}

// Export writes caller's export to w as a download (a 200 with the
// document, or only its headers for a HEAD). It is written as it is read,
// piece by piece: the account, the recruiter's jobs page by page or the
// job seeker's applications one by one, then every event about the
// caller, one at a time. Nothing is held beyond a page.
//
// What fails before the 200 is returned, with nothing written, for the
// caller to answer as it answers errors (an account that does not exist
// is a domain.KindNotFound error). What fails after it aborts the
// connection (it panics with http.ErrAbortHandler, which net/http handles),
// so that the client gets a truncated download rather than a file that
// looks whole.
func (e Exporter) Export(w http.ResponseWriter, r *http.Request, caller auth.Caller) error {
	ctx := r.Context()
	u, err := e.Users.Get(ctx, caller.UserID)
	if err != nil {
		return err
	}
	// The first page is read before the answer starts, so that a database
	// that is down is a 503 rather than a cut download.
	var jobs projections.JobPage
	var applications projections.ApplicationPage
	switch caller.Role {
	case domain.RoleRecruiter:
		jobs, err = e.Jobs.List(ctx, exportJobFilter(caller.UserID, nil))
	case domain.RoleJobSeeker:
		applications, err = e.Applications.ListAllForApplicant(ctx, caller.UserID, exportPageSize, nil)
	}
	if err != nil {
		return err
	}

	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+exportFileName+`"`)
	// Personal data: never kept by a cache.
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}

	out := newExportStream(w)
	out.raw(`{"account":`)
	out.value(newUserJSON(u.ID, u.Email, u.Name, u.Role, u.Company, u.CreatedAt))
	switch caller.Role {
	case domain.RoleRecruiter:
		out.raw(`,"jobs":[`)
		err = e.exportJobs(r, out, caller, jobs)
	case domain.RoleJobSeeker:
		out.raw(`,"applications":[`)
		err = e.exportApplications(r, out, caller, applications)
	}
	if err == nil && out.err == nil {
		out.raw(`],"events":[`)
		err = e.Commands.EventsAbout(ctx, caller.UserID, func(rec eventstore.Record) error {
			item, err := historyItem(rec, caller.UserID)
			if err != nil {
				return err
			}
			out.item(exportEventJSON{historyJSON: item, StreamType: rec.StreamType, StreamID: rec.StreamID})
			return out.err
		})
	}
	if err == nil {
		out.raw("]}\n")
	}
	if err == nil {
		err = out.err
	}
	if err != nil {
		e.abort(r, err)
	}
	return nil
}

// exportJobFilter lists a recruiter's jobs, open and closed, a page after
// after. Deleted jobs are in no listing (their events are in the export).
func exportJobFilter(recruiter uuid.UUID, after *projections.JobCursor) projections.JobFilter {
	return projections.JobFilter{RecruiterID: &recruiter, Status: projections.AnyStatus, Limit: exportPageSize, After: after}
}

// exportJobs writes the recruiter's jobs, as their owner sees them, from
// the first page on.
func (e Exporter) exportJobs(r *http.Request, out *exportStream, caller auth.Caller, page projections.JobPage) error {
	for {
		for _, j := range page.Items {
			out.item(newJobJSON(j, &caller))
		}
		if out.err != nil || page.Next == nil {
			return out.err
		}
		var err error
		if page, err = e.Jobs.List(r.Context(), exportJobFilter(caller.UserID, page.Next)); err != nil {
			return err
		}
	}
}

// exportApplications writes the job seeker's applications, each with its
// history, from the first page on.
func (e Exporter) exportApplications(r *http.Request, out *exportStream, caller auth.Caller, page projections.ApplicationPage) error {
	for {
		for _, a := range page.Items {
			records, _, err := e.Commands.ApplicationHistory(r.Context(), caller, a.ID)
			if err != nil {
				return err
			}
			item := exportApplicationJSON{applicationJSON: newApplicationJSON(a, caller.UserID, true), History: make([]historyJSON, len(records))}
			for i, rec := range records {
				if item.History[i], err = historyItem(rec, caller.UserID); err != nil {
					return err
				}
			}
			if a.Resume != nil {
				url := resumePath(a.ID)
				item.ResumeURL = &url
			}
			out.item(item)
		}
		if out.err != nil || page.Next == nil {
			return out.err
		}
		var err error
		if page, err = e.Applications.ListAllForApplicant(r.Context(), caller.UserID, exportPageSize, page.Next); err != nil {
			return err
		}
	}
}

// resumePath is the path of an application's resume download
// (GET /applications/{id}/resume).
func resumePath(id uuid.UUID) string { return "/applications/" + id.String() + "/resume" }

// abort ends an export that failed after its 200 was sent: logged, and
// the connection cut (http.ErrAbortHandler), so that the client sees a
// broken download, not a complete-looking file.
func (e Exporter) abort(r *http.Request, err error) {
	logger := e.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if r.Context().Err() != nil || errors.Is(err, errExportWrite) {
		logger.DebugContext(r.Context(), "export cut short: the client went away", "err", err,
			"request_id", requestIDFrom(r.Context()))
	} else {
		logger.ErrorContext(r.Context(), "export failed after its answer began; connection aborted", "err", err,
			"request_id", requestIDFrom(r.Context()))
	}
	panic(http.ErrAbortHandler)
}

// errExportWrite marks a failure to write the export to the client.
var errExportWrite = errors.New("write the export")

// exportStream writes a JSON document piece by piece, remembering the
// first failure: everything after it is skipped.
type exportStream struct {
	w     io.Writer
	enc   *json.Encoder
	first bool // the next item is the first of its array
	err   error
}

func newExportStream(w io.Writer) *exportStream {
	out := &exportStream{w: w}
	out.enc = json.NewEncoder(writerFunc(func(b []byte) (int, error) {
		n, err := w.Write(b)
		if err != nil {
			err = errors.Join(errExportWrite, err)
		}
		return n, err
	}))
	// User text goes out as written, as every answer of the API does.
	out.enc.SetEscapeHTML(false)
	return out
}

// raw writes punctuation; one that opens an array ('[' last) starts its
// items.
func (o *exportStream) raw(s string) {
	if o.err != nil {
		return
	}
	if _, err := io.WriteString(o.w, s); err != nil {
		o.err = errors.Join(errExportWrite, err)
	}
	o.first = len(s) > 0 && s[len(s)-1] == '['
}

// value writes v as JSON.
func (o *exportStream) value(v any) {
	if o.err == nil {
		o.err = o.enc.Encode(v)
	}
}

// item writes v as the next item of the array being written.
func (o *exportStream) item(v any) {
	if !o.first {
		o.raw(",")
	}
	o.first = false
	o.value(v)
}

// writerFunc is an io.Writer made of a function.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
