package app

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	jbhttp "github.com/jobboard/jobboard/http"
)

func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

// TestHardeningDefaults: the write limit is on (100/s, bursts of 200), as
// are the read limit (200/s, bursts of 400) and the register throttle (100
// per client); the timeouts fit
// a 5 MiB upload on a slow link, no proxy is trusted and CORS is off,
// unless told otherwise.
func TestHardeningDefaults(t *testing.T) {
	is := is.New(t)
	c, err := ConfigFromEnv(env(nil))
	is.NoErr(err)
	is.Equal(c.HTTPLimits, jbhttp.DefaultLimits)
	is.Equal(c.HTTPLimits.WriteRate, 100.0)
	is.Equal(c.HTTPLimits.WriteBurst, 200)
	is.Equal(c.HTTPLimits.ReadRate, 200.0)
	is.Equal(c.HTTPLimits.ReadBurst, 400)
	is.Equal(c.HTTPLimits.RegisterPerClient, 100)
	is.True(c.HTTPLimits.ReadTimeout >= time.Minute)               // 5 MiB at under 1 Mbit/s
	is.True(c.HTTPLimits.WriteTimeout >= c.HTTPLimits.ReadTimeout) // an upload read in time gets its answer
	is.True(c.HTTPLimits.ReadHeaderTimeout <= 10*time.Second)      // slow headers are cut off early
	is.Equal(c.TrustedProxies, []netip.Prefix(nil))
	is.Equal(c.CORSAllowedOrigins, []string(nil))
}

func TestHardeningSettings(t *testing.T) {
	is := is.New(t)
	c, err := ConfigFromEnv(env(map[string]string{
		"WRITE_RATE_LIMIT":         "0.5",
		"WRITE_RATE_BURST":         "3",
		"READ_RATE_LIMIT":          "20.5",
		"READ_RATE_BURST":          "40",
		"REGISTER_MAX_PER_CLIENT":  "7",
		"HTTP_READ_HEADER_TIMEOUT": "2s",
		"HTTP_READ_TIMEOUT":        "90s",
		"HTTP_WRITE_TIMEOUT":       "2m",
		"HTTP_IDLE_TIMEOUT":        "30s",
		"HTTP_MAX_HEADER_BYTES":    "16384",
		"TRUSTED_PROXIES":          "10.0.0.0/8, 192.168.0.1",
		"CORS_ALLOWED_ORIGINS":     "https://jobs.example.com,http://localhost:3000",
	}))
	is.NoErr(err)
	is.Equal(c.HTTPLimits, jbhttp.Limits{
		ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 90 * time.Second, WriteTimeout: 2 * time.Minute,
		IdleTimeout: 30 * time.Second, MaxHeaderBytes: 16384, WriteRate: 0.5, WriteBurst: 3,
		ReadRate: 20.5, ReadBurst: 40, RegisterPerClient: 7,
	})
	is.Equal(c.TrustedProxies, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.0.1/32")})
	is.Equal(c.CORSAllowedOrigins, []string{"https://jobs.example.com", "http://localhost:3000"})

	c, err = ConfigFromEnv(env(map[string]string{"WRITE_RATE_LIMIT": "0", "READ_RATE_LIMIT": "0", "REGISTER_MAX_PER_CLIENT": "0"}))
	is.NoErr(err)
	is.Equal(c.HTTPLimits.WriteRate, 0.0)       // 0: no limit
	is.Equal(c.HTTPLimits.ReadRate, 0.0)        // 0: no limit
	is.Equal(c.HTTPLimits.RegisterPerClient, 0) // 0: no limit
}

func TestHardeningSettingsAreChecked(t *testing.T) {
	for name, value := range map[string]string{
		"WRITE_RATE_LIMIT":         "fast",
		"WRITE_RATE_BURST":         "0",
		"READ_RATE_LIMIT":          "NaN",
		"READ_RATE_BURST":          "0",
		"REGISTER_MAX_PER_CLIENT":  "-1",
		"HTTP_READ_HEADER_TIMEOUT": "5",
		"HTTP_READ_TIMEOUT":        "-1s",
		"HTTP_MAX_HEADER_BYTES":    "10",
		"TRUSTED_PROXIES":          "10.0.0.0/33",
		"CORS_ALLOWED_ORIGINS":     "*",
	} {
		_, err := ConfigFromEnv(env(map[string]string{name: value}))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: got %v, want an error naming the setting", name, value, err)
		}
	}
	for _, name := range []string{"WRITE_RATE_LIMIT", "READ_RATE_LIMIT"} {
		_, err := ConfigFromEnv(env(map[string]string{name: "-1"}))
		if err == nil {
			t.Errorf("%s: a negative rate was accepted", name)
		}
	}
}

