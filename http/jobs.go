package http

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/jobboard/jobboard/auth"
	"github.com/jobboard/jobboard/commands"
	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/projections"
)

// jobJSON is a job as the API shows it.
type jobJSON struct {
	ID               uuid.UUID `json:"id"`
	Title            string    `json:"title"`
	Description      string    `json:"description"`
	Company          string    `json:"company"`
	Location         string    `json:"location"`
	EmploymentType   string    `json:"employment_type"`
	Remote           bool      `json:"remote"`
	SalaryMin        *int64    `json:"salary_min"`
	SalaryMax        *int64    `json:"salary_max"`
	SalaryCurrency   *string   `json:"salary_currency"`
	Status           string    `json:"status"`
	RecruiterID      uuid.UUID `json:"recruiter_id"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
	Version          int64     `json:"version"`
	ApplicationCount *int      `json:"application_count,omitempty"`
	// ApplicationsByStatus, like ApplicationCount, is the owner's only:
	// how many of its applications are at each of the seven statuses.
	ApplicationsByStatus map[string]int `json:"applications_by_status,omitempty"`
}

// newJobJSON renders a job for viewer; only the owning recruiter sees the
// application count.
func newJobJSON(j projections.JobRow, viewer *auth.Caller) jobJSON {
	out := jobJSON{
		ID: j.ID, Title: j.Title, Description: j.Description, Company: j.Company, Location: j.Location,
		EmploymentType: j.EmploymentType, Remote: j.Remote,
		SalaryMin: j.SalaryMin, SalaryMax: j.SalaryMax, SalaryCurrency: j.SalaryCurrency,
		Status: j.Status, RecruiterID: j.RecruiterID,
		CreatedAt: j.CreatedAt.Truncate(time.Second), UpdatedAt: j.UpdatedAt.Truncate(time.Second),
		Version: j.Version,
	}
	if viewer != nil && viewer.UserID == j.RecruiterID {
		n := j.ApplicationCount
		out.ApplicationCount = &n
		out.ApplicationsByStatus = make(map[string]int, len(domain.ApplicationStatuses))
		for i, status := range domain.ApplicationStatuses {
			out.ApplicationsByStatus[status.String()] = j.ApplicationsByStatus[i]
		}
	}
	return out
}

// jobBody is the body of POST, PUT and PATCH /jobs. Salary fields tell
// "null" (remove it) from "absent" (leave it), which only PATCH cares about.
type jobBody struct {
	Title          *string          `json:"title"`
	Description    *string          `json:"description"`
	Company        *string          `json:"company"`
	Location       *string          `json:"location"`
	EmploymentType *string          `json:"employment_type"`
	Remote         *bool            `json:"remote"`
	SalaryMin      optional[int64]  `json:"salary_min"`
	SalaryMax      optional[int64]  `json:"salary_max"`
	SalaryCurrency optional[string] `json:"salary_currency"`
}

// jobBodyWithStatus is the body of PUT and PATCH, which may also open or
// close the job. It spells out jobBody's fields instead of embedding it:
// encoding/json names a field of an embedded struct after that struct in a
// type error ("jobBody.remote"), which would neither name the client's
// field nor keep an internal type name out of the problem.
type jobBodyWithStatus struct {
	Title          *string          `json:"title"`
	Description    *string          `json:"description"`
	Company        *string          `json:"company"`
	Location       *string          `json:"location"`
	EmploymentType *string          `json:"employment_type"`
	Remote         *bool            `json:"remote"`
	SalaryMin      optional[int64]  `json:"salary_min"`
	SalaryMax      optional[int64]  `json:"salary_max"`
	SalaryCurrency optional[string] `json:"salary_currency"`
	Status         *string          `json:"status"`
}

func (b jobBodyWithStatus) draft() domain.JobDraft {
	return jobBody{
		Title: b.Title, Description: b.Description, Company: b.Company, Location: b.Location,
		EmploymentType: b.EmploymentType, Remote: b.Remote,
		SalaryMin: b.SalaryMin, SalaryMax: b.SalaryMax, SalaryCurrency: b.SalaryCurrency,
	}.draft()
}

func (b jobBody) draft() domain.JobDraft {
	return domain.JobDraft{
		Title: b.Title, Description: b.Description, Company: b.Company, Location: b.Location,
		EmploymentType: b.EmploymentType, Remote: b.Remote,
		SalaryMin: b.SalaryMin.Value, SalaryMax: b.SalaryMax.Value, SalaryCurrency: b.SalaryCurrency.Value,
	}
}

// optional is a JSON field that may be absent, null or a value.
type optional[T any] struct {
	Set   bool
	Value *T
}

func (o *optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Value = nil
		return nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	o.Value = &v
	return nil
}

// handlePostJob handles the "POST /jobs" route.
func (s *Server) handlePostJob(w http.ResponseWriter, r *http.Request) {
	caller, _ := callerFrom(r.Context())
	var body jobBody
	if err := decodeJSON(r, &body); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	job, err := s.Commands.PostJob(r.Context(), caller, body.draft())
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	s.writeJob(w, r, job, http.StatusCreated)
}

// handleGetJob handles the "GET /jobs/{id}" route.
func (s *Server) handleGetJob(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	s.respondWithJob(w, r, id, http.StatusOK)
}

// handlePatchJob handles the "PATCH /jobs/{id}" route.
func (s *Server) handlePatchJob(w http.ResponseWriter, r *http.Request) {
	s.changeJob(w, r, func(caller auth.Caller, id uuid.UUID, ifMatch commands.IfMatch, body jobBodyWithStatus) error {
		return s.Commands.PatchJob(r.Context(), caller, id, ifMatch, domain.JobPatch{
			Title: body.Title, Description: body.Description, Company: body.Company, Location: body.Location,
			EmploymentType: body.EmploymentType, Remote: body.Remote,
			SalaryMin:      domain.Optional[int64](body.SalaryMin),
			SalaryMax:      domain.Optional[int64](body.SalaryMax),
			SalaryCurrency: domain.Optional[string](body.SalaryCurrency),
			Status:         body.Status,
		})
	})
}

// handlePutJob handles the "PUT /jobs/{id}" route.
func (s *Server) handlePutJob(w http.ResponseWriter, r *http.Request) {
	s.changeJob(w, r, func(caller auth.Caller, id uuid.UUID, ifMatch commands.IfMatch, body jobBodyWithStatus) error {
		return s.Commands.ReplaceJob(r.Context(), caller, id, ifMatch, body.draft(), body.Status)
	})
}

// changeJob is what PATCH and PUT share: parse, decode, run, answer with
// the job as it now is.
func (s *Server) changeJob(w http.ResponseWriter, r *http.Request, run func(auth.Caller, uuid.UUID, commands.IfMatch, jobBodyWithStatus) error) {
	caller, _ := callerFrom(r.Context())
	var body jobBodyWithStatus
	id, ifMatch, err := readChange(r, &body)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if err := run(caller, id, ifMatch, body); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	s.respondWithJob(w, r, id, http.StatusOK)
}

// handleDeleteJob handles the "DELETE /jobs/{id}" route.
func (s *Server) handleDeleteJob(w http.ResponseWriter, r *http.Request) {
	caller, _ := callerFrom(r.Context())
	id, err := pathID(r)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if err := s.Commands.DeleteJob(r.Context(), caller, id, parseIfMatch(r)); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// respondWithJob answers with the job as the read model has it, with its
// version as ETag.
func (s *Server) respondWithJob(w http.ResponseWriter, r *http.Request, id uuid.UUID, status int) {
	job, err := s.Jobs.Get(r.Context(), id)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	s.writeJob(w, r, job, status)
}

// writeJob answers with job, with its version as ETag.
func (s *Server) writeJob(w http.ResponseWriter, r *http.Request, job projections.JobRow, status int) {
	viewer, _ := callerFrom(r.Context())
	w.Header().Set("ETag", strconv.Quote(strconv.FormatInt(job.Version, 10)))
	if status == http.StatusCreated {
		w.Header().Set("Location", "/jobs/"+job.ID.String())
	}
	writeJSON(w, status, "application/json", newJobJSON(job, &viewer))
}

// handleListJobs handles the "GET /jobs" route.
func (s *Server) handleListJobs(w http.ResponseWriter, r *http.Request) {
	caller, authenticated := callerFrom(r.Context())
	f, err := ParseJobFilter(r.URL.Query())
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if f.Status != domain.StatusOpen.String() {
		// status=closed and status=all list a recruiter's own jobs only.
		switch {
		case !authenticated:
			writeError(w, r, s.Logger, &domain.Error{Kind: domain.KindUnauthorized, Message: "status=" + f.Status + " lists your own jobs: log in as their recruiter"})
			return
		case caller.Role != domain.RoleRecruiter || (f.RecruiterID != nil && *f.RecruiterID != caller.UserID):
			writeError(w, r, s.Logger, domain.Errorf(domain.KindForbidden, "status=%s lists only a recruiter's own jobs", f.Status))
			return
		}
		f.RecruiterID = &caller.UserID
	}
	page, err := s.Jobs.List(r.Context(), f)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	items := make([]jobJSON, len(page.Items))
	for i, j := range page.Items {
		items[i] = newJobJSON(j, &caller)
	}
	ok(w, pageJSON[jobJSON]{Items: items, NextCursor: encodeCursor(page.Next), Total: page.Total})
}

// pageJSON is the shape of every paginated answer.
type pageJSON[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
	Total      int     `json:"total"`
}

// historyJSON is one event of a job's history.
type historyJSON struct {
	Position   int64           `json:"position"`
	Version    int64           `json:"version"`
	Type       string          `json:"type"`
	OccurredAt time.Time       `json:"occurred_at"`
	ActorID    *uuid.UUID      `json:"actor_id"`
	Data       json.RawMessage `json:"data"`
}

// handleJobHistory handles the "GET /jobs/{id}/history" route.
func (s *Server) handleJobHistory(w http.ResponseWriter, r *http.Request) {
	caller, _ := callerFrom(r.Context())
	id, err := pathID(r)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	records, err := s.Commands.JobHistory(r.Context(), caller, id)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	items := make([]historyJSON, len(records))
	for i, rec := range records {
		items[i] = newHistoryJSON(rec)
	}
	ok(w, map[string]any{"items": items})
}

// newHistoryJSON is an event as a history shows it.
func newHistoryJSON(rec eventstore.Record) historyJSON {
	h := historyJSON{Position: rec.Position, Version: rec.Version, Type: rec.Type,
		OccurredAt: rec.OccurredAt.Truncate(time.Second), Data: rec.Data}
	if rec.Metadata.ActorID != uuid.Nil {
		actor := rec.Metadata.ActorID
		h.ActorID = &actor
	}
	return h
}

// pathID reads the {id} of the path. A malformed id names nothing, so it
// is a 404 like an unknown one.
func pathID(r *http.Request) (uuid.UUID, error) {
	id, err := uuid.Parse(mux.Vars(r)["id"])
	if err != nil {
		return uuid.Nil, domain.Errorf(domain.KindNotFound, "no such resource")
	}
	return id, nil
}

// parseIfMatch reads If-Match into the versions a write is meant for: nil
// for no precondition (no If-Match, or *: a resource that does not exist
// is a 404 anyway). ETags are strong ("3") and If-Match compares strongly
// (RFC 9110, 13.1.1), so only those exact tags match: a weak tag, another
// tag ("abc", "03"), an empty or unparseable header are preconditions that
// no version meets. They fail as a stale version does, with a 412 once the
// resource is found and the caller may change it (RFC 9110, 13.2.1: a 404
// or 403 comes first), rather than a 400: the client asked for a
// condition, and the answer is that it does not hold. A list matches when
// one of its tags does. No If-Match is refused outright.
func parseIfMatch(r *http.Request) commands.IfMatch {
	values := r.Header.Values("If-Match")
	if len(values) == 0 {
		return nil
	}
	h := strings.TrimSpace(strings.Join(values, ","))
	if h == "*" {
		return nil
	}
	versions := commands.IfMatch{} // not nil: a precondition, met by none yet
	for _, tag := range strongTags(h) {
		v, err := strconv.ParseInt(tag, 10, 64)
		if err != nil || v < 1 || strconv.FormatInt(v, 10) != tag {
			continue // not one of ours
		}
		versions = append(versions, v)
	}
	return versions
}

// readChange reads what every conditional write of a resource (PATCH,
// PUT) sends: the resource's id from the path, If-Match, and the JSON
// body into body.
func readChange(r *http.Request, body any) (uuid.UUID, commands.IfMatch, error) {
	id, err := pathID(r)
	if err != nil {
		return uuid.Nil, nil, err
	}
	if err := decodeJSON(r, body); err != nil {
		return uuid.Nil, nil, err
	}
	return id, parseIfMatch(r), nil
}

// strongTags returns the opaque part of each strong entity-tag of an
// If-Match list (weak ones never match strongly), or none when the list
// does not parse as 1#entity-tag, where entity-tag = [ "W/" ] DQUOTE *etagc
// DQUOTE and empty list elements are allowed (RFC 9110, 5.6.1 and 8.8.3).
func strongTags(h string) []string {
	var tags []string
	for {
		h = strings.TrimLeft(h, " \t,")
		if h == "" {
			return tags
		}
		weak := strings.HasPrefix(h, "W/")
		if weak {
			h = h[2:]
		}
		if !strings.HasPrefix(h, `"`) {
			return nil
		}
		end := strings.IndexByte(h[1:], '"')
		if end < 0 {
			return nil
		}
		opaque := h[1 : 1+end]
		if strings.ContainsFunc(opaque, func(r rune) bool { return r <= ' ' || r == 0x7F }) {
			return nil // etagc is visible characters only
		}
		if !weak {
			tags = append(tags, opaque)
		}
		h = strings.TrimLeft(h[2+end:], " \t")
		if h != "" && h[0] != ',' {
			return nil
		}
	}
}

