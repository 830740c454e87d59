package http

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/jobboard/jobboard/auth"
	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	callerKey
	clientKey
	errorPagesKey
)

// saneID is what a client-supplied request id may look like to be echoed.
var saneID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestID gives every request an id (the client's own, when it is sane),
// echoes it in X-Request-Id and records it as the request_id of the events
// the request appends. Their correlation id is one the service makes, and
// their causation id stays empty (a person's request, not an event, caused
// them): a client that chose those could tie its events to another
// request's, or to an event of the log, and mislead whoever traces them.
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		own := uuid.Must(uuid.NewV7()).String()
		id := r.Header.Get("X-Request-Id")
		if !saneID.MatchString(id) {
			id = own
		}
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		ctx = eventstore.WithMetadata(ctx, eventstore.Metadata{RequestID: id, CorrelationID: own})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// statusRecorder remembers the status a handler sent, for the log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests logs one line per request.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		s.Logger.InfoContext(r.Context(), "request",
			"method", r.Method, "path", r.URL.Path, "status", rec.status, "client", s.clientAddr(r),
			"duration", time.Since(start),
			"request_id", requestIDFrom(r.Context()))
	})
}

// recoverPanics turns a panic into a logged 500 instead of a dropped
// connection.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.ErrorContext(r.Context(), "panic in handler", "panic", v, "stack", string(debug.Stack()))
				writeError(w, s.withErrorPages(r), s.Logger, domain.Errorf(domain.KindInternal, "panic"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// client is what the API knows of a request's client.
type client struct {
	key    string // see clientKeyOf
	https  bool
	server *Server
}

// identifyClient puts in the request's context who the client is, as the
// per-client limits count it, and whether it came over HTTPS, for the
// pages (package web; see ClientKey and ViaHTTPS). For a request to one of
// the UI's paths, it also has errors answered as the UI's pages.
func (s *Server) identifyClient(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &client{key: s.clientKey(r), https: s.viaHTTPS(r), server: s}
		r = s.withErrorPages(r.WithContext(context.WithValue(r.Context(), clientKey, c)))
		next.ServeHTTP(w, r)
	})
}

// viaHTTPS reports whether r came over TLS: to this server, or to a
// trusted proxy that says so in X-Forwarded-Proto (the last value, which
// the nearest proxy wrote). Anyone else's X-Forwarded-Proto proves nothing.
func (s *Server) viaHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	peer, ok := parseHop(r.RemoteAddr)
	if !ok || !isTrusted(peer, s.TrustedProxies) {
		return false
	}
	values := strings.Split(strings.Join(r.Header.Values("X-Forwarded-Proto"), ","), ",")
	return strings.EqualFold(strings.TrimSpace(values[len(values)-1]), "https")
}

// withErrorPages has the errors of a request to the UI's paths answered by
// the UI, when it writes error pages of its own.
func (s *Server) withErrorPages(r *http.Request) *http.Request {
	pages, ok := s.UI.(ErrorPageWriter)
	if !ok || !isUIPath(r.URL.Path) {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), errorPagesKey, pages))
}

// ClientKey is the client of the request ctx belongs to as every
// per-client limit counts it (its address, or its /64 for IPv6, behind
// the trusted proxies), for the pages' sign-in, which must be throttled
// as POST /login is. It is "" outside the API's middleware.
func ClientKey(ctx context.Context) string {
	if c, ok := ctx.Value(clientKey).(*client); ok {
		return c.key
	}
	return ""
}

// ViaHTTPS reports whether the request ctx belongs to came over HTTPS,
// to this server or to a trusted proxy that said so: the pages mark their
// session cookie Secure then.
func ViaHTTPS(ctx context.Context) bool {
	c, ok := ctx.Value(clientKey).(*client)
	return ok && c.https
}

// AllowRegistration counts a registration against the request's client,
// as POST /register does (REGISTER_MAX_PER_CLIENT), and returns the 429
// to answer when it has made too many; the sign-up page calls it, so that
// it is no way around the limit.
func AllowRegistration(ctx context.Context) error {
	c, ok := ctx.Value(clientKey).(*client)
	if !ok {
		return nil
	}
	return c.server.allowRegistration(c.key)
}

