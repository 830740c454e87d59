// Package auth issues and checks access tokens and hashes passwords.
package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/jobboard/jobboard/domain"
)

// Caller is who is making a request, as an access token proves it.
type Caller struct {
	UserID uuid.UUID
	Role   domain.Role
}

// claims are the access token's claims: sub, role, iat, exp, iss.
type claims struct {
	jwt.RegisteredClaims
	Role string `json:"role"`
}

// Tokens issues and verifies HS256 access tokens.
type Tokens struct {
	secret []byte
	issuer string
	ttl    time.Duration
	now    func() time.Time
}

// NewTokens returns tokens signed with secret that live for ttl.
func NewTokens(secret []byte, issuer string, ttl time.Duration) *Tokens {
	return &Tokens{secret: secret, issuer: issuer, ttl: ttl, now: time.Now}
}

// TTL is how long an issued token is valid.
func (t *Tokens) TTL() time.Duration { return t.ttl }

// Issue returns a signed token for the caller.
func (t *Tokens) Issue(c Caller) (string, error) {
	now := t.now()
	token := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   c.UserID.String(),
			Issuer:    t.issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
		},
		Role: c.Role.String(),
	})
	return token.SignedString(t.secret)
}

// Parse verifies a token and returns its caller. Only HS256 is accepted,
// whatever the token's header claims; the issuer and expiry are required.
func (t *Tokens) Parse(token string) (Caller, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c,
		func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(t.issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil {
		return Caller{}, unauthorized(tokenProblem(err), err)
	}
	id, err := uuid.Parse(c.Subject)
	if err != nil {
		return Caller{}, unauthorized("the access token names no valid user", err)
	}
	role, err := domain.ParseRole(c.Role)
	if err != nil {
		return Caller{}, unauthorized("the access token names no valid role", err)
	}
	return Caller{UserID: id, Role: role}, nil
}

func tokenProblem(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the access token has expired; log in again"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the access token is malformed"
	default:
		return "the access token is not valid"
	}
}

func unauthorized(msg string, err error) error {
	return &domain.Error{Kind: domain.KindUnauthorized, Message: msg, Err: fmt.Errorf("token: %w", err)}
}
