package commands

import (
	"context"
	"errors"
	"sync"

	"github.com/google/uuid"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
)

// maxCachedAccounts bounds the accounts a process keeps folded: a few
// hundred bytes each.
const maxCachedAccounts = 50_000

// accountCache keeps accounts as commands last folded them, so that a job
// write does not read its author's stream every time. A cached account may
// be stale: every append decided with one carries a guard (accountGuard)
// that fails it, in the append's own transaction, if the account's stream
// has moved since; the command then runs again on a fresh read
// (withAccount). Nothing is ever decided on an account older than the log.
type accountCache struct {
	mu   sync.Mutex
	byID map[uuid.UUID]*domain.User
}

func newAccountCache() *accountCache { return &accountCache{byID: map[uuid.UUID]*domain.User{}} }

func (c *accountCache) get(id uuid.UUID) (*domain.User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.byID[id]
	return u, ok
}

// put keeps u (a folded User is never changed afterwards: it can be
// shared). A full cache lets some entry go; which one does not matter.
func (c *accountCache) put(u *domain.User) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byID[u.ID()]; !ok && len(c.byID) >= maxCachedAccounts {
		for id := range c.byID {
			delete(c.byID, id)
			break
		}
	}
	c.byID[u.ID()] = u
}

func (c *accountCache) drop(id uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byID, id)
}

// errAccountChanged: the account a command decided with is no longer the
// last version of its stream.
var errAccountChanged = errors.New("the account changed while the command ran")

// accountGuard makes an append fail with errAccountChanged unless u's
// stream is still at the version u was folded at. It is one more
// statement in the append's round trip.
func accountGuard(u *domain.User) eventstore.AppendOption {
	return eventstore.With(eventstore.Statement{
		SQL:     `SELECT events_expect_version($1, $2)`,
		Args:    []any{u.ID(), u.Version()},
		OnError: onUniqueViolation("events_stream_version_key", errAccountChanged),
	})
}

// withAccount runs decide with the account id, from the cache when it is
// there, and with the guard its append must carry. If the guard fails, the
// account is read again from its stream and decide runs once more; a
// second failure (the account changed twice meanwhile) is a conflict.
func (h *Handlers) withAccount(ctx context.Context, id uuid.UUID, decide func(u *domain.User, guard eventstore.AppendOption) error) error {
	u, cached := h.accounts.get(id)
	if !cached {
		var err error
		if u, err = h.loadUser(ctx, id); err != nil {
			return err
		}
	}
	err := decide(u, accountGuard(u))
	if !errors.Is(err, errAccountChanged) {
		return err
	}
	h.accounts.drop(id)
	if u, err = h.loadUser(ctx, id); err != nil {
		return err
	}
	err = decide(u, accountGuard(u))
	if errors.Is(err, errAccountChanged) {
		h.accounts.drop(id)
		return &domain.Error{Kind: domain.KindConflict, Message: "your account changed while the request ran; send it again"}
	}
	return err
}
