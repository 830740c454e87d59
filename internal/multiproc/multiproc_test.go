package multiproc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/internal/smtptest"
	"github.com/jobboard/jobboard/mailer"
	"github.com/jobboard/jobboard/projections"
)

const (
	// loadFor is how long the load runs; the kills fall in its middle, so
	// that there is traffic to both processes of a role before and after.
	loadFor       = 10 * time.Second
	loadGoroutine = 8
	// mailConcurrency is MAIL_CONCURRENCY: how many mails a worker process
	// has in flight at most, so how many a SIGKILL can catch between the
	// mail server's acceptance and the record of it.
	mailConcurrency = 2
	// quietWithin bounds the wait for the system to settle after the load.
	// The mails the killed worker had leased wait out their lease
	// (2 × MAIL_SEND_TIMEOUT + 10 s) before the survivor sends them.
	quietWithin = 60 * time.Second
)

// variant is one topology the test runs on, and the load's timeline on it.
type variant struct {
	name  string
	setup func(t *testing.T) topology
	// killAPIAt and killWorkerAt are when, from the load's start, one API
	// and one worker process are killed.
	killAPIAt, killWorkerAt time.Duration
	// pauseAt and pauseFor, when pauseFor is set, pause the replica's
	// replay during the load (see replicaPause).
	pauseAt, pauseFor time.Duration
}

// variants are the topologies of issue 16: the primary alone, and the
// primary with a streaming replica that the API processes read from.
var variants = []variant{
	{
		name:      "primary",
		setup:     func(*testing.T) topology { return topology{primary: db} },
		killAPIAt: 3 * time.Second, killWorkerAt: 4 * time.Second,
	},
	{
		name:  "primary and a replica",
		setup: replicaTopology,
		// The replay is paused while both API processes live, so that a
		// read after a write crosses processes during the pause too; the
		// kills come after it, and stay in the middle of the load.
		pauseAt: 2 * time.Second, pauseFor: 2 * time.Second,
		killAPIAt: 5 * time.Second, killWorkerAt: 6 * time.Second,
	},
}

// TestManyProcessesLoseNothing runs two API and two worker processes of the
// real binary on one database, sends a mixed load through both APIs, kills
// one API and one worker with SIGKILL in the middle of it, and checks that
// the crash broke no promise: every write answered 2xx is there, once;
// every read made right after a 2xx write, on either process, showed it;
// and every application was mailed to its recruiter as the README's "Email
// to recruiters" says. It does so on each variant: the promises are the
// same whether the reads are served by the primary or by a replica.
func TestManyProcessesLoseNothing(t *testing.T) {
	bin := buildJobboard(t)
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) { runManyProcesses(t, bin, v) })
	}
}

