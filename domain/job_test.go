package domain_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/domain"
)

func ptr[T any](v T) *T { return &v }

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func recruiter() domain.Poster {
	return domain.Poster{ID: uuid.New(), Role: domain.RoleRecruiter, Company: "Acme"}
}

func validDraft() domain.JobDraft {
	return domain.JobDraft{Title: ptr("Go developer"), Description: ptr("Write Go."), Location: ptr("Berlin")}
}

func fieldsOf(err error) map[string]string {
	var e *domain.Error
	if !errors.As(err, &e) {
		return nil
	}
	m := map[string]string{}
	for _, f := range e.Fields {
		m[f.Field] = f.Message
	}
	return m
}

func TestPostJobDefaults(t *testing.T) {
	is := is.New(t)
	p := recruiter()
	job, events, err := domain.PostJob(uuid.New(), p, validDraft(), t0)
	is.NoErr(err)                                           // a valid draft is accepted
	is.Equal(len(events), 1)                                // one JobPosted
	is.Equal(events[0].EventType(), "JobPosted")            // the event type
	is.Equal(job.Details().Company, "Acme")                 // company defaults to the recruiter's
	is.Equal(job.Details().EmploymentType, domain.FullTime) // employment type defaults to full_time
	is.Equal(job.Status(), domain.StatusOpen)               // a new job is open
	is.Equal(job.Version(), int64(1))                       // one event, version 1
	is.Equal(job.RecruiterID(), p.ID)                       // owned by its poster
}

func TestPostJobRules(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*domain.JobDraft)
		field string
	}{
		{"missing title", func(d *domain.JobDraft) { d.Title = nil }, "title"},
		{"blank title", func(d *domain.JobDraft) { d.Title = ptr("   ") }, "title"},
		{"long title", func(d *domain.JobDraft) { d.Title = ptr(strings.Repeat("é", 201)) }, "title"},
		{"long description", func(d *domain.JobDraft) { d.Description = ptr(strings.Repeat("a", 20001)) }, "description"},
		{"long location", func(d *domain.JobDraft) { d.Location = ptr(strings.Repeat("a", 201)) }, "location"},
		{"control character", func(d *domain.JobDraft) { d.Title = ptr("a\x00b") }, "title"},
		{"unknown employment type", func(d *domain.JobDraft) { d.EmploymentType = ptr("gig") }, "employment_type"},
		{"negative salary", func(d *domain.JobDraft) { d.SalaryMin, d.SalaryCurrency = ptr(int64(-1)), ptr("EUR") }, "salary_min"},
		{"min above max", func(d *domain.JobDraft) {
			d.SalaryMin, d.SalaryMax, d.SalaryCurrency = ptr(int64(10)), ptr(int64(5)), ptr("EUR")
		}, "salary_min"},
		{"unknown currency", func(d *domain.JobDraft) { d.SalaryMin, d.SalaryCurrency = ptr(int64(1)), ptr("EUX") }, "salary_currency"},
		{"blank company", func(d *domain.JobDraft) { d.Company = ptr("  ") }, "company"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			d := validDraft()
			c.edit(&d)
			_, events, err := domain.PostJob(uuid.New(), recruiter(), d, t0)
			is.Equal(domain.KindOf(err), domain.KindInvalid) // refused as invalid
			is.Equal(len(events), 0)                         // and decides nothing
			_, named := fieldsOf(err)[c.field]
			is.True(named) // the error names the field
		})
	}
	t.Run("description keeps line breaks", func(t *testing.T) {
		is := is.New(t)
		d := validDraft()
		d.Description = ptr("line one\nline two\ttabbed")
		job, _, err := domain.PostJob(uuid.New(), recruiter(), d, t0)
		is.NoErr(err)
		is.Equal(job.Details().Description, "line one\nline two\ttabbed")
	})
	t.Run("job seeker", func(t *testing.T) {
		is := is.New(t)
		_, _, err := domain.PostJob(uuid.New(), domain.Poster{ID: uuid.New(), Role: domain.RoleJobSeeker}, validDraft(), t0)
		is.Equal(domain.KindOf(err), domain.KindForbidden)
	})
	t.Run("no company to default to", func(t *testing.T) {
		is := is.New(t)
		p := recruiter()
		p.Company = ""
		_, _, err := domain.PostJob(uuid.New(), p, validDraft(), t0)
		_, named := fieldsOf(err)["company"]
		is.True(named)
	})
	t.Run("currency in lower case", func(t *testing.T) {
		is := is.New(t)
		d := validDraft()
		d.SalaryMin, d.SalaryCurrency = ptr(int64(1)), ptr("usd")
		job, _, err := domain.PostJob(uuid.New(), recruiter(), d, t0)
		is.NoErr(err)
		is.Equal(job.Details().SalaryCurrency, "USD")
	})
}

