// Package http is the REST API: it turns requests into commands and queries
// and errors into problem+json, and does nothing else.
package http

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jobboard/jobboard/auth"
	"github.com/jobboard/jobboard/commands"
	"github.com/jobboard/jobboard/projections"
	"github.com/jobboard/jobboard/webhooks"
)

// Deps are what the API needs from the rest of the application.
type Deps struct {
	Commands *commands.Handlers
	Users    projections.UsersView
	Jobs     projections.JobsView
	// Applications reads applications and resumes.
	Applications projections.ApplicationsView
	Tokens       *auth.Tokens
	// Ready reports why the service is not ready to serve, or nil.
	Ready func(ctx context.Context) error
	// Metrics is the Prometheus registry served at /metrics (nil: an
	// empty one).
	Metrics *prometheus.Registry
	Logger  *slog.Logger
	// Limits protect the server from slow, large and numerous requests.
	Limits Limits
	// TrustedProxies are the proxies whose X-Forwarded-For says who the
	// client is; without them the client is the TCP peer.
	TrustedProxies []netip.Prefix
	// CORSOrigins are the origins that browsers may call the API from
	// (exact, such as https://jobs.example.com); none: CORS is off.
	CORSOrigins []string
	// UI serves the pages (package web, which this package does not
	// import): /app and everything under /app/, with GET / redirected
	// there (see routeUI). Nil: no pages, and those paths are the API's
	// 404s. When it is an ErrorPageWriter, the errors of its paths are its
	// pages.
	UI http.Handler
	// MetricsElsewhere keeps /metrics off the API's port: the registry is
	// served on a listener of its own (METRICS_ADDR), which need not be
	// public.
	MetricsElsewhere bool
	// Webhooks keeps the recruiters' webhook subscriptions and shows their
	// deliveries (nil: the /webhooks routes answer 404).
	Webhooks *webhooks.Store
}

// Limits are the server's timeouts and caps. A zero timeout or header cap
// takes its value from DefaultLimits; a zero rate or registration count
// sets no limit.
type Limits struct {
	// ReadHeaderTimeout bounds the reading of a request's headers: a client
	// that trickles them (slowloris) is cut off then.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the reading of a whole request, body included, and
	// WriteTimeout the time from the end of its headers to the end of the
	// answer: both must fit the largest upload (a 5 MiB resume) on a slow
	// link.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection waits for its next
	// request.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps the request line and headers (431 beyond).
	MaxHeaderBytes int
	// WriteRate is the POST, PUT, PATCH and DELETE requests per second that
	// one client address may send on average, WriteBurst how many at once
	// (429 beyond).
	WriteRate  float64
	WriteBurst int
	// ReadRate is the GET and HEAD requests per second that one client
	// may send on average, ReadBurst how many at once (429 beyond); the
	// health and metrics endpoints are not counted.
	ReadRate  float64
	ReadBurst int
	// RegisterPerClient is how many registrations one client may attempt
	// at once, which come back over 15 minutes (429 beyond).
	RegisterPerClient int
}

// DefaultLimits are the service's limits when its configuration does not
// set them (a Server made with zero Limits takes their timeouts and header
// cap, but no rate limits). 60 s to read a request is a 5 MiB resume at about 700 kbit/s; the answer
// has 15 s more, so that an upload that arrives just in time still gets one.
var DefaultLimits = Limits{
	ReadHeaderTimeout: 5 * time.Second,
	ReadTimeout:       60 * time.Second,
	WriteTimeout:      75 * time.Second,
	IdleTimeout:       2 * time.Minute,
	MaxHeaderBytes:    64 << 10,
	WriteRate:         100,
	WriteBurst:        200,
	// Generous: the limit is there to keep one client from taking the
	// service, not to shape normal use. A person, an office of them behind
	// one address, or a script paging through every job reads far less
	// than 200 times a second, and 400 at once covers any page; yet one
	// client cannot take much more than a third of what two cores serve
	// (bench/jobs: about 550 listings a second).
	ReadRate:  200,
	ReadBurst: 400,
	// A person registers once; 100 covers a classroom or an office behind
	// one address, while a flood of registrations, each a bcrypt, stops.
	RegisterPerClient: 100,
}

// withDefaults fills in the zero timeouts and caps.
func (l Limits) withDefaults() Limits {
	fill := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	fill(&l.ReadHeaderTimeout, DefaultLimits.ReadHeaderTimeout)
	fill(&l.ReadTimeout, DefaultLimits.ReadTimeout)
	fill(&l.WriteTimeout, DefaultLimits.WriteTimeout)
	fill(&l.IdleTimeout, DefaultLimits.IdleTimeout)
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultLimits.MaxHeaderBytes
	}
	return l
}

// Server serves the API.
type Server struct {
	Deps
	server *http.Server
	ln     net.Listener
	router *mux.Router
	// writes, reads and registrations limit each client's requests of
	// each kind; nil: no limit.
	writes, reads, registrations *clientLimiter
	requests                     *requestMetrics
}

