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

// TestHardeningDefaults: the write limit is on (100/s, bursts of 200), the
// timeouts fit a 5 MiB upload on a slow link, no proxy is trusted and CORS
// is off, unless told otherwise.
func TestHardeningDefaults(t *testing.T) {
	is := is.New(t)
	c, err := ConfigFromEnv(env(nil))
	is.NoErr(err)
	is.Equal(c.HTTPLimits, jbhttp.DefaultLimits)
	is.Equal(c.HTTPLimits.WriteRate, 100.0)
	is.Equal(c.HTTPLimits.WriteBurst, 200)
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
	})
	is.Equal(c.TrustedProxies, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.0.1/32")})
	is.Equal(c.CORSAllowedOrigins, []string{"https://jobs.example.com", "http://localhost:3000"})

	c, err = ConfigFromEnv(env(map[string]string{"WRITE_RATE_LIMIT": "0"}))
	is.NoErr(err)
	is.Equal(c.HTTPLimits.WriteRate, 0.0) // 0: no limit
}

func TestHardeningSettingsAreChecked(t *testing.T) {
	for name, value := range map[string]string{
		"WRITE_RATE_LIMIT":         "fast",
		"WRITE_RATE_BURST":         "0",
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
	_, err := ConfigFromEnv(env(map[string]string{"WRITE_RATE_LIMIT": "-1"}))
	if err == nil {
		t.Error("a negative rate was accepted")
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
