// Package app wires the job board together: configuration, the database,
// the event store, the Watermill router with its projectors, and the HTTP
// server. cmd/jobboard and the end-to-end tests both run it.
package app

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jobboard/jobboard/commands"
	"github.com/jobboard/jobboard/eventstore"
	jbhttp "github.com/jobboard/jobboard/http"
	"github.com/jobboard/jobboard/webhooks"
)

// Role says which parts of the service a process runs.
type Role string

const (
	RoleAll    Role = "all"    // the API and the workers
	RoleAPI    Role = "api"    // only the HTTP API
	RoleWorker Role = "worker" // only projectors and background workers
)

// ParseRole reads a --role value.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAll, RoleAPI, RoleWorker:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (want api, worker or all)", s)
}

func (r Role) runsAPI() bool     { return r == RoleAll || r == RoleAPI }
func (r Role) runsWorkers() bool { return r == RoleAll || r == RoleWorker }

// DefaultDataKeyFile is where the key-encryption key of personal data is
// kept when no DATA_KEY is set.
const DefaultDataKeyFile = "./.jobboard/data.key"

// DefaultMailDir is where mails are written when no SMTP_URL is set.
const DefaultMailDir = "./.jobboard/mail"

// DefaultDatabaseURL is used when DATABASE_URL is not set: the service's
// own role, which may read and append to the event log but not change it
// (postgres.GrantService).
const DefaultDatabaseURL = "postgres://jobboard_app@127.0.0.1:5432/jobboard?sslmode=disable"

// DefaultMigrateDatabaseURL is used when neither MIGRATE_DATABASE_URL nor
// DATABASE_URL is set: the local server's superuser, which creates the
// database and the service's role and applies the migrations. With
// DATABASE_URL set, MIGRATE_DATABASE_URL defaults to it.
const DefaultMigrateDatabaseURL = "postgres://postgres@127.0.0.1:5432/jobboard?sslmode=disable"

// Config is everything the service reads from its environment, checked once
// at start.
type Config struct {
	// DatabaseURL is the service's connection: its role reads and
	// appends to the log and keeps the read models.
	DatabaseURL string
	// MigrateDatabaseURL is the owner's: it creates the database, applies
	// the migrations, creates DatabaseURL's role and grants it its rights.
	MigrateDatabaseURL string
	HTTPAddr           string
	Role               Role
	JWTSecret          []byte
	// JWTSecretGenerated is true when no JWT_SECRET was given and a random
	// one was made: tokens then die with the process.
	JWTSecretGenerated bool
	JWTTTL             time.Duration
	// DataKey is the key-encryption key of personal data (DATA_KEY, 64
	// hexadecimal digits); nil when not set, and then DataKeyFile holds
	// it, made on first start.
	DataKey     []byte
	DataKeyFile string
	BcryptCost  int
	LogLevel    string
	LogFormat   string
	// ConsistencyTimeout bounds how long a write waits for its projections.
	ConsistencyTimeout time.Duration
	ShutdownTimeout    time.Duration
	// LoginLimits throttle failed logins.
	LoginLimits commands.LoginLimits
	// IdlePoll is how often an idle subscriber looks for events it was not
	// woken for (another process's append whose notification was lost).
	IdlePoll time.Duration
	// Mail configures the emails to recruiters.
	Mail MailConfig
	// HTTPLimits are the API's timeouts, header cap and write rate limit.
	HTTPLimits jbhttp.Limits
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// client (for the login throttle and the write rate limit).
	TrustedProxies []netip.Prefix
	// CORSAllowedOrigins are the origins browsers may call the API from.
	CORSAllowedOrigins []string
	// PprofAddr, when set, is a loopback address where the Go runtime's
	// profiles are served (net/http/pprof), for finding where CPU goes.
	PprofAddr string
	// DatabaseReadURLs are PostgreSQL streaming replicas of DatabaseURL's
	// server, as the service's role: the API's reads go to them while they
	// are at most ReplicaMaxLag behind (postgres.Replicas).
	DatabaseReadURLs []string
	// ReplicaMaxLag is how far behind the primary a replica may be and
	// still serve reads, and so the longest a write waits for one.
	ReplicaMaxLag time.Duration
	// MetricsAddr, when set, is where /metrics, /healthz and /readyz are
	// served on a listener of their own (then /metrics is not on the API's
	// port): for Prometheus and probes, which need not reach the public
	// port, and for workers, which serve no API.
	MetricsAddr string
	// Webhooks configures the calls to recruiters' endpoints.
	Webhooks WebhookConfig
}