// NewServer returns a server with every route registered.
func NewServer(deps Deps) *Server {
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	deps.Limits = deps.Limits.withDefaults()
	if deps.Metrics == nil {
		deps.Metrics = prometheus.NewRegistry()
	}
	s := &Server{Deps: deps, router: mux.NewRouter(), writes: newClientLimiter(deps.Limits.WriteRate, deps.Limits.WriteBurst),
		reads: newClientLimiter(deps.Limits.ReadRate, deps.Limits.ReadBurst), registrations: newRegisterLimiter(deps.Limits.RegisterPerClient)}
	s.requests = newRequestMetrics(deps.Metrics)
	s.routes()
	s.server = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: deps.Limits.ReadHeaderTimeout,
		ReadTimeout:       deps.Limits.ReadTimeout,
		WriteTimeout:      deps.Limits.WriteTimeout,
		IdleTimeout:       deps.Limits.IdleTimeout,
		// net/http reads up to 4 KiB past this before it answers 431 by
		// itself, in plain text; capHeaders answers the requests in
		// between, with problem+json, so that the cap is exact.
		MaxHeaderBytes: deps.Limits.MaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(deps.Logger.Handler(), slog.LevelWarn),
	}
	return s
}

// routes is the API's one route table.
func (s *Server) routes() {
	r := s.router
	r.HandleFunc("/register", s.handleRegister).Methods(http.MethodPost)
	r.HandleFunc("/login", s.handleLogin).Methods(http.MethodPost)
	r.HandleFunc("/me", s.authenticated(s.handleMe)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/me", s.authenticated(s.handleDeleteMe)).Methods(http.MethodDelete)
	r.HandleFunc("/me/export", s.authenticated(s.handleExport)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/jobs", s.authenticated(s.handlePostJob)).Methods(http.MethodPost)
	r.HandleFunc("/jobs", s.maybeAuthenticated(s.handleListJobs)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/jobs/{id}", s.maybeAuthenticated(s.handleGetJob)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/jobs/{id}", s.authenticated(s.handlePatchJob)).Methods(http.MethodPatch)
	r.HandleFunc("/jobs/{id}", s.authenticated(s.handlePutJob)).Methods(http.MethodPut)
	r.HandleFunc("/jobs/{id}", s.authenticated(s.handleDeleteJob)).Methods(http.MethodDelete)
	r.HandleFunc("/jobs/{id}/history", s.authenticated(s.handleJobHistory)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/jobs/{id}/apply", s.authenticated(s.handleApply)).Methods(http.MethodPost).Name(routeApply)
	r.HandleFunc("/jobs/{id}/applications", s.authenticated(s.handleJobApplications)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/applications/{id}", s.authenticated(s.handleGetApplication)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/applications/{id}", s.authenticated(s.handleMoveApplication)).Methods(http.MethodPatch)
	r.HandleFunc("/applications/{id}/history", s.authenticated(s.handleApplicationHistory)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/applications/{id}/resume", s.authenticated(s.handleGetResume)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/me/applications", s.authenticated(s.handleMyApplications)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/webhooks", s.authenticated(s.handleCreateWebhook)).Methods(http.MethodPost)
	r.HandleFunc("/webhooks", s.authenticated(s.handleListWebhooks)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/webhooks/{id}", s.authenticated(s.handleGetWebhook)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/webhooks/{id}", s.authenticated(s.handleDeleteWebhook)).Methods(http.MethodDelete)
	r.HandleFunc("/webhooks/{id}/deliveries", s.authenticated(s.handleWebhookDeliveries)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/healthz", s.handleHealthz).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/readyz", s.handleReadyz).Methods(http.MethodGet, http.MethodHead)
	if !s.MetricsElsewhere {
		r.Handle("/metrics", s.MetricsHandler()).Methods(http.MethodGet, http.MethodHead)
	}
	r.HandleFunc("/openapi.yaml", s.handleOpenAPI).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/docs", s.handleDocs).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/docs/redoc.standalone.js", s.handleDocsScript).Methods(http.MethodGet, http.MethodHead)

	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, s.Logger, errNoRoute)
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(s.handleMethodNotAllowed)
	// Bodies are capped once a route is known, so that an upload route can
	// have a larger cap than the JSON ones.
	r.Use(s.limitBody)
	r.Use(nameRoute)
}

// MetricsHandler serves the registry in Prometheus's text format.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.Metrics, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn)})
}

// Handler is the API with its middleware, for tests and for the server.
func (s *Server) Handler() http.Handler {
	return s.recoverPanics(s.requestID(s.identifyClient(s.requests.measure(s.logRequests(s.commonHeaders(s.cors(s.capHeaders(s.limitRate(s.routeUI(s.router))))))))))
}

// Open starts listening on addr (":0" picks a free port) and serves in the
// background.
func (s *Server) Open(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.ln = ln
	go func() {
		if err := s.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Logger.Error("http server stopped", "err", err)
		}
	}()
	return nil
}

// Addr is the address the server listens on, once open.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Close stops accepting connections and waits for in-flight requests until
// ctx ends.
func (s *Server) Close(ctx context.Context) error {
	return s.server.Shutdown(ctx)
}

// handleMethodNotAllowed answers a known path with the wrong method, naming
// every method the path takes in a single Allow line: clients that read
// one line of a repeated field (Postman keeps the last) saw only POST for
// DELETE /jobs when each method had a line of its own.
func (s *Server) handleMethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", allowedMethods(s.router, r.URL.Path))
	writeError(w, r, s.Logger, errMethodNotAllowed)
}