// badQuery is the 400 of a query parameter name that is not what it must
// be: why says what it must be.
func badQuery(name, why string) error {
	return &requestError{status: http.StatusBadRequest, detail: "query parameter " + name + " " + why,
		fields: []domain.FieldError{{Field: name, Message: why}}}
}

// ParseJobFilter reads the query parameters of GET /jobs. It is exported
// for the job search page (package web), which takes the same parameters
// and must list exactly what GET /jobs lists for them.
func ParseJobFilter(q url.Values) (projections.JobFilter, error) {
	f := projections.JobFilter{Status: domain.StatusOpen.String(), Limit: 20}
	bad := badQuery
	for _, p := range []struct {
		name string
		dst  *string
		max  int
	}{{"title", &f.Title, 200}, {"location", &f.Location, 200}, {"company", &f.Company, 200}, {"q", &f.Query, 500}} {
		v := strings.TrimSpace(q.Get(p.name))
		if utf8.RuneCountInString(v) > p.max || !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			return f, bad(p.name, "must be valid text of at most "+strconv.Itoa(p.max)+" characters")
		}
		*p.dst = v
	}
	if v := q.Get("employment_type"); v != "" {
		t, err := domain.ParseEmploymentType(v)
		if err != nil {
			return f, bad("employment_type", err.Error())
		}
		f.EmploymentType = t.String()
	}
	if v := q.Get("remote"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil || (v != "true" && v != "false") {
			return f, bad("remote", "must be true or false")
		}
		f.Remote = &b
	}
	if v := q.Get("recruiter_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return f, bad("recruiter_id", "must be a UUID")
		}
		f.RecruiterID = &id
	}
	if v := q.Get("status"); v == projections.AnyStatus {
		f.Status = v
	} else if v != "" {
		st, err := domain.ParseJobStatus(v)
		if err != nil {
			return f, bad("status", "must be open, closed or all")
		}
		f.Status = st.String()
	}
	limit, after, err := parsePaging(q)
	if err != nil {
		return f, err
	}
	f.Limit = limit
	if after != nil {
		f.After = &projections.JobCursor{CreatedAt: after.CreatedAt, ID: after.ID}
	}
	return f, nil
}

