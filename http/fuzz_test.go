package http

// Fuzz targets for what the API parses from clients. Each holds to the same
// invariants: it never panics, and whatever it refuses it refuses with an
// error that becomes a 4xx and shows no internal detail. Seed inputs are in
// testdata/fuzz/<FuzzName>/; `make fuzz` runs each target for a minute.

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/jobboard/jobboard/domain"
)

// clientVisible is the text of err that a client would read in the
// problem: its detail and its fields.
func clientVisible(err error) string {
	var re *requestError
	if errors.As(err, &re) {
		var b strings.Builder
		b.WriteString(re.detail)
		for _, f := range re.fields {
			b.WriteString(" " + f.Field + " " + f.Message)
		}
		return b.String()
	}
	var de *domain.Error
	if errors.As(err, &de) {
		var b strings.Builder
		b.WriteString(de.Message)
		for _, f := range de.Fields {
			b.WriteString(" " + f.Field + " " + f.Message)
		}
		return b.String()
	}
	return ""
}

// internalWords are what a problem must never show: Go type names, the
// decoder's own messages.
var internalWords = []string{"json:", "jobBody", "optional[", "*domain", "struct", "interface", "uuid.UUID", "multipart:", "mime:"}

// checkClientError fails unless err is one of the typed errors that map to
// a 4xx (never a 500) and shows nothing internal.
func checkClientError(t *testing.T, err error, statuses ...int) {
	t.Helper()
	var re *requestError
	var de *domain.Error
	if !errors.As(err, &re) && !(errors.As(err, &de) && de.Kind != domain.KindInternal) {
		t.Fatalf("error %v (%T) is not a requestError or a domain.Error with a kind", err, err)
	}
	status := statusOf(err)
	if !containsInt(statuses, status) {
		t.Fatalf("error %q is a %d, want one of %v", err, status, statuses)
	}
	text := clientVisible(err)
	if strings.TrimSpace(text) == "" {
		t.Fatalf("error %v says nothing to the client", err)
	}
	for _, w := range internalWords {
		if strings.Contains(text, w) {
			t.Fatalf("the problem shows an internal detail (%q): %q", w, text)
		}
	}
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// FuzzDecodeJSON feeds decodeJSON any body and Content-Type, decoding into
// the richest body the API takes (PATCH /jobs: pointers, a bool, numbers,
// fields that tell null from absent). A body it accepts is a JSON object
// that decodes the same again once re-encoded; one it refuses is a 400,
// 413, 415 or 422.
func FuzzDecodeJSON(f *testing.F) {
	f.Add("application/json", []byte(`{"title":"Go developer","remote":true,"salary_min":null,"salary_max":90000}`))
	f.Add("application/json; charset=utf-8", []byte(`{"title":1}`))
	f.Add("", []byte(`{"nope":1}`))
	f.Add("text/plain", []byte(`{}`))
	f.Add("application/merge-patch+json", []byte(` [1] `))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		r := httptest.NewRequest(http.MethodPatch, "/jobs/x", bytes.NewReader(body))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, maxJSONBody)
		var got jobBodyWithStatus
		err := decodeJSON(r, &got)
		if err != nil {
			checkClientError(t, err, http.StatusBadRequest, http.StatusRequestEntityTooLarge,
				http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity)
			if domain.KindOf(err) == domain.KindInvalid {
				var de *domain.Error
				errors.As(err, &de)
				if len(de.Fields) == 0 || de.Fields[0].Field == "" {
					t.Fatalf("a 422 names no field: %v", err)
				}
			}
			return
		}
		if !json.Valid(body) || bytes.TrimSpace(body)[0] != '{' {
			t.Fatalf("accepted a body that is not a JSON object: %q", body)
		}
		again, err := json.Marshal(jobBodyJSON(got))
		if err != nil {
			t.Fatalf("re-encode %+v: %v", got, err)
		}
		r = httptest.NewRequest(http.MethodPatch, "/jobs/x", bytes.NewReader(again))
		var back jobBodyWithStatus
		if err := decodeJSON(r, &back); err != nil {
			t.Fatalf("the re-encoded body %s is refused: %v", again, err)
		}
		if !reflect.DeepEqual(got, back) {
			t.Fatalf("round trip: %s decoded to %+v, then %s to %+v", body, got, again, back)
		}
	})
}

// jobBodyJSON is b as a client would have sent it: its set fields only,
// null where a nullable one was null.
func jobBodyJSON(b jobBodyWithStatus) map[string]any {
	m := map[string]any{}
	for name, v := range map[string]*string{"title": b.Title, "description": b.Description, "company": b.Company,
		"location": b.Location, "employment_type": b.EmploymentType, "status": b.Status} {
		if v != nil {
			m[name] = *v
		}
	}
	if b.Remote != nil {
		m["remote"] = *b.Remote
	}
	if b.SalaryMin.Set {
		m["salary_min"] = b.SalaryMin.Value
	}
	if b.SalaryMax.Set {
		m["salary_max"] = b.SalaryMax.Value
	}
	if b.SalaryCurrency.Set {
		m["salary_currency"] = b.SalaryCurrency.Value
	}
	return m
}

