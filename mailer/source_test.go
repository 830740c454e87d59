package mailer

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"mime"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/bus"
	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/internal/smtptest"
	"github.com/jobboard/jobboard/internal/testdb"
)

// board is the worker side of the service on a database of its own: the
// mailer's consumer group queueing mails from the log, and (once started)
// a worker sending them. Events are appended to the log as the commands
// would, without the commands' checks, so that the mailer is also tried
// with what the domain would refuse.
type board struct {
	t        *testing.T
	db       *testdb.DB
	store    *eventstore.Store
	queue    *Queue
	due      *Due
	versions map[uuid.UUID]int64
	last     eventstore.Record // the last event appended
}

func startBoard(t *testing.T) *board {
	t.Helper()
	own := testdb.New(t)
	logger := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	relay := bus.NewRelay(own.Pool, logger)
	relayCtx, stopRelay := context.WithCancel(context.Background())
	var relayDone sync.WaitGroup
	relayDone.Go(func() { relay.Run(relayCtx) })
	t.Cleanup(func() { stopRelay(); relayDone.Wait() })

	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, watermill.NewSlogLogger(logger))
	if err != nil {
		t.Fatalf("new router: %v", err)
	}
	due := NewDue()
	if err := Register(router, own.Pool, relay, bus.SubscriberConfig{Keys: testdb.Keyring(), IdlePoll: 50 * time.Millisecond}, due); err != nil {
		t.Fatalf("register the mailer: %v", err)
	}
	routerDone := make(chan error, 1)
	go func() { routerDone <- router.Run(context.Background()) }()
	select {
	case <-router.Running():
	case err := <-routerDone:
		t.Fatalf("router stopped: %v", err)
	case <-testCtx(t).Done():
		t.Fatal("router did not start")
	}
	t.Cleanup(func() {
		if err := router.Close(); err != nil {
			t.Errorf("close router: %v", err)
		}
		if err := <-routerDone; err != nil {
			t.Errorf("router: %v", err)
		}
	})
	return &board{t: t, db: own, store: eventstore.New(own.Pool, eventstore.WithKeyring(testdb.Keyring()), eventstore.OnAppended(relay.Appended)),
		queue: NewQueue(own.Pool), due: due, versions: map[uuid.UUID]int64{}}
}

// startWorker starts a worker that reads mails from the log and sends
// them to server.
func (b *board) startWorker(server *smtptest.Server) {
	b.t.Helper()
	w := NewWorker(b.queue, newSMTPSender(b.t, server), LogSource{Store: b.store, Pool: b.db.Pool}, b.due, WorkerConfig{
		From: "Job Board <jobs@jobboard.example>", BaseURL: "https://jobs.example",
		SendTimeout: 2 * time.Second, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Poll: 100 * time.Millisecond,
	}, nil, quiet())
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	b.t.Cleanup(func() { stop(); <-done })
}

// append adds e to the stream id of type streamType, at its next version.
func (b *board) append(streamType string, id uuid.UUID, e domain.Event) eventstore.Record {
	b.t.Helper()
	appended, err := b.store.Append(testCtx(b.t), eventstore.Stream{Type: streamType, ID: id}, b.versions[id], []domain.Event{e})
	if err != nil {
		b.t.Fatalf("append %s: %v", e.EventType(), err)
	}
	b.versions[id]++
	b.last = appended.Records[0]
	return b.last
}

func (b *board) register(role domain.Role, name, email string) uuid.UUID {
	id := uuid.New()
	b.append(domain.StreamUser, id, domain.UserRegistered{UserID: id, Email: email, Name: name, Role: role, RegisteredAt: time.Now()})
	return id
}

func (b *board) post(recruiter uuid.UUID, title string) uuid.UUID {
	id := uuid.New()
	b.append(domain.StreamJob, id, domain.JobPosted{JobID: id, RecruiterID: recruiter, Title: title, Description: "d",
		Company: "Acme", Location: "Remote", EmploymentType: domain.FullTime, PostedAt: time.Now()})
	return id
}

func (b *board) retitle(job uuid.UUID, title string) {
	b.append(domain.StreamJob, job, domain.JobUpdated{JobID: job, Title: &title, UpdatedAt: time.Now()})
}

// application is one made on the board, and where it stands.
type application struct {
	id, job, recruiter, applicant uuid.UUID
	status                        domain.ApplicationStatus
	submitted                     eventstore.Record
}

