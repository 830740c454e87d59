package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/projections"
	"github.com/jobboard/jobboard/throttle"
)

// Person is someone being erased, as the parts of the service that keep
// something about them outside the log need to know them.
type Person struct {
	ID   uuid.UUID
	Role domain.Role
	// EmailHash is the keyed hash of their account's email
	// (eventstore.Keyring.EmailIndex); nil when erased before.
	EmailHash []byte
	// Applications are a job seeker's applications; Jobs a recruiter's
	// jobs, deleted ones included.
	Applications []uuid.UUID
	Jobs         []uuid.UUID
}

// Forgetter deletes what one part of the service keeps about a person
// outside the log (the mail queue, webhook deliveries), when the person is
// erased.
type Forgetter interface {
	// Forget deletes, inside tx, which commits with the erasure, what is
	// kept about p. after, when not nil, runs once the erasure has
	// committed: for what no transaction holds (files).
	Forget(ctx context.Context, tx pgx.Tx, p Person) (after func(), err error)
}

// AddForgetters makes every erasure run f too.
func (h *Handlers) AddForgetters(f ...Forgetter) { h.forgetters = append(h.forgetters, f...) }

// Erasure is what an erasure did.
type Erasure struct {
	UserID uuid.UUID
	// Before says the person had been erased already: nothing was
	// appended, and what is kept outside the log was deleted again.
	Before       bool
	Applications int // applications whose applicant data was erased
	JobsClosed   int
}

var errErasedAccount = &domain.Error{Kind: domain.KindUnauthorized, Message: "this account was erased"}

// CheckActive says whether id's account can still be used: an erased one
// cannot (401), whatever token it still holds. It is one look-up by
// primary key.
func (h *Handlers) CheckActive(ctx context.Context, id uuid.UUID) error {
	var active bool
	if err := h.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM credentials WHERE user_id = $1)`, id).Scan(&active); err != nil {
		return err
	}
	if !active {
		return errErasedAccount
	}
	return nil
}

// AccountByEmail returns the id of the account registered with email.
func (h *Handlers) AccountByEmail(ctx context.Context, email string) (uuid.UUID, error) {
	normalised, err := domain.NormalizeEmail(email)
	if err != nil {
		return uuid.Nil, &domain.Error{Kind: domain.KindInvalid, Message: "the email is invalid",
			Fields: []domain.FieldError{{Field: "email", Message: err.Error()}}}
	}
	var id uuid.UUID
	err = h.pool.QueryRow(ctx, `SELECT user_id FROM credentials WHERE email_hash = $1`, h.store.Keys().EmailIndex(normalised)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, domain.Errorf(domain.KindNotFound, "no account has this email")
	}
	return id, err
}

// DeleteAccount erases the caller's account at their request, once their
// password is checked as a login checks it (a wrong one counts as a failed
// login, from client).
func (h *Handlers) DeleteAccount(ctx context.Context, id uuid.UUID, password, client string) (Erasure, error) {
	u, err := h.loadUser(ctx, id)
	if err != nil {
		return Erasure{}, err
	}
	if u.Erased() {
		return Erasure{}, errErasedAccount
	}
	if _, err := h.LogIn(ctx, u.Email(), password, client); err != nil {
		return Erasure{}, err
	}
	return h.EraseAccount(ctx, id, id, "requested by the account holder")
}

// EraseAccount erases a person's personal data, asked by by (themselves,
// or uuid.Nil for the operator) for reason. In one transaction: their data
// key goes (every personal field of every event about them reads as null
// from then on), PersonalDataErased is appended to their account's stream
// and ApplicantErased to each of their applications', an erased
// recruiter's open jobs are closed, and their credentials, resume files,
// login-throttle rows and whatever the forgetters keep (mail, webhook
// deliveries) are deleted. It answers once the read models have forgotten
// them. Erasing someone erased before appends nothing and deletes what is
// kept outside the log again.
func (h *Handlers) EraseAccount(ctx context.Context, id, by uuid.UUID, reason string) (Erasure, error) {
	ctx = eventstore.WithActor(ctx, by)
	var err error
	for range 3 {
		var done Erasure
		done, err = h.erase(ctx, id, by, reason)
		if !errors.Is(err, eventstore.ErrConflict) {
			return done, err
		}
		// An application or job moved meanwhile: decide again.
	}
	return Erasure{}, err
}

func (h *Handlers) erase(ctx context.Context, id, by uuid.UUID, reason string) (Erasure, error) {
	records, err := h.store.ReadStream(ctx, id)
	if err != nil {
		return Erasure{}, err
	}
	if len(records) == 0 {
		return Erasure{}, domain.Errorf(domain.KindNotFound, "no such user")
	}
	u, err := userFrom(records)
	if err != nil {
		return Erasure{}, err
	}
	p := Person{ID: id, Role: u.Role()}
	if !u.Erased() {
		p.EmailHash = h.store.Keys().EmailIndex(u.Email())
	}
	now := time.Now()
	userEvents, err := domain.EraseUser(u, by, reason, now)
	if err != nil {
		return Erasure{}, err
	}
	appends, done, err := h.erasureAppends(ctx, &p, now)
	if err != nil {
		return Erasure{}, err
	}
	done.UserID, done.Before = id, len(userEvents) == 0
	var after []func()
	forget := func(ctx context.Context, tx pgx.Tx) error {
		var b pgx.Batch
		// The key goes; the row stays, so that none is made again.
		b.Queue(`INSERT INTO data_keys (subject_id, wrapped, erased_at) VALUES ($1, NULL, now())
