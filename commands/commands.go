// Package commands holds one handler per use case: load the aggregate, let
// it decide, append its events, and wait until the read models that serve
// the result have caught up, so that the caller can read its own write.
package commands

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jobboard/jobboard/auth"
	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/throttle"
)

// Waiter blocks until named projections have applied the event at a
// checkpoint. projections.Tracker is the implementation.
type Waiter interface {
	WaitFor(ctx context.Context, cp eventstore.Checkpoint, projections ...string) error
}

// Handlers runs commands. Its zero value is not usable; use New.
type Handlers struct {
	store       *eventstore.Store
	pool        *pgxpool.Pool
	waiter      Waiter
	forgetters  []Forgetter
	passwords   *auth.Passwords
	loginLimits LoginLimits
	failures    *throttle.Failures
	accounts    *accountCache
}

// LoginLimits throttle password guessing within Window: PerClient failed
// logins from one client refuse that client, for any email; PerEmail
// failures for one email refuse the clients that failed on it, and only
// them, so that nobody can lock an owner out. A maximum of 0 turns that
// limit off.
type LoginLimits struct {
	PerEmail  int
	PerClient int
	Window    time.Duration
}

// New returns the command handlers.
func New(store *eventstore.Store, pool *pgxpool.Pool, waiter Waiter, passwords *auth.Passwords, limits LoginLimits) *Handlers {
	return &Handlers{store: store, pool: pool, waiter: waiter, passwords: passwords,
		loginLimits: limits, failures: throttle.New(pool, limits.Window), accounts: newAccountCache()}
}

// IfMatch is the precondition of a write: the versions the client accepts
// the resource at (If-Match's list of entity-tags). Nil is no
// precondition; an empty, non-nil one is a precondition no version meets
// (a tag that is not one of ours).
type IfMatch []int64

// Version is the precondition that the resource is at version v.
func Version(v int64) IfMatch { return IfMatch{v} }

// holds reports whether a resource at version meets the precondition.
func (m IfMatch) holds(version int64) bool { return m == nil || slices.Contains(m, version) }

// appendAndWait appends events and waits until the projections that serve
// the written resource have applied them. Every command that writes goes
// through it: it is the one place where read-your-writes is kept.
func (h *Handlers) appendAndWait(ctx context.Context, stream eventstore.Stream, expected int64, events []domain.Event, serving []string, opts ...eventstore.AppendOption) (eventstore.Appended, error) {
	appended, err := h.store.Append(ctx, stream, expected, events, opts...)
	if err != nil {
		return eventstore.Appended{}, err
	}
	if err := h.waiter.WaitFor(ctx, appended.Last(), serving...); err != nil {
		return appended, err
	}
	return appended, nil
}

// onUniqueViolation is an eventstore.Statement's OnError that turns a
// violation of the unique constraint named constraint into to: the
// database, not a read before the write, decides a race.
func onUniqueViolation(constraint string, to error) func(error) error {
	return func(err error) error {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == constraint {
			return to
		}
		return err
	}
}
