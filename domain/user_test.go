package domain_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/domain"
)

// invalidFields maps each invalid field of an invalid-kind error to its message.
func invalidFields(err error) map[string]string {
	var e *domain.Error
	if !errors.As(err, &e) || e.Kind != domain.KindInvalid {
		return nil
	}
	fields := map[string]string{}
	for _, f := range e.Fields {
		fields[f.Field] = f.Message
	}
	return fields
}

func userCompany(name string) *string { return &name }

func TestRegisterUser(t *testing.T) {
	is := is.New(t)
	id := uuid.New()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))

	u, events, err := domain.RegisterUser(id, "  Ada.Lovelace@Example.COM ", "  Ada Lovelace ", domain.RoleRecruiter, userCompany(" Analytical Engines "), at)
	is.NoErr(err)            // a valid registration
	is.Equal(len(events), 1) // decides one event
	e, ok := events[0].(domain.UserRegistered)
	is.True(ok) // UserRegistered
	is.Equal(e, domain.UserRegistered{
		UserID:       id,
		Email:        "ada.lovelace@example.com", // trimmed and lower-cased
		Name:         "Ada Lovelace",             // trimmed
		Role:         domain.RoleRecruiter,
		Company:      "Analytical Engines", // trimmed
		RegisteredAt: at.UTC(),             // in UTC
	})
	is.Equal(u.ID(), id) // the new user is what the event says
	is.Equal(u.Email(), e.Email)
	is.Equal(u.Name(), e.Name)
	is.Equal(u.Role(), domain.RoleRecruiter)
	is.Equal(u.Company(), e.Company)
	is.True(u.RegisteredAt().Equal(at))
	is.Equal(u.Version(), int64(1)) // after one event

	replayed, err := domain.UserFromHistory(events)
	is.NoErr(err)         // the history folds
	is.Equal(replayed, u) // into the same user
}

func TestRegisterUserRules(t *testing.T) {
	long := strings.Repeat("x", domain.MaxNameLength+1)
	for _, c := range []struct {
		name    string
		email   string
		user    string
		role    domain.Role
		company *string
		invalid map[string]string
	}{
		{"no email", " ", "Ada", domain.RoleJobSeeker, nil, map[string]string{"email": "is required"}},
		{"not an address", "ada", "Ada", domain.RoleJobSeeker, nil, map[string]string{"email": "must be a valid email address"}},
		{"display name", "Ada <ada@example.com>", "Ada", domain.RoleJobSeeker, nil, map[string]string{"email": "must be a valid email address"}},
		{"no dot in the domain", "ada@localhost", "Ada", domain.RoleJobSeeker, nil, map[string]string{"email": "must be a valid email address"}},
		{"email too long", strings.Repeat("a", 250) + "@example.com", "Ada", domain.RoleJobSeeker, nil, map[string]string{"email": "must be at most 254 characters"}},
		{"no name", "ada@example.com", "   ", domain.RoleJobSeeker, nil, map[string]string{"name": "is required"}},
		{"name too long", "ada@example.com", long, domain.RoleJobSeeker, nil, map[string]string{"name": "must be 1 to 100 characters"}},
		{"control character", "ada@example.com", "Ada\x07", domain.RoleJobSeeker, nil, map[string]string{"name": "must not contain control characters"}},
		{"no role", "ada@example.com", "Ada", domain.Role{}, nil, map[string]string{"role": "must be recruiter or job_seeker"}},
		{"job seeker with a company", "ada@example.com", "Ada", domain.RoleJobSeeker, userCompany("Acme"), map[string]string{"company": "is only for recruiters"}},
		{"empty company", "ada@example.com", "Ada", domain.RoleRecruiter, userCompany("  "), map[string]string{"company": "is required"}},
		{"everything at once", "", "", domain.Role{}, nil, map[string]string{"email": "is required", "name": "is required", "role": "must be recruiter or job_seeker"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			u, events, err := domain.RegisterUser(uuid.New(), c.email, c.user, c.role, c.company, time.Now())
			is.Equal(domain.KindOf(err), domain.KindInvalid) // refused as invalid
			is.Equal(invalidFields(err), c.invalid)          // naming every broken field
			is.True(u == nil)                                // no user
			is.Equal(len(events), 0)                         // and no event
		})
	}

	t.Run("lengths count characters", func(t *testing.T) {
		is := is.New(t)
		_, _, err := domain.RegisterUser(uuid.New(), "ada@example.com", strings.Repeat("é", domain.MaxNameLength), domain.RoleJobSeeker, nil, time.Now())
		is.NoErr(err) // 100 two-byte characters are 100 characters
	})
}

