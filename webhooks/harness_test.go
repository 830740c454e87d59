package webhooks_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/jobboard/jobboard/auth"
	"github.com/jobboard/jobboard/bus"
	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/internal/testdb"
	"github.com/jobboard/jobboard/webhooks"
)

var db *testdb.DB

func TestMain(m *testing.M) { testdb.Main(m, &db) }

// harness is the webhooks' part of a worker process on a database of its
// own: the event log, the webhook handler in its consumer group, and
// (started by each test as it needs) delivery workers.
type harness struct {
	t      *testing.T
	db     *testdb.DB
	log    *eventstore.Store
	store  *webhooks.Store
	queue  *webhooks.Queue
	queued *bus.Signal
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	own := testdb.New(t)
	quiet := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	relay := bus.NewRelay(own.Pool, quiet)
	wg.Go(func() { relay.Run(ctx) })
	log := eventstore.New(own.Pool, eventstore.WithKeyring(testdb.Keyring()), eventstore.OnAppended(relay.Appended))
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	queued := bus.NewSignal()
	if err := webhooks.Register(router, own.Pool, log, relay, bus.SubscriberConfig{Keys: testdb.Keyring(), IdlePoll: 50 * time.Millisecond}, queued); err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		if err := router.Run(context.Background()); err != nil {
			t.Errorf("router: %v", err)
		}
	})
	<-router.Running()
	t.Cleanup(func() {
		router.Close()
		cancel()
		wg.Wait()
	})
	return &harness{t: t, db: own, log: log, store: webhooks.NewStore(own.Pool, true), queue: webhooks.NewQueue(own.Pool), queued: queued}
}

// testWorkerConfig is quick: tiny retry waits, a short time limit, and
// receivers on 127.0.0.1 allowed.
func testWorkerConfig() webhooks.WorkerConfig {
	return webhooks.WorkerConfig{
		RetrySchedule: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond},
		Timeout:       2 * time.Second,
		AllowPrivate:  true,
		Poll:          50 * time.Millisecond,
	}
}

// startWorker runs a delivery worker until the test ends.
func (h *harness) startWorker(cfg webhooks.WorkerConfig, metrics *webhooks.Metrics) {
	h.t.Helper()
	w := webhooks.NewWorker(h.queue, h.queued, cfg, metrics, slog.New(slog.DiscardHandler))
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	h.t.Cleanup(func() { stop(); <-done })
}

// startOtherProcessWorker runs a worker as another process's would be: not
// woken by this handler's queueing, it finds deliveries by looking.
func (h *harness) startOtherProcessWorker(cfg webhooks.WorkerConfig) {
	h.t.Helper()
	w := webhooks.NewWorker(h.queue, nil, cfg, nil, slog.New(slog.DiscardHandler))
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	h.t.Cleanup(func() { stop(); <-done })
}

// subscribe makes owner's subscription to url for events.
func (h *harness) subscribe(owner uuid.UUID, url string, events ...string) webhooks.Subscription {
	h.t.Helper()
	sub, err := h.store.Create(h.t.Context(), auth.Caller{UserID: owner, Role: domain.RoleRecruiter}, &url, events)
	if err != nil {
		h.t.Fatalf("subscribe %s: %v", url, err)
	}
	return sub
}

// appendEvent appends e to a stream at expected version and returns its
// record.
func (h *harness) appendEvent(streamType string, id uuid.UUID, expected int64, e domain.Event) eventstore.Record {
	h.t.Helper()
	res, err := h.log.Append(h.t.Context(), eventstore.Stream{Type: streamType, ID: id}, expected, []domain.Event{e})
	if err != nil {
		h.t.Fatalf("append %s: %v", e.EventType(), err)
	}
	return res.Records[0]
}

// now is a time as events carry it, to the second.
func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

// postJob appends the JobPosted of a new job of owner's.
func (h *harness) postJob(owner uuid.UUID, title string) (uuid.UUID, eventstore.Record) {
	h.t.Helper()
	id := uuid.Must(uuid.NewV7())
	min, max := int64(50000), int64(70000)
	r := h.appendEvent(domain.StreamJob, id, 0, domain.JobPosted{
		JobID: id, RecruiterID: owner, Title: title, Description: "Build things <well> & fast", Company: "Acme",
		Location: "Berlin", EmploymentType: domain.FullTime, SalaryMin: &min, SalaryMax: &max, SalaryCurrency: "EUR",
		PostedAt: now(),
	})
	return id, r
}