// WebhookConfig is how webhooks are sent and retried.
type WebhookConfig struct {
	// AllowPrivate lets subscriptions use http:// and reach loopback,
	// private and other non-public addresses (WEBHOOK_ALLOW_PRIVATE): for
	// tests and local use only, since it lets a recruiter make the service
	// call into its own network.
	AllowPrivate bool
	// RetrySchedule are the waits after each failed attempt
	// (WEBHOOK_RETRY_SCHEDULE).
	RetrySchedule []time.Duration
	// Timeout bounds one attempt (WEBHOOK_TIMEOUT).
	Timeout time.Duration
	// Workers is how many deliveries a worker process sends at once
	// (WEBHOOK_WORKERS).
	Workers int
}

// MailConfig is where the emails to recruiters go and how they are retried.
type MailConfig struct {
	// SMTPURL is smtp://user:pass@host:port (STARTTLS required;
	// ?tls=opportunistic falls back to plain text, ?tls=none never
	// encrypts, for a local mail catcher) or smtps://… (TLS from the
	// start); empty writes .eml files into Dir. See mailer.NewSender.
	SMTPURL     string
	Dir         string
	From        string
	BaseURL     string
	SendTimeout time.Duration
	MinBackoff  time.Duration
	MaxBackoff  time.Duration
	Concurrency int
}