func runManyProcesses(t *testing.T, bin string, v variant) {
	is := is.New(t)
	smtp := smtptest.Start(t)

	tp := v.setup(t)
	env := tp.env()
	maps.Copy(env, map[string]string{
		"HTTP_ADDR":        "127.0.0.1:0",
		"BCRYPT_COST":      "4",
		"JWT_SECRET":       jwtSecret,
		"LOG_FORMAT":       "json",
		"SHUTDOWN_TIMEOUT": "10s",
		// Every package of the test run shares two cores, under the race
		// detector: a write's wait for its projections is given room, so
		// that a 503 means something broke, not that the machine is busy.
		"CONSISTENCY_TIMEOUT": "30s",
		"SMTP_URL":            smtp.URL(),
		"MAIL_FROM":           "Job Board <jobs@jobboard.test>",
		"APP_BASE_URL":        "https://jobs.example",
		"MAIL_CONCURRENCY":    fmt.Sprint(mailConcurrency),
		// The lease is 2 × this + 10 s: short, so that the mails the killed
		// worker had claimed go out soon; long enough for a local server
		// on a busy machine, since a timeout after the server accepted a
		// mail would send it twice for another reason than the kill.
		"MAIL_SEND_TIMEOUT": "3s",
		"MAIL_RETRY_MIN":    "50ms",
		"MAIL_RETRY_MAX":    "500ms",
		// Every request comes from 127.0.0.1: one client, as the limits
		// see it. They are not what this test is about.
		"WRITE_RATE_LIMIT":        "0",
		"READ_RATE_LIMIT":         "0",
		"REGISTER_MAX_PER_CLIENT": "0",
	})
	apiEnv := maps.Clone(env)
	maps.Copy(apiEnv, tp.apiEnv())
	workerEnv := maps.Clone(env)
	// A worker serves no API; its /metrics tells how the mail queue is.
	workerEnv["METRICS_ADDR"] = "127.0.0.1:0"
	apis := []*proc{
		startProc(t, bin, "api-1", "api", apiEnv),
		startProc(t, bin, "api-2", "api", apiEnv),
	}
	workers := []*proc{
		startProc(t, bin, "worker-1", "worker", workerEnv),
		startProc(t, bin, "worker-2", "worker", workerEnv),
	}
	survivor, survivingWorker := apis[0], workers[0]

	// The load, and the kills (and the pause) in its middle.
	l := newLoad(t, apis)
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), loadFor)
	defer cancel()
	var mailsBeforeWorkerDied int
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		time.Sleep(time.Until(start.Add(v.killAPIAt)))
		apis[1].kill(t)
		time.Sleep(time.Until(start.Add(v.killWorkerAt)))
		workers[1].kill(t)
		// Once the process is gone, nothing it did can reach the mail
		// server: a mail it sent and did not record arrived before this.
		mailsBeforeWorkerDied = len(smtp.Messages())
	}()
	var pause *replicaPause
	paused := make(chan struct{})
	if v.pauseFor > 0 {
		pause = newReplicaPause(t, tp, apis)
		go func() {
			defer close(paused)
			time.Sleep(time.Until(start.Add(v.pauseAt)))
			pause.run(v.pauseFor)
		}()
	} else {
		close(paused)
	}
	l.run(ctx, loadGoroutine)
	<-killed
	<-paused
	loaded := time.Since(start)
	t.Logf("load: %s, %d requests (%d got no answer from the killed API and were sent again); "+
		"answered 2xx: %d recruiters and %d job seekers registered (%d of them found made by a retry), %d jobs posted, "+
		"%d applications (%d sent to both APIs at once); without a 2xx, fate unknown: %d job posts, %d applies",
		loaded.Round(time.Millisecond), l.requests.Load(), l.lost.Load(), len(l.recruiters), len(l.seekers), l.uncertainUsers,
		len(l.jobs), len(l.apps), l.raced.Load(), len(l.uncertainJobs), len(l.uncertainApplies))
	for i, p := range l.problems {
		if i == 30 {
			t.Errorf("… and %d more problems during the load", len(l.problems)-i)
			break
		}
		t.Errorf("during the load: %s", p)
	}
	is.True(len(l.apps) > 0) // the load made applications
	if pause != nil {
		pause.check(survivor)
	}

	// Quiet: every consumer group has read the whole log, every
	// application has its delivery, and none is pending.
	groups := []string{mailer.ConsumerGroup}
	for _, p := range projections.All() {
		groups = append(groups, p.Name())
	}
	var state string
	if !eventually(quietWithin, func() bool {
		var behind, submitted, deliveries, pending int
		err := tp.primary.Owner.QueryRow(t.Context(), `
SELECT (SELECT count(*) FROM unnest($1::text[]) AS g(name) LEFT JOIN checkpoints c USING (name)
        WHERE c.name IS NULL OR EXISTS (SELECT FROM events e WHERE (e.tx_id, e.position) > (c.tx_id, c.position))),
       (SELECT count(*) FROM events WHERE event_type = 'ApplicationSubmitted'),
       (SELECT count(*) FROM email_deliveries),
       (SELECT count(*) FROM email_deliveries WHERE status = 'pending')`, groups).Scan(&behind, &submitted, &deliveries, &pending)
		if err != nil {
			state = err.Error()
			return false
		}
		age := oldestPendingAge(survivingWorker)
		state = fmt.Sprintf("%d consumer groups behind the log, %d applications, %d deliveries, %d pending, oldest pending age %q",
			behind, submitted, deliveries, pending, age)
		// Two mails per application: to the recruiter and to the applicant.
		return behind == 0 && deliveries == 2*submitted && pending == 0 && age == "0"
	}) {
		t.Fatalf("not quiet %s after the load: %s", quietWithin, state)
	}
	t.Logf("quiet %s after the load", (time.Since(start) - loaded).Round(time.Millisecond))

	c := &checker{t: t, l: l, api: survivor, db: tp.primary.Owner}
	c.accounts()
	c.jobs()
	logged := c.applications()
	c.mails(smtp.Messages(), logged, mailsBeforeWorkerDied)
}