// deliveries are sub's deliveries, newest first.
func (h *harness) deliveries(sub webhooks.Subscription) []webhooks.QueuedDelivery {
	h.t.Helper()
	list, err := h.queue.List(context.Background(), webhooks.ListFilter{SubscriptionID: sub.ID}, 1000)
	if err != nil {
		h.t.Fatalf("list deliveries: %v", err)
	}
	return list
}

// waitFor polls cond every 10 ms until it holds, or fails the test saying
// what was awaited after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("after %s: %s", within, what)
		case <-tick.C:
		}
	}
}

// holdsFor polls cond every 10 ms for the duration d and fails the test,
// saying what should have held, as soon as it does not: the check that
// something does not happen (by the time it would have).
func holdsFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if !cond() {
			t.Fatalf("no longer so: %s", what)
		}
		select {
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}

// received is one request a receiver got.
type received struct {
	At          time.Time
	Method      string
	Delivery    string
	Event       string
	ContentType string
	UserAgent   string
	Signature   string
	// SignatureErr is what the receiver's own check of the signature
	// found wrong (nil: it is right).
	SignatureErr error
	Body         []byte
	Envelope     struct {
		ID         string          `json:"id"`
		Type       string          `json:"type"`
		OccurredAt string          `json:"occurred_at"`
		Data       json.RawMessage `json:"data"`
	}
}

// data decodes the envelope's data.
func (r received) data(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Envelope.Data, &m); err != nil {
		t.Fatalf("data of delivery %s: %v", r.Delivery, err)
	}
	return m
}

// receiver is a recruiter's endpoint: it checks each delivery's signature
// with its own code and the subscription's secret, keeps what it got, and
// answers what answer says (by default 204).
type receiver struct {
	t   *testing.T
	srv *httptest.Server

	mu     sync.Mutex
	secret string
	got    []received
	// answer decides the status of the n-th request (from 0); it may
	// block, until the request's context ends.
	answer func(r *http.Request, n int, got received) int
}

func newReceiver(t *testing.T, answer func(r *http.Request, n int, got received) int) *receiver {
	t.Helper()
	rc := &receiver{t: t, answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

// URL is where the receiver listens, with a path of its own.
func (rc *receiver) URL() string { return rc.srv.URL + "/hooks/jobboard" }

// keySecret tells the receiver the subscription's secret.
func (rc *receiver) keySecret(secret string) {
	rc.mu.Lock()
	rc.secret = secret
	rc.mu.Unlock()
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	g := received{
		At: time.Now(), Method: r.Method, Delivery: r.Header.Get("Jobboard-Delivery"), Event: r.Header.Get("Jobboard-Event"),
		ContentType: r.Header.Get("Content-Type"), UserAgent: r.Header.Get("User-Agent"),
		Signature: r.Header.Get("Jobboard-Signature"), Body: body,
	}
	json.Unmarshal(body, &g.Envelope) //nolint:errcheck // the checks compare the fields
	rc.mu.Lock()
	g.SignatureErr = verifySignature(rc.secret, g.Signature, body, time.Now())
	n := len(rc.got)
	rc.got = append(rc.got, g)
	answer := rc.answer
	rc.mu.Unlock()
	status := http.StatusNoContent
	if answer != nil {
		status = answer(r, n, g)
	}
	w.WriteHeader(status)
}

// requests returns what the receiver has got so far.
func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func (rc *receiver) count() int { return len(rc.requests()) }

// verifySignature checks a Jobboard-Signature as a recruiter's receiver
// would, written here from the contract rather than with the package's
// code: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">, keyed with
// the secret's 64 hex characters as bytes, t within five minutes.
func verifySignature(secret, header string, body []byte, at time.Time) error {
	var ts, v1 string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			v1 = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("no t in %q", header)
	}
	if d := at.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("t=%s is %s away", ts, d)
	}
	got, err := hex.DecodeString(v1)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("v1 in %q is not a hex SHA-256", header)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(body)))
	if !hmac.Equal(mac.Sum(nil), got) {
		return errors.New("the signature does not match")
	}
	return nil
}
