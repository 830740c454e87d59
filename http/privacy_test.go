package http_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/jobboard/jobboard/internal/testfiles"
)

// The helpers of this file are prefixed with "privacy".

// privacyApplication is an application of the export: as GET
// /me/applications shows it, with its history and, with a resume, the
// path to download it.
type privacyApplication struct {
	appsApplication
	ResumeURL *string           `json:"resume_url"`
	History   []pipeHistoryItem `json:"history"`
}

// privacyEvent is an event of the export: a history item, with its stream.
type privacyEvent struct {
	pipeHistoryItem
	StreamType string `json:"stream_type"`
	StreamID   string `json:"stream_id"`
}

// privacyExport is the body of GET /me/export.
type privacyExport struct {
	Account      user                  `json:"account"`
	Jobs         *[]jobsJob            `json:"jobs"`
	Applications *[]privacyApplication `json:"applications"`
	Events       []privacyEvent        `json:"events"`
}

// privacyGetExport downloads the caller's export and checks its headers
// and shape: exactly the contract's fields, and JSON that ends.
func privacyGetExport(t *testing.T, s *service, token string) (privacyExport, response) {
	t.Helper()
	is := is.New(t)
	is.Helper()
	res := jobsCall(t, s, http.MethodGet, "/me/export", token, nil)
	if res.status != http.StatusOK {
		t.Fatalf("GET /me/export: want 200, got %s", res)
	}
	is.Equal(res.header.Get("Content-Type"), "application/json; charset=utf-8")                    // JSON
	is.Equal(res.header.Get("Content-Disposition"), `attachment; filename="jobboard-export.json"`) // a download
	is.Equal(res.header.Get("Cache-Control"), "no-store")                                          // never kept by a cache
	var e privacyExport
	dec := json.NewDecoder(bytes.NewReader(res.body))
	dec.DisallowUnknownFields()
	is.NoErr(dec.Decode(&e)) // the export is one JSON object of the contract's fields
	is.True(!dec.More())     // and nothing after it
	for i := 1; i < len(e.Events); i++ {
		is.True(e.Events[i].Position != e.Events[i-1].Position) // each event once
	}
	for _, ev := range e.Events {
		is.True(json.Valid(ev.Data) && ev.Data[0] == '{') // data is the event's JSON object
		is.True(strings.HasSuffix(ev.OccurredAt, "Z"))    // in UTC
	}
	return e, res
}

// privacyFind returns the events of type typ of stream.
func privacyFind(events []privacyEvent, typ, stream string) []privacyEvent {
	var found []privacyEvent
	for _, e := range events {
		if e.Type == typ && (stream == "" || e.StreamID == stream) {
			found = append(found, e)
		}
	}
	return found
}

// privacyData decodes an event's data.
func privacyData(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("event data: %v: %s", err, raw)
	}
	return m
}

// privacyDelete sends DELETE /me with body (nil: none).
func privacyDelete(t *testing.T, s *service, token string, body any) response {
	t.Helper()
	return jobsCall(t, s, http.MethodDelete, "/me", token, body)
}

// privacyService is a service whose login throttle binds an email after
// three failures (and no client as a whole: the package's database is
// shared with the other tests' failures).
func privacyService(t *testing.T) *service {
	t.Helper()
	return startService(t, map[string]string{
		"LOGIN_MAX_FAILURES_PER_EMAIL":  "3",
		"LOGIN_MAX_FAILURES_PER_CLIENT": "0",
		"LOGIN_FAILURE_WINDOW":          "10m",
	})
}

