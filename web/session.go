package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	api "github.com/jobboard/jobboard/http"

	"github.com/jobboard/jobboard/auth"
	"github.com/jobboard/jobboard/domain"
)

// sessionCookie is the cookie that holds a sign-in.
const sessionCookie = "jobboard_session"

// sessionVersion starts every cookie value: a change of format makes the
// old cookies unreadable, which signs their browsers out, nothing worse.
const sessionVersion = "v1"

// session is a signed-in account, as its cookie says. The name is there
// for the navigation, which shows it on every page without a query; an
// account's name never changes.
type session struct {
	UserID  uuid.UUID
	Role    domain.Role
	Name    string
	Expires time.Time
}

// Caller is the session as commands take a caller.
func (s *session) Caller() auth.Caller { return auth.Caller{UserID: s.UserID, Role: s.Role} }

// IsJobSeeker and IsRecruiter are for the templates.
func (s *session) IsJobSeeker() bool { return s.Role == domain.RoleJobSeeker }
func (s *session) IsRecruiter() bool { return s.Role == domain.RoleRecruiter }

// sessions signs and reads session cookies. A cookie's value is its
// claims (JSON, base64url) and their HMAC-SHA256; it holds nothing
// secret, only nothing anyone can forge, and it expires by itself. The
// server keeps no state: signing out removes the cookie from the browser,
// and a copy taken before that lives until it expires.
type sessions struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

// sessionClaims are a cookie's contents.
type sessionClaims struct {
	UserID  uuid.UUID `json:"u"`
	Role    string    `json:"r"`
	Name    string    `json:"n"`
	Expires int64     `json:"e"`
}

// newSessions derives the cookies' key from the service's secret, so that
// the same secret never signs two kinds of thing: no JWT verifies as a
// cookie, no cookie as a JWT.
func newSessions(secret []byte, ttl time.Duration) *sessions {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("jobboard web session cookie " + sessionVersion))
	return &sessions{key: mac.Sum(nil), ttl: ttl, now: time.Now}
}

func (ss *sessions) sign(payload string) string {
	mac := hmac.New(sha256.New, ss.key)
	mac.Write([]byte(sessionVersion + "." + payload))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// encode makes the cookie value of a new session for an account.
func (ss *sessions) encode(id uuid.UUID, role domain.Role, name string) (string, time.Time) {
	expires := ss.now().Add(ss.ttl)
	b, _ := json.Marshal(sessionClaims{UserID: id, Role: role.String(), Name: name, Expires: expires.Unix()})
	payload := base64.RawURLEncoding.EncodeToString(b)
	return sessionVersion + "." + payload + "." + ss.sign(payload), expires
}

// decode returns the session a cookie value holds, or nil when it is not
// one this service signed, or has expired.
func (ss *sessions) decode(value string) *session {
	version, rest, ok := strings.Cut(value, ".")
	if !ok || version != sessionVersion {
		return nil
	}
	payload, mac, ok := strings.Cut(rest, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(ss.sign(payload))) {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil
	}
	var c sessionClaims
	if json.Unmarshal(b, &c) != nil || c.UserID == uuid.Nil {
		return nil
	}
	expires := time.Unix(c.Expires, 0)
	role, err := domain.ParseRole(c.Role)
	if err != nil || !ss.now().Before(expires) {
		return nil
	}
	return &session{UserID: c.UserID, Role: role, Name: c.Name, Expires: expires}
}

// read returns the request's session, or nil.
func (ss *sessions) read(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	return ss.decode(c.Value)
}

// start signs the browser in as an account.
func (ss *sessions) start(w http.ResponseWriter, r *http.Request, id uuid.UUID, role domain.Role, name string) {
	value, expires := ss.encode(id, role, name)
	http.SetCookie(w, ss.cookie(r, value, expires))
}

// end signs the browser out.
func (ss *sessions) end(w http.ResponseWriter, r *http.Request) {
	c := ss.cookie(r, "", time.Unix(0, 0))
	c.MaxAge = -1
	http.SetCookie(w, c)
}

// cookie is the session cookie with value: for the pages only (Path), out
// of reach of scripts (HttpOnly, and there are none), not sent with
// requests that other sites start, except top-level navigations (Lax: a
// link to an application in the recruiter's mail opens signed in), and
// over HTTPS only when the browser uses it (Secure; see api.ViaHTTPS).
func (ss *sessions) cookie(r *http.Request, value string, expires time.Time) *http.Cookie {
	return &http.Cookie{
		Name: sessionCookie, Value: value, Path: "/app/",
		Expires: expires, MaxAge: int(time.Until(expires).Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil || api.ViaHTTPS(r.Context()),
	}
}

// localNext returns next when it is a page of this service to go to after
// signing in, and "" otherwise: only a path under /app/, which no browser
// can read as another origin (no //host, no backslash, which browsers take
// for a slash, no scheme, no control characters) nor resolve to a path
// outside /app/ (no dot segments, encoded or not).
func localNext(next string) string {
	if len(next) > 2000 || !strings.HasPrefix(next, "/app/") {
		return ""
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return ""
		}
	}
	lower := strings.ToLower(next)
	if strings.Contains(next, "..") || strings.Contains(lower, "%2e") || strings.Contains(lower, "%5c") {
		return ""
	}
	if p, err := url.Parse(next); err != nil || p.Scheme != "" || p.Host != "" {
		return ""
	}
	return next
}
