package app_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/jobboard/jobboard/app"
)

func TestLoggerFormats(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		is := is.New(t)
		var out bytes.Buffer
		log := app.NewLogger(app.Config{LogFormat: "json", LogLevel: "info"}, &out)
		log.Info("shutting down", "timeout", 15*time.Second, slog.Group("wait", "took", 250*time.Millisecond))
		log.Debug("not written at info")
		var line map[string]any
		is.NoErr(json.Unmarshal(out.Bytes(), &line)) // one JSON object
		is.Equal(line["timeout"], 15.0)              // a duration is in seconds
		is.Equal(line["wait"].(map[string]any)["took"], 0.25)
	})
	t.Run("text", func(t *testing.T) {
		is := is.New(t)
		var out bytes.Buffer
		log := app.NewLogger(app.Config{LogFormat: "text", LogLevel: "debug"}, &out)
		log.Debug("shutting down", "timeout", 15*time.Second)
		is.True(strings.Contains(out.String(), "timeout=15s")) // a duration in Go's units
	})
}
