package http_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/internal/testdb"
	"github.com/jobboard/jobboard/internal/testfiles"
	"github.com/jobboard/jobboard/projections"
	"github.com/jobboard/jobboard/replay"
)

// The helpers of this file are prefixed with "erase" so that they cannot
// collide with the package's other test files.
//
// These tests prove an erasure (DELETE /me) from the outside: after it,
// nothing the person gave survives anywhere the operator keeps (a dump of
// the whole database, the mail directory), in any of the usual encodings;
// what the business needs (the application counted, its pipeline history)
// stays; and a replay of the log rebuilds the very same views.

// eraseValue is a distinctive value whose every trace an erasure must
// remove.
type eraseValue struct {
	what  string
	value []byte
}

// eraseSource is a blob searched for the values: the dump, a mail file.
type eraseSource struct {
	name string
	data []byte
}

// eraseHit is a value found, in one form, in one source.
type eraseHit struct {
	what, form, source string
	at                 int
	context            string
}

func (h eraseHit) String() string {
	return fmt.Sprintf("%s, as %s, in %s at byte %d: …%q…", h.what, h.form, h.source, h.at, h.context)
}

// eraseBase64Cores returns the base64 of value as it shows wherever value
// is encoded within a longer byte string: for each of the three alignments
// (value starting 0, 1 or 2 bytes into a 3-byte group), the characters
// that depend on value's bytes alone (the leading ones mixed with the
// bytes before, and the trailing one mixed with the bytes after, or with
// padding, dropped).
func eraseBase64Cores(value []byte, enc *base64.Encoding) []string {
	var cores []string
	for k := range 3 {
		buf := append(make([]byte, k), value...)
		s := strings.TrimRight(enc.EncodeToString(buf), "=")
		if len(buf)%3 != 0 {
			s = s[:len(s)-1] // the last character holds padding bits
		}
		cores = append(cores, s[(k*4+2)/3:]) // ceil(k*4/3): characters holding filler bits
	}
	return cores
}

// eraseForms returns the forms value may be stored or written in, by name.
type eraseForm struct {
	name    string
	pattern []byte
	anyCase bool // matched against the source lowercased
}

func eraseForms(value []byte) []eraseForm {
	forms := []eraseForm{
		{name: "plain", pattern: value},
		{name: "plain, any case", pattern: bytes.ToLower(value), anyCase: true},
	}
	if j, err := json.Marshal(string(value)); err == nil {
		forms = append(forms, eraseForm{name: "JSON-escaped", pattern: j[1 : len(j)-1]})
	}
	for _, enc := range []struct {
		name string
		enc  *base64.Encoding
	}{{"base64", base64.StdEncoding}, {"base64url", base64.URLEncoding}} {
		for k, core := range eraseBase64Cores(value, enc.enc) {
			forms = append(forms, eraseForm{name: fmt.Sprintf("%s at offset %d", enc.name, k), pattern: []byte(core)})
		}
	}
	h := hex.EncodeToString(value)
	forms = append(forms,
		eraseForm{name: "hex", pattern: []byte(h)},
		eraseForm{name: "HEX", pattern: []byte(strings.ToUpper(h))})
	return forms
}

// eraseSearch looks for every value, in every form, in every source, and
// returns where each (value, form, source) was first found.
func eraseSearch(values []eraseValue, sources []eraseSource) []eraseHit {
	var hits []eraseHit
	for _, src := range sources {
		lower := bytes.ToLower(src.data)
		for _, v := range values {
			for _, f := range eraseForms(v.value) {
				data := src.data
				if f.anyCase {
					data = lower
				}
				at := bytes.Index(data, f.pattern)
				if at < 0 {
					continue
				}
				from, to := max(0, at-80), min(len(src.data), at+len(f.pattern)+80)
				hits = append(hits, eraseHit{what: v.what, form: f.name, source: src.name, at: at, context: string(src.data[from:to])})
			}
		}
	}
	return hits
}

