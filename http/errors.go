package http

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/postgres"
)

// problem is an RFC 9457 problem details document.
type problem struct {
	Type   string              `json:"type"`
	Title  string              `json:"title"`
	Status int                 `json:"status"`
	Detail string              `json:"detail"`
	Errors []domain.FieldError `json:"errors,omitempty"`
}

// requestError is a problem with the HTTP request itself (its syntax, size
// or media type) rather than with what it asks for.
type requestError struct {
	status int
	detail string
	fields []domain.FieldError
}

func (e *requestError) Error() string { return e.detail }

var (
	errNoRoute          = &requestError{status: http.StatusNotFound, detail: "there is nothing at this path"}
	errMethodNotAllowed = &requestError{status: http.StatusMethodNotAllowed, detail: "this path does not accept this method; see the Allow header"}
)

// statusOf is the one place that decides which HTTP status an error gets.
func statusOf(err error) int {
	var re *requestError
	if errors.As(err, &re) {
		return re.status
	}
	switch domain.KindOf(err) {
	case domain.KindInvalid:
		return http.StatusUnprocessableEntity
	case domain.KindUnauthorized:
		return http.StatusUnauthorized
	case domain.KindForbidden:
		return http.StatusForbidden
	case domain.KindNotFound:
		return http.StatusNotFound
	case domain.KindConflict:
		return http.StatusConflict
	case domain.KindPreconditionFailed:
		return http.StatusPreconditionFailed
	case domain.KindTooManyRequests:
		return http.StatusTooManyRequests
	case domain.KindUnavailable:
		return http.StatusServiceUnavailable
	case domain.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case domain.KindUnsupportedType:
		return http.StatusUnsupportedMediaType
	}
	if postgres.IsUnavailable(err) || errors.Is(err, context.DeadlineExceeded) {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Refusal is what a client is told of an error: its status, the message
// written for it, the fields at fault and, for a 429 or 503, when to try
// again. The API sends it as problem+json; the pages (package web) show
// it in HTML, so that both say the same thing of the same error.
type Refusal struct {
	Status     int
	Detail     string
	Fields     []domain.FieldError
	RetryAfter time.Duration
}

// RetryAfterHeader is the Retry-After value of the refusal's wait, in
// whole seconds, rounded up.
func (r Refusal) RetryAfterHeader() string {
	return strconv.Itoa(int(math.Ceil(r.RetryAfter.Seconds())))
}

// Explain is the refusal err makes. Only messages written for clients are
// shown; anything else is replaced by a generic sentence (and is for the
// caller to log).
func Explain(err error) Refusal {
	status := statusOf(err)
	ref := Refusal{Status: status}
	var re *requestError
	var de *domain.Error
	switch {
	case errors.As(err, &re):
		ref.Detail, ref.Fields = re.detail, re.fields
	case errors.As(err, &de) && de.Kind != domain.KindInternal:
		ref.Detail, ref.Fields = de.Message, de.Fields
	case status == http.StatusServiceUnavailable:
		ref.Detail = "the service cannot reach its database right now; retry shortly"
	default:
		ref.Detail = "something went wrong on our side; it has been logged"
	}
	if ref.Detail == "" {
		ref.Detail = http.StatusText(status)
	}
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		ref.RetryAfter = time.Second
		if de != nil && de.RetryAfter > 0 {
			ref.RetryAfter = de.RetryAfter
		}
	}
	return ref
}

// ErrorPageWriter is a UI (Deps.UI) that shows the errors of its own paths
// as pages of its own: those the API's middleware answers before the UI
// sees the request (a 429, a 431, a panic) included.
type ErrorPageWriter interface {
	WriteErrorPage(w http.ResponseWriter, r *http.Request, ref Refusal)
}

// writeError answers with err as problem+json, or as a page of the UI for
// a request to one of its paths (see withErrorPages). Errors of the server
// (5xx) are logged.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away (or the server is shutting down): nobody
		// reads an answer, and it is not a failure of ours.
		log.DebugContext(r.Context(), "request canceled", "err", err, "request_id", requestIDFrom(r.Context()))
		return
	}
	ref := Explain(err)
	status := ref.Status
	switch {
	case status >= 500:
		log.ErrorContext(r.Context(), "request failed", "status", status, "err", err, "request_id", requestIDFrom(r.Context()))
	default:
		log.DebugContext(r.Context(), "request refused", "status", status, "err", err)
	}
	h := w.Header()
	switch status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="jobboard"`)
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		if h.Get("Retry-After") == "" {
			h.Set("Retry-After", ref.RetryAfterHeader())
		}
	}
	if pages, ok := r.Context().Value(errorPagesKey).(ErrorPageWriter); ok {
		h.Del("WWW-Authenticate") // a page asks for a session, not a token
		pages.WriteErrorPage(w, r, ref)
		return
	}
	p := problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: ref.Detail, Errors: ref.Fields}
	writeJSON(w, status, "application/problem+json", p)
}
