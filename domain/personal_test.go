package domain_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/domain"
)

// jsonFields lists the JSON names of a struct type's fields.
func jsonFields(t reflect.Type) []string {
	var names []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		names = append(names, name)
	}
	return names
}

// Every declared personal field, and every subject, is a field the event
// has: a typo would leave the data in clear.
func TestPersonalFieldsNameRealFields(t *testing.T) {
	is := is.New(t)
	events := map[string]reflect.Type{
		"UserRegistered":       reflect.TypeFor[domain.UserRegistered](),
		"ApplicationSubmitted": reflect.TypeFor[domain.ApplicationSubmitted](),
	}
	declared := 0
	for _, typ := range domain.EventTypes() {
		p, ok := domain.PersonalFieldsOf(typ)
		if !ok {
			continue
		}
		declared++
		rt, known := events[typ]
		is.True(known) // a new event type with personal fields is checked here too
		fields := jsonFields(rt)
		is.True(slices.Contains(fields, p.Subject))
		for _, f := range p.Fields {
			is.True(slices.Contains(fields, f)) // each personal field exists
			is.True(f != p.Subject)             // the subject is never itself sealed
		}
	}
	is.Equal(declared, len(events))
	// The events that say a person was erased hold no personal field.
	for _, typ := range []string{"PersonalDataErased", "ApplicantErased", "PersonalDataEncrypted"} {
		_, ok := domain.PersonalFieldsOf(typ)
		is.True(!ok)
	}
}

func TestEraseUser(t *testing.T) {
	is := is.New(t)
	now := time.Now()
	company := "Acme"
	u, _, err := domain.RegisterUser(uuid.New(), "ann@example.com", "Ann", domain.RoleRecruiter, &company, now)
	is.NoErr(err)

	_, err = domain.EraseUser(u, u.ID(), "  ", now)
	is.True(err != nil) // a reason is required

	events, err := domain.EraseUser(u, u.ID(), "asked by email, ticket 42", now)
	is.NoErr(err)
	is.Equal(len(events), 1)
	e := events[0].(domain.PersonalDataErased)
	is.Equal(e.UserID, u.ID())
	is.Equal(e.Role, domain.RoleRecruiter)
	is.Equal(e.ErasedBy, u.ID())
	is.Equal(e.Reason, "asked by email, ticket 42")
	is.True(u.Erased())
	is.Equal(u.Email(), "") // the aggregate forgets too
	is.Equal(u.Company(), "")

	again, err := domain.EraseUser(u, uuid.Nil, "again", now)
	is.NoErr(err)
	is.Equal(len(again), 0) // erasing twice records nothing more

	_, err = domain.EraseUser(nil, uuid.Nil, "x", now)
	is.True(err != nil)
}

func TestEraseApplicantAndCloseJobs(t *testing.T) {
	is := is.New(t)
	now := time.Now()
	job, _, err := domain.PostJob(uuid.New(), recruiter(), validDraft(), now)
	is.NoErr(err)
	letter := "Dear Acme"
	a, _, err := domain.SubmitApplication(uuid.New(), job, domain.Applicant{ID: uuid.New(), Role: domain.RoleJobSeeker,
		Name: "Bob", Email: "bob@example.com"}, domain.ApplicationForm{CoverLetter: &letter}, nil, now)
	is.NoErr(err)

	events := domain.EraseApplicant(a, now)
	is.Equal(len(events), 1)
	e := events[0].(domain.ApplicantErased)
	is.Equal(e.ApplicationID, a.ID())
	is.Equal(e.JobID, job.ID())
	is.True(a.Erased())
	is.Equal(a.Name(), domain.ErasedApplicantName)
	is.Equal(a.Email(), "")
	is.Equal(a.CoverLetter(), "")
	is.Equal(a.Status(), domain.ApplicationSubmittedStatus) // its status stays
	is.Equal(len(domain.EraseApplicant(a, now)), 0)         // once

	closed := domain.CloseJobOfErased(job, now)
	is.Equal(len(closed), 1)
	is.Equal(job.Status(), domain.StatusClosed)
	is.Equal(len(domain.CloseJobOfErased(job, now)), 0) // a closed job stays as it is
}