// eraseFound reports whether hits hold what, in form, in a source whose
// name starts with source.
func eraseFound(hits []eraseHit, what, form, source string) bool {
	return slices.ContainsFunc(hits, func(h eraseHit) bool {
		return h.what == what && h.form == form && strings.HasPrefix(h.source, source)
	})
}

// eraseDump dumps the data of the whole database, as its owner, with the
// pg_dump of the server's major version.
func eraseDump(t *testing.T, on *testdb.DB) eraseSource {
	t.Helper()
	pgDump := "/usr/lib/postgresql/15/bin/pg_dump"
	if _, err := os.Stat(pgDump); err != nil {
		if pgDump, err = exec.LookPath("pg_dump"); err != nil {
			t.Fatalf("pg_dump is needed to prove the erasure and is not installed: not at /usr/lib/postgresql/15/bin/pg_dump nor in PATH (%v)", err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, pgDump, "--data-only", "--no-owner", "--no-privileges", "--dbname="+on.OwnerURL)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s --data-only: %v\n%s", pgDump, err, stderr.String())
	}
	if !bytes.Contains(stdout.Bytes(), []byte("COPY public.events")) {
		t.Fatalf("the dump holds no events: not a dump of the service's database?\n%s", stderr.String())
	}
	return eraseSource{name: "pg_dump", data: stdout.Bytes()}
}

// eraseMailSources reads every file under dir: each as it is and, for the
// encodings that fold lines (base64 every 76 characters, quoted-printable's
// soft breaks, headers), with its line breaks removed.
func eraseMailSources(t *testing.T, dir string) []eraseSource {
	t.Helper()
	var sources []eraseSource
	unfold := strings.NewReplacer("=\r\n", "", "=\n", "", "\r\n", "", "\n", "")
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		name := "mail " + filepath.Base(path)
		sources = append(sources,
			eraseSource{name: name, data: b},
			eraseSource{name: name + " (lines unfolded)", data: []byte(unfold.Replace(string(b)))})
		return nil
	})
	if err != nil {
		t.Fatalf("read the mail directory: %v", err)
	}
	return sources
}

// eraseMailFiles lists the files in dir.
func eraseMailFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read the mail directory: %v", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

// eraseRandomHex returns n random bytes in hex.
func eraseRandomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// eraseMe sends DELETE /me as token with password and requires a 204.
func eraseMe(t *testing.T, s *service, token, password string) {
	t.Helper()
	res := jobsCall(t, s, http.MethodDelete, "/me", token, map[string]string{"password": password})
	if res.status == http.StatusMethodNotAllowed || res.status == http.StatusNotFound {
		t.Fatalf("DELETE /me answers %s: is the endpoint there yet?", res)
	}
	if res.status != http.StatusNoContent {
		t.Fatalf("DELETE /me: want 204, got %s", res)
	}
}

// eraseMarkerAt is where eraseResumePDF puts its marker: the head of
// testfiles.PDF is 46 bytes long and ends with a comment's "%", and from
// there to the trailer the comment is padding.
const eraseMarkerAt = 64

// eraseResumePDF returns a valid PDF that holds marker in its padding.
func eraseResumePDF(marker string) []byte {
	pdf := testfiles.PDF(2048)
	copy(pdf[eraseMarkerAt:], marker)
	return pdf
}

