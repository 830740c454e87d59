package commands

import (
	"context"
	"errors"
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

// ApplicationStart is what an application is decided on besides its form:
// the applicant's account and the job, read and checked before the form is
// (StartApplication).
type ApplicationStart struct {
	account *domain.User
	job     *domain.Job
	jobID   uuid.UUID
}

// StartApplication reads the caller's account and the job, in one round
// trip, and refuses an application that no form could make acceptable:
// not a job seeker, no such job, a closed one. With checkClaim it also
// refuses a caller who has applied to the job already, which costs a
// query: worth it before an upload is read, not before a small form (the
// append decides that race anyway).
func (h *Handlers) StartApplication(ctx context.Context, caller auth.Caller, jobID uuid.UUID, checkClaim bool) (*ApplicationStart, error) {
	if err := domain.CheckCanApply(caller.Role); err != nil {
		return nil, err
	}
	streams, err := h.store.ReadStreams(ctx, caller.UserID, jobID)
	if err != nil {
		return nil, err
	}
	account, err := userFrom(streams[caller.UserID])
	if domain.KindOf(err) == domain.KindNotFound {
		err = &domain.Error{Kind: domain.KindUnauthorized, Message: "the access token names an account that does not exist"}
	}
	if err != nil {
		return nil, err
	}
	job, _, err := jobFrom(streams[jobID])
	if err != nil {
		return nil, err
	}
	if err := domain.CheckApplicant(job, account.Role()); err != nil {
		return nil, err
	}
	if checkClaim {
		var applied bool
		err := h.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM application_claims WHERE job_id = $1 AND applicant_id = $2)`,
			jobID, caller.UserID).Scan(&applied)
		if err != nil {
			return nil, fmt.Errorf("read application claims: %w", err)
		}
		if applied {
			return nil, errAlreadyApplied
		}
	}
	return &ApplicationStart{account: account, job: job, jobID: jobID}, nil
}

// SubmitApplication applies the caller of start to its job with form and
// resume (nil for none), and returns the application as the applications
// view now holds it (without its job's title and company).
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
func (h *Handlers) SubmitApplication(ctx context.Context, start *ApplicationStart, form domain.ApplicationForm, resume *domain.ResumeUpload) (projections.ApplicationRow, error) {
	var none projections.ApplicationRow
	account, job, jobID := start.account, start.job, start.jobID
	id, err := uuid.NewV7()
	if err != nil {
		return none, err
	}
	applicant := domain.Applicant{ID: account.ID(), Role: account.Role(), Name: account.Name(), Email: account.Email()}
	application, events, err := domain.SubmitApplication(id, job, applicant, form, resume, now())
	if err != nil {
		return none, err
	}
	opts := []eventstore.AppendOption{claimApplication(jobID, account.ID(), id)}
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

var errStaleApplication = &domain.Error{
	Kind:    domain.KindPreconditionFailed,
	Message: "the application has changed since the version in If-Match; fetch it again",
}

// MoveApplication moves an application along the hiring pipeline, for its
// job's recruiter, or withdraws it, for its applicant (domain.Application.Move
// decides). Its job is not read: a job that is closed or deleted keeps its
// applications movable. With ifMatch, the application must be at that
// version (412 otherwise, a lost race included); without it, a lost race
// is decided again on the fresh state, a few times.
func (h *Handlers) MoveApplication(ctx context.Context, caller auth.Caller, id uuid.UUID, ifMatch IfMatch, move domain.ApplicationMove) error {
	for attempt := 0; ; attempt++ {
		application, err := h.loadApplication(ctx, id)
		if err != nil {
			return err
		}
		if err := application.CheckReader(caller.UserID); err != nil {
			return err
		}
		version := application.Version()
		if !ifMatch.holds(version) {
			return errStaleApplication
		}
		events, err := application.Move(caller.UserID, move, now())
		if err != nil {
			return err
		}
		_, err = h.appendAndWait(ctx, eventstore.Stream{Type: domain.StreamApplication, ID: id}, version, events, applicationServing)
		if errors.Is(err, eventstore.ErrConflict) {
			if ifMatch != nil {
				return errStaleApplication
			}
			if attempt < conflictRetries {
				continue
			}
		}
		return err
	}
}

// ApplicationHistory returns an application's events, oldest first, to
// its job's recruiter or its applicant (anyone else: not found), and
// whether the caller is the recruiter: only they may read the reasons of
// rejections in it.
func (h *Handlers) ApplicationHistory(ctx context.Context, caller auth.Caller, id uuid.UUID) ([]eventstore.Record, bool, error) {
	records, err := h.store.ReadStream(ctx, id)
	if err != nil {
		return nil, false, err
	}
	application, err := applicationFrom(records)
	if err != nil {
		return nil, false, err
	}
	if err := application.CheckReader(caller.UserID); err != nil {
		return nil, false, err
	}
	return records, caller.UserID == application.RecruiterID(), nil
}

// loadApplication folds an application's stream.
func (h *Handlers) loadApplication(ctx context.Context, id uuid.UUID) (*domain.Application, error) {
	records, err := h.store.ReadStream(ctx, id)
	if err != nil {
		return nil, err
	}
	return applicationFrom(records)
}

// applicationFrom folds an application's stream; another aggregate's
// stream is no application.
func applicationFrom(records []eventstore.Record) (*domain.Application, error) {
	if len(records) == 0 || records[0].StreamType != domain.StreamApplication {
		return nil, domain.Errorf(domain.KindNotFound, "no such application")
	}
	events, err := eventstore.Events(records)
	if err != nil {
		return nil, err
	}
	return domain.ApplicationFromHistory(events)
}