func (b *board) apply(job, recruiter uuid.UUID, name, email, cover string) *application {
	a := &application{id: uuid.New(), job: job, recruiter: recruiter, applicant: uuid.New(), status: domain.ApplicationSubmittedStatus}
	a.submitted = b.append(domain.StreamApplication, a.id, domain.ApplicationSubmitted{ApplicationID: a.id, JobID: job,
		ApplicantID: a.applicant, RecruiterID: recruiter, Name: name, Email: email, CoverLetter: cover, SubmittedAt: time.Now()})
	return a
}

// move records the recruiter's move of a to status to.
func (b *board) move(a *application, to domain.ApplicationStatus, reason string) eventstore.Record {
	r := b.append(domain.StreamApplication, a.id, domain.ApplicationStatusChanged{ApplicationID: a.id, JobID: a.job,
		ApplicantID: a.applicant, RecruiterID: a.recruiter, From: a.status, To: to, Reason: reason,
		ChangedBy: a.recruiter, ChangedAt: time.Now()})
	a.status = to
	return r
}

func (b *board) withdraw(a *application) eventstore.Record {
	r := b.append(domain.StreamApplication, a.id, domain.ApplicationWithdrawn{ApplicationID: a.id, JobID: a.job,
		ApplicantID: a.applicant, RecruiterID: a.recruiter, From: a.status, WithdrawnAt: time.Now()})
	a.status = domain.StatusWithdrawn
	return r
}

// handled waits until the mailer's consumer group has handled the last
// event appended (and so queued what it causes).
func (b *board) handled() {
	b.t.Helper()
	last := b.last
	waitFor(b.t, fmt.Sprintf("the mailer did not handle event %d", last.Position), func() bool {
		var done bool
		err := b.db.Pool.QueryRow(testCtx(b.t), `
SELECT (tx_id, position) >= ($1::text::xid8, $2) FROM checkpoints WHERE name = $3`,
			fmt.Sprint(last.TxID), last.Position, ConsumerGroup).Scan(&done)
		return err == nil && done
	})
}