func TestPprofAddrIsLoopbackOnly(t *testing.T) {
	is := is.New(t)
	for _, ok := range []string{"127.0.0.1:6060", "localhost:6060", "[::1]:0"} {
		c, err := ConfigFromEnv(env(map[string]string{"PPROF_ADDR": ok}))
		is.NoErr(err)             // a loopback address is taken
		is.Equal(c.PprofAddr, ok) // as given
	}
	c, err := ConfigFromEnv(env(nil))
	is.NoErr(err)
	is.Equal(c.PprofAddr, "") // off by default
	for _, bad := range []string{":6060", "0.0.0.0:6060", "10.1.2.3:6060", "example.com:6060", "6060"} {
		_, err := ConfigFromEnv(env(map[string]string{"PPROF_ADDR": bad}))
		is.True(err != nil && strings.Contains(err.Error(), "PPROF_ADDR")) // refused, naming the setting
	}
}

// TestJWTSecretPlaceholdersAreRefused: a secret that this repository has
// published, or an obvious stand-in, is refused however long it is, with
// a way to make a real one; real secrets, and short ones as before, are
// judged as before.
func TestJWTSecretPlaceholdersAreRefused(t *testing.T) {
	for _, secret := range []string{
		"change-me-to-32-or-more-random-bytes!!", // docker-compose.yml's default until it had none
		" Change-Me-To-32-Or-More-Random-Bytes!! ",
		strings.Repeat("s", 32),
		strings.Repeat("x", 64),
		strings.Repeat("secret", 6),
		strings.Repeat("0123456789", 4),
		"changeme-changeme-changeme-changeme",
		"please-change-me-before-you-deploy-this",
		"CHANGE_ME_CHANGE_ME_CHANGE_ME_PLEASE!!",
		"your-secret-key-goes-here-0123456789",
		"a placeholder that is long enough to pass",
		"replace-me-with-a-long-random-string-123",
	} {
		_, err := ConfigFromEnv(env(map[string]string{"JWT_SECRET": secret}))
		if err == nil || !strings.Contains(err.Error(), "JWT_SECRET") || !strings.Contains(err.Error(), "openssl rand -base64 48") {
			t.Errorf("JWT_SECRET=%q: got %v, want a refusal that says how to make a secret", secret, err)
		}
	}
	for _, secret := range []string{
		"0mZ3rK9vQx2Lh7TnY4bWc1sFj8uPdEa6gRiNoVkXyB5zHqJtMw", // as openssl rand -base64 48 makes them
		"end-to-end tests' secret, at least 32 bytes long",
		"fuzzing secret, at least 32 bytes long!",
	} {
		c, err := ConfigFromEnv(env(map[string]string{"JWT_SECRET": secret}))
		if err != nil || string(c.JWTSecret) != secret {
			t.Errorf("JWT_SECRET=%q: got %v, want it taken", secret, err)
		}
	}
	_, err := ConfigFromEnv(env(map[string]string{"JWT_SECRET": "too short"}))
	if err == nil || !strings.Contains(err.Error(), "at least 32 bytes") {
		t.Errorf("a short secret: got %v, want the length refused", err)
	}
}

