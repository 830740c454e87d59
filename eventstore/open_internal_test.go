package eventstore

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/jobboard/jobboard/domain"
)

// The fast way of opening a sealed member (cut and splice the JSON text)
// and the slow one (through a map) agree, whatever the member's place in
// the object and however the text is spaced; with the key and without.
func TestOpenDataCutsAndSplicesAsAMapWould(t *testing.T) {
	kek := make([]byte, KEKSize)
	keys, err := NewKeyring(kek)
	if err != nil {
		t.Fatal(err)
	}
	subject, id := uuid.New(), uuid.New()
	_, aead, err := keys.newDataKey(subject)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := domain.PersonalFieldsOf("ApplicationSubmitted")
	fields := map[string]json.RawMessage{
		"name": json.RawMessage(`"Ann \"Quote\" O'Brien, Jr."`), "email": json.RawMessage(`"ann@example.com"`),
		"cover_letter": json.RawMessage(`"Line one,\nline \u00e9 two: {\"personal\": \"no\"}"`),
	}
	if err := sealFields(aead, id, subject, spec, fields); err != nil {
		t.Fatal(err)
	}
	member := string(fields[personalMember])
	layouts := map[string]string{
		"jsonb, first":   `{"personal": ` + member + `, "job_id": "j", "applicant_id": "a"}`,
		"jsonb, middle":  `{"job_id": "j", "personal": ` + member + `, "applicant_id": "a"}`,
		"jsonb, last":    `{"job_id": "j", "applicant_id": "a,b", "personal": ` + member + `}`,
		"compact, last":  `{"job_id":"j","applicant_id":"a","personal":` + member + `}`,
		"compact, first": `{"personal":` + member + `,"job_id":"j"}`,
		"only":           `{"personal": ` + member + `}`,
		"spread":         "{\n  \"job_id\": \"j\",\n  \"personal\": " + member + "\n}",
	}
	for name, data := range layouts {
		for _, withKey := range []bool{true, false} {
			key := aead
			if !withKey {
				key = nil
			}
			fast, fastShredded, err := openData(key, id, subject, spec, []byte(data))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			slow, slowShredded, err := openDataSlowly(key, id, subject, spec, []byte(data))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var a, b map[string]any
			if err := json.Unmarshal(fast, &a); err != nil {
				t.Fatalf("%s: the fast way made invalid JSON: %v: %s", name, err, fast)
			}
			if err := json.Unmarshal(slow, &b); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, b) || fastShredded != slowShredded || fastShredded == withKey {
				t.Errorf("%s, key %v: fast %s (shredded %v), slow %s (shredded %v)", name, withKey, fast, fastShredded, slow, slowShredded)
			}
			if withKey && a["name"] != `Ann "Quote" O'Brien, Jr.` {
				t.Errorf("%s: name %v", name, a["name"])
			}
			if _, ok := a[personalMember]; ok {
				t.Errorf("%s: the sealed member is still there: %s", name, fast)
			}
		}
	}
	// Another event's ciphertext does not open here: it reads as shredded.
	other, shredded, err := openData(aead, uuid.New(), subject, spec, []byte(layouts["jsonb, middle"]))
	if err != nil || !shredded || strings.Contains(string(other), "ann@example.com") {
		t.Errorf("a ciphertext moved to another event opened: %s, %v", other, err)
	}
}

// BenchmarkOpen is the cost of opening one sealed ApplicationSubmitted,
// the bulk of a replay's personal events.
func BenchmarkOpen(b *testing.B) {
	keys, err := NewKeyring(make([]byte, KEKSize))
	if err != nil {
		b.Fatal(err)
	}
	subject, id := uuid.New(), uuid.New()
	wrapped, aead, err := keys.newDataKey(subject)
	if err != nil {
		b.Fatal(err)
	}
	data, err := json.Marshal(domain.ApplicationSubmitted{ApplicationID: id, JobID: uuid.New(), ApplicantID: subject,
		RecruiterID: uuid.New(), Name: "Ann Example", Email: "ann@example.com", CoverLetter: strings.Repeat("I would like to apply. ", 20),
		Resume: &domain.ResumeFile{FileName: "cv.pdf", ContentType: "application/pdf", Size: 12345, SHA256: strings.Repeat("ab", 32)}})
	if err != nil {
		b.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		b.Fatal(err)
	}
	spec, _ := domain.PersonalFieldsOf("ApplicationSubmitted")
	if err := sealFields(aead, id, subject, spec, fields); err != nil {
		b.Fatal(err)
	}
	stored, err := json.Marshal(fields)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r := Record{EventID: id, Type: "ApplicationSubmitted", Subject: subject, Data: stored, sealed: true, wrappedKey: wrapped}
		if err := keys.Open(&r); err != nil || r.Shredded {
			b.Fatal(err)
		}
	}
}
