package mailer

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
)

// Kind is what a mail is about, which also says who gets it. The queue is
// keyed by event and kind: one event may cause one mail of each of its
// kinds, whatever else happened to the application.
type Kind string

const (
	// KindNewApplication tells the job's recruiter about an application
	// (ApplicationSubmitted), resume attached.
	KindNewApplication Kind = "new_application"
	// KindApplicationReceived tells the applicant their application
	// arrived (ApplicationSubmitted).
	KindApplicationReceived Kind = "application_received"
	// KindStatusChanged tells the applicant where their application stands
	// now (an ApplicationStatusChanged whose NotifiesApplicant holds).
	KindStatusChanged Kind = "status_changed"
	// KindApplicationWithdrawn tells the job's recruiter that the applicant
	// withdrew (ApplicationWithdrawn).
	KindApplicationWithdrawn Kind = "application_withdrawn"
)

// Kinds lists every kind of mail.
var Kinds = []Kind{KindNewApplication, KindApplicationReceived, KindStatusChanged, KindApplicationWithdrawn}

// Recipient is who gets a mail of this kind: "recruiter" or "applicant".
func (k Kind) Recipient() string {
	switch k {
	case KindApplicationReceived, KindStatusChanged:
		return "applicant"
	}
	return "recruiter"
}

// Ref names one mail: the delivery's id, its kind, and the application
// and event it is about. It is all a worker needs to find what the mail
// says in the log.
type Ref struct {
	ID            uuid.UUID
	Kind          Kind
	ApplicationID uuid.UUID
	EventID       uuid.UUID
	EventPosition int64
}

// deliveryNamespace is the namespace of the delivery ids derived from an
// event (UUID version 5). It must never change: a mail queued before and
// queued again by a redelivered event must get the same id, and so the
// same Message-ID.
var deliveryNamespace = uuid.MustParse("5b0f3a52-8f0e-4c52-9d7c-1a4f2e6b9c11")

// refFor is the mail of kind about the event r. Its id is derived from the
// event and the kind, so that an event handled twice queues the same row
// (and tells the workers the same id). The recruiter's mail about a new
// application keeps the application's id, as it had before mails were
// keyed by event: its Message-ID stays what it was.
func refFor(kind Kind, r eventstore.Record) Ref {
	id := r.StreamID
	if kind != KindNewApplication {
		id = uuid.NewSHA1(deliveryNamespace, append(r.EventID[:], string(kind)...))
	}
	return Ref{ID: id, Kind: kind, ApplicationID: r.StreamID, EventID: r.EventID, EventPosition: r.Position}
}

// Event types the mailer acts on.
const (
	applicationSubmitted     = "ApplicationSubmitted"
	applicationStatusChanged = "ApplicationStatusChanged"
	applicationWithdrawn     = "ApplicationWithdrawn"
	applicantErased          = "ApplicantErased"
)

// interest lists them, for the consumer group's Interest.
var interest = []string{applicationSubmitted, applicationStatusChanged, applicationWithdrawn}

// mailsFor lists the mails event r causes (none for most events). Only a
// move is decoded, to ask the domain whether it tells the applicant: the
// rest is read from the log when the mail is composed.
func mailsFor(r eventstore.Record) ([]Ref, error) {
	switch r.Type {
	case applicationSubmitted:
		if r.Shredded {
			return nil, nil // read after its applicant was erased: nobody to tell, nothing to tell
		}
		return []Ref{refFor(KindNewApplication, r), refFor(KindApplicationReceived, r)}, nil
	case applicationStatusChanged:
		e, err := r.Event()
		if err != nil {
			return nil, err
		}
		moved, ok := e.(domain.ApplicationStatusChanged)
		if !ok {
			return nil, fmt.Errorf("event %d: %T is no ApplicationStatusChanged", r.Position, e)
		}
		if !moved.NotifiesApplicant() {
			return nil, nil
		}
		return []Ref{refFor(KindStatusChanged, r)}, nil
	case applicationWithdrawn:
		return []Ref{refFor(KindApplicationWithdrawn, r)}, nil
	}
	return nil, nil
}
