package auth

import (
	"context"
	"errors"
	"runtime"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/jobboard/jobboard/domain"
)

// BcryptWait is how long a password waits for a bcrypt slot before the
// request is refused as busy: long enough for a few hashes per slot to
// finish at the default cost (about 0.25 s each), short enough that a
// flood turns into quick 503s rather than a queue that holds every request.
const BcryptWait = time.Second

// ErrBusy refuses a password that found every bcrypt slot taken for
// BcryptWait: a 503 with Retry-After.
var ErrBusy = &domain.Error{
	Kind:       domain.KindUnavailable,
	Message:    "the server is busy checking passwords; try again shortly (see Retry-After)",
	RetryAfter: time.Second,
}

// Passwords hashes and checks passwords with bcrypt, a bounded number at
// once: bcrypt is made to be costly, and without a bound any client could
// spend every core on it.
type Passwords struct {
	cost int
	// decoy is compared against when there is no account, so that an unknown
	// email costs as much time as a wrong password.
	decoy []byte
	// gate holds one slot per core: more would only share the cores and
	// make every computation slower.
	gate *gate
	wait time.Duration
}

// NewPasswords returns a hasher with the given bcrypt cost.
func NewPasswords(cost int) (*Passwords, error) {
	decoy, err := bcrypt.GenerateFromPassword([]byte("decoy password, never matches"), cost)
	if err != nil {
		return nil, err
	}
	return &Passwords{cost: cost, decoy: decoy, gate: newGate(runtime.GOMAXPROCS(0)), wait: BcryptWait}, nil
}

// Hash returns the bcrypt hash of a new account's password. It waits for
// any login that waits for a slot.
func (p *Passwords) Hash(ctx context.Context, password string) (string, error) {
	if err := p.enter(ctx, forRegistration); err != nil {
		return "", err
	}
	defer p.gate.leave()
	h, err := bcrypt.GenerateFromPassword([]byte(password), p.cost)
	return string(h), err
}

// Check reports whether password matches hash. An empty hash (no such
// account) is checked against a decoy so it takes as long and fails.
func (p *Passwords) Check(ctx context.Context, hash, password string) (bool, error) {
	if err := p.enter(ctx, forLogin); err != nil {
		return false, err
	}
	defer p.gate.leave()
	h := []byte(hash)
	if hash == "" {
		h = p.decoy
	}
	err := bcrypt.CompareHashAndPassword(h, []byte(password))
	switch {
	case err == nil:
		return hash != "", nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	default:
		return false, err
	}
}

func (p *Passwords) enter(ctx context.Context, pr priority) error {
	err := p.gate.enter(ctx, pr, p.wait)
	if errors.Is(err, errGateFull) {
		return ErrBusy
	}
	return err
}