// TestPrivacyExport checks GET /me/export for both roles: the account, the
// recruiter's jobs or the job seeker's applications with their histories,
// and every event about the caller, with their own personal data in clear
// and nothing of anyone else's.
func TestPrivacyExport(t *testing.T) {
	s := startService(t, nil)
	setup := appsStart(t, s)
	letter := "Dear team,\n\nI'd <b>love</b> to join & help.\n\tSam"
	reason := "privacy-reason-" + jobsMarker()

	// The seeker applies twice: with a resume to the setup's job (which the
	// recruiter rejects, with a reason) and in JSON to another.
	pdf := testfiles.PDF(2000)
	withResume := appsDecode(t, appsPostForm(t, s, setup.seeker.token, setup.job.ID,
		&appsFile{name: "Sam CV.pdf", content: pdf}, "cover_letter", letter), http.StatusCreated)
	second := jobsPost(t, s, setup.owner.token, jobsBody("Privacy second "+jobsMarker()))
	plain := appsApply(t, s, setup.seeker.token, second.ID, map[string]any{})
	// And to a job that is deleted afterwards: listed nowhere, exported.
	gone := jobsPost(t, s, setup.owner.token, jobsBody("Privacy gone "+jobsMarker()))
	inGone := appsApply(t, s, setup.seeker.token, gone.ID, map[string]any{})
	if res := jobsCall(t, s, http.MethodDelete, "/jobs/"+gone.ID, setup.owner.token, nil); res.status != http.StatusNoContent {
		t.Fatalf("delete a job: %d %s", res.status, res.body)
	}
	pipeMoved(t, pipeMove(t, s, withResume.ID, setup.owner.token, map[string]any{"status": "rejected", "reason": reason}), "rejected", 2)
	// Someone else's application to the same job, which no export of
	// these two may show.
	otherLetter := "other-letter-" + jobsMarker()
	appsApply(t, s, setup.otherSeeker.token, setup.job.ID, map[string]any{"cover_letter": otherLetter})

	t.Run("job seeker", func(t *testing.T) {
		is := is.New(t)
		e, res := privacyGetExport(t, s, setup.seeker.token)
		me := jobsDecodeUser(t, jobsCall(t, s, http.MethodGet, "/me", setup.seeker.token, nil))
		is.Equal(e.Account, me) // the account, as GET /me shows it
		is.Equal(e.Jobs, nil)   // a job seeker has no jobs
		is.True(e.Applications != nil)
		apps := *e.Applications
		is.Equal(len(apps), 3) // every application, the deleted job's too
		mine := appsList(t, s, "/me/applications", setup.seeker.token)
		is.Equal(len(mine.Items), 2) // which no listing shows
		listed := map[string]bool{}
		for _, a := range mine.Items {
			listed[a.ID] = true
		}
		byID := map[string]privacyApplication{}
		for _, a := range apps {
			byID[a.ID] = a
			is.Equal(a.History, pipeHistory(t, s, a.ID, setup.seeker.token)) // each with its history, as the applicant reads it
			is.Equal(a.RejectionReason, nil)                                 // never the recruiter's reason
		}
		for _, a := range mine.Items {
			is.Equal(byID[a.ID].appsApplication, a) // as GET /me/applications shows them
		}
		is.True(!listed[inGone.ID])
		is.Equal(byID[inGone.ID].Status, "submitted") // the deleted job's application, as it stood
		got := byID[withResume.ID]
		is.Equal(got.Status, "rejected")
		is.Equal(*got.CoverLetter, letter)
		is.Equal(*got.ResumeURL, "/applications/"+withResume.ID+"/resume") // where the resume is
		download := jobsCall(t, s, http.MethodGet, *got.ResumeURL, setup.seeker.token, nil)
		is.Equal(download.status, http.StatusOK)
		is.Equal(download.body, pdf) // and it downloads
		is.Equal(len(got.History), 2)
		is.Equal(privacyData(t, got.History[1].Data), map[string]any{"from": "submitted", "to": "rejected"}) // the move, without its reason
		is.Equal(byID[plain.ID].ResumeURL, nil)                                                              // no resume, no resume_url

		registered := privacyFind(e.Events, "UserRegistered", setup.seeker.id)
		is.Equal(len(registered), 1) // their account's event
		data := privacyData(t, registered[0].Data)
		is.Equal(data["email"], setup.seeker.email) // in clear
		is.Equal(data["name"], me.Name)
		submitted := privacyFind(e.Events, "ApplicationSubmitted", withResume.ID)
		is.Equal(len(submitted), 1) // their applications' events
		data = privacyData(t, submitted[0].Data)
		is.Equal(data["cover_letter"], letter) // what they wrote, in clear
		is.Equal(data["email"], setup.seeker.email)
		is.True(data["resume"] != nil)
		is.Equal(len(privacyFind(e.Events, "ApplicationSubmitted", plain.ID)), 1)
		moved := privacyFind(e.Events, "ApplicationStatusChanged", withResume.ID)
		is.Equal(len(moved), 1)                                                                        // the recruiter's move of their application
		is.Equal(privacyData(t, moved[0].Data), map[string]any{"from": "submitted", "to": "rejected"}) // in the shape of the history: no reason
		is.Equal(*moved[0].ActorID, setup.owner.id)
		is.True(!bytes.Contains(res.body, []byte(reason)))                           // the reason is nowhere in the export
		is.True(!bytes.Contains(res.body, []byte(otherLetter)))                      // nor anyone else's application
		is.True(bytes.Contains(res.body, []byte("I'd <b>love</b> to join & help."))) // user text unescaped, as the API sends it
		for _, ev := range e.Events {
			is.True(slices.Contains([]string{setup.seeker.id, withResume.ID, plain.ID, inGone.ID}, ev.StreamID)) // nothing but theirs
		}
	})

	t.Run("recruiter", func(t *testing.T) {
		is := is.New(t)
		closed := jobsPost(t, s, setup.owner.token, jobsBody("Privacy closed "+jobsMarker()))
		jobsDecode(t, jobsCall(t, s, http.MethodPatch, "/jobs/"+closed.ID, setup.owner.token, map[string]any{"status": "closed"}), http.StatusOK)
		doomed := jobsPost(t, s, setup.owner.token, jobsBody("Privacy deleted "+jobsMarker()))
		is.Equal(jobsCall(t, s, http.MethodDelete, "/jobs/"+doomed.ID, setup.owner.token, nil).status, http.StatusNoContent)

		e, res := privacyGetExport(t, s, setup.owner.token)
		is.Equal(e.Account, jobsDecodeUser(t, jobsCall(t, s, http.MethodGet, "/me", setup.owner.token, nil))) // the account
		is.Equal(e.Applications, nil)                                                                         // a recruiter has no applications
		is.True(e.Jobs != nil)
		var ids []string
		for _, j := range *e.Jobs {
			ids = append(ids, j.ID)
			is.Equal(j, jobsGet(t, s, j.ID, setup.owner.token)) // as GET /jobs/{id} shows them to their owner
		}
		is.Equal(ids, []string{closed.ID, second.ID, setup.job.ID}) // every job of theirs, closed too, newest first
		is.Equal((*e.Jobs)[0].Status, "closed")

		is.Equal(len(privacyFind(e.Events, "UserRegistered", setup.owner.id)), 1)
		is.Equal(len(privacyFind(e.Events, "JobPosted", setup.job.ID)), 1)
		is.Equal(len(privacyFind(e.Events, "JobClosed", closed.ID)), 1)
		is.Equal(len(privacyFind(e.Events, "JobDeleted", doomed.ID)), 1) // the deleted job's events too
		moved := privacyFind(e.Events, "ApplicationStatusChanged", withResume.ID)
		is.Equal(len(moved), 1)                                                                                          // the moves they made
		is.Equal(privacyData(t, moved[0].Data), map[string]any{"from": "submitted", "to": "rejected", "reason": reason}) // with their own reason
		is.Equal(len(privacyFind(e.Events, "ApplicationSubmitted", "")), 0)                                              // but not the applicants' events
		is.True(!bytes.Contains(res.body, []byte(letter)))
		is.True(!bytes.Contains(res.body, []byte(otherLetter)))
		is.True(!bytes.Contains(res.body, []byte(setup.seeker.email)))
	})

	t.Run("HEAD", func(t *testing.T) {
		is := is.New(t)
		res := s.do(http.MethodHead, "/me/export", nil, "Authorization", "Bearer "+setup.seeker.token)
		is.Equal(res.status, http.StatusOK)
		is.Equal(res.header.Get("Content-Disposition"), `attachment; filename="jobboard-export.json"`)
		is.Equal(len(res.body), 0)
	})

	t.Run("without a token", func(t *testing.T) {
		is := is.New(t)
		res := jobsCall(t, s, http.MethodGet, "/me/export", "", nil)
		jobsIsUnauthorized(t, res)
		is.Equal(res.header.Get("Cache-Control"), "no-store")
		is.Equal(res.header.Get("Content-Disposition"), "") // a refusal is no download
		jobsIsUnauthorized(t, jobsCall(t, s, http.MethodGet, "/me/export", "not.a.token", nil))
	})

	t.Run("a new account", func(t *testing.T) {
		is := is.New(t)
		seeker := jobsRegister(t, s, "job_seeker", "")
		e, _ := privacyGetExport(t, s, seeker.token)
		is.Equal(*e.Applications, []privacyApplication{}) // an empty array, not null
		is.Equal(len(e.Events), 1)                        // its registration alone
		is.Equal(e.Events[0].Type, "UserRegistered")
		recruiter := jobsRegister(t, s, "recruiter", "")
		e, _ = privacyGetExport(t, s, recruiter.token)
		is.Equal(*e.Jobs, []jobsJob{})
	})
}

