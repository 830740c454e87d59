package commands

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/jobboard/jobboard/auth"
	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/projections"
)

// applicationServing are the projections an application must reach before
// it answers: the jobs projection keeps both the applications table and the
// job's application_count.
var applicationServing = []string{projections.Jobs}

var errAlreadyApplied = &domain.Error{Kind: domain.KindConflict, Message: "you have already applied to this job"}

// SubmitApplication applies the caller to a job with form and resume (nil
// for none), and returns the application as the applications view now
// holds it (without its job's title and company).
//
// One application per job seeker per job is enforced by the database, not
// by reading first: the append's transaction also inserts (job, applicant)
// into application_claims, whose primary key makes a second application
// fail with a conflict however many race, and rolls the whole append back.
// (A stream id derived from job and applicant, appended at version 0, would
// do the same, but application ids are UUIDv7 like every other id.)
//
// The resume's bytes go to resume_blobs in that same transaction: there is
// never a file without its application nor an application without its
// file, and the bytes never enter the log or the message bus.
//
// The job is checked (it exists, it is open) on its stream, the write side,
// before the append. A job closed between that read and the commit still
// gets this application: an accepted race, as if the application had come
// a moment earlier. Locking the job's stream for every application would
// cost more than it is worth.
func (h *Handlers) SubmitApplication(ctx context.Context, caller auth.Caller, jobID uuid.UUID, form domain.ApplicationForm, resume *domain.ResumeUpload) (projections.ApplicationRow, error) {
	var none projections.ApplicationRow
	if err := domain.CheckCanApply(caller.Role); err != nil {
		return none, err
	}
	// The applicant's stream and the job's, in one round trip.
	streams, err := h.store.ReadStreams(ctx, caller.UserID, jobID)
	if err != nil {
		return none, err
	}
	account, err := userFrom(streams[caller.UserID])
	if domain.KindOf(err) == domain.KindNotFound {
		err = &domain.Error{Kind: domain.KindUnauthorized, Message: "the access token names an account that does not exist"}
	}
	if err != nil {
		return none, err
	}
	job, _, err := jobFrom(streams[jobID])
	if err != nil {
		return none, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return none, err
	}
	applicant := domain.Applicant{ID: account.ID(), Role: account.Role(), Name: account.Name(), Email: account.Email()}
	application, events, err := domain.SubmitApplication(id, job, applicant, form, resume, now())
	if err != nil {
		return none, err
	}
	opts := []eventstore.AppendOption{claimApplication(jobID, caller.UserID, id)}
	if file := application.Resume(); file != nil {
		opts = append(opts, eventstore.With(eventstore.Statement{
			SQL:  `INSERT INTO resume_blobs (application_id, sha256, size, content) VALUES ($1, $2, $3, $4)`,
			Args: []any{id, file.SHA256, file.Size, resume.Content},
		}))
	}
	submitted, ok := events[0].(domain.ApplicationSubmitted)
	if !ok {
		return none, fmt.Errorf("submit application: decided %T, not ApplicationSubmitted", events[0])
	}
	_, err = h.appendAndWait(ctx, eventstore.Stream{Type: domain.StreamApplication, ID: id}, 0, events, applicationServing, opts...)
	if err != nil {
		return none, err
	}
	return projections.SubmittedApplication(submitted), nil
}

// claimApplication records that applicant applied to job; a second claim
// is a conflict.
func claimApplication(jobID, applicantID, applicationID uuid.UUID) eventstore.AppendOption {
	return eventstore.With(eventstore.Statement{
		SQL:     `INSERT INTO application_claims (job_id, applicant_id, application_id) VALUES ($1, $2, $3)`,
		Args:    []any{jobID, applicantID, applicationID},
		OnError: onUniqueViolation("application_claims_pkey", errAlreadyApplied),
	})
}