func TestRoles(t *testing.T) {
	is := is.New(t)
	for _, r := range []domain.Role{domain.RoleRecruiter, domain.RoleJobSeeker} {
		parsed, err := domain.ParseRole(r.String())
		is.NoErr(err)       // the wire form parses
		is.Equal(parsed, r) // back into the role
		text, err := json.Marshal(r)
		is.NoErr(err) // a role marshals
		var back domain.Role
		is.NoErr(json.Unmarshal(text, &back)) // and unmarshals
		is.Equal(back, r)
	}
	_, err := domain.ParseRole("admin")
	is.Equal(domain.KindOf(err), domain.KindInvalid) // unknown roles are refused
	var r domain.Role
	is.True(json.Unmarshal([]byte(`"admin"`), &r) != nil) // also from JSON
	is.True(r.IsZero())                                   // leaving no role
}

func TestUserRegisteredRoundTripsThroughTheLog(t *testing.T) {
	is := is.New(t)
	_, events, err := domain.RegisterUser(uuid.New(), "ada@example.com", "Ada", domain.RoleRecruiter, userCompany("Acme"),
		time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC))
	is.NoErr(err) // register
	e := events[0]
	data, err := json.Marshal(e)
	is.NoErr(err) // encode as the log stores it

	decoded, err := domain.DecodeEvent(e.EventType(), domain.SchemaVersion(e), data)
	is.NoErr(err)        // decode it back
	is.Equal(decoded, e) // by value, as aggregates switch on it
	is.Equal(domain.SchemaVersion(e), 1)

	_, err = domain.DecodeEvent(e.EventType(), domain.SchemaVersion(e)+1, data)
	is.True(err != nil) // another schema version is refused, not misread
	_, err = domain.DecodeEvent("NoSuchEvent", 1, data)
	is.True(err != nil) // so is an unknown type
	_, err = domain.DecodeEvent(e.EventType(), 1, []byte(`{"role":"admin"}`))
	is.True(err != nil) // and data that breaks the event's own rules

	types := domain.EventTypes()
	found := false
	for i, typ := range types {
		found = found || typ == "UserRegistered"
		if i > 0 {
			is.True(types[i-1] < typ) // sorted, no duplicates
		}
	}
	is.True(found) // UserRegistered is a known type
}

func TestUserFromNoHistoryIsNotFound(t *testing.T) {
	is := is.New(t)
	_, err := domain.UserFromHistory(nil)
	is.Equal(domain.KindOf(err), domain.KindNotFound) // no events, no user
}

func TestErrors(t *testing.T) {
	is := is.New(t)
	cause := errors.New("connection reset")
	wrapped := fmt.Errorf("load user: %w", domain.Wrap(domain.KindUnavailable, cause, "try again"))
	is.Equal(domain.KindOf(wrapped), domain.KindUnavailable) // the kind survives wrapping
	is.True(errors.Is(wrapped, cause))                       // and so does the cause
	is.Equal(domain.KindOf(cause), domain.KindInternal)      // a plain error is internal
	is.Equal(domain.KindOf(nil), domain.KindInternal)

	is.Equal(domain.Errorf(domain.KindNotFound, "no job %d", 7).Error(), "no job 7")
	is.Equal((&domain.Error{Kind: domain.KindConflict, Err: cause}).Error(), "conflict: connection reset")
	is.Equal(domain.Wrap(domain.KindUnavailable, cause, "try again").Error(), "try again: connection reset")

	var v domain.Validation
	is.NoErr(v.Err()) // no field errors, no error
	v.Add("a", "is required")
	v.Add("b", "is too long")
	err := v.Err()
	is.Equal(domain.KindOf(err), domain.KindInvalid)                                        // field errors are invalid
	is.Equal(invalidFields(err), map[string]string{"a": "is required", "b": "is too long"}) // all of them
}