// oldestPendingAge reads jobboard_emails_oldest_pending_age_seconds from a
// worker's /metrics: the queue as an operator sees it.
func oldestPendingAge(worker *proc) string {
	res, err := worker.send(context.Background(), http.MethodGet, "/metrics", "", nil, "")
	if err != nil || res.status != http.StatusOK {
		return fmt.Sprintf("unreadable: %v %s", err, res)
	}
	for line := range strings.Lines(string(res.body)) {
		if v, ok := strings.CutPrefix(line, "jobboard_emails_oldest_pending_age_seconds "); ok {
			return strings.TrimSpace(v)
		}
	}
	return "missing"
}

// checker checks, once the system is quiet, what the load was answered
// against what the surviving API, the log and the mail server show.
type checker struct {
	t   *testing.T
	l   *load
	api *proc
	// db is the primary as the database's owner: what is really there,
	// whatever the API reads from.
	db *pgxpool.Pool
}

// get reads path on the surviving API; it must answer.
func (c *checker) get(path, token string) response {
	c.t.Helper()
	res, err := c.api.send(c.t.Context(), http.MethodGet, path, token, nil, "")
	if err != nil {
		c.t.Fatalf("GET %s on %s: %v", path, c.api.name, err)
	}
	return res
}

// list reads every page of a listing on the surviving API.
func (c *checker) list(path, token string) []pageItem {
	c.t.Helper()
	before := len(c.l.problems)
	items, _, ok := c.l.listItems(c.t.Context(), c.api, path, token)
	if !ok {
		c.t.Fatalf("GET %s on %s: %v", path, c.api.name, c.l.problems[before:])
	}
	return items
}

// accounts: every registration answered 201 can be read back, and is one
// UserRegistered in the log.
func (c *checker) accounts() {
	all := append(append([]*account{}, c.l.recruiters...), c.l.seekers...)
	for _, acc := range all {
		if res := c.get("/me", acc.token); res.status != http.StatusOK || !bytes.Contains(res.body, []byte(`"id":"`+acc.id+`"`)) {
			c.t.Errorf("lost account: GET /me as %s (%s): %s", acc.id, acc.email, res)
		}
	}
	var registered, distinct int
	if err := c.db.QueryRow(c.t.Context(), `SELECT count(*), count(DISTINCT stream_id) FROM events WHERE event_type = 'UserRegistered'`).Scan(&registered, &distinct); err != nil {
		c.t.Fatalf("count UserRegistered: %v", err)
	}
	if registered != distinct || registered != len(all) {
		c.t.Errorf("the log holds %d UserRegistered (%d users); want one per account, %d", registered, distinct, len(all))
	}
}