ON CONFLICT (subject_id) DO UPDATE SET wrapped = NULL, erased_at = coalesce(data_keys.erased_at, now())`, id)
		b.Queue(`DELETE FROM credentials WHERE user_id = $1`, id)
		b.Queue(`DELETE FROM resume_blobs WHERE application_id = ANY($1)`, p.Applications)
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return fmt.Errorf("erase: %w", err)
		}
		if p.EmailHash != nil {
			if err := throttle.Erase(ctx, tx, p.EmailHash); err != nil {
				return fmt.Errorf("erase: %w", err)
			}
		}
		for _, f := range h.forgetters {
			a, err := f.Forget(ctx, tx, p)
			if err != nil {
				return fmt.Errorf("erase: %w", err)
			}
			if a != nil {
				after = append(after, a)
			}
		}
		return nil
	}
	var last eventstore.Checkpoint
	if done.Before {
		if err := pgx.BeginFunc(ctx, h.pool, func(tx pgx.Tx) error { return forget(ctx, tx) }); err != nil {
			return Erasure{}, err
		}
	} else {
		appends = append(appends, eventstore.StreamAppend{
			Stream: eventstore.Stream{Type: domain.StreamUser, ID: id}, Expected: int64(len(records)), Events: userEvents,
		})
		appended, err := h.store.AppendAll(ctx, appends, eventstore.Within(forget))
		if err != nil {
			return Erasure{}, err
		}
		last = appended.Last()
	}
	h.store.Keys().Forget(id)
	h.accounts.drop(id)
	for _, a := range after {
		a()
	}
	if done.Before {
		return done, nil
	}
	return done, h.waiter.WaitFor(ctx, last, projections.Users, projections.Jobs)
}

// erasureAppends finds p's applications and jobs and returns what their
// streams get: ApplicantErased on each application not erased yet, and
// JobClosed on each open job.
func (h *Handlers) erasureAppends(ctx context.Context, p *Person, now time.Time) ([]eventstore.StreamAppend, Erasure, error) {
	var done Erasure
	var err error
	// The claims are the write side's record of who applied where; the
	// jobs table keeps a deleted job's row (status deleted), and a job is
	// there before its POST is answered.
	if p.Applications, err = h.ids(ctx, `SELECT application_id FROM application_claims WHERE applicant_id = $1 ORDER BY application_id`, p.ID); err != nil {
		return nil, done, err
	}
	if p.Jobs, err = h.ids(ctx, `SELECT id FROM jobs WHERE recruiter_id = $1 ORDER BY id`, p.ID); err != nil {
		return nil, done, err
	}
	streams, err := h.store.ReadStreams(ctx, append(append([]uuid.UUID{}, p.Applications...), p.Jobs...)...)
	if err != nil {
		return nil, done, err
	}
	var appends []eventstore.StreamAppend
	for _, id := range p.Applications {
		events, err := eventstore.Events(streams[id])
		if err != nil {
			return nil, done, err
		}
		a, err := domain.ApplicationFromHistory(events)
		if err != nil {
			return nil, done, err
		}
		if erased := domain.EraseApplicant(a, now); erased != nil {
			appends = append(appends, eventstore.StreamAppend{
				Stream: eventstore.Stream{Type: domain.StreamApplication, ID: id}, Expected: int64(len(events)), Events: erased,
			})
			done.Applications++
		}
	}
	for _, id := range p.Jobs {
		events, err := eventstore.Events(streams[id])
		if err != nil {
			return nil, done, err
		}
		j, err := domain.JobFromHistory(events)
		if err != nil {
			return nil, done, err
		}
		if closed := domain.CloseJobOfErased(j, now); closed != nil {
			appends = append(appends, eventstore.StreamAppend{
				Stream: eventstore.Stream{Type: domain.StreamJob, ID: id}, Expected: int64(len(events)), Events: closed,
			})
			done.JobsClosed++
		}
	}
	return appends, done, nil
}

func (h *Handlers) ids(ctx context.Context, sql string, args ...any) ([]uuid.UUID, error) {
	rows, err := h.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (uuid.UUID, error) {
		var id uuid.UUID
		err := r.Scan(&id)
		return id, err
	})
}

// EventsAbout calls fn with every event about the person id, in log
// order, read as they arrive (an export streams them): their account's,
// their applications' and their jobs' events, those they caused, and those
// holding their personal data, opened (erased fields null).
func (h *Handlers) EventsAbout(ctx context.Context, id uuid.UUID, fn func(eventstore.Record) error) error {
	streams, err := h.ids(ctx, `
SELECT $1::uuid
UNION ALL SELECT application_id FROM application_claims WHERE applicant_id = $1
UNION ALL SELECT id FROM jobs WHERE recruiter_id = $1`, id)
	if err != nil {
		return err
	}
	return h.store.ScanAbout(ctx, id, streams, fn)
}
