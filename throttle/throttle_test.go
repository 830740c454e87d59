package throttle

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/jobboard/jobboard/internal/testdb"
)

var db *testdb.DB

func TestMain(m *testing.M) { testdb.Main(m, &db) }

// unique is a key no other test uses.
func unique(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + ":" + hex.EncodeToString(b)
}

// TestTakeIsAtomic: attempts taken at once are counted one after the
// other, so that no more of them pass than the limit allows, whichever of
// their keys is the one that is full; and the refused ones count nothing.
func TestTakeIsAtomic(t *testing.T) {
	is := is.New(t)
	f := New(db.Pool, time.Hour)
	shared := unique("client")
	const n = 30
	var passed, refused int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Each attempt has a key of its own besides the shared one,
			// and half of them take the shared one first.
			limits := []Limit{{Key: unique("email"), Max: 100}, {Key: shared, Max: 7}}
			if i%2 == 0 {
				limits[0], limits[1] = limits[1], limits[0]
			}
			_, wait, err := f.Take(t.Context(), limits...)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if wait > 0 {
				refused++
			} else {
				passed++
			}
		})
	}
	wg.Wait()
	is.Equal(passed, 7)    // the limit's worth
	is.Equal(refused, n-7) // and no more
	var rows int
	digest := keyOf(shared).digest
	is.NoErr(db.Pool.QueryRow(t.Context(), `SELECT count(*) FROM login_attempts WHERE key = $1`, digest[:]).Scan(&rows))
	is.Equal(rows, 7) // refusals were not counted
}

// TestTakeWaitsForTheOldestThatMatters: a refusal says how long until the
// attempt would pass: until the n-th newest attempt leaves the window.
func TestTakeWaitsForTheOldestThatMatters(t *testing.T) {
	is := is.New(t)
	f := New(db.Pool, 10*time.Minute)
	k := unique("email")
	// Two attempts 8 and 3 minutes old, then one now.
	digest := keyOf(k).digest
	_, err := db.Pool.Exec(t.Context(), `INSERT INTO login_attempts (key, attempted_at) VALUES
		($1, now() - interval '8 minutes'), ($1, now() - interval '3 minutes')`, digest[:])
	is.NoErr(err)
	_, wait, err := f.Take(t.Context(), Limit{Key: k, Max: 3})
	is.NoErr(err)
	is.Equal(wait, time.Duration(0)) // the third attempt passes
	_, wait, err = f.Take(t.Context(), Limit{Key: k, Max: 3})
	is.NoErr(err)
	is.True(wait > 110*time.Second && wait <= 2*time.Minute) // the 8-minute-old one leaves in 2 minutes
	_, wait, err = f.Take(t.Context(), Limit{Key: k, Max: 2})
	is.NoErr(err)
	is.True(wait > 410*time.Second && wait <= 7*time.Minute) // with a limit of 2, the 3-minute-old one matters
}

// TestForget: an attempt that succeeded no longer counts.
func TestForget(t *testing.T) {
	is := is.New(t)
	f := New(db.Pool, time.Hour)
	k := unique("email")
	a, wait, err := f.Take(t.Context(), Limit{Key: k, Max: 1})
	is.NoErr(err)
	is.Equal(wait, time.Duration(0))
	_, wait, err = f.Take(t.Context(), Limit{Key: k, Max: 1})
	is.NoErr(err)
	is.True(wait > 0) // the first attempt counts
	is.NoErr(f.Forget(t.Context(), a))
	_, wait, err = f.Take(t.Context(), Limit{Key: k, Max: 1})
	is.NoErr(err)
	is.Equal(wait, time.Duration(0)) // until it is forgotten
	is.NoErr(f.Forget(t.Context(), Attempt{}))
}

// TestUnless: a full key refuses the callers that have attempts under their
// Unless key, and only them.
func TestUnless(t *testing.T) {
	is := is.New(t)
	f := New(db.Pool, time.Hour)
	email := unique("email")
	from := func(client string) Limit { return Limit{Key: email, Max: 2, Unless: email + " from " + client} }
	for range 2 {
		_, wait, err := f.Take(t.Context(), from("a"))
		is.NoErr(err)
		is.Equal(wait, time.Duration(0)) // under the limit
	}
	_, wait, err := f.Take(t.Context(), from("a"))
	is.NoErr(err)
	is.True(wait > 0) // a has attempts of its own: refused
	_, wait, err = f.Take(t.Context(), from("b"))
	is.NoErr(err)
	is.Equal(wait, time.Duration(0)) // b had none: passes, and now has one
	_, wait, err = f.Take(t.Context(), from("b"))
	is.NoErr(err)
	is.True(wait > 0) // so it is refused next
}

// TestLongKeys: a key of any length is counted (keys are stored as
// digests: a 6 KB one used to overflow the index).
func TestLongKeys(t *testing.T) {
	is := is.New(t)
	f := New(db.Pool, time.Hour)
	b := make([]byte, 5000)
	rand.Read(b)
	k := "email:" + hex.EncodeToString(b)
	_, wait, err := f.Take(t.Context(), Limit{Key: k, Max: 1})
	is.NoErr(err)
	is.Equal(wait, time.Duration(0))
	_, wait, err = f.Take(t.Context(), Limit{Key: k, Max: 1})
	is.NoErr(err)
	is.True(wait > 0) // counted
	_, wait, err = f.Take(t.Context(), Limit{Key: k + "x", Max: 1})
	is.NoErr(err)
	is.Equal(wait, time.Duration(0)) // and told apart from a key that differs past the index's limit
}

// TestNoLimitsCountNothing: limits of 0 are off, and an attempt under none
// costs no row.
func TestNoLimitsCountNothing(t *testing.T) {
	is := is.New(t)
	f := New(db.Pool, time.Hour)
	k := unique("client")
	for range 3 {
		a, wait, err := f.Take(t.Context(), Limit{Key: k, Max: 0})
		is.NoErr(err)
		is.Equal(wait, time.Duration(0))
		is.Equal(len(a.ids), 0)
	}
}

// TestExpiredAttemptsAreDeleted: attempts that have left the window are
// deleted as new ones come.
func TestExpiredAttemptsAreDeleted(t *testing.T) {
	is := is.New(t)
	own := testdb.New(t) // a table of its own, to count everything in it
	f := New(own.Pool, time.Minute)
	_, err := own.Pool.Exec(t.Context(), `INSERT INTO login_attempts (key, attempted_at)
		SELECT sha256(i::text::bytea), now() - interval '2 minutes' FROM generate_series(1, 30) AS i`)
	is.NoErr(err)
	_, wait, err := f.Take(t.Context(), Limit{Key: unique("client"), Max: 5})
	is.NoErr(err)
	is.Equal(wait, time.Duration(0))
	var rows int
	is.NoErr(own.Pool.QueryRow(t.Context(), `SELECT count(*) FROM login_attempts`).Scan(&rows))
	is.Equal(rows, 1) // the new attempt, the expired ones gone
}
