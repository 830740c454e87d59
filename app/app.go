package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jobboard/jobboard/auth"
	"github.com/jobboard/jobboard/bus"
	"github.com/jobboard/jobboard/commands"
	"github.com/jobboard/jobboard/eventstore"
	jbhttp "github.com/jobboard/jobboard/http"
	"github.com/jobboard/jobboard/mailer"
	"github.com/jobboard/jobboard/postgres"
	"github.com/jobboard/jobboard/projections"
	"github.com/jobboard/jobboard/web"
	"github.com/jobboard/jobboard/webhooks"
)

// TokenIssuer is the iss claim of the service's access tokens.
const TokenIssuer = "jobboard"

// App is one running job board process.
type App struct {
	cfg Config
	log *slog.Logger

	Pool    *pgxpool.Pool
	Store   *eventstore.Store
	Tracker *projections.Tracker
	Server  *jbhttp.Server
	// Metrics is the process's Prometheus registry, served at /metrics.
	Metrics *prometheus.Registry
	// Replicas are the read replicas (DATABASE_READ_URLS) an API process
	// reads from; nil without any.
	Replicas *postgres.Replicas

	router *message.Router
	pprof  *http.Server
	// metrics serves MetricsAddr, when set; metricsAddr is where.
	metrics        *http.Server
	metricsAddr    string
	consumerErrors *consumerErrors
	// webhooksQueued wakes the webhook workers when the webhook handler
	// of this process has queued deliveries.
	webhooksQueued *bus.Signal
	stop           context.CancelFunc
	wg             sync.WaitGroup
}

// New returns an app for cfg; Run starts it.
func New(cfg Config, log *slog.Logger) *App {
	return &App{cfg: cfg, log: log}
}

// Run connects to the database (creating and migrating it as needed) and
// starts the parts of the service cfg.Role names. It returns once they are
// running; Close stops them.
func (a *App) Run(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if a.cfg.JWTSecretGenerated && a.cfg.Role.runsAPI() {
		a.log.Warn("JWT_SECRET is not set: using a random secret, so tokens stop working when this process stops and are not accepted by other instances")
	}
	keys, err := Keyring(a.cfg, a.log, true)
	if err != nil {
		return err
	}
	if err = postgres.Setup(ctx, a.cfg.MigrateDatabaseURL, a.cfg.DatabaseURL); err != nil {
		return err
	}
	if err = postgres.SealPersonalData(ctx, a.cfg.MigrateDatabaseURL, keys, a.log); err != nil {
		return err
	}
	if a.Pool, err = postgres.Open(ctx, a.cfg.DatabaseURL); err != nil {
		return err
	}
	can, err := postgres.CheckService(ctx, a.Pool)
	if err != nil {
		return err
	}
	if len(can) > 0 {
		a.log.Warn("the service's database role can rewrite the event log: run it as a restricted role (DATABASE_URL) and migrate as the owner (MIGRATE_DATABASE_URL)",
			"role", a.Pool.Config().ConnConfig.User, "can", strings.Join(can, "; "))
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	a.stop = stop

	relay := bus.NewRelay(a.Pool, a.log)
	a.wg.Add(1)
	go func() { defer a.wg.Done(); relay.Run(bg) }()

	a.Store = eventstore.New(a.Pool, eventstore.OnAppended(relay.Appended), eventstore.WithKeyring(keys))
	a.Tracker = projections.NewTracker(a.Pool, relay, a.cfg.ConsistencyTimeout)
	a.Metrics = prometheus.NewRegistry()
	a.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo(a.cfg.Role), newConsumersCollector(a.Pool, a.log), newPoolCollector(a.Pool))
	a.consumerErrors = newConsumerErrors()
	a.Metrics.MustRegister(a.consumerErrors.total, a.consumerErrors.last)

	if a.cfg.Role.runsWorkers() {
		// The mailer's handler tells the workers beside it what it queued.
		due := mailer.NewDue()
		a.webhooksQueued = bus.NewSignal()
		if err = a.startRouter(ctx, relay, due); err != nil {
			return err
		}
		if err = a.startMailer(bg, due); err != nil {
			return err
		}
		a.startWebhooks(bg)
	}
	if a.cfg.PprofAddr != "" {
		if err = a.startPprof(); err != nil {
			return err
		}
	}
	if a.cfg.MetricsAddr != "" {
		if err = a.startMetrics(); err != nil {
			return err
		}
	}
	if a.cfg.Role.runsAPI() {
		passwords, err := auth.NewPasswords(a.cfg.BcryptCost)
		if err != nil {
			return err
		}
		// The pages and the API run the same commands over the same views:
		// one set of each, so that they share the account cache and every
		// limit the commands keep.
		var reads projections.Reader = a.Pool
		var waiter commands.Waiter = a.Tracker
		if len(a.cfg.DatabaseReadURLs) > 0 {
			if a.Replicas, err = postgres.OpenReplicas(ctx, a.Pool, a.cfg.DatabaseReadURLs,
				postgres.ReplicaOptions{MaxLag: a.cfg.ReplicaMaxLag, Log: a.log}); err != nil {
				return err
			}
			a.Metrics.MustRegister(newReplicasCollector(a.Replicas))
			reads = a.Replicas.Reads()
			waiter = replicatedWaiter{a.Tracker, a.Replicas}
		}
		cmds := commands.New(a.Store, a.Pool, waiter, passwords, a.cfg.LoginLimits)
		cmds.AddForgetters(Forgetters(a.cfg)...)
		users, jobs, applications := projections.NewUsersView(reads), projections.NewJobsView(reads), projections.NewApplicationsView(reads)
		ui, err := web.New(web.Deps{
			Commands: cmds, Users: users, Jobs: jobs, Applications: applications,
			SessionSecret: a.cfg.JWTSecret, BaseURL: a.cfg.Mail.BaseURL, Logger: a.log,
		})
		if err != nil {
			return err
		}
		a.Server = jbhttp.NewServer(jbhttp.Deps{
			Commands:       cmds,
			Users:          users,
			Jobs:           jobs,
			Applications:   applications,
			Webhooks:       webhooks.NewStore(a.Pool, a.cfg.Webhooks.AllowPrivate),
			UI:             ui,
			Tokens:         auth.NewTokens(a.cfg.JWTSecret, TokenIssuer, a.cfg.JWTTTL),
			Ready:          a.ready,
			Metrics:        a.Metrics,
			Logger:         a.log,
			Limits:         a.cfg.HTTPLimits,
			TrustedProxies: a.cfg.TrustedProxies,
			CORSOrigins:    a.cfg.CORSAllowedOrigins,
			// With a listener of their own, metrics are not public.
			MetricsElsewhere: a.cfg.MetricsAddr != "",
		})
		if err = a.Server.Open(a.cfg.HTTPAddr); err != nil {
			return fmt.Errorf("listen on %s: %w", a.cfg.HTTPAddr, err)
		}
		a.log.Info("serving the API", "addr", a.Server.Addr())
	}
	return nil
}

