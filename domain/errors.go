package domain

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error by what the caller can do about it. The HTTP layer
// turns each kind into exactly one status; nothing else decides statuses.
type Kind int

const (
	// KindInternal is a bug or an unexpected failure: logged, never shown.
	KindInternal Kind = iota
	// KindInvalid: the request is well-formed but its fields break a rule.
	KindInvalid
	// KindUnauthorized: the caller is not authenticated.
	KindUnauthorized
	// KindForbidden: the caller is authenticated but may not do this.
	KindForbidden
	// KindNotFound: no such resource, or one the caller may not know about.
	KindNotFound
	// KindConflict: the request conflicts with the current state.
	KindConflict
	// KindPreconditionFailed: an If-Match precondition does not hold.
	KindPreconditionFailed
	// KindTooManyRequests: the caller is being throttled.
	KindTooManyRequests
	// KindUnavailable: a dependency (the database, the projections) cannot
	// answer in time; the client may retry.
	KindUnavailable
	// KindTooLarge: something the client sent (a file) is over its size
	// limit.
	KindTooLarge
	// KindUnsupportedType: something the client sent (a file) is not of a
	// type that is accepted.
	KindUnsupportedType
)

func (k Kind) String() string {
	switch k {
	case KindInvalid:
		return "invalid"
	case KindUnauthorized:
		return "unauthorized"
	case KindForbidden:
		return "forbidden"
	case KindNotFound:
		return "not found"
	case KindConflict:
		return "conflict"
	case KindPreconditionFailed:
		return "precondition failed"
	case KindTooManyRequests:
		return "too many requests"
	case KindUnavailable:
		return "unavailable"
	case KindTooLarge:
		return "too large"
	case KindUnsupportedType:
		return "unsupported type"
	default:
		return "internal"
	}
}

// FieldError names one invalid field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the application's one error type. Message is written for the
// person using the API; Err, when set, is the cause and is only logged.
type Error struct {
	Kind    Kind
	Message string
	Fields  []FieldError
	Err     error
	// RetryAfter, for throttled and unavailable errors, is when the
	// caller may try again.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil && e.Message != "":
		return e.Message + ": " + e.Err.Error()
	case e.Err != nil:
		return e.Kind.String() + ": " + e.Err.Error()
	default:
		return e.Message
	}
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error of the given kind with a formatted message.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Wrap attaches a kind and a message to a cause.
func Wrap(kind Kind, err error, message string) *Error {
	return &Error{Kind: kind, Message: message, Err: err}
}

// KindOf reports the kind of the first *Error in err's chain, or
// KindInternal when there is none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// Validation collects field errors so that a request learns about all of its
// mistakes at once rather than one per round trip.
type Validation struct {
	fields []FieldError
}

// Add records that field breaks a rule.
func (v *Validation) Add(field, message string) {
	v.fields = append(v.fields, FieldError{Field: field, Message: message})
}

// Err returns an invalid-kind *Error listing every recorded field, or nil.
func (v *Validation) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &Error{Kind: KindInvalid, Message: "the request has invalid fields", Fields: v.fields}
}
