package webhooks_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/matryer/is"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/internal/testdb"
	"github.com/jobboard/jobboard/projections"
	"github.com/jobboard/jobboard/replay"
	"github.com/jobboard/jobboard/webhooks"
)

// TestDeliveryIsSigned: a job posted reaches the subscription as one signed
// POST, with the headers, envelope and job of the contract, and the
// delivery and its attempt are recorded.
func TestDeliveryIsSigned(t *testing.T) {
	is := is.New(t)
	h := newHarness(t)
	rc := newReceiver(t, nil)
	owner := uuid.New()
	sub := h.subscribe(owner, rc.URL(), webhooks.JobPosted)
	rc.keySecret(sub.Secret)
	is.Equal(len(sub.Secret), 64) // 32 bytes, hex
	h.startWorker(testWorkerConfig(), nil)

	jobID, rec := h.postJob(owner, "Go developer")
	waitFor(t, 20*time.Second, "the delivery is recorded delivered", func() bool {
		d := h.deliveries(sub)
		return len(d) == 1 && d[0].Status == webhooks.StatusDelivered
	})
	got := rc.requests()
	is.Equal(len(got), 1) // one POST
	g := got[0]
	is.Equal(g.Method, http.MethodPost)
	is.NoErr(g.SignatureErr) // the receiver's own check of the signature passes
	is.Equal(g.ContentType, "application/json")
	is.Equal(g.Event, "job.posted")
	is.Equal(g.UserAgent, "jobboard-webhooks/1")
	d := h.deliveries(sub)[0]
	is.Equal(g.Delivery, d.ID.String()) // Jobboard-Delivery is the delivery's id
	is.Equal(d.EventID, rec.EventID)
	is.Equal(d.Attempts, 1)
	is.Equal(*d.LastStatusCode, http.StatusNoContent)
	is.True(d.DeliveredAt != nil)

	is.Equal(g.Envelope.ID, rec.EventID.String()) // the envelope's id is the event's
	is.Equal(g.Envelope.Type, "job.posted")
	is.Equal(g.Envelope.OccurredAt, rec.OccurredAt.UTC().Truncate(time.Second).Format(time.RFC3339))
	var job map[string]any
	is.NoErr(json.Unmarshal(g.Envelope.Data, &job))
	is.Equal(job["id"], jobID.String())
	is.Equal(job["title"], "Go developer")
	is.Equal(job["description"], "Build things <well> & fast") // as typed, not HTML-escaped
	is.Equal(job["status"], "open")
	is.Equal(job["recruiter_id"], owner.String())
	is.Equal(job["employment_type"], "full_time")
	is.Equal(job["salary_min"], 50000.0)
	is.Equal(job["salary_currency"], "EUR")
	is.Equal(job["version"], 1.0)
	for _, field := range []string{"company", "location", "remote", "salary_max", "created_at", "updated_at"} {
		_, ok := job[field]
		is.True(ok) // every field of the API's job
	}
	_, counted := job["application_count"]
	is.True(!counted) // the read model's counts are not the job's

	attempts, err := h.queue.Attempts(t.Context(), d.ID)
	is.NoErr(err)
	is.Equal(len(attempts), 1) // the attempt is recorded
	is.Equal(*attempts[0].StatusCode, http.StatusNoContent)
	is.True(attempts[0].Duration != nil)
	is.Equal(attempts[0].Error, "")
}

