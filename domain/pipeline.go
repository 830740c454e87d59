package domain

import (
	"strings"
	"time"

	"github.com/google/uuid"
)

// ApplicationStatus is where an application stands in the hiring
// pipeline. A closed type: only the seven values below exist.
//
// The four active statuses (submitted, screening, interview, offer) are
// steps a candidate moves through, forward or back, in any order; hired,
// rejected and withdrawn end the application.
type ApplicationStatus struct{ slug string }

var (
	ApplicationSubmittedStatus = ApplicationStatus{"submitted"}
	StatusScreening            = ApplicationStatus{"screening"}
	StatusInterview            = ApplicationStatus{"interview"}
	StatusOffer                = ApplicationStatus{"offer"}
	StatusHired                = ApplicationStatus{"hired"}
	StatusRejected             = ApplicationStatus{"rejected"}
	StatusWithdrawn            = ApplicationStatus{"withdrawn"}
)

// ApplicationStatuses lists every status, in the pipeline's order: the
// active ones from first to last, then the final ones.
var ApplicationStatuses = []ApplicationStatus{ApplicationSubmittedStatus, StatusScreening, StatusInterview,
	StatusOffer, StatusHired, StatusRejected, StatusWithdrawn}

// MaxRejectionReasonLength is the longest reason a recruiter may give for
// a rejection, in characters.
const MaxRejectionReasonLength = 500

var errUnknownApplicationStatus = Errorf(KindInvalid,
	"must be one of submitted, screening, interview, offer, hired, rejected, withdrawn")

// ParseApplicationStatus reads the wire form of a status.
func ParseApplicationStatus(s string) (ApplicationStatus, error) {
	for _, st := range ApplicationStatuses {
		if st.slug == s {
			return st, nil
		}
	}
	return ApplicationStatus{}, errUnknownApplicationStatus
}

func (s ApplicationStatus) String() string { return s.slug }

func (s ApplicationStatus) MarshalText() ([]byte, error) { return []byte(s.slug), nil }

func (s *ApplicationStatus) UnmarshalText(b []byte) error {
	v, err := ParseApplicationStatus(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// step is the place of an active status in the pipeline (1 to 4), 0 for
// a final one.
func (s ApplicationStatus) step() int {
	switch s {
	case ApplicationSubmittedStatus:
		return 1
	case StatusScreening:
		return 2
	case StatusInterview:
		return 3
	case StatusOffer:
		return 4
	}
	return 0
}

// Final reports whether an application with this status can no longer
// move.
func (s ApplicationStatus) Final() bool { return s.step() == 0 }

// ApplicationStatusChanged records that the job's recruiter moved an
// application to another status. Reason is theirs, given only with a
// rejection and shown to nobody but them.
type ApplicationStatusChanged struct {
	ApplicationID uuid.UUID         `json:"application_id"`
	JobID         uuid.UUID         `json:"job_id"`
	ApplicantID   uuid.UUID         `json:"applicant_id"`
	RecruiterID   uuid.UUID         `json:"recruiter_id"`
	From          ApplicationStatus `json:"from"`
	To            ApplicationStatus `json:"to"`
	Reason        string            `json:"reason,omitempty"`
	ChangedBy     uuid.UUID         `json:"changed_by"`
	ChangedAt     time.Time         `json:"changed_at"`
}

func (ApplicationStatusChanged) EventType() string { return "ApplicationStatusChanged" }

// NotifiesApplicant reports whether the applicant is mailed about this
// move: a move to interview, offer, hired or rejected, unless it is a
// step back between active statuses (offer to interview); never a move to
// screening or back to submitted.
func (e ApplicationStatusChanged) NotifiesApplicant() bool {
	switch e.To {
	case StatusHired, StatusRejected:
		return true
	case StatusInterview, StatusOffer:
		return e.From.step() < e.To.step()
	}
	return false
}

// ApplicationWithdrawn records that the applicant withdrew their
// application. It is final.
type ApplicationWithdrawn struct {
	ApplicationID uuid.UUID         `json:"application_id"`
	JobID         uuid.UUID         `json:"job_id"`
	ApplicantID   uuid.UUID         `json:"applicant_id"`
	RecruiterID   uuid.UUID         `json:"recruiter_id"`
	From          ApplicationStatus `json:"from"`
	WithdrawnAt   time.Time         `json:"withdrawn_at"`
}

func (ApplicationWithdrawn) EventType() string { return "ApplicationWithdrawn" }

// ApplicationMove is a request to move an application, as sent: the new
// status and, with a rejection, the recruiter's reason (nil when not
// given).
type ApplicationMove struct {
	Status string
	Reason *string
}

var (
	errNoSuchApplication  = Errorf(KindNotFound, "no such application")
	errRecruiterWithdraws = Errorf(KindForbidden, "only the applicant may withdraw an application")
	errApplicantMoves     = Errorf(KindForbidden, "an applicant may only withdraw their application; its recruiter moves it")
)

// Move decides whether actor may move the application as asked, and
// returns the event that records it. actor is the account asking. The rules, in the order they are
// checked:
//
//   - someone who is neither the job's recruiter nor the applicant does not
//     learn that the application exists (not found);
//   - the status must be one of the seven, and a reason comes only with a
//     rejection, at most 500 characters on one line (invalid);
//   - the recruiter may set any status but withdrawn, the applicant only
//     withdrawn (forbidden);
//   - a final status moves no more, and a move to the status it has is no
//     move (conflict).
func (a *Application) Move(actor uuid.UUID, move ApplicationMove, at time.Time) ([]Event, error) {
	isRecruiter, isApplicant := actor == a.recruiterID, actor == a.applicantID
	if !isRecruiter && !isApplicant {
		return nil, errNoSuchApplication
	}
	var v Validation
	to, err := ParseApplicationStatus(move.Status)
	switch {
	case move.Status == "":
		v.Add("status", "is required")
	case err != nil:
		v.Add("status", err.Error())
	}
	var reason string
	if move.Reason != nil {
		reason = strings.TrimSpace(*move.Reason)
		switch {
		case err == nil && to != StatusRejected:
			v.Add("reason", "is only given with the status rejected")
		default:
			if msg := checkLine(reason, 0, MaxRejectionReasonLength); msg != "" {
				v.Add("reason", msg)
			}
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	switch {
	case isRecruiter && to == StatusWithdrawn:
		return nil, errRecruiterWithdraws
	case isApplicant && to != StatusWithdrawn:
		return nil, errApplicantMoves
	case a.status.Final():
		return nil, Errorf(KindConflict, "this application is %s and moves no more", a.status)
	case a.status == to:
		return nil, Errorf(KindConflict, "this application is %s already", a.status)
	}
	var e Event
	if to == StatusWithdrawn {
		e = ApplicationWithdrawn{ApplicationID: a.id, JobID: a.jobID, ApplicantID: a.applicantID,
			RecruiterID: a.recruiterID, From: a.status, WithdrawnAt: at.UTC()}
	} else {
		e = ApplicationStatusChanged{ApplicationID: a.id, JobID: a.jobID, ApplicantID: a.applicantID,
			RecruiterID: a.recruiterID, From: a.status, To: to, Reason: reason, ChangedBy: actor, ChangedAt: at.UTC()}
	}
	a.apply(e)
	return []Event{e}, nil
}

// CheckReader says whether viewer may read the application: its job's
// recruiter or its applicant; anyone else is told it does not exist.
func (a *Application) CheckReader(viewer uuid.UUID) error {
	if viewer != a.recruiterID && viewer != a.applicantID {
		return errNoSuchApplication
	}
	return nil
}
