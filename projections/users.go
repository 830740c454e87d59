package projections

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
)

// UsersProjector keeps the users table: one row per account.
type UsersProjector struct{}

func (UsersProjector) Name() string { return Users }

var usersTable = NewTable("users", "id", "email", "name", "role", "company", "created_at", "version")

func (UsersProjector) Tables() []*Table { return []*Table{usersTable} }

func (UsersProjector) EventTypes() []string {
	return []string{domain.UserRegistered{}.EventType(), domain.PersonalDataErased{}.EventType()}
}

// PartitionKey: a user's events touch only that user's row.
func (UsersProjector) PartitionKey(r eventstore.Record) (uuid.UUID, bool) {
	return r.StreamID, r.StreamType == domain.StreamUser
}

func (UsersProjector) Apply(r eventstore.Record, w Writer) error {
	if r.StreamType != domain.StreamUser {
		return nil
	}
	e, err := r.Event()
	if err != nil {
		return err
	}
	switch e := e.(type) {
	case domain.UserRegistered:
		if r.Shredded {
			return nil // an erased account has no row (see PersonalDataErased)
		}
		return w.Insert(usersTable, e.UserID, e.Email, e.Name, e.Role.String(), nullIfEmpty(e.Company), e.RegisteredAt, r.Version)
	case domain.PersonalDataErased:
		return w.Delete(usersTable, e.UserID)
	}
	return nil
}

// User is an account as the users read model shows it.
type User struct {
	ID        uuid.UUID
	Email     string
	Name      string
	Role      domain.Role
	Company   string
	CreatedAt time.Time
}

// UsersView reads the users read model.
type UsersView struct{ pool Reader }

// NewUsersView returns a view over pool.
func NewUsersView(pool Reader) UsersView { return UsersView{pool: pool} }

// Get returns the account with id.
func (v UsersView) Get(ctx context.Context, id uuid.UUID) (User, error) {
	var u User
	var role string
	err := v.pool.QueryRow(ctx, `
SELECT id, email, name, role, coalesce(company, ''), created_at FROM users WHERE id = $1`, id).
		Scan(&u.ID, &u.Email, &u.Name, &role, &u.Company, &u.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, domain.Errorf(domain.KindNotFound, "no such user")
	}
	if err != nil {
		return User{}, err
	}
	if u.Role, err = domain.ParseRole(role); err != nil {
		return User{}, err
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return u, nil
}
