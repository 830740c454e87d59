// Package webhooks tells recruiters' own systems what happens to their jobs
// and applications, by signed HTTP POSTs to the addresses they subscribed.
//
// It follows the mailer's shape. A Watermill handler in a consumer group of
// its own ("webhooks") turns each event into one delivery row per matching
// subscription, in the subscriber's transaction, with the body built there
// once; workers claim due deliveries with a lease, send them outside any
// transaction, and record every attempt. No network call is ever made while
// a transaction is open: a slow endpoint holds back no consumer group, no
// mail and no request.
//
// Each subscription's deliveries go out in the order of their events: a
// worker claims only a subscription's oldest pending delivery, so one that
// is being retried holds back the later ones of its subscription and of no
// other, and finding those heads costs one index probe per subscription,
// whatever the backlog behind them. Two exceptions: a delivery that has
// failed for good holds nothing back, and one an operator queues again is
// then sent after later ones (each body carries its event's id and
// occurred_at). Addresses are checked when the worker connects, after DNS, so that
// a name cannot be pointed at the board's own network after it was saved.
//
// The package holds no HTTP server code: package http serves the API over
// Store.
package webhooks

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/jobboard/jobboard/domain"
)

// The events a subscription can ask for, by the names the webhooks carry.
const (
	JobPosted                = "job.posted"
	JobUpdated               = "job.updated"
	JobClosed                = "job.closed"
	JobReopened              = "job.reopened"
	JobDeleted               = "job.deleted"
	ApplicationSubmitted     = "application.submitted"
	ApplicationStatusChanged = "application.status_changed"
)

// EventNames lists every event a subscription can ask for.
var EventNames = []string{JobPosted, JobUpdated, JobClosed, JobReopened, JobDeleted,
	ApplicationSubmitted, ApplicationStatusChanged}

// MaxURLLength is the longest address a subscription may have, in
// characters.
const MaxURLLength = 2000

// Subscription is a recruiter's endpoint and the events it is told about.
type Subscription struct {
	ID      uuid.UUID
	OwnerID uuid.UUID
	URL     string
	Events  []string
	// Secret keys the signatures. It is shown once, when the subscription
	// is made; it is empty in what Store reads back.
	Secret    string
	CreatedAt time.Time
}

// CheckSubscription checks a subscription's address and events as a
// recruiter sent them. The address must be an absolute https:// URL with a
// host and no user name or password; with allowPrivate, http:// and
// private hosts are accepted too (tests, local use). Without it, a host
// written as a non-public IP address or as localhost is refused at once;
// any other name is checked again each time it is connected to, after DNS
// (see Dialer).
func CheckSubscription(rawURL *string, events []string, allowPrivate bool) error {
	var v domain.Validation
	if msg := checkURL(rawURL, allowPrivate); msg != "" {
		v.Add("url", msg)
	}
	if msg := checkEvents(events); msg != "" {
		v.Add("events", msg)
	}
	return v.Err()
}

func checkURL(rawURL *string, allowPrivate bool) string {
	if rawURL == nil {
		return "is required"
	}
	s := *rawURL
	schemes := "https://"
	if allowPrivate {
		schemes = "https:// (or http://)"
	}
	switch {
	case s == "":
		return "is required"
	case len([]rune(s)) > MaxURLLength:
		return fmt.Sprintf("must be at most %d characters", MaxURLLength)
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return "must be an absolute " + schemes + " URL"
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !allowPrivate {
			return "must be an https:// URL"
		}
	default:
		return "must be an absolute " + schemes + " URL"
	}
	if u.User != nil {
		return "must not carry a user name or password"
	}
	host := u.Hostname()
	if host == "" {
		return "must name a host"
	}
	if !allowPrivate && !publicHost(host) {
		return "must point to a public address, not a private, loopback or otherwise internal one"
	}
	return ""
}

// publicHost reports whether a host, as written in a URL, may be public: a
// name other than localhost, or a public IP address.
func publicHost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return false
	}
	if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return PublicAddr(ip)
	}
	return true
}

func checkEvents(events []string) string {
	if len(events) == 0 {
		return "must list at least one event: " + strings.Join(EventNames, ", ")
	}
	for i, e := range events {
		if !slices.Contains(EventNames, e) {
			return fmt.Sprintf("%q is not an event; want some of %s", e, strings.Join(EventNames, ", "))
		}
		if slices.Contains(events[:i], e) {
			return fmt.Sprintf("lists %q twice", e)
		}
	}
	return ""
}

// newSecret is 32 random bytes, as the 64 hex characters the recruiter
// is shown and the signatures are keyed with.
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}
