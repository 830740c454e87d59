package mailer

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
)

// LogSource reads what a mail says from the event log (the application,
// the job as it was when the application was made, the recruiter's
// account) and the resume from its blob table. It does not depend on any
// read model, so a mail is right even while projections lag or are being
// rebuilt.
type LogSource struct {
	Store *eventstore.Store
	Pool  *pgxpool.Pool
}

func (s LogSource) Load(ctx context.Context, id uuid.UUID) (Application, error) {
	appRecords, err := s.Store.ReadStream(ctx, id)
	if err != nil {
		return Application{}, err
	}
	var submitted *domain.ApplicationSubmitted
	var at eventstore.Record
	for _, r := range appRecords {
		e, err := r.Event()
		if err != nil {
			return Application{}, err
		}
		if ev, ok := e.(domain.ApplicationSubmitted); ok {
			submitted, at = &ev, r
			break
		}
	}
	if submitted == nil {
		return Application{}, permanent{fmt.Errorf("application %s: no ApplicationSubmitted in the log", id)}
	}

	// The job's stream and the recruiter's, in one round trip.
	streams, err := s.Store.ReadStreams(ctx, submitted.JobID, submitted.RecruiterID)
	if err != nil {
		return Application{}, err
	}
	jobRecords := streams[submitted.JobID]
	seen := 0
	for seen < len(jobRecords) && jobRecords[seen].Position < at.Position {
		seen++ // the job as the applicant saw it
	}
	jobEvents, err := eventstore.Events(jobRecords[:seen])
	if err != nil {
		return Application{}, err
	}
	job, err := domain.JobFromHistory(jobEvents)
	if err != nil {
		return Application{}, fmt.Errorf("job %s: %w", submitted.JobID, err)
	}

	recruiterEvents, err := eventstore.Events(streams[submitted.RecruiterID])
	if err != nil {
		return Application{}, err
	}
	recruiter, err := domain.UserFromHistory(recruiterEvents)
	if err != nil {
		return Application{}, fmt.Errorf("recruiter %s: %w", submitted.RecruiterID, err)
	}

	a := Application{
		ID:             id,
		JobID:          submitted.JobID,
		JobTitle:       job.Details().Title,
		RecruiterEmail: recruiter.Email(),
		RecruiterName:  recruiter.Name(),
		ApplicantName:  submitted.Name,
		ApplicantEmail: submitted.Email,
		CoverLetter:    submitted.CoverLetter,
		SubmittedAt:    submitted.SubmittedAt,
	}
	if f := submitted.Resume; f != nil {
		var data []byte
		err := s.Pool.QueryRow(ctx, `SELECT content FROM resume_blobs WHERE application_id = $1`, id).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) {
			return Application{}, permanent{fmt.Errorf("application %s: resume missing from resume_blobs", id)}
		}
		if err != nil {
			return Application{}, fmt.Errorf("read resume: %w", err)
		}
		a.Resume = &Attachment{Filename: f.FileName, ContentType: f.ContentType, Data: data}
	}
	return a, nil
}