func (a *App) startRouter(ctx context.Context, relay *bus.Relay, due *mailer.Due) error {
	logger := watermill.NewSlogLoggerWithLevelMapping(a.log, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: a.cfg.ShutdownTimeout}, logger)
	if err != nil {
		return err
	}
	router.AddMiddleware(middleware.Recoverer, a.consumerErrors.Middleware)
	cfg := bus.SubscriberConfig{IdlePoll: a.cfg.IdlePoll, Keys: a.Store.Keys()}
	if err := projections.Register(router, a.Pool, relay, cfg, projections.All()...); err != nil {
		return err
	}
	if err := mailer.Register(router, a.Pool, relay, cfg, due); err != nil {
		return err
	}
	if err := webhooks.Register(router, a.Pool, a.Store, relay, cfg, a.webhooksQueued); err != nil {
		return err
	}
	a.router = router
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := router.Run(context.Background()); err != nil {
			a.log.Error("message router stopped", "err", err)
		}
	}()
	select {
	case <-router.Running():
	case <-ctx.Done():
		return ctx.Err()
	}
	a.log.Info("projectors running", "projections", len(projections.All()))
	return nil
}

// startMailer starts the workers that send the queued mails. They run
// outside the message router: the router's handler only queues, in its
// transaction, and the sending happens here, holding no transaction.
func (a *App) startMailer(ctx context.Context, due *mailer.Due) error {
	m := a.cfg.Mail
	sender, err := mailer.NewSender(m.SMTPURL, m.Dir, m.SendTimeout, a.log)
	if err != nil {
		return err
	}
	queue := mailer.NewQueue(a.Pool)
	worker := mailer.NewWorker(queue, sender, mailer.LogSource{Store: a.Store, Pool: a.Pool},
		due, mailer.WorkerConfig{
			From: m.From, BaseURL: m.BaseURL, Concurrency: m.Concurrency, SendTimeout: m.SendTimeout,
			MinBackoff: m.MinBackoff, MaxBackoff: m.MaxBackoff,
		}, mailer.NewMetrics(a.Metrics, queue), a.log.With("component", "mailer"))
	a.wg.Add(1)
	go func() { defer a.wg.Done(); worker.Run(ctx) }()
	a.log.Info("mailer running", "to", sender.String())
	return nil
}