// eraseCount runs a count(*) query as the database's owner.
func eraseCount(t *testing.T, on *testdb.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := on.Owner.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// TestErasedPersonLeavesNoTraceInADumpOrTheMailSink: a job seeker
// registers, fails a login, applies with a cover letter and a resume; the
// mails about it go out (as files) and a webhook tells the recruiter. Once
// they erase themselves, a dump of the whole database and every file of
// the mail directory hold none of what they gave, in any usual encoding;
// before, the same search finds it (it could fail).
func TestErasedPersonLeavesNoTraceInADumpOrTheMailSink(t *testing.T) {
	is := is.New(t)
	mailDir := t.TempDir()
	// A database of its own: its dump holds this test's data alone, and
	// the services of other tests, which refuse private addresses, must
	// not take its webhook deliveries.
	own := testdb.New(t)
	s := startServiceOn(t, own, map[string]string{
		"MAIL_DIR":               mailDir,
		"WEBHOOK_ALLOW_PRIVATE":  "true",
		"WEBHOOK_RETRY_SCHEDULE": "10ms,20ms",
		"WEBHOOK_TIMEOUT":        "5s",
	})

	recruiter := jobsRegister(t, s, "recruiter", "Erasure Proof Co")
	rc := hooksStartReceiver(t)
	hook := hooksCreate(t, s, recruiter.token, map[string]any{"url": rc.srv.URL + "/hook",
		"events": []string{"job.posted", "application.submitted", "application.status_changed"}})
	job := jobsPost(t, s, recruiter.token, jobsBody("Erasure "+jobsMarker()))

	tag := eraseRandomHex(8)
	name := "Zyxwvut Qponmlk " + tag
	email := "erase-" + tag + "@example.org"
	const password = "erase me password"
	phrase := "Kumquat-" + tag + " letter"
	coverLetter := "Dear team,\nplease read my " + phrase + " with care.\nRegards."
	resumeMarker := "UNIQUE-RESUME-BYTES-" + tag
	resumeName := "resume-" + tag + ".pdf"

	res := jobsCall(t, s, http.MethodPost, "/register", "", registration{Email: email, Password: password, Name: name, Role: "job_seeker"})
	if res.status != http.StatusCreated {
		t.Fatalf("POST /register: %s", res)
	}
	token := s.login(email, password)
	// A failed login: the login throttle keeps rows about the email.
	res = jobsCall(t, s, http.MethodPost, "/login", "", map[string]string{"email": email, "password": "not the password"})
	is.Equal(res.status, http.StatusUnauthorized) // a wrong password
	app := appsDecode(t, appsPostForm(t, s, token, job.ID,
		&appsFile{name: resumeName, contentType: "application/pdf", content: eraseResumePDF(resumeMarker)},
		"name", name, "email", email, "cover_letter", coverLetter), http.StatusCreated)
	is.True(app.Resume != nil) // the resume was kept

	// The two mails about the application are written (the recruiter's,
	// with the resume attached, and the applicant's "Application
	// received"), and the webhook is delivered.
	if !eventually(t, 20*time.Second, func() bool {
		return len(eraseMailFiles(t, mailDir)) >= 2 &&
			eraseCount(t, own, `SELECT count(*) FROM email_deliveries WHERE application_id = $1 AND status = 'sent'`, app.ID) == 2
	}) {
		t.Fatalf("the mails about the application were not sent: files %v, deliveries %d sent", eraseMailFiles(t, mailDir),
			eraseCount(t, own, `SELECT count(*) FROM email_deliveries WHERE application_id = $1 AND status = 'sent'`, app.ID))
	}
	mails := eraseMailFiles(t, mailDir)
	is.Equal(len(mails), 2) // the recruiter's and the applicant's
	if !eventually(t, 20*time.Second, func() bool {
		for _, d := range listPage[hooksDelivery](t, s, "/webhooks/"+hook.ID+"/deliveries", recruiter.token).Items {
			if d.EventType == "application.submitted" && d.Status == "delivered" {
				return true
			}
		}
		return false
	}) {
		t.Fatal("the webhook about the application was not delivered")
	}
	webhookBodies := 0
	for _, r := range rc.received() {
		if bytes.Contains(r.body, []byte(email)) {
			webhookBodies++
		}
	}
	is.True(webhookBodies > 0) // the webhook told the recruiter the applicant's email

	throttleKey := sha256.Sum256([]byte("email:" + email))
	resumeSum := sha256.Sum256(eraseResumePDF(resumeMarker))
	values := []eraseValue{
		{"the name", []byte(name)},
		{"the email", []byte(email)},
		{"the cover letter's phrase", []byte(phrase)},
		{"the resume's unique bytes", []byte(resumeMarker)},
		{"the resume's file name", []byte(resumeName)},
		// The resume's fingerprint, which the application showed.
		{"the resume's SHA-256", resumeSum[:]},
		// What is derived from the email alone: the login throttle's key
		// (an unkeyed SHA-256, which anyone who knows the email can
		// compute) and the keyed index of credentials and the throttle.
		{"the login throttle's digest of the email", throttleKey[:]},
		{"the keyed index of the email", testdb.Keyring().EmailIndex(email)},
	}

	// Before: the search finds what is there.
	before := eraseSearch(values, append([]eraseSource{eraseDump(t, own)}, eraseMailSources(t, mailDir)...))
	for _, want := range []struct{ what, form, source string }{
		{"the email", "plain", "mail "},
		{"the name", "plain", "mail "},
		{"the cover letter's phrase", "plain", "mail "},
		// The recruiter's mail attaches the resume, base64 and folded: the
		// marker lies eraseMarkerAt bytes into the file.
		{"the resume's unique bytes", fmt.Sprintf("base64 at offset %d", eraseMarkerAt%3), "mail "},
		// pg_dump writes bytea as hex: the resume, the webhook's body.
		{"the resume's unique bytes", "hex", "pg_dump"},
		{"the email", "hex", "pg_dump"},
		{"the login throttle's digest of the email", "hex", "pg_dump"},
		{"the keyed index of the email", "hex", "pg_dump"},
		{"the resume's SHA-256", "hex", "pg_dump"},
	} {
		if !eraseFound(before, want.what, want.form, want.source) {
			t.Errorf("before the erasure, the search does not find %s as %s in %s: it proves nothing", want.what, want.form, want.source)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("before the erasure, the search finds %d (value, form, source) triples", len(before))
	is.True(eraseCount(t, own, `SELECT count(*) FROM login_attempts WHERE key = $1`, throttleKey[:]) > 0) // the failed login is counted
	is.True(eraseCount(t, own, `SELECT count(*) FROM webhook_deliveries WHERE event_id IN (SELECT event_id FROM events WHERE stream_id = $1)`, app.ID) > 0)

	eraseMe(t, s, token, password)

	// After: nothing, anywhere, in any form.
	after := eraseSearch(values, append([]eraseSource{eraseDump(t, own)}, eraseMailSources(t, mailDir)...))
	for _, h := range after {
		t.Errorf("after the erasure, found %s", h)
	}
	for _, m := range mails {
		if _, err := os.Stat(filepath.Join(mailDir, m)); !os.IsNotExist(err) {
			t.Errorf("the mail %s about the erased application is still in the mail directory (%v)", m, err)
		}
	}
	is.Equal(eraseCount(t, own, `SELECT count(*) FROM email_deliveries WHERE application_id = $1`, app.ID), 0)                                                                                   // the mail queue forgot it
	is.Equal(eraseCount(t, own, `SELECT count(*) FROM login_attempts WHERE key = $1`, throttleKey[:]), 0)                                                                                        // and the login throttle
	is.Equal(eraseCount(t, own, `SELECT count(*) FROM resume_blobs WHERE application_id = $1`, app.ID), 0)                                                                                       // the resume's bytes are gone
	is.Equal(eraseCount(t, own, `SELECT count(*) FROM webhook_deliveries WHERE event_id IN (SELECT event_id FROM events WHERE stream_id = $1)`, app.ID), 0)                                      // and the webhook's copies
	is.Equal(eraseCount(t, own, `SELECT count(*) FROM data_keys WHERE wrapped IS NOT NULL AND subject_id = (SELECT applicant_id FROM application_claims WHERE application_id = $1)`, app.ID), 0) // the key is gone
}

// eraseMap decodes a JSON object.
func eraseMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, b)
	}
	return m
}