// deliveries lists the queue in the order of the events, and the mails
// of one event in the order of Kinds.
func (b *board) deliveries() []Delivery {
	b.t.Helper()
	all, err := b.queue.List(testCtx(b.t), "", 1000)
	if err != nil {
		b.t.Fatal(err)
	}
	slices.SortFunc(all, func(x, y Delivery) int {
		if x.EventPosition != y.EventPosition {
			return cmp.Compare(x.EventPosition, y.EventPosition)
		}
		return cmp.Compare(slices.Index(Kinds, x.Kind), slices.Index(Kinds, y.Kind))
	})
	return all
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// Each event queues the mails it causes, keyed by event and kind: several
// moves of one application queue one mail each, a move that tells the
// applicant nothing queues none, and an event handled twice queues
// nothing more.
func TestMailsArePerEventAndKind(t *testing.T) {
	is := is.New(t)
	b := startBoard(t)
	recruiter := b.register(domain.RoleRecruiter, "Ann", "ann@acme.example")
	job := b.post(recruiter, "Backend Engineer")
	a := b.apply(job, recruiter, "Bob", "bob@example.com", "")
	b.handled()
	got := b.deliveries()
	is.Equal(len(got), 2) // a submission: two mails
	is.Equal(got[0].Kind, KindNewApplication)
	is.Equal(got[0].ID, a.id) // the recruiter's keeps the application's id
	is.Equal(got[1].Kind, KindApplicationReceived)
	is.True(got[1].ID != a.id) // the applicant's has its own
	for _, d := range got {
		is.Equal(d.ApplicationID, a.id)
		is.Equal(d.EventID, a.submitted.EventID)        // both name the submission
		is.Equal(d.EventPosition, a.submitted.Position) // and its place in the log
	}

	b.move(a, domain.StatusScreening, "")
	b.handled()
	is.Equal(len(b.deliveries()), 2) // screening: no mail

	interview := b.move(a, domain.StatusInterview, "")
	offer := b.move(a, domain.StatusOffer, "")
	b.handled()
	got = b.deliveries()
	is.Equal(len(got), 4) // two quick moves: two mails
	is.Equal(got[2].Kind, KindStatusChanged)
	is.Equal(got[2].EventID, interview.EventID)
	is.Equal(got[3].Kind, KindStatusChanged)
	is.Equal(got[3].EventID, offer.EventID)
	is.True(got[2].ID != got[3].ID) // one key per event

	b.move(a, domain.StatusInterview, "")
	b.handled()
	is.Equal(len(b.deliveries()), 4) // a step back: no mail

	rejected := b.move(a, domain.StatusRejected, "SECRET-REASON-xyz")
	b.handled()
	got = b.deliveries()
	is.Equal(len(got), 5) // a rejection: one mail
	is.Equal(got[4].EventID, rejected.EventID)

	other := b.apply(job, recruiter, "Cy", "cy@example.com", "")
	withdrawn := b.withdraw(other)
	b.handled()
	got = b.deliveries()
	is.Equal(len(got), 8) // the other's two on submission, and the recruiter's on its withdrawal
	is.Equal(got[7].Kind, KindApplicationWithdrawn)
	is.Equal(got[7].Kind.Recipient(), "recruiter")
	is.Equal(got[7].EventID, withdrawn.EventID)

	// The same events handled again (a redelivery) queue nothing more,
	// with the same ids.
	ctx := testCtx(t)
	for _, r := range []eventstore.Record{a.submitted, interview, offer, rejected, withdrawn} {
		refs, err := mailsFor(r)
		is.NoErr(err)
		tx, err := b.db.Pool.Begin(ctx)
		is.NoErr(err)
		for _, ref := range refs {
			is.NoErr(enqueue(ctx, tx, ref))
			is.True(slices.ContainsFunc(got, func(d Delivery) bool { return d.ID == ref.ID && d.Kind == ref.Kind })) // the id it had
		}
		is.NoErr(tx.Commit(ctx))
	}
	is.Equal(len(b.deliveries()), 8) // nothing more
}

// A mail's key does not depend on anything but its event and kind.
func TestRefForIsStable(t *testing.T) {
	is := is.New(t)
	r := eventstore.Record{EventID: uuid.New(), StreamID: uuid.New(), Position: 7, Type: applicationSubmitted}
	is.Equal(refFor(KindApplicationReceived, r), refFor(KindApplicationReceived, r)) // the same every time
	is.True(refFor(KindApplicationReceived, r).ID != refFor(KindStatusChanged, r).ID)
	is.Equal(refFor(KindNewApplication, r).ID, r.StreamID) // the application's id, as before
	other := r
	other.EventID = uuid.New()
	is.True(refFor(KindStatusChanged, r).ID != refFor(KindStatusChanged, other).ID) // one per event
}

// What the log says reaches the mails: the job's title as the applicant
// saw it for the recruiter's mail about the application and as it is now
// for the others, the new status, the recruiter's address for a
// withdrawal; the recruiter's reason reaches none.
func TestLogSource(t *testing.T) {
	is := is.New(t)
	b := startBoard(t)
	ctx := testCtx(t)
	recruiter := b.register(domain.RoleRecruiter, "Ann Recruiter", "ann@acme.example")
	job := b.post(recruiter, "Old Title")
	a := b.apply(job, recruiter, "Bob", "bob@example.com", "Dear Ann")
	b.retitle(job, "New Title")
	rejected := b.move(a, domain.StatusRejected, "SECRET-REASON-xyz")
	other := b.apply(job, recruiter, "Cy", "cy@example.com", "")
	withdrawn := b.withdraw(other)
	source := LogSource{Store: b.store, Pool: b.db.Pool}

	m, err := source.Load(ctx, refFor(KindNewApplication, a.submitted))
	is.NoErr(err)
	is.Equal(m.JobTitle, "Old Title") // as the applicant saw it
	is.Equal(m.RecruiterEmail, "ann@acme.example")
	is.Equal(m.CoverLetter, "Dear Ann")

	m, err = source.Load(ctx, Ref{ID: a.id, Kind: KindNewApplication, ApplicationID: a.id})
	is.NoErr(err)                     // a mail queued before mails named their event
	is.Equal(m.JobTitle, "Old Title") // is the same mail

	m, err = source.Load(ctx, refFor(KindApplicationReceived, a.submitted))
	is.NoErr(err)
	is.Equal(m.JobTitle, "New Title") // as it is now
	is.Equal(m.ApplicantEmail, "bob@example.com")
	is.Equal(m.CoverLetter, "") // not quoted back
	is.Equal(m.RecruiterEmail, "")

	m, err = source.Load(ctx, refFor(KindStatusChanged, rejected))
	is.NoErr(err)
	is.Equal(m.JobTitle, "New Title")
	is.Equal(m.Status, domain.StatusRejected)
	is.Equal(m.ApplicantName, "Bob")
	is.True(!strings.Contains(fmt.Sprintf("%+v", m), "SECRET")) // the reason is nowhere in what the mail is made of

	m, err = source.Load(ctx, refFor(KindApplicationWithdrawn, withdrawn))
	is.NoErr(err)
	is.Equal(m.JobTitle, "New Title")
	is.Equal(m.Application.ID, other.id)
	is.Equal(m.RecruiterEmail, "ann@acme.example") // from the recruiter's account
	is.Equal(m.RecruiterName, "Ann Recruiter")
	is.Equal(m.ApplicantName, "Cy")

	_, err = source.Load(ctx, refFor(KindStatusChanged, withdrawn))
	is.True(isPermanent(err)) // a mail about an event that is not of its kind is not retried
}

// The whole way, from the log to the mail server: each mail once, to the
// right person, with the job's current title, the status in words, and
// nowhere the recruiter's reason.
func TestMailsFromTheLog(t *testing.T) {
	is := is.New(t)
	b := startBoard(t)
	server := smtptest.Start(t)
	recruiter := b.register(domain.RoleRecruiter, "Ann Recruiter", "ann@acme.example")
	job := b.post(recruiter, "Old Title")
	a := b.apply(job, recruiter, "Bob <b>Seeker</b>", "bob@example.com", "I <i>love</i> Go")
	other := b.apply(job, recruiter, "Cy", "cy@example.com", "")
	// A title the domain would refuse: the mailer must not rely on that.
	b.retitle(job, "Platform <b>Engineer</b>\r\nBcc: victim@example.com")
	for _, to := range []domain.ApplicationStatus{domain.StatusScreening, domain.StatusInterview, domain.StatusOffer, domain.StatusInterview} {
		b.move(a, to, "")
	}
	b.move(a, domain.StatusRejected, "SECRET-REASON-xyz")
	b.withdraw(other)
	b.handled()
	// Sent only now, so that every mail is composed after the new title.
	b.startWorker(server)

	const want = 8 // 2 submissions × 2, interview, offer, rejected, withdrawn
	got := server.WaitFor(want, 30*time.Second)
	waitFor(t, "not every mail is recorded as sent", func() bool {
		sent, err := b.queue.List(testCtx(t), StatusSent, 100)
		return err == nil && len(sent) == want
	})
	got = server.Messages()
	is.Equal(len(got), want) // each mail once

	const title = "Platform <b>Engineer</b> Bcc: victim@example.com"
	type mailSeen struct{ to, subject, text, html string }
	var seen []mailSeen
	ids := map[string]bool{}
	var dec mime.WordDecoder
	for _, m := range got {
		is.True(!strings.Contains(string(m.Data), "SECRET")) // the reason is in no part of the raw mail
		msg, parts := parseMail(t, m.Data)
		for name, values := range msg.Header {
			for _, v := range values {
				decoded, err := dec.DecodeHeader(v)
				is.NoErr(err)
				is.True(!strings.Contains(decoded, "SECRET")) // nor in any header
			}
			is.True(name != "Bcc") // and no header came from the title
		}
		var s mailSeen
		s.to = strings.Join(m.To, ",")
		s.subject = msg.Header.Get("Subject")
		for _, p := range parts {
			is.True(!strings.Contains(string(p.body), "SECRET")) // nor in any part, decoded
			switch p.contentType {
			case "text/plain":
				s.text = string(p.body)
			case "text/html":
				s.html = string(p.body)
			}
		}
		is.True(!strings.Contains(s.html, "<b>")) // user text is escaped in HTML
		is.True(!strings.Contains(s.html, "<i>"))
		id := msg.Header.Get("Message-Id")
		is.True(!ids[id]) // every mail its own Message-ID
		ids[id] = true
		seen = append(seen, s)
	}
	count := func(to, subject string) []mailSeen {
		var out []mailSeen
		for _, s := range seen {
			if s.to == to && s.subject == subject {
				out = append(out, s)
			}
		}
		return out
	}
	is.Equal(len(count("ann@acme.example", "New application: Old Title")), 2)    // the recruiter's, with the title the applicants saw
	is.Equal(len(count("bob@example.com", "Application received: "+title)), 1)   // the applicant's, with the title now
	is.Equal(len(count("cy@example.com", "Application received: "+title)), 1)    // the other applicant's
	is.Equal(len(count("ann@acme.example", "Application withdrawn: "+title)), 1) // the recruiter's about the withdrawal
	is.Equal(len(count("cy@example.com", "Your application for "+title)), 0)     // nothing to the one who withdrew
	moves := count("bob@example.com", "Your application for "+title)
	is.Equal(len(moves), 3) // interview, offer, rejected: the step back and screening sent none
	var words []string
	for _, m := range moves {
		for _, w := range []string{"interview stage", "offer stage", "rejected"} {
			if strings.Contains(m.text, w) && strings.Contains(m.html, w) {
				words = append(words, w)
			}
		}
	}
	slices.Sort(words)
	is.Equal(words, []string{"interview stage", "offer stage", "rejected"}) // each move said in words, in both parts
	withdrawal := count("ann@acme.example", "Application withdrawn: "+title)[0]
	is.True(strings.Contains(withdrawal.text, "Cy withdrew"))                                              // the applicant's name
	is.True(strings.Contains(withdrawal.text, "https://jobs.example/app/applications/"+other.id.String())) // and a link to the application
}

// The migration keeps the mails queued before it: each keeps its id (the
// application's) and so its Message-ID, becomes the recruiter's mail about
// a new application, and learns its event where the log has it.
func TestMigrationKeepsQueuedMails(t *testing.T) {
	is := is.New(t)
	own := testdb.New(t)
	ctx := testCtx(t)
	store := eventstore.New(own.Pool, eventstore.WithKeyring(testdb.Keyring()))
	appID := uuid.New()
	appended, err := store.Append(ctx, eventstore.Stream{Type: domain.StreamApplication, ID: appID}, 0, []domain.Event{
		domain.ApplicationSubmitted{ApplicationID: appID, JobID: uuid.New(), ApplicantID: uuid.New(), RecruiterID: uuid.New(),
			Name: "Bob", Email: "bob@example.com", SubmittedAt: time.Now()},
	})
	is.NoErr(err)
	submitted := appended.Records[0]
	unknown := uuid.New() // a row whose event the log does not have

	// The queue as it was before: 0006's table, with two rows in it.
	before, err := os.ReadFile("../postgres/migrations/0006_email_deliveries.sql")
	is.NoErr(err)
	migration, err := os.ReadFile("../postgres/migrations/0013_mail_per_event.sql")
	is.NoErr(err)
	_, err = own.Owner.Exec(ctx, `DROP TABLE email_deliveries`)
	is.NoErr(err)
	_, err = own.Owner.Exec(ctx, string(before))
	is.NoErr(err)
	_, err = own.Owner.Exec(ctx, `INSERT INTO email_deliveries (application_id, status, attempts, sent_at) VALUES
    ($1, 'sent', 1, now()), ($2, 'pending', 3, NULL)`, appID, unknown)
	is.NoErr(err)
	_, err = own.Owner.Exec(ctx, string(migration))
	is.NoErr(err) // migrated

	var id uuid.UUID
	var kind, status string
	var eventID *uuid.UUID
	var position *int64
	var attempts int
	is.NoErr(own.Owner.QueryRow(ctx, `SELECT id, kind, event_id, event_position, status, attempts FROM email_deliveries WHERE application_id = $1`,
		appID).Scan(&id, &kind, &eventID, &position, &status, &attempts))
	is.Equal(id, appID)                   // the id it had
	is.Equal(kind, "new_application")     // the mail it was
	is.Equal(*eventID, submitted.EventID) // its event
	is.Equal(*position, submitted.Position)
	is.Equal(status, "sent") // and the rest as it was
	is.Equal(attempts, 1)

	is.NoErr(own.Owner.QueryRow(ctx, `SELECT id, kind, event_id FROM email_deliveries WHERE application_id = $1`,
		unknown).Scan(&id, &kind, &eventID))
	is.Equal(id, unknown)
	is.Equal(kind, "new_application")
	is.True(eventID == nil) // kept, without an event

	// The key is the event and kind now: a second mail of one kind about
	// one event is refused, and a mail of another kind without an event
	// too.
	_, err = own.Owner.Exec(ctx, `INSERT INTO email_deliveries (id, kind, application_id, event_id) VALUES ($1, 'new_application', $2, $3)`,
		uuid.New(), appID, submitted.EventID)
	is.True(err != nil)
	_, err = own.Owner.Exec(ctx, `INSERT INTO email_deliveries (id, kind, application_id) VALUES ($1, 'status_changed', $2)`,
		uuid.New(), appID)
	is.True(err != nil)
	_, err = own.Owner.Exec(ctx, `INSERT INTO email_deliveries (id, kind, application_id, event_id) VALUES ($1, 'application_received', $2, $3)`,
		uuid.New(), appID, submitted.EventID)
	is.NoErr(err) // another kind about the same event is another mail
}