// TestEventsBecomeWebhooks: each kind of event reaches a subscription that
// asks for it as its webhook name, with the job or application as it
// stood right after it, in the order of the events; a subscription that
// asks for less gets less, and another recruiter's nothing.
func TestEventsBecomeWebhooks(t *testing.T) {
	is := is.New(t)
	h := newHarness(t)
	all, postedOnly, others := newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil)
	owner := uuid.New()
	subAll := h.subscribe(owner, all.URL(), webhooks.EventNames...)
	all.keySecret(subAll.Secret)
	subPosted := h.subscribe(owner, postedOnly.URL(), webhooks.JobPosted)
	postedOnly.keySecret(subPosted.Secret)
	h.subscribe(uuid.New(), others.URL(), webhooks.EventNames...)
	h.startWorker(testWorkerConfig(), nil)

	jobID, _ := h.postJob(owner, "Analyst")
	title, location := "Senior analyst", "Hamburg"
	h.appendEvent(domain.StreamJob, jobID, 1, domain.JobUpdated{JobID: jobID, Title: &title, UpdatedAt: now()})
	// One request that moved and closed the job: one event, told as the
	// closing.
	closed := domain.StatusClosed
	h.appendEvent(domain.StreamJob, jobID, 2, domain.JobUpdated{JobID: jobID, Location: &location, Status: &closed, UpdatedAt: now()})
	h.appendEvent(domain.StreamJob, jobID, 3, domain.JobReopened{JobID: jobID, ReopenedAt: now()})
	appID, seeker := uuid.Must(uuid.NewV7()), uuid.New()
	h.appendEvent(domain.StreamApplication, appID, 0, domain.ApplicationSubmitted{
		ApplicationID: appID, JobID: jobID, ApplicantID: seeker, RecruiterID: owner, Name: "Ada", Email: "ada@example.com",
		Resume:      &domain.ResumeFile{FileName: "cv.pdf", ContentType: domain.ContentTypePDF, Size: 1234, SHA256: strings.Repeat("a", 64)},
		SubmittedAt: now(),
	})
	h.appendEvent(domain.StreamApplication, appID, 1, domain.ApplicationStatusChanged{
		ApplicationID: appID, JobID: jobID, ApplicantID: seeker, RecruiterID: owner,
		From: domain.ApplicationSubmittedStatus, To: domain.StatusRejected, Reason: "not this time", ChangedBy: owner, ChangedAt: now(),
	})
	other, otherSeeker := uuid.Must(uuid.NewV7()), uuid.New()
	h.appendEvent(domain.StreamApplication, other, 0, domain.ApplicationSubmitted{
		ApplicationID: other, JobID: jobID, ApplicantID: otherSeeker, RecruiterID: owner, Name: "Bob", Email: "bob@example.com",
		CoverLetter: "Hello", SubmittedAt: now(),
	})
	h.appendEvent(domain.StreamApplication, other, 1, domain.ApplicationWithdrawn{
		ApplicationID: other, JobID: jobID, ApplicantID: otherSeeker, RecruiterID: owner,
		From: domain.ApplicationSubmittedStatus, WithdrawnAt: now(),
	})
	h.appendEvent(domain.StreamJob, jobID, 4, domain.JobClosed{JobID: jobID, ClosedAt: now()})
	h.appendEvent(domain.StreamJob, jobID, 5, domain.JobDeleted{JobID: jobID, DeletedAt: now()})

	want := []string{"job.posted", "job.updated", "job.closed", "job.reopened", "application.submitted",
		"application.status_changed", "application.submitted", "application.status_changed", "job.closed", "job.deleted"}
	waitFor(t, 20*time.Second, "every event delivered", func() bool { return all.count() >= len(want) })
	got := all.requests()
	var types []string
	for _, g := range got {
		is.NoErr(g.SignatureErr)
		is.Equal(g.Event, g.Envelope.Type) // the header names the body's type
		types = append(types, g.Envelope.Type)
	}
	is.Equal(types, want) // every event, in the order of the log

	job := func(i int) map[string]any { return got[i].data(t) }
	is.Equal(job(1)["title"], "Senior analyst")
	is.Equal(job(1)["version"], 2.0) // the job right after the event
	is.Equal(job(2)["status"], "closed")
	is.Equal(job(2)["location"], "Hamburg") // the closing's data has the update's fields too
	is.Equal(job(3)["status"], "open")
	is.Equal(job(0)["title"], "Analyst") // each body as of its own event, not as the job is now
	submitted := got[4].data(t)
	is.Equal(submitted["id"], appID.String())
	is.Equal(submitted["status"], "submitted")
	is.Equal(submitted["cover_letter"], nil)
	resume, _ := submitted["resume"].(map[string]any)
	is.Equal(resume["filename"], "cv.pdf") // the resume described…
	_, hasContent := resume["content"]
	is.True(!hasContent) // …never its bytes
	_, hasReason := submitted["rejection_reason"]
	is.True(!hasReason) // only a rejection with a reason has one
	rejected := got[5].data(t)
	is.Equal(rejected["status"], "rejected")
	is.Equal(rejected["rejection_reason"], "not this time") // the recruiter's own reason, to the recruiter
	is.Equal(rejected["version"], 2.0)
	withdrawn := got[7].data(t)
	is.Equal(withdrawn["status"], "withdrawn") // a withdrawal is a status change to withdrawn
	is.Equal(withdrawn["id"], other.String())
	is.Equal(withdrawn["cover_letter"], "Hello")
	deleted := got[9].data(t)
	is.Equal(deleted["version"], 5.0) // the job as it last stood, before it went
	is.Equal(deleted["status"], "closed")

	// The narrower subscription got the posting only; by then (its one
	// delivery was queued with the first event) the other recruiter's
	// would have had everything queued too.
	waitFor(t, 10*time.Second, "the job.posted-only subscription's delivery", func() bool { return postedOnly.count() == 1 })
	is.Equal(postedOnly.requests()[0].Envelope.Type, "job.posted")
	is.Equal(len(h.deliveries(subPosted)), 1)
	is.Equal(others.count(), 0) // another recruiter is told nothing about this one's jobs
}