// TestPrivacyExportPages: a recruiter with more jobs than a page of the
// export's listing gets them all, each once.
func TestPrivacyExportPages(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	recruiter := jobsRegister(t, s, "recruiter", "Many Co")
	const n = 103
	err := jobsInParallel(n, 4, func(i int) error {
		res, err := jobsSend(t.Context(), s, http.MethodPost, "/jobs", recruiter.token, jobsBody("Many "+strconv.Itoa(i)))
		if err == nil && res.status != http.StatusCreated {
			t.Errorf("POST /jobs: %s", res)
		}
		return err
	})
	is.NoErr(err)
	e, _ := privacyGetExport(t, s, recruiter.token)
	seen := map[string]bool{}
	for _, j := range *e.Jobs {
		is.True(!seen[j.ID]) // each job once
		seen[j.ID] = true
	}
	is.Equal(len(seen), n)                                   // every one of them
	is.Equal(len(privacyFind(e.Events, "JobPosted", "")), n) // and every event
}

// TestPrivacyDeleteMe checks DELETE /me: bad bodies, the password as a
// login checks it, and what an erasure leaves, for a job seeker and for a
// recruiter.
func TestPrivacyDeleteMe(t *testing.T) {
	s := privacyService(t)

	t.Run("bad bodies are refused, and are no failed logins", func(t *testing.T) {
		is := is.New(t)
		seeker := jobsRegister(t, s, "job_seeker", "")
		for _, tt := range []struct {
			name   string
			body   any
			status int
			field  string
		}{
			{"no body", nil, http.StatusBadRequest, ""},
			{"not JSON", "password=x", http.StatusBadRequest, ""},
			{"not an object", `["jobs password"]`, http.StatusBadRequest, ""},
			{"no password", map[string]any{}, http.StatusUnprocessableEntity, "password"},
			{"an empty password", map[string]any{"password": ""}, http.StatusUnprocessableEntity, "password"},
			{"a null password", `{"password": null}`, http.StatusUnprocessableEntity, "password"},
			{"a number", map[string]any{"password": 12345678}, http.StatusUnprocessableEntity, "password"},
			{"an unknown field", map[string]any{"password": "jobs password", "reason": "bye"}, http.StatusUnprocessableEntity, "reason"},
		} {
			p := problemOf(t, privacyDelete(t, s, seeker.token, tt.body), tt.status)
			if tt.field != "" {
				is.Equal(p.fields(), []string{tt.field}) // the problem names the field
			}
		}
		res := s.do(http.MethodDelete, "/me", strings.NewReader(`{"password": "jobs password"}`),
			"Authorization", "Bearer "+seeker.token, "Content-Type", "text/plain")
		problemOf(t, res, http.StatusUnsupportedMediaType)
		problemOf(t, privacyDelete(t, s, "", map[string]any{"password": "jobs password"}), http.StatusUnauthorized) // no token
		// More refusals than the throttle allows failures: none counted.
		is.Equal(s.get("/me", seeker.token).status, http.StatusOK) // nothing was erased
		is.Equal(privacyDelete(t, s, seeker.token, map[string]any{"password": "jobs password"}).status, http.StatusNoContent)
	})

	t.Run("a wrong password is a failed login", func(t *testing.T) {
		is := is.New(t)
		seeker := jobsRegister(t, s, "job_seeker", "")
		for range 3 {
			jobsIsUnauthorized(t, privacyDelete(t, s, seeker.token, map[string]any{"password": "not the password"}))
		}
		for _, password := range []string{"not the password", "jobs password"} {
			res := privacyDelete(t, s, seeker.token, map[string]any{"password": password})
			problemOf(t, res, http.StatusTooManyRequests) // throttled as the login is, right password or not
			is.True(res.header.Get("Retry-After") != "")
		}
		res := s.postJSON("/login", map[string]string{"email": seeker.email, "password": "jobs password"})
		problemOf(t, res, http.StatusTooManyRequests)              // the login counts the same failures
		is.Equal(s.get("/me", seeker.token).status, http.StatusOK) // and nothing was erased
	})

	t.Run("job seeker", func(t *testing.T) {
		is := is.New(t)
		setup := appsStart(t, s)
		pdf := testfiles.PDF(1500)
		letter := "erase-me-letter-" + jobsMarker()
		a := appsDecode(t, appsPostForm(t, s, setup.seeker.token, setup.job.ID, &appsFile{name: "Sam.pdf", content: pdf},
			"cover_letter", letter), http.StatusCreated)
		pipeMoved(t, pipeMove(t, s, a.ID, setup.owner.token, map[string]any{"status": "screening"}), "screening", 2)
		count := appsCount(t, s, setup.job.ID, setup.owner.token)

		jobsIsUnauthorized(t, privacyDelete(t, s, setup.seeker.token, map[string]any{"password": "not the password"})) // one failure, under the limit
		res := privacyDelete(t, s, setup.seeker.token, map[string]any{"password": "jobs password"})
		is.Equal(res.status, http.StatusNoContent)
		is.Equal(len(res.body), 0)
		is.Equal(res.header.Get("Cache-Control"), "no-store")

		// The account is gone: its token, its password.
		jobsIsUnauthorized(t, jobsCall(t, s, http.MethodGet, "/me", setup.seeker.token, nil))
		jobsIsUnauthorized(t, jobsCall(t, s, http.MethodGet, "/me/export", setup.seeker.token, nil))
		jobsIsUnauthorized(t, jobsCall(t, s, http.MethodGet, "/applications/"+a.ID, setup.seeker.token, nil))
		jobsIsUnauthorized(t, privacyDelete(t, s, setup.seeker.token, map[string]any{"password": "jobs password"})) // twice: 401
		problemOf(t, s.postJSON("/login", map[string]string{"email": setup.seeker.email, "password": "jobs password"}), http.StatusUnauthorized)

		// The recruiter still has the application, without the person.
		res = appsGet(t, s, a.ID, setup.owner.token)
		is.Equal(res.status, http.StatusOK)
		var raw map[string]any
		is.NoErr(json.Unmarshal(res.body, &raw))
		is.Equal(raw["name"], "Erased applicant")
		is.Equal(raw["email"], nil)
		is.Equal(raw["cover_letter"], nil)
		is.Equal(raw["resume"], nil)
		is.Equal(raw["status"], "screening")           // its status stays
		is.Equal(raw["applicant_id"], setup.seeker.id) // and the fact of who applied
		is.True(!bytes.Contains(res.body, []byte(letter)))
		problemOf(t, jobsCall(t, s, http.MethodGet, "/applications/"+a.ID+"/resume", setup.owner.token, nil), http.StatusNotFound)
		listed := appsList(t, s, "/jobs/"+setup.job.ID+"/applications", setup.owner.token)
		is.Equal(listed.ids(), []string{a.ID})
		is.Equal(listed.Items[0].Name, "Erased applicant")
		is.Equal(appsCount(t, s, setup.job.ID, setup.owner.token), count) // the job's count does not change

		history := pipeHistory(t, s, a.ID, setup.owner.token)
		is.Equal(len(history), 3) // the facts stay, and the erasure is one more
		is.Equal(history[0].Type, "ApplicationSubmitted")
		submitted := privacyData(t, history[0].Data)
		for _, field := range []string{"name", "email", "cover_letter", "resume"} {
			v, present := submitted[field]
			is.True(present && v == nil) // personal fields read as null
		}
		is.Equal(submitted["applicant_id"], setup.seeker.id)
		is.Equal(history[1].Type, "ApplicationStatusChanged")
		is.Equal(privacyData(t, history[1].Data), map[string]any{"from": "submitted", "to": "screening"})
		is.Equal(history[2].Type, "ApplicantErased")

		// The email is free again, for a new account.
		res = s.postJSON("/register", registration{Email: setup.seeker.email, Password: "a new password", Name: "Sam again", Role: "job_seeker"})
		is.Equal(res.status, http.StatusCreated)
		var again user
		is.NoErr(json.Unmarshal(res.body, &again))
		is.True(again.ID != setup.seeker.id) // a new account
		token := s.login(setup.seeker.email, "a new password")
		e, _ := privacyGetExport(t, s, token)
		is.Equal(e.Account.ID, again.ID)
		is.Equal(*e.Applications, []privacyApplication{}) // nothing of the old one
		is.Equal(len(e.Events), 1)
		jobsIsUnauthorized(t, jobsCall(t, s, http.MethodGet, "/me", setup.seeker.token, nil)) // the old token still names the old account
	})

	t.Run("recruiter", func(t *testing.T) {
		is := is.New(t)
		setup := appsStart(t, s)
		closed := jobsPost(t, s, setup.owner.token, jobsBody("Privacy closed "+jobsMarker()))
		jobsDecode(t, jobsCall(t, s, http.MethodPatch, "/jobs/"+closed.ID, setup.owner.token, map[string]any{"status": "closed"}), http.StatusOK)
		a := appsApply(t, s, setup.seeker.token, setup.job.ID, map[string]any{})

		is.Equal(privacyDelete(t, s, setup.owner.token, map[string]any{"password": "jobs password"}).status, http.StatusNoContent)
		jobsIsUnauthorized(t, jobsCall(t, s, http.MethodGet, "/me", setup.owner.token, nil))
		jobsIsUnauthorized(t, jobsCall(t, s, http.MethodGet, "/jobs/"+setup.job.ID, setup.owner.token, nil))
		problemOf(t, s.postJSON("/login", map[string]string{"email": setup.owner.email, "password": "jobs password"}), http.StatusUnauthorized)

		is.Equal(jobsGet(t, s, setup.job.ID, "").Status, "closed") // their open job is closed
		is.Equal(jobsGet(t, s, closed.ID, "").Status, "closed")    // a closed one stays so
		problemOf(t, appsApplyJSON(t, s, setup.otherSeeker.token, setup.job.ID, map[string]any{}), http.StatusConflict)
		got := appsDecode(t, appsGet(t, s, a.ID, setup.seeker.token), http.StatusOK)
		is.Equal(got.Status, "submitted") // the applicant keeps their application
	})
}
