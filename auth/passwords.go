package auth

import (
	"errors"

	"golang.org/x/crypto/bcrypt"
)

// Passwords hashes and checks passwords with bcrypt.
type Passwords struct {
	cost int
	// decoy is compared against when there is no account, so that an unknown
	// email costs as much time as a wrong password.
	decoy []byte
}

// NewPasswords returns a hasher with the given bcrypt cost.
func NewPasswords(cost int) (*Passwords, error) {
	decoy, err := bcrypt.GenerateFromPassword([]byte("decoy password, never matches"), cost)
	if err != nil {
		return nil, err
	}
	return &Passwords{cost: cost, decoy: decoy}, nil
}

// Hash returns the bcrypt hash of password.
func (p *Passwords) Hash(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), p.cost)
	return string(h), err
}

// Check reports whether password matches hash. An empty hash (no such
// account) is checked against a decoy so it takes as long and fails.
func (p *Passwords) Check(hash, password string) (bool, error) {
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
