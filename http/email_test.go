package http_test

import (
	"context"
	"mime"
	"net/http"
	"net/mail"
	"slices"
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

// byRecipient returns the one mail of msgs that went to addr.
func byRecipient(t *testing.T, msgs []smtptest.Message, addr string) smtptest.Message {
	t.Helper()
	var found []smtptest.Message
	for _, m := range msgs {
		if len(m.To) == 1 && m.To[0] == addr {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d mails to %s, want 1", len(found), addr)
	}
	return found[0]
}

// One application, one mail to the recruiter, with the resume attached and
// the applicant's text escaped, and one to the applicant.
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

	got := server.WaitFor(2, 30*time.Second)
	is.Equal(len(got), 2)                                             // the recruiter's and the applicant's
	msg, parts := mailParts(t, byRecipient(t, got, owner.email).Data) // to the job's recruiter
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

	msg, parts = mailParts(t, byRecipient(t, got, seeker.email).Data) // to the applicant
	is.Equal(msg.Header.Get("Subject"), "Application received: Mail Engineer")
	is.True(!strings.Contains(string(parts["text/html"]), "<script>")) // their name is escaped too
	is.Equal(parts["application/pdf"], nil)                            // nothing attached

	// The queue says each was sent, once.
	ctx := t.Context()
	var deliveries []mailer.Delivery
	if !eventually(t, 10*time.Second, func() bool {
		var err error
		deliveries, err = mailer.NewQueue(s.app.Pool).List(ctx, "", 10)
		return err == nil && len(deliveries) == 2 &&
			deliveries[0].Status == mailer.StatusSent && deliveries[1].Status == mailer.StatusSent
	}) {
		t.Fatalf("the deliveries were not recorded as sent: %+v", deliveries)
	}

	// The counters are on /metrics, by kind of mail.
	metrics := s.do(http.MethodGet, "/metrics", nil)
	is.Equal(metrics.status, http.StatusOK)
	is.True(strings.Contains(string(metrics.body), `jobboard_emails_sent_total{kind="new_application"} 1`))
	is.True(strings.Contains(string(metrics.body), `jobboard_emails_sent_total{kind="application_received"} 1`))
	is.True(strings.Contains(string(metrics.body), `jobboard_emails_sent_total{kind="status_changed"} 0`))
	is.True(strings.Contains(string(metrics.body), "jobboard_emails_oldest_pending_age_seconds 0"))

	// Rebuilding every read model from the log sends nothing again.
	_, err := replay.Run(ctx, s.db.Owner, projections.All(), replay.Options{Keys: testdb.Keyring()})
	is.NoErr(err)
	after, err := mailer.NewQueue(s.app.Pool).List(ctx, "", 10)
	is.NoErr(err)
	is.Equal(after, deliveries)         // nothing was queued
	is.Equal(len(server.Messages()), 2) // nor sent
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

	// Once the server answers again, every mail goes, once each: the
	// recruiter's and the applicant's for each application.
	server.Stall(0)
	got := server.WaitFor(6, 60*time.Second)
	is.Equal(len(got), 6)
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
		if len(d) == 2 && d[0].Attempts >= 2 && d[1].Attempts >= 2 {
			for _, one := range d {
				is.Equal(one.Status, mailer.StatusPending) // still pending, retried
				is.True(one.LastError != "")               // with the reason
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the mail was not attempted twice while the server was down")
		case <-time.After(20 * time.Millisecond):
		}
	}
	server.Restart()
	got := server.WaitFor(2, 30*time.Second)
	msg, _ := mailParts(t, byRecipient(t, got, owner.email).Data)
	is.Equal(msg.Header.Get("Message-Id"), "<application-"+app.ID+"@jobboard.test>")
	byRecipient(t, got, seeker.email)   // and the applicant's
	is.Equal(len(server.Messages()), 2) // exactly one each
}

// pipelineMails waits until n mails have arrived in all, and returns the
// ones after the first seen.
func pipelineMails(t *testing.T, server *smtptest.Server, seen, n int) []smtptest.Message {
	t.Helper()
	return server.WaitFor(n, 30*time.Second)[seen:]
}

// moveApplication moves an application through the API, as token.
func moveApplication(t *testing.T, s *service, token, id string, body map[string]string) {
	t.Helper()
	res := jobsCall(t, s, http.MethodPatch, "/applications/"+id, token, body)
	if res.status == http.StatusNotFound || res.status == http.StatusMethodNotAllowed {
		t.Fatalf("PATCH /applications/{id} answers %d: is the endpoint there yet? %s", res.status, res)
	}
	if res.status != http.StatusOK {
		t.Fatalf("PATCH /applications/%s %v: %s", id, body, res)
	}
}

// The hiring pipeline through the API: the applicant hears of the
// submission and of each move to interview, offer or rejected (one mail
// per move, however quick), of nothing else, never of the recruiter's
// reason, and always with the job's title as it is; the recruiter hears of
// a withdrawal.
func TestEmailAboutTheHiringPipeline(t *testing.T) {
	is := is.New(t)
	server := smtptest.Start(t)
	s, own := emailService(t, server)
	owner := jobsRegister(t, s, "recruiter", "Pipeline Co")
	seeker := jobsRegister(t, s, "job_seeker", "")
	other := jobsRegister(t, s, "job_seeker", "")
	job := jobsPost(t, s, owner.token, jobsBody("Pipeline <Engineer>"))

	subjects := func(msgs []smtptest.Message) map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, m := range msgs {
			msg, _ := mailParts(t, m.Data)
			if len(m.To) != 1 {
				t.Fatalf("a mail to %v", m.To)
			}
			out[m.To[0]+" "+msg.Header.Get("Subject")] = msg.Header.Get("Message-Id")
		}
		return out
	}

	app := appsApply(t, s, seeker.token, job.ID, map[string]string{})
	got := subjects(pipelineMails(t, server, 0, 2))
	is.Equal(len(got), 2) // the submission: two mails
	_, ok := got[owner.email+" New application: Pipeline <Engineer>"]
	is.True(ok) // the recruiter's
	_, ok = got[seeker.email+" Application received: Pipeline <Engineer>"]
	is.True(ok) // and the applicant's

	// The job changes its title: the mails from now on say the new one.
	res := jobsCall(t, s, http.MethodPatch, "/jobs/"+job.ID, owner.token, map[string]any{"title": "Platform Engineer"})
	is.Equal(res.status, http.StatusOK)
	const subject = "Your application for Platform Engineer"

	moveApplication(t, s, owner.token, app.ID, map[string]string{"status": "screening"}) // no mail
	moveApplication(t, s, owner.token, app.ID, map[string]string{"status": "interview"}) // a mail
	got = subjects(pipelineMails(t, server, 2, 3))
	is.Equal(len(got), 1)
	_, ok = got[seeker.email+" "+subject]
	is.True(ok) // the interview, and nothing about the screening

	moveApplication(t, s, owner.token, app.ID, map[string]string{"status": "offer"})     // a mail
	moveApplication(t, s, owner.token, app.ID, map[string]string{"status": "interview"}) // a step back: no mail
	moveApplication(t, s, owner.token, app.ID, map[string]string{"status": "rejected", "reason": "SECRET-REASON-xyz"})
	moves := pipelineMails(t, server, 3, 5)
	is.Equal(len(moves), 2) // the offer and the rejection
	words := []string{}
	for _, m := range moves {
		is.Equal(m.To, []string{seeker.email})
		msg, parts := mailParts(t, m.Data)
		is.Equal(msg.Header.Get("Subject"), subject)
		for _, w := range []string{"offer stage", "rejected"} {
			if strings.Contains(string(parts["text/plain"]), w) {
				words = append(words, w)
			}
		}
	}
	slices.Sort(words)
	is.Equal(words, []string{"offer stage", "rejected"}) // each says its move

	// Another applicant applies and withdraws: the recruiter is told.
	app2 := appsApply(t, s, other.token, job.ID, map[string]string{"name": "Cy <Withdrawer>"})
	moveApplication(t, s, other.token, app2.ID, map[string]string{"status": "withdrawn"})
	got = subjects(pipelineMails(t, server, 5, 8))
	is.Equal(len(got), 3)
	_, ok = got[owner.email+" New application: Platform Engineer"]
	is.True(ok)
	_, ok = got[other.email+" Application received: Platform Engineer"]
	is.True(ok)
	_, ok = got[owner.email+" Application withdrawn: Platform Engineer"]
	is.True(ok) // to the recruiter, and nothing to the one who withdrew

	// All sent, each once, and the reason in none.
	queue := mailer.NewQueue(own.Pool)
	if !eventually(t, 10*time.Second, func() bool {
		sent, err := queue.List(t.Context(), mailer.StatusSent, 100)
		return err == nil && len(sent) == 8
	}) {
		t.Fatal("not every mail was recorded as sent")
	}
	all := server.Messages()
	is.Equal(len(all), 8) // nothing more arrived
	ids := map[string]bool{}
	var dec mime.WordDecoder
	for _, m := range all {
		is.True(!strings.Contains(string(m.Data), "SECRET-REASON-xyz")) // not in the raw mail
		msg, parts := mailParts(t, m.Data)
		for _, values := range msg.Header {
			for _, v := range values {
				decoded, err := dec.DecodeHeader(v)
				is.NoErr(err)
				is.True(!strings.Contains(decoded, "SECRET-REASON-xyz")) // nor in a header
			}
		}
		for _, body := range parts {
			is.True(!strings.Contains(string(body), "SECRET-REASON-xyz")) // nor in a part
		}
		id := msg.Header.Get("Message-Id")
		is.True(!ids[id]) // each mail once
		ids[id] = true
	}
	var withdrawal map[string][]byte
	for _, m := range all[5:] {
		if msg, parts := mailParts(t, m.Data); strings.HasPrefix(msg.Header.Get("Subject"), "Application withdrawn") {
			withdrawal = parts
		}
	}
	parts := withdrawal
	is.True(strings.Contains(string(parts["text/plain"]), "Cy <Withdrawer> withdrew"))                       // the applicant's name
	is.True(strings.Contains(string(parts["text/html"]), "Cy &lt;Withdrawer&gt;"))                           // escaped in HTML
	is.True(strings.Contains(string(parts["text/plain"]), "https://jobs.example/app/applications/"+app2.ID)) // a link to it
}
