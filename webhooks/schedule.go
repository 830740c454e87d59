package webhooks

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultRetrySchedule are the waits after each failed attempt of a
// delivery: a receiver that is down for up to about a day is caught up
// with; after the last wait's attempt fails, the delivery has failed.
var DefaultRetrySchedule = []time.Duration{
	time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour,
}

// maxRetries bounds a schedule's length: a delivery retried forever keeps
// holding back its subscription's later ones.
const maxRetries = 100

// ParseSchedule reads a retry schedule, comma-separated Go durations such
// as "1m,5m,30m,2h,6h,12h": the wait after the first failed attempt, after
// the second, and so on. Each must be positive.
func ParseSchedule(s string) ([]time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("want comma-separated durations such as 1m,5m,30m")
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxRetries {
		return nil, fmt.Errorf("at most %d retries", maxRetries)
	}
	out := make([]time.Duration, 0, len(parts))
	for i, p := range parts {
		d, err := time.ParseDuration(strings.TrimSpace(p))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("entry %d (%q) is not a positive duration such as 30s, 5m or 2h", i+1, strings.TrimSpace(p))
		}
		out = append(out, d)
	}
	return out, nil
}

// FormatSchedule writes a schedule as ParseSchedule reads it.
func FormatSchedule(schedule []time.Duration) string {
	parts := make([]string, len(schedule))
	for i, d := range schedule {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}