// ConfigFromEnv reads the configuration through getenv.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		DatabaseURL: or(getenv("DATABASE_URL"), DefaultDatabaseURL),
		HTTPAddr:    or(getenv("HTTP_ADDR"), ":8080"),
		Role:        RoleAll,
		LogLevel:    strings.ToLower(or(getenv("LOG_LEVEL"), "info")),
		LogFormat:   strings.ToLower(or(getenv("LOG_FORMAT"), "text")),
	}
	var errs []error
	c.MigrateDatabaseURL = getenv("MIGRATE_DATABASE_URL")
	switch {
	case c.MigrateDatabaseURL != "":
	case getenv("DATABASE_URL") != "":
		c.MigrateDatabaseURL = c.DatabaseURL
	default:
		c.MigrateDatabaseURL = DefaultMigrateDatabaseURL
	}
	if err := sameDatabase(c.DatabaseURL, c.MigrateDatabaseURL); err != nil {
		errs = append(errs, err)
	}
	durationVar := func(dst *time.Duration, name string, def time.Duration) {
		*dst = def
		if v := getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				errs = append(errs, fmt.Errorf("%s=%q: want a positive duration such as 1h or 500ms", name, v))
				return
			}
			*dst = d
		}
	}
	durationVar(&c.JWTTTL, "JWT_TTL", time.Hour)
	durationVar(&c.ConsistencyTimeout, "CONSISTENCY_TIMEOUT", 5*time.Second)
	durationVar(&c.ShutdownTimeout, "SHUTDOWN_TIMEOUT", 15*time.Second)
	durationVar(&c.IdlePoll, "SUBSCRIBER_IDLE_POLL", 250*time.Millisecond)
	durationVar(&c.ReplicaMaxLag, "REPLICA_MAX_LAG", time.Second)
	if v := getenv("DATABASE_READ_URLS"); v != "" {
		for i, u := range strings.Split(v, ",") {
			u = strings.TrimSpace(u)
			// Not the URL itself in the error: it may hold a password.
			if _, err := pgxpool.ParseConfig(u); err != nil || u == "" {
				errs = append(errs, fmt.Errorf("DATABASE_READ_URLS: entry %d is not a PostgreSQL URL", i+1))
				continue
			}
			c.DatabaseReadURLs = append(c.DatabaseReadURLs, u)
		}
	}

	durationVar(&c.LoginLimits.Window, "LOGIN_FAILURE_WINDOW", 15*time.Minute)
	c.Mail.SMTPURL = getenv("SMTP_URL")
	c.Mail.Dir = or(getenv("MAIL_DIR"), DefaultMailDir)
	c.Mail.From = or(getenv("MAIL_FROM"), "Job Board <jobboard@localhost>")
	if _, err := mail.ParseAddress(c.Mail.From); err != nil {
		errs = append(errs, fmt.Errorf("MAIL_FROM=%q: %w", c.Mail.From, err))
	}
	c.Mail.BaseURL = strings.TrimRight(or(getenv("APP_BASE_URL"), "http://localhost:8080"), "/")
	if u, err := url.Parse(c.Mail.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("APP_BASE_URL=%q: want an http or https URL", c.Mail.BaseURL))
	}
	durationVar(&c.Mail.SendTimeout, "MAIL_SEND_TIMEOUT", 30*time.Second)
	durationVar(&c.Mail.MinBackoff, "MAIL_RETRY_MIN", 2*time.Second)
	durationVar(&c.Mail.MaxBackoff, "MAIL_RETRY_MAX", 10*time.Minute)
	intVar := func(dst *int, name string, def, min, max int) {
		*dst = def
		if v := getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < min || n > max {
				errs = append(errs, fmt.Errorf("%s=%q: want a whole number from %d to %d", name, v, min, max))
				return
			}
			*dst = n
		}
	}
	intVar(&c.LoginLimits.PerEmail, "LOGIN_MAX_FAILURES_PER_EMAIL", 10, 0, 1_000_000)
	intVar(&c.LoginLimits.PerClient, "LOGIN_MAX_FAILURES_PER_CLIENT", 50, 0, 1_000_000)
	intVar(&c.BcryptCost, "BCRYPT_COST", 12, 4, 31)
	intVar(&c.Mail.Concurrency, "MAIL_CONCURRENCY", 2, 1, 64)
	c.Webhooks.RetrySchedule = webhooks.DefaultRetrySchedule
	if v := getenv("WEBHOOK_RETRY_SCHEDULE"); v != "" {
		schedule, err := webhooks.ParseSchedule(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("WEBHOOK_RETRY_SCHEDULE=%q: %w", v, err))
		}
		c.Webhooks.RetrySchedule = schedule
	}
	durationVar(&c.Webhooks.Timeout, "WEBHOOK_TIMEOUT", 10*time.Second)
	intVar(&c.Webhooks.Workers, "WEBHOOK_WORKERS", 4, 1, 64)
	if v := getenv("WEBHOOK_ALLOW_PRIVATE"); v != "" {
		allow, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("WEBHOOK_ALLOW_PRIVATE=%q: want true or false", v))
		}
		c.Webhooks.AllowPrivate = allow
	}

	limits := jbhttp.DefaultLimits
	durationVar(&limits.ReadHeaderTimeout, "HTTP_READ_HEADER_TIMEOUT", limits.ReadHeaderTimeout)
	durationVar(&limits.ReadTimeout, "HTTP_READ_TIMEOUT", limits.ReadTimeout)
	durationVar(&limits.WriteTimeout, "HTTP_WRITE_TIMEOUT", limits.WriteTimeout)
	durationVar(&limits.IdleTimeout, "HTTP_IDLE_TIMEOUT", limits.IdleTimeout)
	intVar(&limits.MaxHeaderBytes, "HTTP_MAX_HEADER_BYTES", limits.MaxHeaderBytes, 4<<10, 1<<20)
	rateVar := func(dst *float64, name string) {
		if v := getenv(name); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
				errs = append(errs, fmt.Errorf("%s=%q: want requests per second, such as 100 or 0.5 (0: no limit)", name, v))
				return
			}
			*dst = f
		}
	}
	rateVar(&limits.WriteRate, "WRITE_RATE_LIMIT")
	intVar(&limits.WriteBurst, "WRITE_RATE_BURST", limits.WriteBurst, 1, 1_000_000)
	rateVar(&limits.ReadRate, "READ_RATE_LIMIT")
	intVar(&limits.ReadBurst, "READ_RATE_BURST", limits.ReadBurst, 1, 1_000_000)
	intVar(&limits.RegisterPerClient, "REGISTER_MAX_PER_CLIENT", limits.RegisterPerClient, 0, 1_000_000)
	c.HTTPLimits = limits
	if v := getenv("TRUSTED_PROXIES"); v != "" {
		p, err := jbhttp.ParseTrustedProxies(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("TRUSTED_PROXIES=%q: want comma-separated CIDRs such as 10.0.0.0/8: %w", v, err))
		}
		c.TrustedProxies = p
	}
	if v := getenv("CORS_ALLOWED_ORIGINS"); v != "" {
		o, err := jbhttp.ParseCORSOrigins(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("CORS_ALLOWED_ORIGINS: %w", err))
		}
		c.CORSAllowedOrigins = o
	}
	if v := getenv("PPROF_ADDR"); v != "" {
		if err := checkLoopback(v); err != nil {
			errs = append(errs, fmt.Errorf("PPROF_ADDR=%q: %w", v, err))
		}
		c.PprofAddr = v
	}
	if v := getenv("METRICS_ADDR"); v != "" {
		if _, _, err := net.SplitHostPort(v); err != nil {
			errs = append(errs, fmt.Errorf("METRICS_ADDR=%q: want host:port or :port: %w", v, err))
		}
		c.MetricsAddr = v
	}
	if v := getenv("JOBBOARD_ROLE"); v != "" {
		r, err := ParseRole(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("JOBBOARD_ROLE: %w", err))
		}
		c.Role = r
	}
	switch secret := getenv("JWT_SECRET"); {
	case secret == "":
		c.JWTSecret = make([]byte, 32)
		rand.Read(c.JWTSecret)
		c.JWTSecretGenerated = true
	case len(secret) < 32:
		errs = append(errs, errors.New("JWT_SECRET must be at least 32 bytes long: make one with openssl rand -base64 48"))
	case isPlaceholderSecret(secret):
		errs = append(errs, errors.New("JWT_SECRET is a placeholder (a published example, a stand-in word or a repeated pattern): "+
			"anyone can sign tokens with it; make a random one with openssl rand -base64 48"))
	default:
		c.JWTSecret = []byte(secret)
	}
	if v := getenv("DATA_KEY"); v != "" {
		key, err := eventstore.ParseKEK(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("DATA_KEY: %w; make one with openssl rand -hex 32", err))
		}
		c.DataKey = key
	}
	c.DataKeyFile = or(getenv("DATA_KEY_FILE"), DefaultDataKeyFile)
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", c.LogLevel))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("LOG_FORMAT=%q: want text or json", c.LogFormat))
	}
	return c, errors.Join(errs...)
}

