// Package throttle counts failed attempts per key (an email, a client
// address) in a sliding window, in PostgreSQL so that every instance of the
// API shares the counts.
package throttle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Failures throttles keys that failed too often.
type Failures struct {
	pool   *pgxpool.Pool
	window time.Duration
}

// New returns a counter whose failures expire after window.
func New(pool *pgxpool.Pool, window time.Duration) *Failures {
	return &Failures{pool: pool, window: window}
}

// Check returns how long the caller must wait before trying again: zero
// when none of keys has reached its limit (a limit of 0 is no limit), else the time until the oldest
// failure that keeps it over the limit leaves the window.
func (f *Failures) Check(ctx context.Context, keys map[string]int) (time.Duration, error) {
	var wait time.Duration
	for key, max := range keys {
		if max <= 0 {
			continue
		}
		// The max-th newest failure is the one whose expiry brings the key
		// back under its limit.
		// Computed by the database, whose clock wrote the failures.
		var seconds float64
		err := f.pool.QueryRow(ctx, `
SELECT extract(epoch FROM failed_at + $3::interval - now())::float8 FROM login_failures
WHERE key = $1 AND failed_at > now() - $3::interval
ORDER BY failed_at DESC OFFSET $2 - 1 LIMIT 1`, key, max, f.window).Scan(&seconds)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read login failures: %w", err)
		}
		if d := time.Duration(seconds * float64(time.Second)); d > wait {
			wait = d
		}
	}
	return wait, nil
}

// Record counts one failure against each key and forgets failures that
// have left the window.
func (f *Failures) Record(ctx context.Context, keys ...string) error {
	_, err := f.pool.Exec(ctx, `
WITH expired AS (DELETE FROM login_failures WHERE failed_at < now() - $2::interval)
INSERT INTO login_failures (key) SELECT unnest($1::text[])`, keys, f.window)
	if err != nil {
		return fmt.Errorf("record login failure: %w", err)
	}
	return nil
}