// jobs: every job answered 201 is there by id, found alone by its marker,
// and in the listing of the run's jobs exactly once; the listing holds no
// other job but ones whose post got no answer.
func (c *checker) jobs() {
	for _, j := range c.l.jobs {
		if res := c.get("/jobs/"+j.id, ""); res.status != http.StatusOK {
			c.t.Errorf("lost job: GET /jobs/%s: %s", j.id, res)
		}
		ids, total, err := pageIDs(c.get("/jobs?title="+j.marker, ""))
		if err != nil || total != 1 || len(ids) != 1 || ids[0] != j.id {
			c.t.Errorf("GET /jobs?title=%s: want only job %s, got %v (total %d, %v)", j.marker, j.id, ids, total, err)
		}
	}
	listed := map[string]int{}
	extra := 0
	for _, item := range c.list("/jobs?company="+c.l.runMarker, "") {
		listed[item.ID]++
		if c.l.jobsByID[item.ID] != nil {
			continue
		}
		extra++
		m := item.Title[strings.LastIndex(item.Title, " ")+1:]
		if !c.l.uncertainJobs[m] {
			c.t.Errorf("GET /jobs lists job %s (%q), which no POST /jobs was answered with, nor sent without an answer", item.ID, item.Title)
		}
	}
	for _, j := range c.l.jobs {
		if listed[j.id] != 1 {
			c.t.Errorf("GET /jobs?company=… lists job %s %d times, want once", j.id, listed[j.id])
		}
	}
	var posted, distinct int
	if err := c.db.QueryRow(c.t.Context(), `SELECT count(*), count(DISTINCT stream_id) FROM events WHERE event_type = 'JobPosted'`).Scan(&posted, &distinct); err != nil {
		c.t.Fatalf("count JobPosted: %v", err)
	}
	if posted != distinct || posted != len(c.l.jobs)+extra {
		c.t.Errorf("the log holds %d JobPosted (%d jobs); want one per job: %d answered 201, %d posted without an answer",
			posted, distinct, len(c.l.jobs), extra)
	}
	c.t.Logf("jobs: %d answered 201 and %d posted without an answer, each listed once", len(c.l.jobs), extra)
}

// logged is what the event log holds about one application.
type logged struct {
	id  string
	key pair
	job *postedJob
}

// applications: every application answered 201 is in its recruiter's
// listing and its applicant's, once; no job seeker has two applications to
// one job anywhere; the log holds exactly one ApplicationSubmitted per 201,
// and others only where an apply got no answer and its retry found it
// made. It returns the applications the log holds, for the mails.
func (c *checker) applications() map[string]logged {
	accepted := map[string]*acceptedApp{}
	for _, a := range c.l.apps {
		accepted[a.id] = a
	}

	rows, err := c.db.Query(c.t.Context(), `
SELECT stream_id::text, data->>'job_id', data->>'applicant_id' FROM events
WHERE event_type = 'ApplicationSubmitted' ORDER BY position`)
	if err != nil {
		c.t.Fatalf("read ApplicationSubmitted: %v", err)
	}
	inLog := map[string]logged{}
	perPair := map[pair]int{}
	for rows.Next() {
		var g logged
		if err := rows.Scan(&g.id, &g.key.jobID, &g.key.seekerID); err != nil {
			c.t.Fatalf("read ApplicationSubmitted: %v", err)
		}
		g.job = c.l.jobsByID[g.key.jobID]
		if _, dup := inLog[g.id]; dup {
			c.t.Errorf("doubled application: application %s submitted twice in the log", g.id)
		}
		inLog[g.id] = g
		perPair[g.key]++
	}
	if err := rows.Err(); err != nil {
		c.t.Fatalf("read ApplicationSubmitted: %v", err)
	}
	for k, n := range perPair {
		if n > 1 {
			c.t.Errorf("doubled application: %d ApplicationSubmitted of job seeker %s to job %s", n, k.seekerID, k.jobID)
		}
	}
	for _, a := range c.l.apps {
		if _, ok := inLog[a.id]; !ok {
			c.t.Errorf("lost application: %s, answered 201, has no ApplicationSubmitted", a.id)
		}
	}
	unanswered := 0
	for _, g := range inLog {
		if accepted[g.id] != nil {
			continue
		}
		unanswered++
		if !c.l.uncertainApplies[g.key] {
			c.t.Errorf("application %s of %s to %s is in the log, but no apply was answered with it, nor sent without an answer",
				g.id, g.key.seekerID, g.key.jobID)
		}
	}
	if len(inLog) != len(c.l.apps)+unanswered {
		c.t.Errorf("the log holds %d applications: want the %d answered 201 and the %d made without an answer", len(inLog), len(c.l.apps), unanswered)
	}

	// What the recruiters see: each job's applications, and its count.
	for _, j := range c.l.jobs {
		items := c.list("/jobs/"+j.id+"/applications", j.owner.token)
		var want []string
		for _, g := range inLog {
			if g.key.jobID == j.id {
				want = append(want, g.id)
			}
		}
		c.sameApplications(fmt.Sprintf("GET /jobs/%s/applications", j.id), items, want, inLog)
		var count struct {
			ApplicationCount int `json:"application_count"`
		}
		res := c.get("/jobs/"+j.id, j.owner.token)
		if res.status != http.StatusOK || json.Unmarshal(res.body, &count) != nil || count.ApplicationCount != len(want) {
			c.t.Errorf("GET /jobs/%s: want application_count %d: %s", j.id, len(want), res)
		}
	}
	// What the job seekers see.
	for _, s := range c.l.seekers {
		items := c.list("/me/applications", s.token)
		var want []string
		for _, g := range inLog {
			if g.key.seekerID == s.id {
				want = append(want, g.id)
			}
		}
		c.sameApplications(fmt.Sprintf("GET /me/applications as %s", s.id), items, want, inLog)
	}
	c.t.Logf("applications: %d answered 201 and %d made without an answer, one ApplicationSubmitted each", len(c.l.apps), unanswered)
	return inLog
}

