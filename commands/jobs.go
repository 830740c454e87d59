package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/jobboard/jobboard/auth"
	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/projections"
)

// conflictRetries is how many times a write without If-Match is decided
// again after losing a race to another writer of the same job. Every lost
// race means that another write went through, so among n concurrent writers
// of one job none needs more than n-1 retries; the cap only keeps a job
// flooded with writes from holding one request forever.
const conflictRetries = 100

// jobServing are the projections a job write must reach before it answers.
var jobServing = []string{projections.Jobs}

// PostJob publishes a new job for a recruiter and returns it as the jobs
// view now holds it.
func (h *Handlers) PostJob(ctx context.Context, caller auth.Caller, draft domain.JobDraft) (projections.JobRow, error) {
	var job projections.JobRow
	err := h.withPoster(ctx, caller, func(poster domain.Poster, guard []eventstore.AppendOption) error {
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		_, events, err := domain.PostJob(id, poster, draft, now())
		if err != nil {
			return err
		}
		posted, ok := events[0].(domain.JobPosted)
		if !ok {
			return fmt.Errorf("post job: decided %T, not JobPosted", events[0])
		}
		appended, err := h.appendAndWait(ctx, eventstore.Stream{Type: domain.StreamJob, ID: id}, 0, events, jobServing, guard...)
		if err != nil {
			return err
		}
		job = projections.PostedJob(posted, appended.Records[0].Version)
		return nil
	})
	return job, err
}

// PatchJob changes the given fields of a job (and its status, if given).
// ifMatch, when not nil, is the version the client last saw.
func (h *Handlers) PatchJob(ctx context.Context, caller auth.Caller, id uuid.UUID, ifMatch IfMatch, patch domain.JobPatch) error {
	return h.changeJob(ctx, caller, id, ifMatch, func(j *domain.Job, p domain.Poster) ([]domain.Event, error) {
		return j.Patch(p, patch, now())
	})
}

// ReplaceJob sets all writable fields of a job; omitted ones get their
// defaults.
func (h *Handlers) ReplaceJob(ctx context.Context, caller auth.Caller, id uuid.UUID, ifMatch IfMatch, draft domain.JobDraft, status *string) error {
	return h.changeJob(ctx, caller, id, ifMatch, func(j *domain.Job, p domain.Poster) ([]domain.Event, error) {
		return j.Replace(p, draft, status, now())
	})
}

// DeleteJob withdraws a job for good; its history stays in the log.
func (h *Handlers) DeleteJob(ctx context.Context, caller auth.Caller, id uuid.UUID, ifMatch IfMatch) error {
	return h.changeJob(ctx, caller, id, ifMatch, func(j *domain.Job, p domain.Poster) ([]domain.Event, error) {
		return j.Delete(p, now())
	})
}

// changeJob loads a job, checks who may change it and the If-Match
// precondition, lets decide choose the events and appends them. Without
// If-Match a lost race is decided again on the fresh state, a few times;
// with it, a lost race is a failed precondition.
func (h *Handlers) changeJob(ctx context.Context, caller auth.Caller, id uuid.UUID, ifMatch IfMatch,
	decide func(*domain.Job, domain.Poster) ([]domain.Event, error)) error {
	return h.withPoster(ctx, caller, func(poster domain.Poster, guard []eventstore.AppendOption) error {
		for attempt := 0; ; attempt++ {
			job, last, err := h.loadJob(ctx, id)
			if err != nil {
				return err
			}
			if err := job.CheckWriter(poster); err != nil {
				return err
			}
			version := job.Version()
			if !ifMatch.holds(version) {
				return errStaleVersion
			}
			events, err := decide(job, poster)
			if err != nil {
				return err
			}
			if len(events) == 0 {
				// Nothing changes, but the answer shows the job: make sure
				// the read model has every earlier change.
				return h.waiter.WaitFor(ctx, last, jobServing...)
			}
			_, err = h.appendAndWait(ctx, eventstore.Stream{Type: domain.StreamJob, ID: id}, version, events, jobServing, guard...)
			if errors.Is(err, eventstore.ErrConflict) {
				if ifMatch != nil {
					return errStaleVersion
				}
				if attempt < conflictRetries {
					continue
				}
			}
			return err
		}
	})
}

var errStaleVersion = &domain.Error{
	Kind:    domain.KindPreconditionFailed,
	Message: "the job has changed since the version in If-Match; fetch it again",
}

// loadJob folds a job's stream and returns it with the checkpoint of its
// last event.
func (h *Handlers) loadJob(ctx context.Context, id uuid.UUID) (*domain.Job, eventstore.Checkpoint, error) {
	records, err := h.store.ReadStream(ctx, id)
	if err != nil {
		return nil, eventstore.Checkpoint{}, err
	}
	return jobFrom(records)
}

// jobFrom folds a job's stream.
func jobFrom(records []eventstore.Record) (*domain.Job, eventstore.Checkpoint, error) {
	if len(records) == 0 || records[0].StreamType != domain.StreamJob {
		return nil, eventstore.Checkpoint{}, domain.Errorf(domain.KindNotFound, "no such job")
	}
	events, err := eventstore.Events(records)
	if err != nil {
		return nil, eventstore.Checkpoint{}, err
	}
	job, err := domain.JobFromHistory(events)
	return job, records[len(records)-1].Checkpoint(), err
}

// withPoster runs decide with the caller as the job aggregate needs them:
// a recruiter with the company their jobs default to, from their account
// (withAccount), and the guard the append must carry for it. Other roles
// need no account: the aggregate refuses them.
func (h *Handlers) withPoster(ctx context.Context, caller auth.Caller, decide func(p domain.Poster, guard []eventstore.AppendOption) error) error {
	p := domain.Poster{ID: caller.UserID, Role: caller.Role}
	if caller.Role != domain.RoleRecruiter {
		return decide(p, nil)
	}
	return h.withAccount(ctx, caller.UserID, func(u *domain.User, guard eventstore.AppendOption) error {
		p.Company = u.Company()
		return decide(p, []eventstore.AppendOption{guard})
	})
}

// now is the time commands stamp on events, at the log's precision.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// JobHistory returns a job's events, oldest first, to the recruiter who
// posted it. A deleted job's history stays readable: it is the audit trail.
func (h *Handlers) JobHistory(ctx context.Context, caller auth.Caller, id uuid.UUID) ([]eventstore.Record, error) {
	records, err := h.store.ReadStream(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(records) == 0 || records[0].StreamType != domain.StreamJob {
		return nil, domain.Errorf(domain.KindNotFound, "no such job")
	}
	events, err := eventstore.Events(records)
	if err != nil {
		return nil, err
	}
	job, err := domain.JobFromHistory(events)
	if err != nil {
		return nil, err
	}
	if caller.Role != domain.RoleRecruiter || job.RecruiterID() != caller.UserID {
		return nil, domain.Errorf(domain.KindForbidden, "only the recruiter who posted this job may read its history")
	}
	return records, nil
}