// TestReceiverDownThenUp: a receiver that fails for a while gets the
// delivery again on the schedule, with the same id and the same bytes,
// until it takes it; every attempt is recorded.
func TestReceiverDownThenUp(t *testing.T) {
	is := is.New(t)
	h := newHarness(t)
	rc := newReceiver(t, func(_ *http.Request, n int, _ received) int {
		if n < 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	owner := uuid.New()
	sub := h.subscribe(owner, rc.URL(), webhooks.JobPosted)
	rc.keySecret(sub.Secret)
	cfg := testWorkerConfig()
	cfg.RetrySchedule = []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}
	reg := prometheus.NewRegistry()
	metrics := webhooks.NewMetrics(reg, h.queue)
	h.startWorker(cfg, metrics)

	h.postJob(owner, "Patient receiver")
	waitFor(t, 20*time.Second, "delivered on the fourth attempt", func() bool {
		d := h.deliveries(sub)
		return len(d) == 1 && d[0].Status == webhooks.StatusDelivered
	})
	got := rc.requests()
	is.Equal(len(got), 4) // three failures, then the delivery
	for _, g := range got {
		is.Equal(g.Delivery, got[0].Delivery)         // the same Jobboard-Delivery every time
		is.Equal(string(g.Body), string(got[0].Body)) // the same bytes
		is.NoErr(g.SignatureErr)                      // each signed (at its own time)
	}
	for i := 1; i < len(got); i++ {
		is.True(got[i].At.Sub(got[i-1].At) >= cfg.RetrySchedule[i-1]) // not before the schedule's wait
	}
	d := h.deliveries(sub)[0]
	is.Equal(d.Attempts, 4)
	attempts, err := h.queue.Attempts(t.Context(), d.ID)
	is.NoErr(err)
	var codes []int
	for _, a := range attempts {
		codes = append(codes, *a.StatusCode)
	}
	is.Equal(codes, []int{503, 503, 503, 200}) // every attempt, as it went
	is.True(strings.Contains(attempts[0].Error, "503"))
	is.Equal(counter(t, reg, "jobboard_webhook_deliveries_total", "retried"), 3.0)
	is.Equal(counter(t, reg, "jobboard_webhook_deliveries_total", "delivered"), 1.0)
	is.Equal(counter(t, reg, "jobboard_webhook_deliveries_total", "failed"), 0.0)
	is.Equal(counter(t, reg, "jobboard_webhook_deliveries_pending", ""), 0.0)
}

// TestRetriesRunOut: after the last retry of the schedule fails, the
// delivery has failed; it holds nothing back, and the operator can queue
// it again, with the whole schedule.
func TestRetriesRunOut(t *testing.T) {
	is := is.New(t)
	h := newHarness(t)
	var down atomic.Bool
	down.Store(true)
	rc := newReceiver(t, func(_ *http.Request, _ int, g received) int {
		if down.Load() && strings.Contains(string(g.Body), "Doomed") {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	owner := uuid.New()
	sub := h.subscribe(owner, rc.URL(), webhooks.JobPosted)
	rc.keySecret(sub.Secret)
	h.startWorker(testWorkerConfig(), nil) // two retries

	h.postJob(owner, "Doomed")
	waitFor(t, 20*time.Second, "the delivery fails", func() bool {
		d := h.deliveries(sub)
		return len(d) == 1 && d[0].Status == webhooks.StatusFailed
	})
	failed := h.deliveries(sub)[0]
	is.Equal(failed.Attempts, 3) // the first attempt and two retries
	is.Equal(*failed.LastStatusCode, 500)
	is.True(strings.Contains(failed.LastError, "500"))

	h.postJob(owner, "Fine")
	waitFor(t, 20*time.Second, "a later delivery, not held back by the failed one", func() bool {
		d := h.deliveries(sub)
		return len(d) == 2 && d[0].Status == webhooks.StatusDelivered
	})

	down.Store(false)
	is.NoErr(h.queue.Retry(t.Context(), failed.ID)) // the operator queues it again
	waitFor(t, 20*time.Second, "the failed delivery delivered once queued again", func() bool {
		for _, d := range h.deliveries(sub) {
			if d.ID == failed.ID {
				return d.Status == webhooks.StatusDelivered
			}
		}
		return false
	})
	err := h.queue.Retry(t.Context(), failed.ID)
	is.True(err != nil && strings.Contains(err.Error(), "delivered already")) // a delivered one is not sent again
	is.Equal(h.queue.Retry(t.Context(), uuid.New()), webhooks.ErrNotFound)
}

// TestHangingReceiverIsCutOff: a receiver that never answers is given up on
// after the time limit, recorded as such, and retried; meanwhile another
// subscription's delivery of the same event goes out at once.
func TestHangingReceiverIsCutOff(t *testing.T) {
	is := is.New(t)
	h := newHarness(t)
	hung := make(chan struct{}, 10)
	slow := newReceiver(t, func(r *http.Request, n int, _ received) int {
		if n == 0 {
			hung <- struct{}{}
			<-r.Context().Done() // until the board gives up
		}
		return http.StatusOK
	})
	fast := newReceiver(t, nil)
	owner := uuid.New()
	slowSub := h.subscribe(owner, slow.URL(), webhooks.JobPosted)
	slow.keySecret(slowSub.Secret)
	fastSub := h.subscribe(owner, fast.URL(), webhooks.JobPosted)
	fast.keySecret(fastSub.Secret)
	cfg := testWorkerConfig()
	cfg.Timeout = time.Second
	h.startWorker(cfg, nil)

	h.postJob(owner, "Both")
	waitFor(t, 20*time.Second, "the slow receiver gets the first attempt", func() bool { return len(hung) > 0 })
	hangStarted := slow.requests()[0].At
	waitFor(t, 20*time.Second, "the other subscription's delivery", func() bool { return fast.count() == 1 })
	is.True(fast.requests()[0].At.Before(hangStarted.Add(cfg.Timeout))) // not delayed by the hang

	waitFor(t, 20*time.Second, "the hung delivery retried and delivered", func() bool {
		d := h.deliveries(slowSub)
		return len(d) == 1 && d[0].Status == webhooks.StatusDelivered
	})
	attempts, err := h.queue.Attempts(t.Context(), h.deliveries(slowSub)[0].ID)
	is.NoErr(err)
	is.True(len(attempts) == 2)
	is.Equal(attempts[0].StatusCode, (*int)(nil))                     // no answer…
	is.Equal(attempts[0].Error, "no answer within 1s")                // …within the limit
	is.True(*attempts[0].Duration >= cfg.Timeout)                     // it was waited for
	is.True(*attempts[0].Duration < cfg.Timeout+900*time.Millisecond) // and no longer
	is.Equal(*attempts[1].StatusCode, http.StatusOK)
}

// TestRedirectIsNotFollowed: a 3xx is a failure, retried, and its Location
// is never requested.
func TestRedirectIsNotFollowed(t *testing.T) {
	is := is.New(t)
	h := newHarness(t)
	elsewhere := newReceiver(t, nil)
	rc := newReceiver(t, func(r *http.Request, _ int, _ received) int {
		return http.StatusFound
	})
	rc.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", elsewhere.URL())
		rc.serve(w, r)
	})
	owner := uuid.New()
	sub := h.subscribe(owner, rc.URL(), webhooks.JobPosted)
	rc.keySecret(sub.Secret)
	h.startWorker(testWorkerConfig(), nil)

	h.postJob(owner, "Moved")
	waitFor(t, 20*time.Second, "the redirected delivery fails", func() bool {
		d := h.deliveries(sub)
		return len(d) == 1 && d[0].Status == webhooks.StatusFailed
	})
	d := h.deliveries(sub)[0]
	is.Equal(rc.count(), 3)        // tried on the schedule, as any failure
	is.Equal(elsewhere.count(), 0) // the redirect was never followed
	is.Equal(*d.LastStatusCode, http.StatusFound)
	is.Equal(d.LastError, "answered 302 Found, a redirect, which is not followed")
	attempts, err := h.queue.Attempts(t.Context(), d.ID)
	is.NoErr(err)
	is.True(strings.Contains(attempts[0].Error, elsewhere.URL())) // where it led is the operator's to see
}

// TestPrivateAddressRefusedWhenConnecting: without the allowance, a URL
// whose name resolves to 127.0.0.1 is refused when the worker connects,
// and the refusal is recorded as the attempt's error; the receiver hears
// nothing.
func TestPrivateAddressRefusedWhenConnecting(t *testing.T) {
	is := is.New(t)
	h := newHarness(t)
	rc := newReceiver(t, nil)
	owner := uuid.New()
	// Saved by a store that allows it (as one configured so once was, or
	// as a name that resolved elsewhere when it was saved)…
	url := strings.Replace(rc.URL(), "127.0.0.1", "localhost", 1)
	sub := h.subscribe(owner, url, webhooks.JobPosted)
	// …and sent by a worker that does not.
	cfg := testWorkerConfig()
	cfg.AllowPrivate = false
	cfg.RetrySchedule = []time.Duration{10 * time.Millisecond}
	h.startWorker(cfg, nil)

	h.postJob(owner, "Internal")
	waitFor(t, 20*time.Second, "the delivery fails", func() bool {
		d := h.deliveries(sub)
		return len(d) == 1 && d[0].Status == webhooks.StatusFailed
	})
	d := h.deliveries(sub)[0]
	is.Equal(rc.count(), 0)                                                                       // nothing reached the receiver
	is.Equal(d.LastError, "refused: the host's address is not a public one")                      // the recruiter is told why…
	is.True(!strings.Contains(d.LastError, "127.0.0.1") && !strings.Contains(d.LastError, "::1")) // …not where it led
	attempts, err := h.queue.Attempts(t.Context(), d.ID)
	is.NoErr(err)
	is.Equal(len(attempts), 2)
	for _, a := range attempts {
		is.True(strings.Contains(a.Error, "refused to connect to"))                         // each attempt records the refusal…
		is.True(strings.Contains(a.Error, "127.0.0.1") || strings.Contains(a.Error, "::1")) // …and the address, for the operator
		is.Equal(a.StatusCode, (*int)(nil))
	}
}

// TestTwoWorkersDeliverEachOnce: two workers (as two processes would) on
// one queue send every delivery once, each subscription's in order.
func TestTwoWorkersDeliverEachOnce(t *testing.T) {
	is := is.New(t)
	h := newHarness(t)
	owner := uuid.New()
	var receivers []*receiver
	for range 3 {
		rc := newReceiver(t, nil)
		sub := h.subscribe(owner, rc.URL(), webhooks.JobPosted)
		rc.keySecret(sub.Secret)
		receivers = append(receivers, rc)
	}
	h.startWorker(testWorkerConfig(), nil)
	h.startOtherProcessWorker(testWorkerConfig())

	const jobs = 20
	var titles []string
	for i := range jobs {
		title := "Job " + string(rune('A'+i))
		titles = append(titles, title)
		h.postJob(owner, title)
	}
	for _, rc := range receivers {
		waitFor(t, 30*time.Second, "every job delivered to each subscription", func() bool { return rc.count() >= jobs })
	}
	// A receiver has the last delivery a moment before its worker has
	// recorded the answer.
	waitFor(t, 30*time.Second, "every delivery recorded delivered", func() bool {
		pending, err := h.queue.List(t.Context(), webhooks.ListFilter{Status: webhooks.StatusPending}, 1000)
		is.NoErr(err)
		return len(pending) == 0
	})
	for _, rc := range receivers {
		got := rc.requests()
		is.Equal(len(got), jobs) // no duplicates
		var order []string
		ids := map[string]bool{}
		for _, g := range got {
			is.NoErr(g.SignatureErr)
			ids[g.Delivery] = true
			order = append(order, g.data(t)["title"].(string))
		}
		is.Equal(len(ids), jobs) // each delivery once
		is.Equal(order, titles)  // in the order of the events
	}
}

// TestOrderHeldBackPerSubscription: a delivery being retried holds back
// the later ones of its subscription, and of no other.
func TestOrderHeldBackPerSubscription(t *testing.T) {
	is := is.New(t)
	h := newHarness(t)
	failing := newReceiver(t, func(_ *http.Request, n int, _ received) int {
		if n == 0 {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	healthy := newReceiver(t, nil)
	owner := uuid.New()
	failingSub := h.subscribe(owner, failing.URL(), webhooks.JobPosted)
	failing.keySecret(failingSub.Secret)
	healthySub := h.subscribe(owner, healthy.URL(), webhooks.JobPosted)
	healthy.keySecret(healthySub.Secret)
	cfg := testWorkerConfig()
	cfg.RetrySchedule = []time.Duration{time.Second}
	h.startWorker(cfg, nil)

	h.postJob(owner, "First")
	h.postJob(owner, "Second")
	waitFor(t, 20*time.Second, "the healthy subscription gets both", func() bool { return healthy.count() == 2 })
	waitFor(t, 20*time.Second, "the failing subscription gets both in the end", func() bool { return failing.count() == 3 })
	var order []string
	for _, g := range failing.requests() {
		order = append(order, g.data(t)["title"].(string))
	}
	is.Equal(order, []string{"First", "First", "Second"}) // the second waited for the first
	// The healthy one did not wait for the other's retry.
	is.True(healthy.requests()[1].At.Before(failing.requests()[1].At))
}

// TestDeletedSubscriptionGetsNothingMore: deleting a subscription drops
// its pending deliveries and queues no more for it: not even the retry of
// the attempt that was in flight when it was deleted, due soon after.
func TestDeletedSubscriptionGetsNothingMore(t *testing.T) {
	is := is.New(t)
	h := newHarness(t)
	inFlight, release := make(chan struct{}), make(chan struct{})
	doomed := newReceiver(t, func(_ *http.Request, n int, _ received) int {
		if n == 0 {
			close(inFlight)
			<-release // answers once the subscription is deleted
		}
		return http.StatusServiceUnavailable
	})
	// control fails its first attempt as doomed does, and is not deleted:
	// its retry shows that the schedule does run within the test.
	control := newReceiver(t, func(_ *http.Request, n int, _ received) int {
		if n == 0 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	kept := newReceiver(t, nil)
	owner := uuid.New()
	doomedSub := h.subscribe(owner, doomed.URL(), webhooks.JobPosted)
	control.keySecret(h.subscribe(owner, control.URL(), webhooks.JobPosted).Secret)
	keptSub := h.subscribe(owner, kept.URL(), webhooks.JobPosted)
	kept.keySecret(keptSub.Secret)
	cfg := testWorkerConfig()
	const retryWait = 200 * time.Millisecond
	cfg.RetrySchedule = []time.Duration{retryWait, retryWait}
	h.startWorker(cfg, nil)

	h.postJob(owner, "Before")
	waitFor(t, 20*time.Second, "the doomed subscription's first attempt", func() bool {
		select {
		case <-inFlight:
			return true
		default:
			return false
		}
	})
	is.NoErr(h.store.Delete(t.Context(), owner, doomedSub.ID))
	is.Equal(len(h.deliveries(doomedSub)), 0) // its delivery is gone, the attempt in flight with it
	close(release)
	failedAt := time.Now() // the attempt's failure, after which a retry would be due

	h.postJob(owner, "After")
	waitFor(t, 20*time.Second, "the kept subscription gets both", func() bool { return kept.count() == 2 })
	waitFor(t, 20*time.Second, "the control subscription's retry, and the later job", func() bool { return control.count() == 3 })
	// Past the time doomed's retry would have been due (with room for a
	// slow worker), it has still had only its first attempt.
	holdsFor(t, time.Until(failedAt.Add(retryWait+2*time.Second)), "the deleted subscription has had its first attempt only",
		func() bool { return doomed.count() == 1 })
	var n int
	is.NoErr(h.db.Pool.QueryRow(t.Context(), `SELECT count(*) FROM webhook_deliveries WHERE subscription_id = $1`, doomedSub.ID).Scan(&n))
	is.Equal(n, 0) // nothing queued for it after its deletion
	err := h.store.Delete(t.Context(), owner, doomedSub.ID)
	is.Equal(domain.KindOf(err), domain.KindNotFound) // deleted once
}

// TestNoHistoryForANewSubscription: a subscription hears about the events
// after it was made, not about the log before it.
func TestNoHistoryForANewSubscription(t *testing.T) {
	is := is.New(t)
	h := newHarness(t)
	rc := newReceiver(t, nil)
	owner := uuid.New()
	h.postJob(owner, "Old news")
	sub := h.subscribe(owner, rc.URL(), webhooks.JobPosted)
	rc.keySecret(sub.Secret)
	h.startWorker(testWorkerConfig(), nil)
	h.postJob(owner, "Fresh")
	waitFor(t, 20*time.Second, "the new job delivered", func() bool { return rc.count() >= 1 })
	// Deliveries go in the order of the events: had the old one been
	// queued, it would have come first.
	is.Equal(rc.requests()[0].data(t)["title"], "Fresh")
	is.Equal(len(h.deliveries(sub)), 1)
}

// TestReplaySendsNothing: rebuilding the read models from the log queues
// no webhook: the webhooks' consumer group is not a projection.
func TestReplaySendsNothing(t *testing.T) {
	is := is.New(t)
	for _, p := range projections.All() {
		is.True(p.Name() != webhooks.ConsumerGroup) // not a projection
		for _, table := range p.Tables() {
			is.True(!strings.HasPrefix(table.Name, "webhook")) // nor are its tables a projection's
		}
	}
	h := newHarness(t)
	rc := newReceiver(t, nil)
	owner := uuid.New()
	sub := h.subscribe(owner, rc.URL(), webhooks.JobPosted)
	rc.keySecret(sub.Secret)
	h.startWorker(testWorkerConfig(), nil)
	h.postJob(owner, "Before the replay")
	waitFor(t, 20*time.Second, "the first delivery", func() bool { return rc.count() == 1 })

	_, err := replay.Run(t.Context(), h.db.Owner, projections.All(), replay.Options{Keys: testdb.Keyring()})
	is.NoErr(err) // the replay runs

	h.postJob(owner, "After the replay")
	waitFor(t, 20*time.Second, "the job posted after the replay", func() bool {
		return slices.ContainsFunc(rc.requests(), func(g received) bool { return g.data(t)["title"] == "After the replay" })
	})
	is.Equal(rc.count(), 2)             // nothing sent again
	is.Equal(len(h.deliveries(sub)), 2) // nor queued
}

// counter reads a series of reg: the one whose outcome label is outcome,
// or the only one.
func counter(t *testing.T, reg *prometheus.Registry, name, outcome string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			label := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" {
					label = l.GetValue()
				}
			}
			if label != outcome {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s{outcome=%q}", name, outcome)
	return 0
}
