package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/jobboard/jobboard/app"
	"github.com/jobboard/jobboard/postgres"
)

// version is set at build time with -ldflags "-X main.version=…"; without
// it, the VCS revision Go recorded is shown.
var version = ""

const usage = `jobboard — an event-sourced job board backend.

Usage:
  jobboard <command> [flags]

Commands:
  serve     run the HTTP API, the projectors and the background workers
  migrate   create the database if needed and apply pending migrations
  replay    rebuild read models from the event log, without downtime
  events    audit queries over the event log (by stream, actor, type, time;
            --follow; --as-of for an aggregate's past state)
  emails    list the emails to recruiters; "emails retry" queues failed ones again
  webhooks  list webhook deliveries and subscriptions; "webhooks retry" queues
            failed ones again
  forget    erase a person's personal data (a request received another way
            than DELETE /me)
  version   print the version

Run "jobboard <command> --help" for a command's flags.

Configuration comes from the environment:
  DATABASE_URL         PostgreSQL URL the service connects with (default
                       ` + app.DefaultDatabaseURL + `):
                       its role may read and append to the event log, not change it
  MIGRATE_DATABASE_URL the same database as its owner (default: DATABASE_URL when
                       that is set, else ` + app.DefaultMigrateDatabaseURL + `):
                       creates the database, applies migrations, creates
                       DATABASE_URL's role when missing and grants it its rights
  HTTP_ADDR            address the API listens on (default :8080)
  JWT_SECRET           HS256 secret for access tokens, at least 32 bytes and not a
                       placeholder: make one with openssl rand -base64 48
                       (unset: a random one per process, with a warning)
  JWT_TTL              access token lifetime (default 1h)
  DATA_KEY             key-encryption key of personal data: 64 hexadecimal digits
                       (openssl rand -hex 32); unset: kept in DATA_KEY_FILE
                       (default ` + app.DefaultDataKeyFile + `), made on first start
                       with a warning. Back it up: losing it loses every person's
                       personal data in the log
  BCRYPT_COST          bcrypt cost for passwords (default 12)
  LOG_LEVEL            debug, info, warn or error (default info)
  LOG_FORMAT           text or json (default text)
  LOGIN_MAX_FAILURES_PER_EMAIL, LOGIN_MAX_FAILURES_PER_CLIENT, LOGIN_FAILURE_WINDOW
                       failed logins per email (default 10: then the clients that
                       failed on it are refused) and per client (default 50: then
                       it is refused for any email) within the window (default
                       15m); 0: off
  REGISTER_MAX_PER_CLIENT
                       registrations one client may attempt at once; they come
                       back over 15 minutes (default 100; 0: off)
  WRITE_RATE_LIMIT, WRITE_RATE_BURST
                       writes (POST, PUT, PATCH, DELETE) per second per client
                       (default 100; 0: no limit) and at once (default 200)
  READ_RATE_LIMIT, READ_RATE_BURST
                       reads (GET, HEAD; not /healthz, /readyz, /metrics) per
                       second per client (default 200; 0: no limit) and at once
                       (default 400); an IPv6 client is its /64 in every limit
  TRUSTED_PROXIES      CIDRs of the proxies whose X-Forwarded-For names the client
                       (default none: the client is the TCP peer)
  CORS_ALLOWED_ORIGINS comma-separated origins browsers may call the API from
                       (default none: CORS off)
  HTTP_READ_HEADER_TIMEOUT, HTTP_READ_TIMEOUT, HTTP_WRITE_TIMEOUT, HTTP_IDLE_TIMEOUT
                       the HTTP server's timeouts (default 5s, 60s, 75s, 2m)
  HTTP_MAX_HEADER_BYTES
                       cap on a request's line and headers (default 65536)
  CONSISTENCY_TIMEOUT  how long a write waits for its read models (default 5s)
  SHUTDOWN_TIMEOUT     how long a graceful shutdown may take (default 15s)
  SMTP_URL             smtp://user:pass@host:port (STARTTLS required;
                       ?tls=opportunistic: plain text when it is not offered;
                       ?tls=none: no TLS, for a local catcher such as Mailpit) or
                       smtps://user:pass@host:port (TLS); unset: mails are written
                       as .eml files into MAIL_DIR (default ` + app.DefaultMailDir + `)
  MAIL_FROM            sender of the emails (default "Job Board <jobboard@localhost>")
  APP_BASE_URL         public URL of the API, for links in emails
                       (default http://localhost:8080)
  MAIL_SEND_TIMEOUT, MAIL_RETRY_MIN, MAIL_RETRY_MAX, MAIL_CONCURRENCY
                       one attempt's time limit (default 30s); the wait after a
                       transient failure, doubling from min (2s) to max (10m);
                       mails sent at once per process (default 2)
  WEBHOOK_RETRY_SCHEDULE
                       waits after each failed webhook attempt, comma-separated
                       (default 1m,5m,30m,2h,6h,12h; then the delivery has failed)
  WEBHOOK_TIMEOUT      one webhook attempt's time limit (default 10s)
  WEBHOOK_WORKERS      webhook deliveries sent at once per process (default 4)
  WEBHOOK_ALLOW_PRIVATE
                       true lets webhooks use http:// and reach loopback, private
                       and internal addresses: tests and local use only
                       (default false)
`

