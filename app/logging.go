package app

import (
	"io"
	"log/slog"
)

// NewLogger returns the service's logger as cfg asks for it (LOG_FORMAT,
// LOG_LEVEL), writing to w. Every command uses it, and makes it the
// default logger, so that every line a process writes, the migrations'
// included, has the one format.
//
// A duration reads as Go writes it in text (1.5s, 250ms) and as a number
// of seconds in JSON, where slog would write nanoseconds, a unit no log
// pipeline expects.
func NewLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated by ConfigFromEnv
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		opts.ReplaceAttr = durationsInSeconds
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// durationsInSeconds writes a time.Duration as its seconds, a float.
func durationsInSeconds(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.Float64(a.Key, a.Value.Duration().Seconds())
	}
	return a
}
