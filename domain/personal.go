package domain

import (
	"strings"
	"time"

	"github.com/google/uuid"
)

// Personal data in the log. Some fields of some events are about a
// person: their name, their email, what they wrote. The log keeps them
// encrypted under a key of that person's own (crypto-shredding, done at
// the log's boundary, in eventstore), so that erasing the person is
// deleting one key, and the events stay, as facts, with those fields
// unreadable. The domain only says which fields those are and whose they
// are; it decides on plain values and never sees a key.

// PersonalFields says which fields of an event type are personal data
// and whose: Subject names the field that holds the person's id (never
// itself personal data), Fields the JSON fields that are theirs.
type PersonalFields struct {
	Subject string
	Fields  []string
}

var personalFields = map[string]PersonalFields{}

// registerPersonal declares the personal fields of an event type.
func registerPersonal(eventType string, p PersonalFields) {
	if _, dup := personalFields[eventType]; dup {
		panic("domain: personal fields declared twice for " + eventType)
	}
	personalFields[eventType] = p
}

// PersonalFieldsOf returns the personal fields of events of eventType, and
// false for a type that holds none.
func PersonalFieldsOf(eventType string) (PersonalFields, bool) {
	p, ok := personalFields[eventType]
	return p, ok
}

func init() {
	// An account's name, email and company (a recruiter's company is
	// theirs as long as the account is a person's).
	registerPersonal(UserRegistered{}.EventType(), PersonalFields{
		Subject: "user_id", Fields: []string{"email", "name", "company"},
	})
	// What an applicant gave with an application: the name and email it
	// is sent under, the cover letter, and the resume's description (its
	// file name is often the person's name; its bytes are kept beside the
	// log and deleted on erasure).
	registerPersonal(ApplicationSubmitted{}.EventType(), PersonalFields{
		Subject: "applicant_id", Fields: []string{"name", "email", "cover_letter", "resume"},
	})
	registerEvent[PersonalDataErased](1)
	registerEvent[ApplicantErased](1)
	registerEvent[PersonalDataEncrypted](1)
}

// ErasedApplicantName is the name an application of an erased person is
// shown with.
const ErasedApplicantName = "Erased applicant"

// MaxErasureReasonLength bounds the reason an operator gives for an
// erasure.
const MaxErasureReasonLength = 500

// PersonalDataErased records that a person's personal data was erased:
// their key is gone, so the personal fields of every event about them read
// as null from then on, and the read models forget them. It holds no
// personal data itself: the person's id, who asked, why, and when.
type PersonalDataErased struct {
	UserID   uuid.UUID `json:"user_id"`
	Role     Role      `json:"role"`
	Reason   string    `json:"reason"`
	ErasedBy uuid.UUID `json:"erased_by,omitempty"` // the person themselves; nil for the operator
	ErasedAt time.Time `json:"erased_at"`
}

func (PersonalDataErased) EventType() string { return "PersonalDataErased" }

// EraseUser decides whether u's personal data may be erased, for reason,
// by by (u themselves, or uuid.Nil for the operator). A reason is
// required: the log says why a person's data went.
func EraseUser(u *User, by uuid.UUID, reason string, at time.Time) ([]Event, error) {
	if u == nil {
		return nil, Errorf(KindNotFound, "no such user")
	}
	if u.Erased() {
		return nil, nil
	}
	reason = strings.TrimSpace(reason)
	if msg := checkLine(reason, 1, MaxErasureReasonLength); msg != "" {
		return nil, &Error{Kind: KindInvalid, Message: "the erasure is invalid",
			Fields: []FieldError{{Field: "reason", Message: msg}}}
	}
	e := PersonalDataErased{UserID: u.ID(), Role: u.Role(), Reason: reason, ErasedBy: by, ErasedAt: at.UTC()}
	u.apply(e)
	return []Event{e}, nil
}

// ApplicantErased records, on an application's stream, that its
// applicant's personal data was erased (PersonalDataErased on their
// account's stream, in the same transaction): the application stays, its
// status and history too, without a name, email, cover letter or resume.
type ApplicantErased struct {
	ApplicationID uuid.UUID `json:"application_id"`
	JobID         uuid.UUID `json:"job_id"`
	ApplicantID   uuid.UUID `json:"applicant_id"`
	RecruiterID   uuid.UUID `json:"recruiter_id"`
	ErasedAt      time.Time `json:"erased_at"`
}

func (ApplicantErased) EventType() string { return "ApplicantErased" }

// EraseApplicant returns the event that erases a's applicant's personal
// data from a, or none when it was erased already.
func EraseApplicant(a *Application, at time.Time) []Event {
	if a.erased {
		return nil
	}
	e := ApplicantErased{ApplicationID: a.id, JobID: a.jobID, ApplicantID: a.applicantID, RecruiterID: a.recruiterID, ErasedAt: at.UTC()}
	a.apply(e)
	return []Event{e}
}

// PersonalDataEncrypted records the one-off encryption, in place, of the
// personal fields of events written before the log encrypted them: the
// only time events were changed after they were appended. It says what was
// changed: how many events of which types, up to which position, for how
// many people.
type PersonalDataEncrypted struct {
	Events      int64            `json:"events"`
	ByType      map[string]int64 `json:"by_type"`
	Subjects    int64            `json:"subjects"`
	Through     int64            `json:"through_position"`
	Credentials int64            `json:"credentials_hashed"`
	EncryptedAt time.Time        `json:"encrypted_at"`
}

func (PersonalDataEncrypted) EventType() string { return "PersonalDataEncrypted" }

// StreamSystem is the stream type of the log's own events, such as
// PersonalDataEncrypted.
const StreamSystem = "system"

// SystemStreamID is the id of the system stream.
var SystemStreamID = uuid.MustParse("00000000-0000-7000-8000-000000000001")

// CloseJobOfErased returns the event that closes j because its recruiter
// was erased, or none when it is not open.
func CloseJobOfErased(j *Job, at time.Time) []Event {
	if j.deleted || j.status != StatusOpen {
		return nil
	}
	e := JobClosed{JobID: j.id, ClosedAt: at.UTC()}
	j.apply(e)
	return []Event{e}
}