// startWebhooks starts the workers that send the queued webhooks. Like the
// mailer's, they run outside the message router and hold no transaction
// while they call a receiver.
func (a *App) startWebhooks(ctx context.Context) {
	c := a.cfg.Webhooks
	queue := webhooks.NewQueue(a.Pool)
	worker := webhooks.NewWorker(queue, a.webhooksQueued, webhooks.WorkerConfig{
		RetrySchedule: c.RetrySchedule, Timeout: c.Timeout, Concurrency: c.Workers, AllowPrivate: c.AllowPrivate,
	}, webhooks.NewMetrics(a.Metrics, queue), a.log.With("component", "webhooks"))
	a.wg.Add(1)
	go func() { defer a.wg.Done(); worker.Run(ctx) }()
	if c.AllowPrivate {
		a.log.Warn("WEBHOOK_ALLOW_PRIVATE is set: webhooks may call http:// URLs and private, loopback and internal addresses")
	}
	a.log.Info("webhooks running", "timeout", c.Timeout, "retry_schedule", webhooks.FormatSchedule(c.RetrySchedule))
}

// startPprof serves the Go runtime's profiles on PprofAddr, a loopback
// address, on a mux of its own (nothing is registered on the default one).
func (a *App) startPprof() error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", a.cfg.PprofAddr)
	if err != nil {
		return fmt.Errorf("listen on PPROF_ADDR %s: %w", a.cfg.PprofAddr, err)
	}
	a.pprof = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.pprof.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("profiles server stopped", "err", err)
		}
	}()
	a.log.Info("serving profiles", "addr", ln.Addr().String())
	return nil
}

// startMetrics serves /metrics, /healthz and /readyz on MetricsAddr, on a
// listener of its own.
func (a *App) startMetrics() error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.Metrics, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := a.ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	ln, err := net.Listen("tcp", a.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("listen on METRICS_ADDR %s: %w", a.cfg.MetricsAddr, err)
	}
	a.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.metrics.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("metrics server stopped", "err", err)
		}
	}()
	a.log.Info("serving metrics", "addr", ln.Addr().String())
	a.metricsAddr = ln.Addr().String()
	return nil
}

// MetricsAddr is the address of the metrics listener, once it serves.
func (a *App) MetricsAddr() string { return a.metricsAddr }

// ready says why the service should not get traffic, in words fit for a
// client, or returns nil.
func (a *App) ready(ctx context.Context) error {
	if err := a.Pool.Ping(ctx); err != nil {
		return errors.New("the database does not answer")
	}
	names := make([]string, 0, len(projections.All()))
	for _, p := range projections.All() {
		names = append(names, p.Name())
	}
	lagging, err := a.Tracker.Lagging(ctx, names, 5*time.Second)
	if err != nil {
		return errors.New("the projections' progress could not be read")
	}
	if len(lagging) > 0 {
		return fmt.Errorf("projections behind the log: %v", lagging)
	}
	return nil
}

// Close stops the service in order (HTTP server, then message router, then
// background loops, then the pool), each within the shutdown timeout.
func (a *App) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	if a.Server != nil {
		if err := a.Server.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop HTTP server: %w", err))
		}
	}
	if a.metrics != nil {
		a.metrics.Close()
	}
	a.Replicas.Close()
	if a.pprof != nil {
		a.pprof.Close()
	}
	if a.router != nil {
		if err := a.router.Close(); err != nil {
			errs = append(errs, fmt.Errorf("stop message router: %w", err))
		}
	}
	if a.stop != nil {
		a.stop()
	}
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, errors.New("background work did not stop in time"))
	}
	if a.Pool != nil {
		a.Pool.Close()
	}
	return errors.Join(errs...)
}

// replicatedWaiter is the write's wait when reads go to replicas: the
// projections have applied its events on the primary, and then the
// replicas have replayed that, or can no longer serve reads (see
// postgres.Replicas).
type replicatedWaiter struct {
	tracker  *projections.Tracker
	replicas *postgres.Replicas
}

func (w replicatedWaiter) WaitFor(ctx context.Context, cp eventstore.Checkpoint, names ...string) error {
	if err := w.tracker.WaitFor(ctx, cp, names...); err != nil {
		return err
	}
	// Now is after the projections' commit: waiting from it waits a little
	// longer than needed, never less.
	return w.replicas.WaitReplayed(ctx, time.Now())
}
