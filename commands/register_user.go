package commands

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/projections"
)

// Password length limits. bcrypt ignores everything past 72 bytes, so a
// longer password would silently be a shorter one.
const (
	MinPasswordBytes = 8
	MaxPasswordBytes = 72
)

// RegisterUser opens an account.
type RegisterUser struct {
	Email    string
	Password string
	Name     string
	Role     string
	Company  *string
}

// RegisterUser opens an account: the UserRegistered event and the
// credentials are written in one transaction, and a taken email is a
// conflict however many registrations race for it.
func (h *Handlers) RegisterUser(ctx context.Context, cmd RegisterUser) (*domain.User, error) {
	var passwordProblem string
	switch n := len(cmd.Password); {
	case n == 0:
		passwordProblem = "is required"
	case n < MinPasswordBytes || n > MaxPasswordBytes:
		passwordProblem = "must be 8 to 72 bytes long"
	}
	role, roleErr := domain.ParseRole(cmd.Role)
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	user, events, err := domain.RegisterUser(id, cmd.Email, cmd.Name, role, cmd.Company, time.Now())
	if err != nil || passwordProblem != "" || roleErr != nil {
		return nil, mergeInvalid(err, passwordProblem, cmd.Role, roleErr)
	}
	// A taken email is refused before the password is hashed, so that a
	// flood of registrations of a known email costs no bcrypt. The answer
	// is the 409 it would be anyway, so coming sooner it tells nothing
	// more; a registration that wins a race past this check still loses
	// at the unique index.
	var taken bool
	emailHash := h.store.Keys().EmailIndex(user.Email())
	if err := h.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM credentials WHERE email_hash = $1)`, emailHash).Scan(&taken); err != nil {
		return nil, err
	}
	if taken {
		return nil, errEmailTaken
	}
	hash, err := h.passwords.Hash(ctx, cmd.Password)
	if err != nil {
		return nil, err
	}
	_, err = h.appendAndWait(eventstore.WithActor(ctx, id), eventstore.Stream{Type: domain.StreamUser, ID: id}, 0, events,
		[]string{projections.Users},
		insertCredentials(id, emailHash, hash))
	if err != nil {
		return nil, err
	}
	return user, nil
}

// mergeInvalid combines the domain's field errors with the ones checked
// here, so that the client hears about every field at once.
func mergeInvalid(domainErr error, passwordProblem, role string, roleErr error) error {
	var v domain.Validation
	var de *domain.Error
	if errors.As(domainErr, &de) && de.Kind == domain.KindInvalid {
		for _, f := range de.Fields {
			if f.Field == "role" && roleErr != nil {
				continue
			}
			v.Add(f.Field, f.Message)
		}
	} else if domainErr != nil {
		return domainErr
	}
	if passwordProblem != "" {
		v.Add("password", passwordProblem)
	}
	if roleErr != nil {
		if role == "" {
			v.Add("role", "is required")
		} else {
			v.Add("role", "must be recruiter or job_seeker")
		}
	}
	return v.Err()
}

var errEmailTaken = &domain.Error{
	Kind:    domain.KindConflict,
	Message: "an account with this email already exists",
	Fields:  []domain.FieldError{{Field: "email", Message: "is already registered"}},
}

// insertCredentials writes the password hash with the registration, under
// the keyed hash of the email (never the address itself); a taken email
// (the unique index) is a conflict.
func insertCredentials(id uuid.UUID, emailHash []byte, hash string) eventstore.AppendOption {
	return eventstore.With(eventstore.Statement{
		SQL:     `INSERT INTO credentials (user_id, email_hash, password_hash) VALUES ($1, $2, $3)`,
		Args:    []any{id, emailHash, hash},
		OnError: onUniqueViolation("credentials_email_hash_key", errEmailTaken),
	})
}
