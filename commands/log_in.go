package commands

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
)

// errBadCredentials is the one answer to every failed login, so that the
// answer does not tell whether the email has an account.
var errBadCredentials = &domain.Error{Kind: domain.KindUnauthorized, Message: "the email or password is wrong"}

// LogIn checks an email and password, from client (the caller's network
// address), and returns the account they open. An unknown email and a wrong
// password fail alike and take about as long: both run one bcrypt
// comparison. Too many failures for the email or from the client within the
// window are throttled, whether the next attempt is right or not.
func (h *Handlers) LogIn(ctx context.Context, email, password, client string) (*domain.User, error) {
	emailKey := "email:" + strings.ToLower(strings.TrimSpace(email))
	clientKey := "client:" + client
	wait, err := h.failures.Check(ctx, map[string]int{emailKey: h.loginLimits.PerEmail, clientKey: h.loginLimits.PerClient})
	if err != nil {
		return nil, err
	}
	if wait > 0 {
		return nil, &domain.Error{
			Kind:       domain.KindTooManyRequests,
			Message:    "too many failed logins; wait before trying again (see Retry-After)",
			RetryAfter: wait,
		}
	}
	var id uuid.UUID
	var hash string
	if normalised, err := domain.NormalizeEmail(email); err == nil {
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
		if err := h.failures.Record(ctx, emailKey, clientKey); err != nil {
			return nil, err
		}
		return nil, errBadCredentials
	}
	return h.loadUser(ctx, id)
}

// loadUser folds a user's stream: the write side's view of the account,
// which does not depend on any projection. What it read is cached for the
// commands that decide with an account (withAccount).
func (h *Handlers) loadUser(ctx context.Context, id uuid.UUID) (*domain.User, error) {
	records, err := h.store.ReadStream(ctx, id)
	if err != nil {
		return nil, err
	}
	u, err := userFrom(records)
	if err != nil {
		return nil, err
	}
	h.accounts.put(u)
	return u, nil
}

// userFrom folds an account's stream.
func userFrom(records []eventstore.Record) (*domain.User, error) {
	events, err := eventstore.Events(records)
	if err != nil {
		return nil, err
	}
	return domain.UserFromHistory(events)
}