// run is the whole program, with its environment passed in so that tests can
// run it too. It returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = serve(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		err = migrate(ctx, rest, getenv, stdout, stderr)
	case "emails":
		err = emails(ctx, rest, getenv, stdout, stderr)
	case "webhooks":
		err = webhooksCmd(ctx, rest, getenv, stdout, stderr)
	case "events":
		err = events(ctx, rest, getenv, stdout, stderr)
	case "forget":
		err = forget(ctx, rest, getenv, stdout, stderr)
	case "replay":
		err = replayCmd(ctx, rest, getenv, stdout, stderr)
	case "version":
		fs := newFlagSet("version", "Prints the version of this build.", stderr)
		if err = parseFlags(fs, rest, stdout); err == nil {
			fmt.Fprintln(stdout, "jobboard", buildVersion())
		}
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "jobboard: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case err != nil:
		fmt.Fprintln(stderr, "jobboard:", err)
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

// newFlagSet returns the flags of a command. Asked for with -h or --help,
// its usage goes to stdout; after a mistake, to stderr.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: jobboard %s [flags]\n\n%s\n", name, synopsis)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprint(w, "\nFlags:\n")
			fs.PrintDefaults()
		}
		fmt.Fprint(w, "\nThe environment variables listed by \"jobboard --help\" apply.\n")
	}
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(stdout)
			fs.Usage()
			return flag.ErrHelp
		}
	}
	// After a mistake, the one line that says what it was and where the
	// help is, not the whole usage, which would push the line off screen.
	full := fs.Usage
	fs.Usage = func() { seeHelp(fs) }
	defer func() { fs.Usage = full }()
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		return usageError(fs, "unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return nil
}

// usageError prints a mistake in a command's use and where its help is,
// and returns errUsage.
func usageError(fs *flag.FlagSet, format string, args ...any) error {
	fmt.Fprintf(fs.Output(), format+"\n", args...)
	seeHelp(fs)
	return errUsage
}

// seeHelp says where a command's help is.
func seeHelp(fs *flag.FlagSet) {
	fmt.Fprintf(fs.Output(), "see 'jobboard %s --help'\n", fs.Name())
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", `Runs the service until SIGINT or SIGTERM, then shuts down gracefully: it stops
accepting connections, finishes the requests in flight, stops the projectors
and closes the database pool, all within SHUTDOWN_TIMEOUT. Migrations are
applied at start.`, stderr)
	role := fs.String("role", "", "which parts to run: api (HTTP only), worker (projectors and workers only) or all (default: JOBBOARD_ROLE, else all)")
	addr := fs.String("addr", "", "listen address; overrides HTTP_ADDR")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	var flagRole app.Role
	if *role != "" {
		var err error
		if flagRole, err = app.ParseRole(*role); err != nil {
			return usageError(fs, "%v", err)
		}
	}
	cfg, err := app.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	if flagRole != "" { // the flag wins over JOBBOARD_ROLE
		cfg.Role = flagRole
	}
	if *addr != "" {
		cfg.HTTPAddr = *addr
	}
	log := newLogger(cfg, stderr)
	app.Version = buildVersion()
	a := app.New(cfg, log)
	if err := a.Run(ctx); err != nil {
		return err
	}
	log.Info("jobboard started", "role", cfg.Role, "version", buildVersion())
	<-ctx.Done()
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	if err := a.Close(); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", `As MIGRATE_DATABASE_URL's role (the owner): creates the database if it does not
exist, applies the migrations it has not yet applied, each in its own
transaction, and, when DATABASE_URL names another role, creates that role if
it is missing (a login role with DATABASE_URL's password and nothing more) and
grants it what the service needs: SELECT and INSERT on the event log, and on
the other tables SELECT, INSERT, UPDATE and DELETE. Safe to run while other
instances start: they wait for each other.`, stderr)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	cfg, err := app.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	keys, err := app.Keyring(cfg, log, true)
	if err != nil {
		return err
	}
	if err := postgres.Setup(ctx, cfg.MigrateDatabaseURL, cfg.DatabaseURL); err != nil {
		return err
	}
	if err := postgres.SealPersonalData(ctx, cfg.MigrateDatabaseURL, keys, log); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "database is up to date")
	return nil
}

// newLogger is the command's logger (app.NewLogger), made the default one
// too, so that what logs through slog's default, such as the migrations,
// writes in the same format.
func newLogger(cfg app.Config, w io.Writer) *slog.Logger {
	log := app.NewLogger(cfg, w)
	slog.SetDefault(log)
	return log
}

func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}