// Who connects as whom: by default the service runs as its own role and
// migrations as the local superuser; a DATABASE_URL alone is used for both
// (a deployment whose migrations another process runs); the two must name
// one database.
func TestDatabaseRoles(t *testing.T) {
	is := is.New(t)
	c, err := ConfigFromEnv(env(nil))
	is.NoErr(err)
	is.Equal(c.DatabaseURL, "postgres://jobboard_app@127.0.0.1:5432/jobboard?sslmode=disable")
	is.Equal(c.MigrateDatabaseURL, "postgres://postgres@127.0.0.1:5432/jobboard?sslmode=disable")

	const service = "postgres://svc:pw@db.internal:5432/board?sslmode=require"
	c, err = ConfigFromEnv(env(map[string]string{"DATABASE_URL": service}))
	is.NoErr(err)
	is.Equal(c.MigrateDatabaseURL, service) // defaults to DATABASE_URL

	const owner = "postgres://owner:pw@db.internal:5432/board?sslmode=require"
	c, err = ConfigFromEnv(env(map[string]string{"DATABASE_URL": service, "MIGRATE_DATABASE_URL": owner}))
	is.NoErr(err)
	is.Equal(c.DatabaseURL, service)
	is.Equal(c.MigrateDatabaseURL, owner)

	for _, other := range []string{
		"postgres://owner:pw@db.internal:5432/other?sslmode=require",      // another database
		"postgres://owner:pw@db.internal:5433/board?sslmode=require",      // another server
		"postgres://owner:pw@replica.internal:5432/board?sslmode=require", // another host
	} {
		_, err := ConfigFromEnv(env(map[string]string{"DATABASE_URL": service, "MIGRATE_DATABASE_URL": other}))
		if err == nil || !strings.Contains(err.Error(), "MIGRATE_DATABASE_URL") {
			t.Errorf("MIGRATE_DATABASE_URL=%s with DATABASE_URL=%s: got %v, want an error naming the setting", other, service, err)
		}
	}
}

// TestWebhookSettings: webhooks retry on the contract's schedule within 10 s
// per attempt, and reach only public addresses, unless told otherwise; a
// bad setting stops the start with a message naming it.
func TestWebhookSettings(t *testing.T) {
	is := is.New(t)
	c, err := ConfigFromEnv(env(nil))
	is.NoErr(err)
	is.Equal(c.Webhooks.RetrySchedule, []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute,
		2 * time.Hour, 6 * time.Hour, 12 * time.Hour}) // the default schedule
	is.Equal(c.Webhooks.Timeout, 10*time.Second)
	is.Equal(c.Webhooks.AllowPrivate, false) // public addresses only
	is.Equal(c.Webhooks.Workers, 4)

	c, err = ConfigFromEnv(env(map[string]string{
		"WEBHOOK_RETRY_SCHEDULE": "10ms,20ms",
		"WEBHOOK_TIMEOUT":        "1500ms",
		"WEBHOOK_ALLOW_PRIVATE":  "true",
		"WEBHOOK_WORKERS":        "8",
	}))
	is.NoErr(err)
	is.Equal(c.Webhooks.RetrySchedule, []time.Duration{10 * time.Millisecond, 20 * time.Millisecond})
	is.Equal(c.Webhooks.Timeout, 1500*time.Millisecond)
	is.Equal(c.Webhooks.AllowPrivate, true)
	is.Equal(c.Webhooks.Workers, 8)

	for name, value := range map[string]string{
		"WEBHOOK_RETRY_SCHEDULE": "1m,,5m",
		"WEBHOOK_TIMEOUT":        "10",
		"WEBHOOK_ALLOW_PRIVATE":  "maybe",
		"WEBHOOK_WORKERS":        "0",
	} {
		_, err := ConfigFromEnv(env(map[string]string{name: value}))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: got %v, want an error naming the setting", name, value, err)
		}
	}
	_, err = ConfigFromEnv(env(map[string]string{"WEBHOOK_RETRY_SCHEDULE": "1m,-5m"}))
	is.True(err != nil && strings.Contains(err.Error(), "entry 2")) // says which entry is wrong
}