// FuzzCursor feeds the listings' cursor parameter any string. A cursor it
// accepts names a time and a non-nil id, and is the same cursor once
// re-encoded the way the API gives cursors out; one it refuses is a 400
// naming the cursor.
func FuzzCursor(f *testing.F) {
	f.Add(*encodePageCursor(mustTime("2026-11-25T16:45:58.123456Z"), mustUUID("0190d6a4-7b1c-7c3e-9f00-123456789abc")))
	f.Add("")
	f.Add("not base64!")
	f.Add("eyJ0IjoiMjAyNi0wMS0wMVQwMDowMDowMFoiLCJpIjoiMDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwIn0")
	f.Add("e30")
	f.Fuzz(func(t *testing.T, s string) {
		limit, c, err := parsePaging(url.Values{"cursor": {s}})
		if err != nil {
			checkClientError(t, err, http.StatusBadRequest)
			var re *requestError
			if errors.As(err, &re) && (len(re.fields) != 1 || re.fields[0].Field != "cursor") {
				t.Fatalf("a bad cursor's problem does not name the cursor: %+v", re.fields)
			}
			return
		}
		if s == "" {
			if c != nil {
				t.Fatal("no cursor, yet one was read")
			}
			return
		}
		if limit != 20 || c == nil || c.CreatedAt.IsZero() || c.ID == uuid.Nil {
			t.Fatalf("cursor %q accepted as limit %d, %+v", s, limit, c)
		}
		again := encodePageCursor(c.CreatedAt, c.ID)
		back, err := decodeCursor(*again)
		if err != nil {
			t.Fatalf("the re-encoded cursor %q of %q is refused: %v", *again, s, err)
		}
		if !back.CreatedAt.Equal(c.CreatedAt) || back.ID != c.ID {
			t.Fatalf("round trip: %q is %+v, re-encoded %q is %+v", s, c, *again, back)
		}
	})
}

// FuzzReadApplication feeds the apply route's body reader any body and
// Content-Type: multipart/form-data (the resume upload) or JSON. A form it
// accepts holds only known fields within their caps, and reads the same
// again once written out as a browser would; one it refuses is a 400, 413,
// 415 or 422.
func FuzzReadApplication(f *testing.F) {
	form := func(parts ...string) (string, []byte) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		w.SetBoundary("fuzzboundary")
		for i := 0; i+1 < len(parts); i += 2 {
			if parts[i] == "resume" {
				fw, _ := w.CreateFormFile("resume", `C:\Users\me\cv.txt`)
				fw.Write([]byte(parts[i+1]))
				continue
			}
			w.WriteField(parts[i], parts[i+1])
		}
		w.Close()
		return w.FormDataContentType(), b.Bytes()
	}
	ct, body := form("name", "Ann", "email", "ann@example.com", "cover_letter", "Hello", "resume", "I write Go.")
	f.Add(ct, body)
	ct, body = form("name", "Ann", "name", "Bob")
	f.Add(ct, body)
	ct, body = form("unknown", "x")
	f.Add(ct, body)
	f.Add("multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"resume\"; filename=\"a.pdf\"\r\n\r\n%PDF-1.4\r\n--x"))
	f.Add("multipart/form-data", []byte("--x--"))
	f.Add("application/json", []byte(`{"name":"Ann","cover_letter":null}`))
	f.Add("text/html", []byte(`<p>hi</p>`))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		form, resume, err := readApplicationBody(contentType, body)
		if err != nil {
			checkClientError(t, err, http.StatusBadRequest, http.StatusRequestEntityTooLarge,
				http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity)
			return
		}
		for _, v := range []*string{form.Name, form.Email, form.CoverLetter} {
			if v != nil && len(*v) > maxFormField {
				t.Fatalf("a field of %d bytes was accepted", len(*v))
			}
		}
		if resume != nil && len(resume.Content) > domain.MaxResumeBytes {
			t.Fatalf("a resume of %d bytes was accepted", len(resume.Content))
		}
		if resume != nil && !writableFileName(resume.FileName) {
			// multipart.Writer cannot write every name a client can send
			// (quotes are escaped differently): no round trip for those.
			return
		}
		ct, again := writeApplicationForm(t, form, resume)
		form2, resume2, err := readApplicationBody(ct, again)
		if err != nil {
			t.Fatalf("the form written out again is refused: %v", err)
		}
		if !reflect.DeepEqual(form, form2) || !reflect.DeepEqual(resume, resume2) {
			t.Fatalf("round trip: %+v %+v, then %+v %+v", form, resume, form2, resume2)
		}
	})
}

// readApplicationBody runs readApplication on a request with this body,
// capped as the apply route caps it.
func readApplicationBody(contentType string, body []byte) (domain.ApplicationForm, *domain.ResumeUpload, error) {
	r := httptest.NewRequest(http.MethodPost, "/jobs/x/apply", bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	r.Body = http.MaxBytesReader(w, r.Body, maxApplyBody)
	return readApplication(w, r)
}

// writableFileName tells whether multipart.Writer writes name so that it
// reads back the same.
func writableFileName(name string) bool {
	for _, r := range name {
		if r == '"' || r == '\\' || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return false
		}
	}
	return true
}

// writeApplicationForm writes an application as a browser would send it.
func writeApplicationForm(t *testing.T, form domain.ApplicationForm, resume *domain.ResumeUpload) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for name, v := range map[string]*string{"name": form.Name, "email": form.Email, "cover_letter": form.CoverLetter} {
		if v != nil {
			if err := w.WriteField(name, *v); err != nil {
				t.Fatal(err)
			}
		}
	}
	if resume != nil {
		fw, err := w.CreateFormFile("resume", resume.FileName)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(resume.Content)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), b.Bytes()
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func mustUUID(s string) uuid.UUID { return uuid.MustParse(s) }
