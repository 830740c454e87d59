package commands

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/throttle"
)

// errBadCredentials is the one answer to every failed login, so that the
// answer does not tell whether the email has an account.
var errBadCredentials = &domain.Error{Kind: domain.KindUnauthorized, Message: "the email or password is wrong"}

// LogIn checks an email and password, from client (the caller's network
// address, or its /64 for IPv6), and returns the account they open. An
// unknown email and a wrong password fail alike and take about as long:
// both run one bcrypt comparison.
//
// Each attempt is counted before its password is compared, and uncounted
// if it succeeds, so that attempts sent at once check no more passwords
// than the limits allow. A client with PerClient failures in the window is
// refused whatever the email. An email with PerEmail failures is refused
// only to the clients that have failed on it themselves: a client that has
// not still has its password checked, so that guesses from elsewhere do
// not lock the owner out, while each new client gets one guess.
func (h *Handlers) LogIn(ctx context.Context, email, password, client string) (*domain.User, error) {
	lowered := strings.ToLower(strings.TrimSpace(email))
	attempt, wait, err := h.failures.Take(ctx,
		throttle.Limit{Key: "client:" + client, Max: h.loginLimits.PerClient},
		throttle.Limit{Key: "email:" + lowered, Max: h.loginLimits.PerEmail, Unless: "email from client:" + client + "\n" + lowered,
			Owner: h.store.Keys().EmailIndex(lowered)})
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
	user, err := h.checkPassword(ctx, email, password)
	if errors.Is(err, errBadCredentials) {
		return nil, err // the attempt stays counted: it is the failure
	}
	// A success, or no password judged (the server was busy, the database
	// failed, the client left): not a failure. Forgotten even when the
	// client has gone.
	forgetCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if ferr := h.failures.Forget(forgetCtx, attempt); ferr != nil && err == nil {
		return nil, ferr
	}
	return user, err
}

// checkPassword returns the account that email and password open, or
// errBadCredentials.
func (h *Handlers) checkPassword(ctx context.Context, email, password string) (*domain.User, error) {
	var id uuid.UUID
	var hash string
	if normalised, err := domain.NormalizeEmail(email); err == nil {
		err = h.pool.QueryRow(ctx, `SELECT user_id, password_hash FROM credentials WHERE email_hash = $1`,
			h.store.Keys().EmailIndex(normalised)).Scan(&id, &hash)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
	}
	ok, err := h.passwords.Check(ctx, hash, password)
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
