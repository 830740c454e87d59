package http

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

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

// writeError answers with err as problem+json. Only messages written for
// clients are shown; anything else is logged and replaced by a generic
// sentence.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away (or the server is shutting down): nobody
		// reads an answer, and it is not a failure of ours.
		log.DebugContext(r.Context(), "request canceled", "err", err, "request_id", requestIDFrom(r.Context()))
		return
	}
	status := statusOf(err)
	p := problem{Type: "about:blank", Title: http.StatusText(status), Status: status}
	var re *requestError
	var de *domain.Error
	switch {
	case errors.As(err, &re):
		p.Detail, p.Errors = re.detail, re.fields
	case errors.As(err, &de) && de.Kind != domain.KindInternal:
		p.Detail, p.Errors = de.Message, de.Fields
	case status == http.StatusServiceUnavailable:
		p.Detail = "the service cannot reach its database right now; retry shortly"
	default:
		p.Detail = "something went wrong on our side; it has been logged"
	}
	if p.Detail == "" {
		p.Detail = http.StatusText(status)
	}
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
		seconds := 1
		if de != nil && de.RetryAfter > 0 {
			seconds = int(math.Ceil(de.RetryAfter.Seconds()))
		}
		if h.Get("Retry-After") == "" {
			h.Set("Retry-After", strconv.Itoa(seconds))
		}
	}
	writeJSON(w, status, "application/problem+json", p)
}