func TestPatchDecidesOneEventWithOnlyTheChanges(t *testing.T) {
	is := is.New(t)
	p := recruiter()
	d := validDraft()
	d.SalaryMin, d.SalaryMax, d.SalaryCurrency = ptr(int64(1)), ptr(int64(2)), ptr("EUR")
	job, _, err := domain.PostJob(uuid.New(), p, d, t0)
	is.NoErr(err)

	events, err := job.Patch(p, domain.JobPatch{
		Title:     ptr("Go developer"), // unchanged
		Location:  ptr("Paris"),
		SalaryMin: domain.Optional[int64]{Set: true}, // cleared
		Status:    ptr("closed"),
	}, t0.Add(time.Hour))
	is.NoErr(err)
	is.Equal(len(events), 1) // one request, one event
	u, ok := events[0].(domain.JobUpdated)
	is.True(ok)                                 // a JobUpdated
	is.Equal(u.Title, nil)                      // unchanged fields are absent
	is.Equal(*u.Location, "Paris")              // changed ones are present
	is.Equal(u.Cleared, []string{"salary_min"}) // removed ones are listed
	is.Equal(*u.Status, domain.StatusClosed)    // the status change rides along
	is.Equal(job.Details().SalaryMin, nil)      // the aggregate applied it
	is.Equal(job.Status(), domain.StatusClosed) // including the status
	is.Equal(job.Version(), int64(2))

	events, err = job.Patch(p, domain.JobPatch{Location: ptr("Paris")}, t0)
	is.NoErr(err)
	is.Equal(len(events), 0) // a patch that changes nothing decides nothing

	events, err = job.Patch(p, domain.JobPatch{Status: ptr("open")}, t0)
	is.NoErr(err)
	is.Equal(events[0].EventType(), "JobReopened") // a status-only change has its own event
}

func TestReplaceResetsOmittedFields(t *testing.T) {
	is := is.New(t)
	p := recruiter()
	d := validDraft()
	d.Remote, d.EmploymentType, d.Company = ptr(true), ptr("contract"), ptr("Other Co")
	job, _, err := domain.PostJob(uuid.New(), p, d, t0)
	is.NoErr(err)
	events, err := job.Replace(p, validDraft(), nil, t0)
	is.NoErr(err)
	is.Equal(len(events), 1)
	is.Equal(job.Details().Remote, false)                   // back to default
	is.Equal(job.Details().EmploymentType, domain.FullTime) // back to default
	is.Equal(job.Details().Company, "Acme")                 // back to the recruiter's company
	is.Equal(job.Status(), domain.StatusOpen)               // status untouched without one
}

func TestOnlyTheOwnerChangesAndDeletedAcceptsNothing(t *testing.T) {
	is := is.New(t)
	owner := recruiter()
	job, _, err := domain.PostJob(uuid.New(), owner, validDraft(), t0)
	is.NoErr(err)

	_, err = job.Patch(recruiter(), domain.JobPatch{Title: ptr("x")}, t0)
	is.Equal(domain.KindOf(err), domain.KindForbidden) // another recruiter
	_, err = job.Delete(domain.Poster{ID: owner.ID, Role: domain.RoleJobSeeker}, t0)
	is.Equal(domain.KindOf(err), domain.KindForbidden) // right id, wrong role

	events, err := job.Delete(owner, t0)
	is.NoErr(err)
	is.Equal(events[0].EventType(), "JobDeleted")
	is.True(job.Deleted())
	_, err = job.Patch(owner, domain.JobPatch{Title: ptr("x")}, t0)
	is.Equal(domain.KindOf(err), domain.KindNotFound) // a deleted job accepts nothing
	_, err = job.Delete(owner, t0)
	is.Equal(domain.KindOf(err), domain.KindNotFound) // not even a second delete
}

func TestJobHistoryRoundTrip(t *testing.T) {
	is := is.New(t)
	p := recruiter()
	job, posted, err := domain.PostJob(uuid.New(), p, validDraft(), t0)
	is.NoErr(err)
	updated, err := job.Patch(p, domain.JobPatch{SalaryMax: domain.Optional[int64]{Set: true, Value: ptr(int64(9))},
		SalaryCurrency: domain.Optional[string]{Set: true, Value: ptr("GBP")}}, t0)
	is.NoErr(err)
	closed, err := job.Patch(p, domain.JobPatch{Status: ptr("closed")}, t0)
	is.NoErr(err)

	// What the log would hold, decoded again, folds to the same state.
	var history []domain.Event
	for _, e := range append(append(posted, updated...), closed...) {
		data, err := json.Marshal(e)
		is.NoErr(err)
		back, err := domain.DecodeEvent(e.EventType(), domain.SchemaVersion(e), data)
		is.NoErr(err)
		history = append(history, back)
	}
	again, err := domain.JobFromHistory(history)
	is.NoErr(err)
	is.Equal(again.Details(), job.Details())
	is.Equal(again.Status(), job.Status())
	is.Equal(again.Version(), job.Version())
}
