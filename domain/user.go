package domain

import (
	"net/mail"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
)

// Role is what an account may do. It is a closed type: the only values are
// RoleRecruiter and RoleJobSeeker (and the zero value, which is no role).
type Role struct{ slug string }

var (
	RoleRecruiter = Role{"recruiter"}
	RoleJobSeeker = Role{"job_seeker"}
)

// ParseRole turns the wire form of a role into a Role.
func ParseRole(s string) (Role, error) {
	switch s {
	case RoleRecruiter.slug:
		return RoleRecruiter, nil
	case RoleJobSeeker.slug:
		return RoleJobSeeker, nil
	}
	return Role{}, Errorf(KindInvalid, "unknown role %q", s)
}

func (r Role) String() string { return r.slug }

// IsZero reports whether r is no role at all.
func (r Role) IsZero() bool { return r.slug == "" }

// MarshalText writes the role's wire form.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.slug), nil }

// UnmarshalText accepts only known roles.
func (r *Role) UnmarshalText(b []byte) error {
	role, err := ParseRole(string(b))
	if err != nil {
		return err
	}
	*r = role
	return nil
}

// UserRegistered records a new account. Credentials are deliberately absent:
// they are not facts anyone should be able to replay.
type UserRegistered struct {
	UserID       uuid.UUID `json:"user_id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	Role         Role      `json:"role"`
	Company      string    `json:"company,omitempty"`
	RegisteredAt time.Time `json:"registered_at"`
}

func (UserRegistered) EventType() string { return "UserRegistered" }

func init() {
	registerEvent[UserRegistered](1)
}

// StreamUser is the stream type of user aggregates.
const StreamUser = "user"

// User is an account: a recruiter who posts jobs or a job seeker who applies.
type User struct {
	id           uuid.UUID
	email        string
	name         string
	role         Role
	company      string
	registeredAt time.Time
	erased       bool
	version      int64
}

// Limits on user fields, from the API contract.
const (
	MaxNameLength    = 100
	MaxCompanyLength = 200
	maxEmailLength   = 254
)

// RegisterUser decides whether an account can be opened with these details
// and returns the new user with the event that records it. email is
// normalised (trimmed, lower-cased); name and company are trimmed.
func RegisterUser(id uuid.UUID, email, name string, role Role, company *string, at time.Time) (*User, []Event, error) {
	var v Validation
	normalised, err := NormalizeEmail(email)
	if err != nil {
		v.Add("email", err.Error())
	}
	name = strings.TrimSpace(name)
	if msg := checkLine(name, 1, MaxNameLength); msg != "" {
		v.Add("name", msg)
	}
	if role.IsZero() {
		v.Add("role", "must be recruiter or job_seeker")
	}
	var companyName string
	if company != nil {
		companyName = strings.TrimSpace(*company)
		if role == RoleJobSeeker {
			v.Add("company", "is only for recruiters")
		} else if msg := checkLine(companyName, 1, MaxCompanyLength); msg != "" {
			v.Add("company", msg)
		}
	}
	if err := v.Err(); err != nil {
		return nil, nil, err
	}
	u := &User{}
	e := UserRegistered{
		UserID:       id,
		Email:        normalised,
		Name:         name,
		Role:         role,
		Company:      companyName,
		RegisteredAt: at.UTC(),
	}
	u.apply(e)
	return u, []Event{e}, nil
}

// UserFromHistory folds a user's events into its current state.
func UserFromHistory(events []Event) (*User, error) {
	if len(events) == 0 {
		return nil, Errorf(KindNotFound, "no such user")
	}
	u := &User{}
	for _, e := range events {
		u.apply(e)
	}
	return u, nil
}

func (u *User) apply(e Event) {
	switch e := e.(type) {
	case UserRegistered:
		u.id = e.UserID
		u.email = e.Email
		u.name = e.Name
		u.role = e.Role
		u.company = e.Company
		u.registeredAt = e.RegisteredAt
	case PersonalDataErased:
		u.email, u.name, u.company = "", "", ""
		u.erased = true
	}
	u.version++
}

func (u *User) ID() uuid.UUID           { return u.id }
func (u *User) Email() string           { return u.email }
func (u *User) Name() string            { return u.name }
func (u *User) Role() Role              { return u.role }
func (u *User) Company() string         { return u.company }
func (u *User) RegisteredAt() time.Time { return u.registeredAt }
func (u *User) Version() int64          { return u.version }

// Erased reports whether the account's personal data was erased: it can
// no longer be used.
func (u *User) Erased() bool { return u.erased }

// NormalizeEmail trims and lower-cases an address and checks that it is a
// bare address (no display name, no comments) of a sane length.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", Errorf(KindInvalid, "is required")
	}
	if len(s) > maxEmailLength {
		return "", Errorf(KindInvalid, "must be at most %d characters", maxEmailLength)
	}
	// net/mail takes any non-ASCII character in an address, invisible ones
	// included: an address that looks like another must not be one.
	for _, r := range s {
		if unicode.Is(unicode.Cf, r) {
			return "", Errorf(KindInvalid, "%s", formatCharMessage(r))
		}
		if !unicode.IsPrint(r) {
			return "", Errorf(KindInvalid, "must be a valid email address")
		}
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return "", Errorf(KindInvalid, "must be a valid email address")
	}
	return s, nil
}