// placeholderSecrets are the JWT_SECRET values this repository has
// published (docker-compose.yml's default, until it had none), lower-cased.
var placeholderSecrets = []string{
	"change-me-to-32-or-more-random-bytes!!",
}

// placeholderWords mark a secret written to be replaced, once its letters
// and digits are lower-cased and run together.
var placeholderWords = []string{"changeme", "changethis", "replaceme", "placeholder", "yoursecret", "secretgoeshere", "notasecret"}

// isPlaceholderSecret tells a secret that is known or easily guessed: one
// this repository published, one that says it is to be replaced, or a
// repeated pattern ("xxxx…", "secretsecret…"), which no random generator
// makes.
func isPlaceholderSecret(secret string) bool {
	lowered := strings.ToLower(strings.TrimSpace(secret))
	if slices.Contains(placeholderSecrets, lowered) {
		return true
	}
	squeezed := strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return -1
	}, lowered)
	for _, w := range placeholderWords {
		if strings.Contains(squeezed, w) {
			return true
		}
	}
	// A string is a repetition of its first p bytes when it equals
	// itself shifted by p.
	for p := 1; p <= len(secret)/2; p++ {
		if secret[p:] == secret[:len(secret)-p] {
			return true
		}
	}
	return false
}

// checkLoopback is an error unless addr is host:port with a loopback host:
// profiles say much about the process and are not for the network.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port, such as 127.0.0.1:6060: %w", err)
	}
	if host == "localhost" {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
		return errors.New("want a loopback address, such as 127.0.0.1:6060")
	}
	return nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// sameDatabase checks that the service's URL and the migrations' name one
// database on one server, as two roles: migrating one database and serving
// from another would leave the served one unmigrated.
func sameDatabase(service, migrate string) error {
	a, err := pgconn.ParseConfig(service)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	b, err := pgconn.ParseConfig(migrate)
	if err != nil {
		return fmt.Errorf("MIGRATE_DATABASE_URL: %w", err)
	}
	if a.Host != b.Host || a.Port != b.Port || a.Database != b.Database {
		return fmt.Errorf("MIGRATE_DATABASE_URL names database %s on %s:%d, DATABASE_URL %s on %s:%d: they must name the same database (as two roles)",
			b.Database, b.Host, b.Port, a.Database, a.Host, a.Port)
	}
	return nil
}