// cursor is what an opaque next_cursor encodes: the last item of a page.
type cursor struct {
	CreatedAt time.Time `json:"t"`
	ID        uuid.UUID `json:"i"`
}

// parsePaging reads limit (1–100, default 20) and cursor.
func parsePaging(q url.Values) (int, *cursor, error) {
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return 0, nil, &requestError{status: http.StatusBadRequest, detail: "query parameter limit must be a whole number from 1 to 100",
				fields: []domain.FieldError{{Field: "limit", Message: "must be a whole number from 1 to 100"}}}
		}
		limit = n
	}
	v := q.Get("cursor")
	if v == "" {
		return limit, nil, nil
	}
	c, err := decodeCursor(v)
	if err != nil {
		return 0, nil, &requestError{status: http.StatusBadRequest, detail: "query parameter cursor is not a cursor this API gave out; start again without it",
			fields: []domain.FieldError{{Field: "cursor", Message: "is invalid"}}}
	}
	return limit, c, nil
}

// EncodeJobCursor is the next_cursor of a page of jobs that ends at c, or
// "" for the last page: what the search page links to.
func EncodeJobCursor(c *projections.JobCursor) string {
	if s := encodeCursor(c); s != nil {
		return *s
	}
	return ""
}

// ParseApplicationPaging reads limit and cursor as the API's listings of
// applications do, for the pages that list them.
func ParseApplicationPaging(q url.Values) (int, *projections.ApplicationCursor, error) {
	limit, after, err := parsePaging(q)
	return limit, applicationCursor(after), err
}