// eraseIsNull checks that object m has key, and that it is null.
func eraseIsNull(t *testing.T, what string, m map[string]any, key string) {
	t.Helper()
	v, ok := m[key]
	if !ok {
		t.Errorf("%s has no %s; want it null", what, key)
	} else if v != nil {
		t.Errorf("%s: %s is %v; want null", what, key, v)
	}
}

// TestErasedApplicantStillCountsInHistoryAndCounts: an erased applicant's
// application stays, without what they gave: its job still counts it
// where it stands, its recruiter sees it as "Erased applicant" and can
// move it on, and its history keeps every event, their personal fields
// null.
func TestErasedApplicantStillCountsInHistoryAndCounts(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	setup := appsStart(t, s)
	owner := setup.owner.token

	a := appsDecode(t, appsPostForm(t, s, setup.seeker.token, setup.job.ID,
		&appsFile{name: "cv.pdf", contentType: "application/pdf", content: testfiles.PDF(1500)},
		"name", "Soon Erased", "email", setup.seeker.email, "cover_letter", "Hello, this goes."), http.StatusCreated)
	other := appsApply(t, s, setup.otherSeeker.token, setup.job.ID, map[string]any{"cover_letter": "Hello, this stays."})
	pipeMoved(t, pipeMove(t, s, a.ID, owner, map[string]any{"status": "screening"}, "If-Match", `"1"`), "screening", 2)
	pipeMoved(t, pipeMove(t, s, a.ID, owner, map[string]any{"status": "interview"}, "If-Match", `"2"`), "interview", 3)
	pipeMoved(t, pipeMove(t, s, other.ID, owner, map[string]any{"status": "screening"}), "screening", 2)

	jobBefore := jobsGet(t, s, setup.job.ID, owner)
	is.Equal(*jobBefore.ApplicationCount, 2)
	is.Equal(jobBefore.ApplicationsByStatus["interview"], 1)
	is.Equal(jobBefore.ApplicationsByStatus["screening"], 1)
	jobHistoryBefore := jobsCall(t, s, http.MethodGet, "/jobs/"+setup.job.ID+"/history", owner, nil)
	is.Equal(jobHistoryBefore.status, http.StatusOK)
	historyBefore := pipeHistory(t, s, a.ID, owner)
	is.Equal(len(historyBefore), 3)
	is.Equal(jobsCall(t, s, http.MethodGet, "/applications/"+a.ID+"/resume", owner, nil).status, http.StatusOK) // there is a resume

	eraseMe(t, s, setup.seeker.token, "jobs password")

	// The job counts it as it did, where it stood.
	jobAfter := jobsGet(t, s, setup.job.ID, owner)
	is.Equal(*jobAfter.ApplicationCount, *jobBefore.ApplicationCount)
	is.Equal(jobAfter.ApplicationsByStatus, jobBefore.ApplicationsByStatus)
	is.Equal(appsList(t, s, "/jobs/"+setup.job.ID+"/applications?status=interview", owner).ids(), []string{a.ID})

	// The recruiter sees the application without what the applicant gave.
	res := appsGet(t, s, a.ID, owner)
	got := appsDecode(t, res, http.StatusOK)
	is.Equal(got.Name, "Erased applicant")
	is.Equal(got.Status, "interview") // where it stood
	fields := eraseMap(t, res.body)
	for _, k := range []string{"email", "cover_letter", "resume"} {
		eraseIsNull(t, "the erased application", fields, k)
	}
	is.Equal(appsDecode(t, appsGet(t, s, other.ID, owner), http.StatusOK).Name, "Jo job_seeker") // the other applicant is untouched
	problemOf(t, jobsCall(t, s, http.MethodGet, "/applications/"+a.ID+"/resume", owner, nil), http.StatusNotFound)

	// Its history keeps every event; the submission's personal fields
	// read as null; the erasure is the last event.
	history := pipeHistory(t, s, a.ID, owner)
	types := make([]string, len(history))
	for i, h := range history {
		types[i] = h.Type
	}
	is.Equal(types, []string{"ApplicationSubmitted", "ApplicationStatusChanged", "ApplicationStatusChanged", "ApplicantErased"})
	submitted := eraseMap(t, history[0].Data)
	for _, k := range []string{"name", "email", "cover_letter", "resume"} {
		eraseIsNull(t, "the history's ApplicationSubmitted", submitted, k)
	}
	is.Equal(submitted["job_id"], setup.job.ID) // what is not personal stays
	is.Equal(history[0].Position, historyBefore[0].Position)
	is.Equal(history[1], historyBefore[1]) // the moves, as they were
	is.Equal(history[2], historyBefore[2])
	is.Equal(history[3].Version, int64(4))
	is.True(!strings.Contains(string(jobsCall(t, s, http.MethodGet, "/applications/"+a.ID+"/history", owner, nil).body), "Hello, this goes."))

	// The job's own history is unaffected.
	jobHistoryAfter := jobsCall(t, s, http.MethodGet, "/jobs/"+setup.job.ID+"/history", owner, nil)
	is.Equal(jobHistoryAfter.status, http.StatusOK)
	is.Equal(string(jobHistoryAfter.body), string(jobHistoryBefore.body))

	// The recruiter moves it on, as before.
	res = appsGet(t, s, a.ID, owner)
	is.Equal(res.header.Get("ETag"), `"4"`) // the erasure is an event of the application
	moved := pipeMoved(t, pipeMove(t, s, a.ID, owner, map[string]any{"status": "offer"}, "If-Match", `"4"`), "offer", 5)
	is.Equal(moved.Name, "Erased applicant")
	history = pipeHistory(t, s, a.ID, owner)
	is.Equal(len(history), 5)
	is.Equal(history[4].Type, "ApplicationStatusChanged")
	is.Equal(eraseMap(t, history[4].Data), map[string]any{"from": "interview", "to": "offer"})
	counts := jobsGet(t, s, setup.job.ID, owner).ApplicationsByStatus
	is.Equal(counts["offer"], 1)
	is.Equal(counts["interview"], 0)
	is.Equal(*jobsGet(t, s, setup.job.ID, owner).ApplicationCount, 2)

	// The erased account's token no longer works.
	jobsIsUnauthorized(t, jobsCall(t, s, http.MethodGet, "/me", setup.seeker.token, nil))
}

