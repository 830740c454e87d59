package mailer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/matryer/is"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jobboard/jobboard/internal/smtptest"
	"github.com/jobboard/jobboard/internal/testdb"
)

var db *testdb.DB

func TestMain(m *testing.M) { testdb.Main(m, &db) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fixture is a fresh database with a queue, and a source that makes an
// application out of any id, addressed to the recruiter given for it.
type fixture struct {
	db        *testdb.DB
	queue     *Queue
	due       *Due
	mu        sync.Mutex
	recipient map[uuid.UUID]mail.Address
}

func newFixture(t *testing.T) *fixture {
	own := testdb.New(t)
	return &fixture{db: own, queue: NewQueue(own.Pool), due: NewDue(), recipient: map[uuid.UUID]mail.Address{}}
}

func (f *fixture) source() Source {
	return SourceFunc(func(_ context.Context, ref Ref) (Mail, error) {
		f.mu.Lock()
		to := f.recipient[ref.ID]
		f.mu.Unlock()
		a := testApplication()
		a.ID, a.RecruiterName, a.RecruiterEmail = ref.ApplicationID, to.Name, to.Address
		return newApplication(a), nil
	})
}

// queueMail queues a mail about a new application to recruiter, as the
// handler does, and tells the workers its id.
func (f *fixture) queueMail(t *testing.T, recruiter string) uuid.UUID {
	t.Helper()
	return f.queueMailTo(t, mail.Address{Name: "Ann Recruiter", Address: recruiter})
}

// queueMailTo is queueMail to a recruiter of that name.
func (f *fixture) queueMailTo(t *testing.T, recruiter mail.Address) uuid.UUID {
	t.Helper()
	id := uuid.New()
	f.mu.Lock()
	f.recipient[id] = recruiter
	f.mu.Unlock()
	ctx := testCtx(t)
	ref := Ref{ID: id, Kind: KindNewApplication, ApplicationID: id, EventID: uuid.New(), EventPosition: 1}
	tx, err := f.db.Pool.Begin(ctx)
	if err == nil {
		err = enqueue(ctx, tx, ref)
	}
	if err == nil {
		err = enqueue(ctx, tx, ref) // queued twice by a redelivery: still one mail
	}
	if err == nil {
		err = tx.Commit(ctx)
	}
	if err != nil {
		t.Fatalf("queue a mail: %v", err)
	}
	f.due.Queued(id)
	return id
}

func (f *fixture) startWorker(t *testing.T, sender Sender, metrics *Metrics) {
	t.Helper()
	f.startWorkerTold(t, f.due, sender, metrics)
}

// startWorkerTold starts a worker told what is due by due: another
// process's worker has a Due of its own, told nothing of what this
// fixture queues.
func (f *fixture) startWorkerTold(t *testing.T, due *Due, sender Sender, metrics *Metrics) {
	t.Helper()
	w := NewWorker(f.queue, sender, f.source(), due, WorkerConfig{
		From: "jobs@jobboard.example", BaseURL: "http://localhost:8080",
		SendTimeout: 2 * time.Second, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Poll: 100 * time.Millisecond,
	}, metrics, quiet())
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
}

func (f *fixture) delivery(t *testing.T, id uuid.UUID) Delivery {
	t.Helper()
	all, err := f.queue.List(testCtx(t), "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range all {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("no delivery for %s", id)
	return Delivery{}
}

// waitFor polls cond until it holds, or fails the test with what after
// 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 20s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitStatus waits until the delivery of id has status want.
func (f *fixture) waitStatus(t *testing.T, id uuid.UUID, want Status) Delivery {
	t.Helper()
	var d Delivery
	waitFor(t, fmt.Sprintf("delivery %s is not %s", id, want), func() bool {
		d = f.delivery(t, id)
		return d.Status == want
	})
	return d
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newSMTPSender(t *testing.T, server *smtptest.Server) Sender {
	t.Helper()
	s, err := NewSender(server.URL(), "", 2*time.Second, quiet())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func messageID(t *testing.T, m smtptest.Message) string {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	return msg.Header.Get("Message-Id")
}

func TestWorkerSendsAQueuedMail(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	server := smtptest.Start(t)
	reg := prometheus.NewRegistry()
	metrics := NewMetrics(reg, f.queue)
	f.startWorker(t, newSMTPSender(t, server), metrics)

	id := f.queueMail(t, "ann@acme.example")
	got := server.WaitFor(1, 20*time.Second)
	is.Equal(got[0].To, []string{"ann@acme.example"})                                // to the recruiter
	is.Equal(got[0].From, "jobs@jobboard.example")                                   // from MAIL_FROM
	is.Equal(messageID(t, got[0]), "<application-"+id.String()+"@jobboard.example>") // the application's Message-ID
	d := f.waitStatus(t, id, StatusSent)
	is.Equal(d.Attempts, 1)                                                                 // at the first attempt
	is.True(d.SentAt != nil)                                                                // with the time it went
	is.Equal(testutil.ToFloat64(metrics.sentTotal.WithLabelValues("new_application")), 1.0) // counted
	is.Equal(len(server.Messages()), 1)                                                     // once
}

// A recruiter whose name holds a quote and a backslash gets the mail, with
// the name as written.
func TestWorkerSendsToANameWithQuotes(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	server := smtptest.Start(t)
	f.startWorker(t, newSMTPSender(t, server), nil)

	id := f.queueMailTo(t, mail.Address{Name: `O"Brien \ Co`, Address: "obrien@acme.example"})
	got := server.WaitFor(1, 20*time.Second)
	is.Equal(got[0].To, []string{"obrien@acme.example"}) // delivered to the recruiter
	msg, _ := parseMail(t, got[0].Data)
	to, err := msg.Header.AddressList("To")
	is.NoErr(err)
	is.Equal(to, []*mail.Address{{Name: `O"Brien \ Co`, Address: "obrien@acme.example"}}) // the name arrived intact
	d := f.waitStatus(t, id, StatusSent)
	is.Equal(d.Attempts, 1) // at the first attempt
	is.Equal(d.LastError, "")
}

// A server that offers no STARTTLS gets no mail from a sender that
// requires it (the default): the mail waits, with the reason recorded.
func TestWorkerSendsNothingWithoutSTARTTLS(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	server := smtptest.Start(t)
	sender, err := NewSender("smtp://"+server.Addr(), "", 2*time.Second, quiet())
	is.NoErr(err)
	f.startWorker(t, sender, nil)

	id := f.queueMail(t, "ann@acme.example")
	waitFor(t, "fewer than 2 attempts", func() bool { return f.delivery(t, id).Attempts >= 2 })
	d := f.delivery(t, id)
	is.Equal(d.Status, StatusPending)                  // kept for another try
	is.True(strings.Contains(d.LastError, "STARTTLS")) // saying why
	is.Equal(len(server.Messages()), 0)                // nothing went in clear text
}

// Server down, apply, server up: exactly one mail.
func TestWorkerRetriesThroughAnOutage(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	server := smtptest.Start(t)
	server.Stop()
	metrics := NewMetrics(prometheus.NewRegistry(), f.queue)
	f.startWorker(t, newSMTPSender(t, server), metrics)

	id := f.queueMail(t, "ann@acme.example")
	waitFor(t, "fewer than 3 attempts while the server was down", func() bool { return f.delivery(t, id).Attempts >= 3 })
	d := f.delivery(t, id)
	is.Equal(d.Status, StatusPending)                                                         // still pending while the server is down
	is.True(d.LastError != "")                                                                // with the reason recorded
	is.True(testutil.ToFloat64(metrics.retriedTotal.WithLabelValues("new_application")) >= 2) // and the retries counted

	server.Restart()
	server.WaitFor(1, 20*time.Second)
	f.waitStatus(t, id, StatusSent)
	is.Equal(len(server.Messages()), 1) // exactly one mail
}

// A 5xx refusal of the recipient is final; other mails still go.
func TestWorkerRecordsAPermanentRefusal(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	server := smtptest.Start(t)
	server.Refuse("gone@acme.example")
	metrics := NewMetrics(prometheus.NewRegistry(), f.queue)
	f.startWorker(t, newSMTPSender(t, server), metrics)

	refused := f.queueMail(t, "gone@acme.example")
	fine := f.queueMail(t, "ann@acme.example")
	d := f.waitStatus(t, refused, StatusFailed)
	is.Equal(d.Attempts, 1)                                     // not retried
	is.True(bytes.Contains([]byte(d.LastError), []byte("550"))) // the reply is recorded
	f.waitStatus(t, fine, StatusSent)                           // the other one went
	is.Equal(testutil.ToFloat64(metrics.failedTotal.WithLabelValues("new_application")), 1.0)

	// An operator fixes the address and re-queues it.
	n, err := f.queue.Retry(testCtx(t), refused)
	is.NoErr(err)
	is.Equal(n, int64(1))
	is.Equal(f.delivery(t, refused).Status, StatusPending) // queued again
	_, err = f.queue.Retry(testCtx(t), fine)
	is.True(err != nil) // a sent one is not
	_, err = f.queue.Retry(testCtx(t), uuid.New())
	is.Equal(err, ErrNotFound)
}

// A mail nobody told this process about (another process queued it, or
// it is due again after a failure) is found by looking in the queue.
func TestWorkerFindsMailsItWasNotToldAbout(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	server := smtptest.Start(t)
	f.startWorkerTold(t, NewDue(), newSMTPSender(t, server), nil) // told nothing

	id := f.queueMail(t, "ann@acme.example")
	got := server.WaitFor(1, 20*time.Second)
	is.Equal(messageID(t, got[0]), "<application-"+id.String()+"@jobboard.example>") // found and sent
	f.waitStatus(t, id, StatusSent)
}

// Two worker processes on one queue send each mail once: one told the
// ids by the handler beside it and claiming them by key, the other
// looking in the queue.
func TestTwoWorkersSendEachMailOnce(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	server := smtptest.Start(t)
	f.startWorker(t, newSMTPSender(t, server), nil)
	f.startWorkerTold(t, NewDue(), newSMTPSender(t, server), nil)

	const n = 30
	for i := range n {
		f.queueMail(t, fmt.Sprintf("r%d@acme.example", i))
	}
	got := server.WaitFor(n, 30*time.Second)
	seen := map[string]bool{}
	for _, m := range got {
		id := messageID(t, m)
		is.True(!seen[id]) // no mail twice
		seen[id] = true
	}
	// The last outcomes may still be being recorded as the last mails
	// arrive.
	var all []Delivery
	waitFor(t, "not every mail is recorded as sent", func() bool {
		var err error
		all, err = f.queue.List(testCtx(t), StatusSent, 100)
		is.NoErr(err)
		return len(all) >= n
	})
	is.Equal(len(all), n) // every one recorded as sent
	for _, d := range all {
		is.Equal(d.Attempts, 1) // each at its first attempt
	}
	is.Equal(len(server.Messages()), n) // and nothing more arrived meanwhile
}

// A mail server that accepts connections and hangs holds up only the mail.
func TestStalledServerIsCutOffAndRetried(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	server := smtptest.Start(t)
	server.Stall(time.Hour)
	f.startWorker(t, newSMTPSender(t, server), nil)
	id := f.queueMail(t, "ann@acme.example")

	waitFor(t, "a hanging server was not given up on", func() bool { return f.delivery(t, id).LastError != "" })
	server.Stall(0)
	f.waitStatus(t, id, StatusSent)
	is.Equal(len(server.Messages()), 1) // sent once it answered
}

func TestDirSenderWritesEML(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	dir := t.TempDir()
	sender, err := NewSender("", dir, time.Second, quiet())
	is.NoErr(err)
	f.startWorker(t, sender, nil)

	id := f.queueMail(t, "ann@acme.example")
	f.waitStatus(t, id, StatusSent)
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	is.NoErr(err)
	is.Equal(len(files), 1) // one file
	raw, err := os.ReadFile(files[0])
	is.NoErr(err)
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	is.NoErr(err)                                                            // a mail a client can open
	is.Equal(msg.Header.Get("Subject"), "New application: Backend Engineer") // the real message
}

func TestNewSenderRefusesBadURLs(t *testing.T) {
	is := is.New(t)
	for _, u := range []string{"http://mail.example", "smtp://", "smtp://host:99999", "smtp://host:x"} {
		_, err := NewSender(u, "", time.Second, quiet())
		is.True(err != nil) // refused
	}
	s, err := NewSender("smtps://user:secret@mail.example", "", time.Second, quiet())
	is.NoErr(err)
	is.Equal(s.String(), "smtps://mail.example") // no password in logs
}
