package domain_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/jobboard/jobboard/domain"
)

// A JobPosted stored before employment types existed (schema v1, no
// employment_type) is read as the current version, with the default.
func TestJobPostedV1IsUpcast(t *testing.T) {
	is := is.New(t)
	v1 := `{"job_id":"5b7f7d8e-6a43-4b8e-9d53-1a0b2c3d4e5f","recruiter_id":"0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5",
"title":"Welder","description":"Metal work","company":"Acme","location":"Leeds","remote":false,
"posted_at":"2025-01-02T03:04:05Z"}`
	is.Equal(domain.SchemaVersion(domain.JobPosted{}), 2) // the current version

	e, err := domain.DecodeEvent("JobPosted", 1, []byte(v1))
	is.NoErr(err) // an old event is readable
	posted, ok := e.(domain.JobPosted)
	is.True(ok)                                      // as the current type
	is.Equal(posted.EmploymentType, domain.FullTime) // with the default employment type
	is.Equal(posted.Title, "Welder")                 // and everything else as it was

	// A v1 event that did name a type keeps it.
	withType := strings.Replace(v1, `"remote":false`, `"remote":false,"employment_type":"contract"`, 1)
	e, err = domain.DecodeEvent("JobPosted", 1, []byte(withType))
	is.NoErr(err)
	is.Equal(e.(domain.JobPosted).EmploymentType, domain.Contract)

	// The whole history of such a job folds as usual.
	job, err := domain.JobFromHistory([]domain.Event{posted})
	is.NoErr(err)
	is.Equal(job.Details().EmploymentType, domain.FullTime)
}

func TestUpcastRefusesWhatItCannotRead(t *testing.T) {
	is := is.New(t)
	_, err := domain.DecodeEvent("JobPosted", 3, []byte(`{}`))
	is.True(err != nil) // a version from a newer build is refused, not misread
	_, err = domain.DecodeEvent("JobPosted", 0, []byte(`{}`))
	is.True(err != nil) // so is a version that never existed
	_, err = domain.DecodeEvent("JobPosted", 1, []byte(`[1, 2]`))
	is.True(err != nil) // and data that is not an object

	current := []byte(`{"title":"x"}`)
	out, err := domain.Upcast("JobPosted", 2, current)
	is.NoErr(err)
	is.Equal(string(out), string(current)) // current data passes through untouched
	var fields map[string]any
	out, err = domain.Upcast("JobPosted", 1, []byte(`{"title":"x"}`))
	is.NoErr(err)
	is.NoErr(json.Unmarshal(out, &fields))
	is.Equal(fields["employment_type"], "full_time") // the upcast JSON carries the default
}