// TestReplayAfterErasureRebuildsTheSameViews: with a job seeker and a
// recruiter erased (the recruiter's open job closed by it), and moves
// before and after, a replay of the whole log rebuilds exactly the views
// the live projectors built.
func TestReplayAfterErasureRebuildsTheSameViews(t *testing.T) {
	is := is.New(t)
	ctx := t.Context()
	own := testdb.New(t)
	s := startServiceOn(t, own, nil)

	acme := jobsRegister(t, s, "recruiter", "Acme")
	solo := jobsRegister(t, s, "recruiter", "Solo Ltd")
	seekers := []jobsActor{jobsRegister(t, s, "job_seeker", ""), jobsRegister(t, s, "job_seeker", ""), jobsRegister(t, s, "job_seeker", "")}
	j1 := jobsPost(t, s, acme.token, jobsBody("Backend Engineer"))
	j2 := jobsPost(t, s, acme.token, jobsBody("Data Analyst"))
	soloOpen := jobsPost(t, s, solo.token, jobsBody("Writer", func(b map[string]any) { b["company"] = "Solo Ltd" }))
	soloClosed := jobsPost(t, s, solo.token, jobsBody("Editor", func(b map[string]any) { b["company"] = "Solo Ltd" }))
	is.Equal(jobsCall(t, s, http.MethodPatch, "/jobs/"+soloClosed.ID, solo.token, map[string]any{"status": "closed"}).status, http.StatusOK)

	withResume := appsDecode(t, appsPostForm(t, s, seekers[0].token, j1.ID,
		&appsFile{name: "cv.pdf", contentType: "application/pdf", content: testfiles.PDF(1800)},
		"name", "Ada Erased", "email", seekers[0].email, "cover_letter", "I will be erased."), http.StatusCreated)
	toSolo := appsApply(t, s, seekers[0].token, soloOpen.ID, map[string]any{"cover_letter": "To Solo."})
	second := appsApply(t, s, seekers[1].token, j1.ID, map[string]any{"name": "Bo Stays", "email": seekers[1].email})
	secondToSolo := appsApply(t, s, seekers[1].token, soloOpen.ID, map[string]any{})
	third := appsApply(t, s, seekers[2].token, j2.ID, map[string]any{"cover_letter": "Hi."})

	pipeMoved(t, pipeMove(t, s, withResume.ID, acme.token, map[string]any{"status": "screening"}), "screening", 2)
	pipeMoved(t, pipeMove(t, s, withResume.ID, acme.token, map[string]any{"status": "interview"}), "interview", 3)
	pipeMoved(t, pipeMove(t, s, second.ID, acme.token, map[string]any{"status": "rejected", "reason": "Not now"}), "rejected", 2)
	pipeMoved(t, pipeMove(t, s, secondToSolo.ID, solo.token, map[string]any{"status": "screening"}), "screening", 2)
	pipeMoved(t, pipeMove(t, s, third.ID, seekers[2].token, map[string]any{"status": "withdrawn"}), "withdrawn", 2)

	eraseMe(t, s, seekers[0].token, "jobs password")
	eraseMe(t, s, solo.token, "jobs password")
	// After the erasures: the erased applicant's application moves on.
	pipeMoved(t, pipeMove(t, s, withResume.ID, acme.token, map[string]any{"status": "offer"}), "offer", 5)

	var status string
	is.NoErr(own.Owner.QueryRow(ctx, `SELECT status FROM jobs WHERE id = $1`, soloOpen.ID).Scan(&status))
	is.Equal(status, "closed") // the erased recruiter's open job was closed
	var shownAs string
	is.NoErr(own.Owner.QueryRow(ctx, `SELECT name FROM applications WHERE id = $1`, toSolo.ID).Scan(&shownAs))
	is.Equal(shownAs, "Erased applicant") // the erased applicant's application to the erased recruiter's job stays

	// Every projection has applied the whole log.
	var last eventstore.Checkpoint
	is.NoErr(s.app.Pool.QueryRow(ctx, `SELECT tx_id, position FROM events ORDER BY tx_id DESC, position DESC LIMIT 1`).
		Scan(&last.TxID, &last.Position))
	ps := projections.All()
	var names []string
	for _, p := range ps {
		names = append(names, p.Name())
	}
	is.NoErr(s.app.Tracker.WaitFor(ctx, last, names...)) // the live views are complete
	before, err := replay.Take(ctx, s.app.Pool, ps)
	is.NoErr(err)
	is.Equal(len(before["users"]), 3) // the erased accounts left the users view
	is.Equal(len(before["applications"]), 5)
	erasedRows := 0
	for _, row := range before["applications"] {
		if strings.Contains(row, `"Erased applicant"`) {
			erasedRows++
		}
	}
	is.Equal(erasedRows, 2) // both of the erased job seeker's applications
	for table, rows := range before {
		for _, row := range rows {
			for _, gone := range []string{seekers[0].email, solo.email, "I will be erased.", "Ada Erased"} {
				if strings.Contains(row, gone) {
					t.Errorf("the live %s view still holds %q: %s", table, gone, row)
				}
			}
		}
	}

	var logged int64
	is.NoErr(s.app.Pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&logged))
	rebuilt, err := replay.Run(ctx, s.db.Owner, ps, replay.Options{Keys: testdb.Keyring()})
	is.NoErr(err)
	is.Equal(rebuilt.Events, logged) // from the whole log
	after, err := replay.Take(ctx, s.app.Pool, ps)
	is.NoErr(err)
	if d := before.Diff(after); d != "" {
		t.Fatalf("the rebuilt views differ from the ones the live projectors built:\n%s", d)
	}
	got := appsDecode(t, appsGet(t, s, withResume.ID, acme.token), http.StatusOK)
	is.Equal(got.Name, "Erased applicant") // the API serves the rebuilt views
	is.Equal(got.Status, "offer")
}
