package http_test

import (
	"context"
	"net/http"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/jobboard/jobboard/internal/smtptest"
	"github.com/jobboard/jobboard/internal/testdb"
	"github.com/jobboard/jobboard/internal/testfiles"
	"github.com/jobboard/jobboard/mailer"
	"github.com/jobboard/jobboard/projections"
	"github.com/jobboard/jobboard/replay"
)

// emailService runs the job board on a database of its own (so that no
// other test's mails reach its mail server) with mail going to server.
func emailService(t *testing.T, server *smtptest.Server) (*service, *testdb.DB) {
	t.Helper()
	own := testdb.New(t)
	s := startServiceOn(t, own, map[string]string{
		"SMTP_URL":       server.URL(),
		"MAIL_FROM":      "Job Board <jobs@jobboard.test>",
		"APP_BASE_URL":   "https://jobs.example",
		"MAIL_RETRY_MIN": "50ms",
		"MAIL_RETRY_MAX": "500ms",
		// A stalled server is given up on well before it wakes up.
		"MAIL_SEND_TIMEOUT": "2s",
	})
	return s, own
}

// mailParts returns the leaf parts of a mail, by media type.
func mailParts(t *testing.T, raw []byte) (*mail.Message, map[string][]byte) {
	t.Helper()
	msg, leaves, err := smtptest.Parse(raw)
	if err != nil {
		t.Fatalf("not a mail: %v", err)
	}
	parts := map[string][]byte{}
	for _, l := range leaves {
		parts[l.ContentType] = l.Body
	}
	return msg, parts
}

// One application, one mail to the recruiter, with the resume attached and
// the applicant's text escaped.
func TestEmailToTheRecruiter(t *testing.T) {
	is := is.New(t)
	server := smtptest.Start(t)
	s, _ := emailService(t, server)
	owner := jobsRegister(t, s, "recruiter", "Mail Co")
	seeker := jobsRegister(t, s, "job_seeker", "")
	job := jobsPost(t, s, owner.token, jobsBody("Mail Engineer"))

	resume := testfiles.PDF(3000)
	res := appsPostForm(t, s, seeker.token, job.ID, &appsFile{name: "my cv.pdf", content: resume},
		"name", `<script>alert("x")</script>`, "cover_letter", "I <b>love</b> mail.\nSecond line.")
	app := appsDecode(t, res, http.StatusCreated)

	got := server.WaitFor(1, 30*time.Second)
	is.Equal(len(got), 1)
	is.Equal(got[0].To, []string{owner.email}) // to the job's recruiter
	msg, parts := mailParts(t, got[0].Data)
	is.Equal(msg.Header.Get("Subject"), "New application: Mail Engineer")
	is.Equal(msg.Header.Get("Message-Id"), "<application-"+app.ID+"@jobboard.test>") // derived from the application
	html, text := string(parts["text/html"]), string(parts["text/plain"])
	is.True(!strings.Contains(html, "<script>"))                                     // the name is escaped in HTML
	is.True(strings.Contains(html, "&lt;script&gt;"))                                // and shown as text
	is.True(!strings.Contains(html, "<b>love</b>"))                                  // so is the cover letter
	is.True(strings.Contains(text, "I <b>love</b> mail."))                           // the text part has it as written
	is.True(strings.Contains(text, seeker.email))                                    // the applicant's email
	is.True(strings.Contains(text, "https://jobs.example/app/applications/"+app.ID)) // and a link to the application
	is.Equal(parts["application/pdf"], resume)                                       // the resume, attached byte for byte

	// The queue says it was sent, once.
	ctx := t.Context()
	var deliveries []mailer.Delivery
	if !eventually(t, 10*time.Second, func() bool {
		var err error
		deliveries, err = mailer.NewQueue(s.app.Pool).List(ctx, "", 10)
		return err == nil && len(deliveries) == 1 && deliveries[0].Status == mailer.StatusSent
	}) {
		t.Fatalf("the delivery was not recorded as sent: %+v", deliveries)
	}

	// The counter is on /metrics.
	metrics := s.do(http.MethodGet, "/metrics", nil)
	is.Equal(metrics.status, http.StatusOK)
	is.True(strings.Contains(string(metrics.body), "jobboard_emails_sent_total 1"))
	is.True(strings.Contains(string(metrics.body), "jobboard_emails_oldest_pending_age_seconds 0"))

	// Rebuilding every read model from the log sends nothing again.
	_, err := replay.Run(ctx, s.db.Owner, projections.All(), replay.Options{})
	is.NoErr(err)
	after, err := mailer.NewQueue(s.app.Pool).List(ctx, "", 10)
	is.NoErr(err)
	is.Equal(after, deliveries)         // nothing was queued
	is.Equal(len(server.Messages()), 1) // nor sent
}

// A mail server that accepts connections and then hangs slows down neither
// writes nor the reads that follow them.
func TestStalledMailServerIsNotInTheWay(t *testing.T) {
	is := is.New(t)
	server := smtptest.Start(t)
	server.Stall(10 * time.Second)
	s, _ := emailService(t, server)
	owner := jobsRegister(t, s, "recruiter", "Stall Co")
	seeker := jobsRegister(t, s, "job_seeker", "")

	// Every request below must answer long before the server would wake
	// up: none of them waits for it.
	within := func(what string, start time.Time) {
		t.Helper()
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%s took %s while the mail server stalled", what, d)
		}
	}
	for i := range 3 {
		start := time.Now()
		job := jobsPost(t, s, owner.token, jobsBody("Stall Job "+jobsMarker()))
		within("POST /jobs", start)
		start = time.Now()
		jobsGet(t, s, job.ID, "")
		within("GET /jobs/{id}", start)
		start = time.Now()
		appsApply(t, s, seeker.token, job.ID, map[string]string{"cover_letter": "attempt " + string(rune('a'+i))})
		within("POST /jobs/{id}/apply", start)
		start = time.Now()
		if n := appsCount(t, s, job.ID, owner.token); n != 1 {
			t.Fatalf("application_count %d, want 1", n)
		}
		within("reading the application count", start)
	}

	// Once the server answers again, every mail goes, once each.
	server.Stall(0)
	got := server.WaitFor(3, 60*time.Second)
	is.Equal(len(got), 3)
}

// Mails accepted while the mail server is down go out, once, when it is
// back.
func TestEmailAfterAMailServerOutage(t *testing.T) {
	is := is.New(t)
	server := smtptest.Start(t)
	server.Stop()
	s, own := emailService(t, server)
	owner := jobsRegister(t, s, "recruiter", "Outage Co")
	seeker := jobsRegister(t, s, "job_seeker", "")
	job := jobsPost(t, s, owner.token, jobsBody("Outage Job"))
	app := appsApply(t, s, seeker.token, job.ID, map[string]string{})

	queue := mailer.NewQueue(own.Pool)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		d, err := queue.List(ctx, "", 10)
		is.NoErr(err)
		if len(d) == 1 && d[0].Attempts >= 2 {
			is.Equal(d[0].Status, mailer.StatusPending) // still pending, retried
			is.True(d[0].LastError != "")               // with the reason
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the mail was not attempted twice while the server was down")
		case <-time.After(20 * time.Millisecond):
		}
	}
	server.Restart()
	got := server.WaitFor(1, 30*time.Second)
	msg, _ := mailParts(t, got[0].Data)
	is.Equal(msg.Header.Get("Message-Id"), "<application-"+app.ID+"@jobboard.test>")
	is.Equal(len(server.Messages()), 1) // exactly one
}