// EncodeApplicationCursor is the cursor of the page of applications after
// c, or "" for the last page.
func EncodeApplicationCursor(c *projections.ApplicationCursor) string {
	if c == nil {
		return ""
	}
	return *encodePageCursor(c.CreatedAt, c.ID)
}

func encodeCursor(c *projections.JobCursor) *string {
	if c == nil {
		return nil
	}
	return encodePageCursor(c.CreatedAt, c.ID)
}

// encodePageCursor makes the opaque cursor of a page whose last item was
// created at createdAt with id.
func encodePageCursor(createdAt time.Time, id uuid.UUID) *string {
	b, _ := json.Marshal(cursor{CreatedAt: createdAt, ID: id})
	s := base64.RawURLEncoding.EncodeToString(b)
	return &s
}

func decodeCursor(s string) (*cursor, error) {
	if len(s) > 200 {
		return nil, errBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var c cursor
	if err := dec.Decode(&c); err != nil || c.ID == uuid.Nil || c.CreatedAt.IsZero() {
		return nil, errBadCursor
	}
	// Nothing may follow the object: a cursor with bytes appended is not
	// the one the server gave.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errBadCursor
	}
	return &c, nil
}

var errBadCursor = &requestError{status: http.StatusBadRequest, detail: "bad cursor"}
