package commands

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/auth"
	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/internal/testdb"
)

var db *testdb.DB

func TestMain(m *testing.M) { testdb.Main(m, &db) }

// noProjections is a Waiter for commands tested without projectors: the
// test reads the log, not the views.
type noProjections struct{}

func (noProjections) WaitFor(context.Context, eventstore.Checkpoint, ...string) error { return nil }

// A job write decides with the account as commands last read it, and the
// append checks that the account has not moved since: when it has, the
// write is decided again on the account as it now is, and only that
// decision is in the log.
func TestCachedAccountIsCheckedByTheAppend(t *testing.T) {
	is := is.New(t)
	ctx := t.Context()
	own := testdb.New(t)
	store := eventstore.New(own.Pool, eventstore.WithKeyring(testdb.Keyring()))
	h := New(store, own.Pool, noProjections{}, nil, LoginLimits{Window: time.Minute})

	id := uuid.New()
	register := func(version int64, company string) {
		t.Helper()
		_, events, err := domain.RegisterUser(id, "cache-"+id.String()+"@example.com", "Cache Test", domain.RoleRecruiter, &company, time.Now())
		is.NoErr(err) // decide the account's event
		_, err = store.Append(ctx, eventstore.Stream{Type: domain.StreamUser, ID: id}, version, events)
		is.NoErr(err) // append it
	}
	caller := auth.Caller{UserID: id, Role: domain.RoleRecruiter}
	title, description, location := "Cached", "A job posted with a cached account.", "Oslo"
	draft := domain.JobDraft{Title: &title, Description: &description, Location: &location}

	register(0, "Before Co")
	first, err := h.PostJob(ctx, caller, draft)
	is.NoErr(err)                        // posted
	is.Equal(first.Company, "Before Co") // with the account's company
	_, cached := h.accounts.get(id)
	is.True(cached) // which is now cached

	register(1, "After Co") // the account moves on behind the cache's back
	second, err := h.PostJob(ctx, caller, draft)
	is.NoErr(err)                        // posted all the same
	is.Equal(second.Company, "After Co") // decided again on the account as it now is
	u, _ := h.accounts.get(id)
	is.Equal(u.Version(), int64(2)) // and the cache has caught up

	var posted []string
	rows, err := own.Pool.Query(ctx, `SELECT data->>'company' FROM events WHERE event_type = 'JobPosted' ORDER BY position`)
	is.NoErr(err)
	for rows.Next() {
		var c string
		is.NoErr(rows.Scan(&c))
		posted = append(posted, c)
	}
	is.NoErr(rows.Err())
	is.Equal(posted, []string{"Before Co", "After Co"}) // the stale decision left nothing in the log
}
