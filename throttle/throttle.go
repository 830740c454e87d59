// Package throttle counts attempts per key (an email, a client, an email
// from a client) in a sliding window, in PostgreSQL so that every instance
// of the API shares the counts. An attempt is counted before the work it
// guards is done, under a lock per key, so that attempts sent at once
// cannot all pass a check that none of them has been counted against yet.
package throttle

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Failures throttles keys that failed too often: every attempt counts
// until it is forgotten, so what is left in the window are the failures
// and the attempts still running.
type Failures struct {
	pool   *pgxpool.Pool
	window time.Duration
}

// New returns a counter whose attempts expire after window.
func New(pool *pgxpool.Pool, window time.Duration) *Failures {
	return &Failures{pool: pool, window: window}
}

// Limit is one rule an attempt must pass: fewer than Max attempts under
// Key in the window (a Max of 0 is no limit). With Unless, the rule binds
// only a caller that has attempts of its own under Unless: one that has
// none passes, however many others have failed under Key.
type Limit struct {
	Key    string
	Max    int
	Unless string
	// Owner, when set, is stored with the attempts under Key and Unless
	// (the keyed hash of the email they are about), so that the attempts
	// about a person can be deleted when the person is erased (Erase).
	Owner []byte
}

// Attempt is a counted attempt, to Forget if it succeeds.
type Attempt struct {
	ids []int64
}

// key is a throttle key as stored: a digest, so that a key of any length
// (a 6 KB email) fits the index.
type key struct {
	digest [32]byte
}

func keyOf(s string) key { return key{sha256.Sum256([]byte(s))} }

// lockID is the key's advisory lock. A collision with another key, or
// with another lock of the database, only makes two attempts wait for
// each other.
func (k key) lockID() int64 { return int64(binary.BigEndian.Uint64(k.digest[:8])) }

// Take counts an attempt under the keys of limits, unless one of the
// limits is reached: then it counts nothing and returns how long until the
// attempt would pass (always more than zero).
func (f *Failures) Take(ctx context.Context, limits ...Limit) (Attempt, time.Duration, error) {
	var keys []key
	owners := map[key][]byte{}
	for _, l := range limits {
		if l.Max <= 0 {
			continue
		}
		keys = append(keys, keyOf(l.Key))
		if l.Unless != "" {
			keys = append(keys, keyOf(l.Unless))
		}
		if l.Owner != nil {
			owners[keyOf(l.Key)] = l.Owner
			if l.Unless != "" {
				owners[keyOf(l.Unless)] = l.Owner
			}
		}
	}
	if len(keys) == 0 {
		return Attempt{}, 0, nil
	}
	// One order for every attempt's locks, so that two attempts sharing
	// keys cannot each hold one the other waits for.
	slices.SortFunc(keys, func(a, b key) int { return cmp.Compare(a.lockID(), b.lockID()) })
	keys = slices.CompactFunc(keys, func(a, b key) bool { return a == b })
	locks := make([]int64, len(keys))
	digests := make([][]byte, len(keys))
	ownerOf := make([][]byte, len(keys))
	for i, k := range keys {
		locks[i], digests[i], ownerOf[i] = k.lockID(), k.digest[:], owners[k]
	}

	tx, err := f.pool.Begin(ctx)
	if err != nil {
		return Attempt{}, 0, fmt.Errorf("count login attempt: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	// Held to the end of the transaction: the attempts under these keys
	// are counted one after the other, each seeing those before it.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(id) FROM unnest($1::bigint[]) AS id`, locks); err != nil {
		return Attempt{}, 0, fmt.Errorf("count login attempt: %w", err)
	}
	var wait time.Duration
	for _, l := range limits {
		if l.Max <= 0 {
			continue
		}
		left, reached, err := f.nth(ctx, tx, keyOf(l.Key), l.Max)
		if err != nil {
			return Attempt{}, 0, err
		}
		if !reached {
			continue
		}
		if l.Unless != "" {
			mine, failed, err := f.nth(ctx, tx, keyOf(l.Unless), 1)
			if err != nil {
				return Attempt{}, 0, err
			}
			if !failed {
				continue
			}
			// Free again when the key falls under its limit or the
			// caller's own newest attempt leaves the window.
			left = min(left, mine)
		}
		wait = max(wait, left, time.Millisecond)
	}
	if wait > 0 {
		return Attempt{}, wait, nil
	}
	// Forgets a few attempts that have left the window, as each new one
	// comes; SKIP LOCKED, so that attempts never wait on each other for it.
	rows, err := tx.Query(ctx, `
WITH expired AS (
    DELETE FROM login_attempts WHERE id IN (
        SELECT id FROM login_attempts WHERE attempted_at < now() - $2::interval
        ORDER BY attempted_at LIMIT 100 FOR UPDATE SKIP LOCKED)
)
INSERT INTO login_attempts (key, email_hash) SELECT * FROM unnest($1::bytea[], $3::bytea[]) RETURNING id`, digests, f.window, ownerOf)
	if err != nil {
		return Attempt{}, 0, fmt.Errorf("count login attempt: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return Attempt{}, 0, fmt.Errorf("count login attempt: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Attempt{}, 0, fmt.Errorf("count login attempt: %w", err)
	}
	return Attempt{ids: ids}, 0, nil
}

// nth reports whether k holds n attempts or more in the window and, if so,
// how long until the n-th newest leaves it, bringing k under n. Computed by
// the database, whose clock wrote the attempts.
func (f *Failures) nth(ctx context.Context, tx pgx.Tx, k key, n int) (time.Duration, bool, error) {
	var seconds float64
	err := tx.QueryRow(ctx, `
SELECT extract(epoch FROM attempted_at + $3::interval - now())::float8 FROM login_attempts
WHERE key = $1 AND attempted_at > now() - $3::interval
ORDER BY attempted_at DESC OFFSET $2 - 1 LIMIT 1`, k.digest[:], n, f.window).Scan(&seconds)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read login attempts: %w", err)
	}
	return time.Duration(seconds * float64(time.Second)), true, nil
}

// Forget uncounts an attempt that succeeded (or never got to the work it
// guards).
func (f *Failures) Forget(ctx context.Context, a Attempt) error {
	if len(a.ids) == 0 {
		return nil
	}
	if _, err := f.pool.Exec(ctx, `DELETE FROM login_attempts WHERE id = ANY($1)`, a.ids); err != nil {
		return fmt.Errorf("forget login attempt: %w", err)
	}
	return nil
}

// Erase deletes every attempt stored with owner (Limit.Owner): what the
// throttle kept about a person who is being erased.
func Erase(ctx context.Context, db interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, owner []byte) error {
	_, err := db.Exec(ctx, `DELETE FROM login_attempts WHERE email_hash = $1`, owner)
	return err
}