// routeUI sends the pages (Deps.UI) their paths, /app and everything under
// /app/, and redirects GET / there: inside the API's middleware, so that
// request ids, logs, limits and common headers apply to pages too, but in
// front of the API's router, whose route table is the API's alone (the
// OpenAPI document describes every route of it).
func (s *Server) routeUI(next http.Handler) http.Handler {
	if s.UI == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			NameRoute(r.Context(), "/")
			http.Redirect(w, r, "/app/", http.StatusSeeOther)
		case isUIPath(r.URL.Path):
			s.UI.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// isUIPath reports whether path is the UI's.
func isUIPath(path string) bool { return path == "/app" || strings.HasPrefix(path, "/app/") }

// commonHeaders sets the headers every answer carries. No API answer is
// stored by a cache, whatever it is (an error included): it may be the
// caller's own, and a public one (a listing, a job) would be stale after
// the next write, which the API promises any client reads at once. The
// pages (/app/) say for themselves what may be kept.
func (s *Server) commonHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if !isUIPath(r.URL.Path) {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// capHeaders answers 431 to a request whose request line and headers are
// longer than Limits.MaxHeaderBytes, counted as they were sent. net/http
// itself only refuses them past a margin, and in plain text.
func (s *Server) capHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if headerSize(r) > s.Limits.MaxHeaderBytes {
			w.Header().Set("Connection", "close")
			writeError(w, r, s.Logger, &requestError{status: http.StatusRequestHeaderFieldsTooLarge,
				detail: fmt.Sprintf("the request line and headers are longer than %d bytes", s.Limits.MaxHeaderBytes)})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// headerSize is the length of a request's request line and headers on the
// wire (HTTP/1.1).
func headerSize(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	if r.Host != "" {
		n += len("Host: ") + len(r.Host) + 2
	}
	for name, values := range r.Header {
		for _, v := range values {
			n += len(name) + 2 + len(v) + 2
		}
	}
	return n + 2
}

// bodyLimits are the routes, by name, whose bodies may be larger than
// maxJSONBody, and their caps.
var bodyLimits = map[string]int64{routeApply: maxApplyBody}

// limitBody caps request bodies, at maxJSONBody unless the matched route
// has a cap of its own in bodyLimits; reading past the cap fails with
// *http.MaxBytesError, which becomes a 413. It is router middleware, so
// that the route is known.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := int64(maxJSONBody)
		if route := mux.CurrentRoute(r); route != nil {
			if n, ok := bodyLimits[route.GetName()]; ok {
				limit = n
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// allowedMethods lists, for an Allow field, the methods of every route whose
// path matches path, whatever else the route matches on: a 405 names all
// the methods of the path. HEAD and OPTIONS are named only if a route takes
// them, as none does: the router answers them 405 too.
func allowedMethods(router *mux.Router, path string) string {
	taken := map[string]bool{}
	_ = router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		methods, err := route.GetMethods()
		if err != nil {
			return nil // a route without methods takes them all and sends no 405
		}
		pattern, err := route.GetPathRegexp()
		if err != nil {
			return nil
		}
		if re, err := regexp.Compile(pattern); err == nil && re.MatchString(path) {
			for _, m := range methods {
				taken[m] = true
			}
		}
		return nil
	})
	return strings.Join(slices.Sorted(maps.Keys(taken)), ", ")
}

// authenticated lets only requests with a valid access token of an account
// that still exists through, with the caller in their context (and as the
// actor of the events they append). The token of an erased account (DELETE
// /me, jobboard forget) is a 401 from the moment of the erasure, however
// long it had left.
func (s *Server) authenticated(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// Before the check, so that a refusal is not stored either.
		w.Header().Set("Cache-Control", "no-store")
		caller, err := s.callerOf(r)
		if err == nil {
			err = s.Commands.CheckActive(r.Context(), caller.UserID)
		}
		if err != nil {
			writeError(w, r, s.Logger, err)
			return
		}
		ctx := context.WithValue(r.Context(), callerKey, caller)
		ctx = eventstore.WithActor(ctx, caller.UserID)
		next(w, r.WithContext(ctx))
	}
}

// maybeAuthenticated serves anonymous requests too, but a request that does
// send a token must send a valid one: a bad token is a 401, not silently
// anonymous.
func (s *Server) maybeAuthenticated(next http.HandlerFunc) http.HandlerFunc {
	authed := s.authenticated(next)
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			next(w, r)
			return
		}
		authed(w, r)
	}
}

var errNoToken = &domain.Error{Kind: domain.KindUnauthorized, Message: "this endpoint needs an access token: send Authorization: Bearer <token> (from POST /login)"}

func (s *Server) callerOf(r *http.Request) (auth.Caller, error) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return auth.Caller{}, errNoToken
	}
	scheme, token, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return auth.Caller{}, &domain.Error{Kind: domain.KindUnauthorized, Message: "the Authorization header must be: Bearer <token>"}
	}
	return s.Tokens.Parse(strings.TrimSpace(token))
}

// callerFrom returns the authenticated caller of a request.
func callerFrom(ctx context.Context) (auth.Caller, bool) {
	c, ok := ctx.Value(callerKey).(auth.Caller)
	return c, ok
}
