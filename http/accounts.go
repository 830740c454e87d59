package http

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/jobboard/jobboard/auth"
	"github.com/jobboard/jobboard/commands"
	"github.com/jobboard/jobboard/domain"
)

// userJSON is an account as the API shows it.
type userJSON struct {
	ID        uuid.UUID `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Company   *string   `json:"company"`
	CreatedAt time.Time `json:"created_at"`
}

func newUserJSON(id uuid.UUID, email, name string, role domain.Role, company string, created time.Time) userJSON {
	u := userJSON{ID: id, Email: email, Name: name, Role: role.String(), CreatedAt: created.UTC().Truncate(time.Second)}
	if company != "" {
		u.Company = &company
	}
	return u
}

func userFromDomain(u *domain.User) userJSON {
	return newUserJSON(u.ID(), u.Email(), u.Name(), u.Role(), u.Company(), u.RegisteredAt())
}

// handleRegister handles the "POST /register" route. Every attempt counts
// against the client's registrations, whatever its outcome: each may cost
// a bcrypt.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	if err := s.allowRegistration(s.clientKey(r)); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	var req struct {
		Email    string  `json:"email"`
		Password string  `json:"password"`
		Name     string  `json:"name"`
		Role     string  `json:"role"`
		Company  *string `json:"company"`
	}
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	user, err := s.Commands.RegisterUser(r.Context(), commands.RegisterUser{
		Email: req.Email, Password: req.Password, Name: req.Name, Role: req.Role, Company: req.Company,
	})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	created(w, "/users/"+user.ID().String(), userFromDomain(user))
}

// allowRegistration takes one of client's registrations, or returns the
// 429 to answer when it has none left.
func (s *Server) allowRegistration(client string) error {
	if s.registrations == nil {
		return nil
	}
	if ok, wait := s.registrations.allow(client); !ok {
		return &domain.Error{
			Kind:       domain.KindTooManyRequests,
			Message:    "too many registrations from this client address; wait before trying again (see Retry-After)",
			RetryAfter: max(wait, time.Second),
		}
	}
	return nil
}

// handleLogin handles the "POST /login" route. No answer of it is stored:
// the good ones carry a token.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	var req struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	user, err := s.Commands.LogIn(r.Context(), req.Email, req.Password, s.clientKey(r))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	token, err := s.Tokens.Issue(auth.Caller{UserID: user.ID(), Role: user.Role()})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	ok(w, struct {
		AccessToken string   `json:"access_token"`
		TokenType   string   `json:"token_type"`
		ExpiresIn   int      `json:"expires_in"`
		User        userJSON `json:"user"`
	}{token, "Bearer", int(s.Tokens.TTL().Seconds()), userFromDomain(user)})
}

// handleMe handles the "GET /me" route.
func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	caller, _ := callerFrom(r.Context())
	u, err := s.Users.Get(r.Context(), caller.UserID)
	if domain.KindOf(err) == domain.KindNotFound {
		err = &domain.Error{Kind: domain.KindUnauthorized, Message: "the access token names an account that does not exist"}
	}
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	ok(w, newUserJSON(u.ID, u.Email, u.Name, u.Role, u.Company, u.CreatedAt))
}

// clientAddr is the address the request came from (see clientAddrOf).
func (s *Server) clientAddr(r *http.Request) string {
	return clientAddrOf(r, s.TrustedProxies)
}

// clientKey is the client as every per-client limit counts it: its
// address, or its /64 for IPv6 (see clientKeyOf).
func (s *Server) clientKey(r *http.Request) string {
	if key := ClientKey(r.Context()); key != "" {
		return key // worked out once per request, by identifyClient
	}
	return clientKeyOf(s.clientAddr(r))
}
