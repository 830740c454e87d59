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
// the event the mail is about, the job, the recruiter's account) and the
// resume from its blob table. It does not depend on any read model, so a
// mail is right even while projections lag or are being rebuilt.
type LogSource struct {
	Store *eventstore.Store
	Pool  *pgxpool.Pool
}

func (s LogSource) Load(ctx context.Context, ref Ref) (Mail, error) {
	appRecords, err := s.Store.ReadStream(ctx, ref.ApplicationID)
	if err != nil {
		return Mail{}, err
	}
	var submitted *domain.ApplicationSubmitted
	var submittedAt eventstore.Record
	var about domain.Event // the event the mail is about
	for _, r := range appRecords {
		if r.Type != applicationSubmitted && r.Type != applicantErased && r.EventID != ref.EventID {
			continue // no need to decode it
		}
		e, err := r.Event()
		if err != nil {
			return Mail{}, err
		}
		if ev, ok := e.(domain.ApplicationSubmitted); ok && submitted == nil {
			if r.Shredded {
				return Mail{}, errPersonErased
			}
			submitted, submittedAt = &ev, r
		}
		if _, ok := e.(domain.ApplicantErased); ok {
			return Mail{}, errPersonErased
		}
		if r.EventID == ref.EventID {
			about = e
		}
	}
	if submitted == nil {
		return Mail{}, permanent{fmt.Errorf("application %s: no ApplicationSubmitted in the log", ref.ApplicationID)}
	}

	m := Mail{ID: ref.ID, Kind: ref.Kind, At: submitted.SubmittedAt}
	recruiterID := submitted.RecruiterID
	switch ref.Kind {
	case KindNewApplication, KindApplicationReceived:
		// The submission itself: a recruiter's mail queued before mails
		// named their event has no EventID, and needs none.
	case KindStatusChanged:
		moved, ok := about.(domain.ApplicationStatusChanged)
		if !ok {
			return Mail{}, permanent{fmt.Errorf("application %s: no ApplicationStatusChanged %s in the log", ref.ApplicationID, ref.EventID)}
		}
		// Only the new status and the time: the recruiter's reason stays
		// in the log.
		m.Status, m.At = moved.To, moved.ChangedAt
	case KindApplicationWithdrawn:
		withdrawn, ok := about.(domain.ApplicationWithdrawn)
		if !ok {
			return Mail{}, permanent{fmt.Errorf("application %s: no ApplicationWithdrawn %s in the log", ref.ApplicationID, ref.EventID)}
		}
		m.At, recruiterID = withdrawn.WithdrawnAt, withdrawn.RecruiterID
	default:
		return Mail{}, permanent{fmt.Errorf("unknown kind of mail %q", ref.Kind)}
	}
	toRecruiter := ref.Kind.Recipient() == "recruiter"

	// The job's stream and, for a mail to them, the recruiter's, in one
	// round trip.
	ids := []uuid.UUID{submitted.JobID}
	if toRecruiter {
		ids = append(ids, recruiterID)
	}
	streams, err := s.Store.ReadStreams(ctx, ids...)
	if err != nil {
		return Mail{}, err
	}
	jobRecords := streams[submitted.JobID]
	if ref.Kind == KindNewApplication {
		// The recruiter is told about the job as the applicant saw it;
		// every other mail names the job as it is now.
		seen := 0
		for seen < len(jobRecords) && jobRecords[seen].Position < submittedAt.Position {
			seen++
		}
		jobRecords = jobRecords[:seen]
	}
	jobEvents, err := eventstore.Events(jobRecords)
	if err != nil {
		return Mail{}, err
	}
	job, err := domain.JobFromHistory(jobEvents)
	if err != nil {
		return Mail{}, fmt.Errorf("job %s: %w", submitted.JobID, err)
	}

	m.Application = Application{
		ID:             ref.ApplicationID,
		JobID:          submitted.JobID,
		JobTitle:       job.Details().Title,
		ApplicantName:  submitted.Name,
		ApplicantEmail: submitted.Email,
		SubmittedAt:    submitted.SubmittedAt,
	}
	if toRecruiter {
		recruiterEvents, err := eventstore.Events(streams[recruiterID])
		if err != nil {
			return Mail{}, err
		}
		recruiter, err := domain.UserFromHistory(recruiterEvents)
		if err != nil {
			return Mail{}, fmt.Errorf("recruiter %s: %w", recruiterID, err)
		}
		if erasedUser(recruiter) {
			return Mail{}, errPersonErased
		}
		m.RecruiterEmail, m.RecruiterName = recruiter.Email(), recruiter.Name()
	}
	if ref.Kind != KindNewApplication {
		return m, nil
	}
	// Only the recruiter's mail about a new application quotes the cover
	// letter and carries the resume.
	m.CoverLetter = submitted.CoverLetter
	if f := submitted.Resume; f != nil {
		var data []byte
		err := s.Pool.QueryRow(ctx, `SELECT content FROM resume_blobs WHERE application_id = $1`, ref.ApplicationID).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) {
			return Mail{}, permanent{fmt.Errorf("application %s: resume missing from resume_blobs", ref.ApplicationID)}
		}
		if err != nil {
			return Mail{}, fmt.Errorf("read resume: %w", err)
		}
		m.Resume = &Attachment{Filename: f.FileName, ContentType: f.ContentType, Data: data}
	}
	return m, nil
}
