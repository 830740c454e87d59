package commands

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/jobboard/jobboard/domain"
)

// errBadCredentials is the one answer to every failed login, so that the
// answer does not tell whether the email has an account.
var errBadCredentials = &domain.Error{Kind: domain.KindUnauthorized, Message: "the email or password is wrong"}

// LogIn checks an email and password and returns the account they open.
// An unknown email and a wrong password fail alike and take about as long:
// both run one bcrypt comparison.
func (h *Handlers) LogIn(ctx context.Context, email, password string) (*domain.User, error) {
	var id uuid.UUID
	var hash string
	normalised, err := domain.NormalizeEmail(email)
	if err == nil {
		err = h.pool.QueryRow(ctx, `SELECT user_id, password_hash FROM credentials WHERE email = $1`, normalised).Scan(&id, &hash)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
	}
	ok, err := h.passwords.Check(hash, password)
	if err != nil {
		return nil, err
	}
	// bcrypt reads only the first 72 bytes, so without this a 72-byte
	// password would also be opened by itself followed by anything. The
	// comparison above still runs, so that the refusal takes as long.
	if !ok || len(password) > MaxPasswordBytes {
		return nil, errBadCredentials
	}
	return h.loadUser(ctx, id)
}

// loadUser folds a user's stream: the write side's view of the account,
// which does not depend on any projection.
func (h *Handlers) loadUser(ctx context.Context, id uuid.UUID) (*domain.User, error) {
	records, err := h.store.ReadStream(ctx, id)
	if err != nil {
		return nil, err
	}
	events := make([]domain.Event, len(records))
	for i, r := range records {
		if events[i], err = r.Event(); err != nil {
			return nil, err
		}
	}
	return domain.UserFromHistory(events)
}
