package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/jobboard/jobboard/domain"
)

// maxJSONBody caps every JSON request body.
const maxJSONBody = 1 << 20

// writeJSON sends v with the given status and media type.
func writeJSON(w http.ResponseWriter, status int, mediaType string, v any) {
	// User text goes out as written: JSON consumers must not need HTML
	// escaping undone, and the content type keeps browsers from rendering it.
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"title":"Internal Server Error","status":500}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", mediaType+"; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body.Bytes()) //nolint:errcheck // the client is gone
}

// ok, created and friends send JSON with the status they are named after.
func ok(w http.ResponseWriter, v any) { writeJSON(w, http.StatusOK, "application/json", v) }

func created(w http.ResponseWriter, location string, v any) {
	w.Header().Set("Location", location)
	writeJSON(w, http.StatusCreated, "application/json", v)
}

// decodeJSON reads a JSON object into dst. Syntax errors are 400s; unknown
// fields and values of the wrong type are 422s naming the field; an
// oversized body is a 413.
func decodeJSON(r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &requestError{status: http.StatusUnsupportedMediaType, detail: "send the body as application/json"}
		}
	}
	body, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &requestError{status: http.StatusRequestEntityTooLarge, detail: fmt.Sprintf("the body is larger than %d bytes", tooBig.Limit)}
	}
	if err != nil {
		return &requestError{status: http.StatusBadRequest, detail: "the body could not be read"}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return &requestError{status: http.StatusBadRequest, detail: "the body is empty; send a JSON object"}
	}
	if !json.Valid(body) {
		return &requestError{status: http.StatusBadRequest, detail: "the body is not valid JSON"}
	}
	if trimmed := bytes.TrimSpace(body); trimmed[0] != '{' {
		return &requestError{status: http.StatusBadRequest, detail: "the body must be a JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err = dec.Decode(dst)
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if field == "" {
			field = "(body)"
		}
		return invalidField(field, "must be "+jsonTypeName(typeErr.Type.Kind().String()))
	}
	if name, found := strings.CutPrefix(err.Error(), "json: unknown field "); found {
		field := strings.Trim(name, `"`)
		if field == "" {
			// {"": …}: a field is named in the problem, even this one.
			field = "(empty name)"
		}
		return invalidField(field, "is not a field this endpoint accepts")
	}
	var de *domain.Error
	if errors.As(err, &de) {
		return de
	}
	return &requestError{status: http.StatusBadRequest, detail: "the body does not match the expected shape"}
}

func invalidField(field, message string) error {
	return &domain.Error{
		Kind:    domain.KindInvalid,
		Message: "the request has invalid fields",
		Fields:  []domain.FieldError{{Field: field, Message: message}},
	}
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "int", "int64", "int32", "uint", "uint64", "float64", "float32":
		return "a number"
	case "slice", "array":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	}
	return "of another type"
}