// sameApplications checks that a listing holds the applications want, each
// once, and no job seeker twice for one job.
func (c *checker) sameApplications(what string, items []pageItem, want []string, inLog map[string]logged) {
	c.t.Helper()
	seen := map[string]int{}
	pairs := map[pair]int{}
	for _, it := range items {
		seen[it.ID]++
		pairs[pair{it.JobID, it.ApplicantID}]++
		if _, ok := inLog[it.ID]; !ok {
			c.t.Errorf("%s shows application %s, which the log does not hold", what, it.ID)
		}
	}
	for _, id := range want {
		if seen[id] != 1 {
			c.t.Errorf("%s shows application %s %d times, want once", what, id, seen[id])
		}
	}
	for k, n := range pairs {
		if n > 1 {
			c.t.Errorf("doubled application: %s shows %d applications of %s to %s", what, n, k.seekerID, k.jobID)
		}
	}
	if len(items) != len(want) {
		c.t.Errorf("%s shows %d applications, want %d", what, len(items), len(want))
	}
}

// mails checks the mails against the README's promise: every application
// becomes one mail to the job's recruiter (and one to the applicant, which
// is counted too), and the one way to get it twice
// is a worker dying between the server's acceptance and its record, which
// sends it again with the same Message-ID. So: at least one mail per
// application in the log and none for anything else; every copy of one
// carries its Message-ID, recipient and subject; and an application is
// mailed twice only if its first copy arrived before the killed worker
// was gone, for at most as many as that worker had in flight.
func (c *checker) mails(msgs []smtptest.Message, inLog map[string]logged, beforeWorkerDied int) {
	c.t.Helper()
	type delivery struct {
		id, status string
		attempts   int
	}
	var rows []delivery
	received := 0 // deliveries of the applicants' mails
	r, err := c.db.Query(c.t.Context(), `SELECT application_id::text, status, attempts, kind FROM email_deliveries`)
	if err != nil {
		c.t.Fatalf("read email_deliveries: %v", err)
	}
	for r.Next() {
		var row delivery
		var kind string
		if err := r.Scan(&row.id, &row.status, &row.attempts, &kind); err != nil {
			c.t.Fatalf("read email_deliveries: %v", err)
		}
		if kind != "new_application" {
			received++
			if kind != "application_received" || row.status != string(mailer.StatusSent) {
				c.t.Errorf("a delivery of kind %s, %s, for %s", kind, row.status, row.id)
			}
			continue
		}
		rows = append(rows, row)
	}
	if err := r.Err(); err != nil {
		c.t.Fatalf("read email_deliveries: %v", err)
	}
	retried := 0
	for _, row := range rows {
		if row.attempts > 1 {
			retried++
		}
		if _, ok := inLog[row.id]; !ok {
			c.t.Errorf("a delivery for %s, which is no application", row.id)
		}
		if row.status != string(mailer.StatusSent) {
			c.t.Errorf("the delivery of %s is %s, want sent", row.id, row.status)
		}
	}
	if len(rows) != len(inLog) || received != len(inLog) {
		c.t.Errorf("%d deliveries to recruiters and %d to applicants for %d applications", len(rows), received, len(inLog))
	}
	receivedMails := 0

	var dec mime.WordDecoder
	arrivals := map[string][]int{} // application id → indexes in msgs
	for i, m := range msgs {
		h, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			c.t.Errorf("mail %d is not a mail: %v", i, err)
			continue
		}
		msgID := h.Header.Get("Message-Id")
		if strings.HasPrefix(msgID, "<received-") {
			// The applicant's mail, keyed by its delivery, not by the
			// application: counted, and its subject checked.
			receivedMails++
			if subject, err := dec.DecodeHeader(h.Header.Get("Subject")); err != nil || !strings.HasPrefix(subject, "Application received: ") {
				c.t.Errorf("mail %s has subject %q", msgID, subject)
			}
			continue
		}
		id, ok := strings.CutPrefix(msgID, "<application-")
		id, ok2 := strings.CutSuffix(id, "@jobboard.test>")
		if !ok || !ok2 {
			c.t.Errorf("mail %d has Message-ID %q, not one of an application", i, msgID)
			continue
		}
		arrivals[id] = append(arrivals[id], i)
		g, known := inLog[id]
		if !known {
			c.t.Errorf("mail %s for application %s, which the log does not hold", msgID, id)
			continue
		}
		if g.job == nil {
			continue // a job whose post the load was not answered: nothing to compare with
		}
		subject, err := dec.DecodeHeader(h.Header.Get("Subject"))
		if err != nil || subject != "New application: "+g.job.title {
			c.t.Errorf("mail %s has subject %q, want %q", msgID, subject, "New application: "+g.job.title)
		}
		if len(m.To) != 1 || m.To[0] != g.job.owner.email {
			c.t.Errorf("mail %s went to %v, want the recruiter %s", msgID, m.To, g.job.owner.email)
		}
	}
	duplicated := 0
	for id := range inLog {
		got := arrivals[id]
		switch {
		case len(got) == 0:
			c.t.Errorf("lost mail: application %s was never mailed", id)
		case len(got) > 1:
			duplicated++
			c.t.Logf("application %s was mailed %d times (mails %v; %d had arrived when the killed worker was gone)", id, len(got), got, beforeWorkerDied)
			if got[0] >= beforeWorkerDied {
				c.t.Errorf("doubled mail: application %s was first mailed (mail %d) after the killed worker was gone (%d mails then), "+
					"so not by it: a live worker sent it twice", id, got[0], beforeWorkerDied)
			}
			if len(got) > 2 {
				c.t.Errorf("doubled mail: application %s mailed %d times; one death allows one resend", id, len(got))
			}
		}
	}
	if receivedMails < len(inLog) || receivedMails > len(inLog)+mailConcurrency {
		c.t.Errorf("%d mails to applicants for %d applications; a death allows at most %d more", receivedMails, len(inLog), mailConcurrency)
	}
	if duplicated > mailConcurrency {
		c.t.Errorf("%d applications mailed twice; the killed worker had at most %d mails in flight", duplicated, mailConcurrency)
	}
	// A delivery attempted more than once was, here, one the killed worker
	// had claimed (its lease ran out) or was sending: the survivor's
	// sending of it is what shows the crash was recovered from.
	c.t.Logf("mails: %d for %d applications; %d deliveries took more than one attempt, %d applications were mailed twice",
		len(msgs), len(inLog), retried, duplicated)
}
