package http_test

import (
	"net/http"
	"testing"

	"github.com/matryer/is"

	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/internal/testdb"
	"github.com/jobboard/jobboard/internal/testfiles"
	"github.com/jobboard/jobboard/projections"
	"github.com/jobboard/jobboard/replay"
)

// Every read model, filled through the API by every kind of write there
// is, is rebuilt from the log into exactly what the live projectors built;
// and the API serves the rebuilt views as it served the old ones.
func TestReplayRebuildsTheViewsTheAPIFilled(t *testing.T) {
	is := is.New(t)
	ctx := t.Context()
	own := testdb.New(t)
	s := startServiceOn(t, own, nil)

	acme := jobsRegister(t, s, "recruiter", "Acme")
	solo := jobsRegister(t, s, "recruiter", "")
	seekers := []jobsActor{jobsRegister(t, s, "job_seeker", ""), jobsRegister(t, s, "job_seeker", "")}

	var jobs []jobsJob
	for i, title := range []string{"Backend Engineer", "Data Analyst", "SRE", "Designer"} {
		jobs = append(jobs, jobsPost(t, s, acme.token, jobsBody(title, func(b map[string]any) {
			b["remote"] = i%2 == 0
			b["employment_type"] = []string{"full_time", "part_time", "contract", "internship"}[i]
			if i < 2 {
				b["salary_min"], b["salary_max"], b["salary_currency"] = 40000+i*1000, 60000, "EUR"
			}
		})))
	}
	jobs = append(jobs, jobsPost(t, s, solo.token, jobsBody("Writer", func(b map[string]any) { b["company"] = "Solo Ltd" })))

	patch := func(token, id string, body any) {
		t.Helper()
		res := jobsCall(t, s, http.MethodPatch, "/jobs/"+id, token, body)
		is.Equal(res.status, http.StatusOK) // PATCH
	}
	patch(acme.token, jobs[0].ID, map[string]any{"title": "Senior Backend Engineer", "salary_max": 90000})
	patch(acme.token, jobs[1].ID, map[string]any{"salary_min": nil, "salary_max": nil, "salary_currency": nil})
	patch(acme.token, jobs[2].ID, map[string]any{"status": "closed"})
	patch(acme.token, jobs[3].ID, map[string]any{"status": "closed"})
	patch(acme.token, jobs[3].ID, map[string]any{"status": "open", "location": "Remote"})
	res := jobsCall(t, s, http.MethodPut, "/jobs/"+jobs[4].ID, solo.token, jobsBody("Technical Writer", func(b map[string]any) { b["company"] = "Solo Ltd" }))
	is.Equal(res.status, http.StatusOK) // PUT

	for i, seeker := range seekers {
		apps := appsPostForm(t, s, seeker.token, jobs[0].ID, &appsFile{name: "cv.pdf", content: testfiles.PDF(2000 + i)},
			"name", "Seeker", "email", seeker.email, "cover_letter", "Hello.")
		appsDecode(t, apps, http.StatusCreated)
		appsApply(t, s, seeker.token, jobs[3].ID, map[string]any{"name": "Seeker", "email": seeker.email})
	}
	onDeleted := appsApply(t, s, seekers[0].token, jobs[4].ID, map[string]any{"name": "Seeker", "email": seekers[0].email})
	res = jobsCall(t, s, http.MethodDelete, "/jobs/"+jobs[4].ID, solo.token, nil)
	is.Equal(res.status, http.StatusNoContent) // DELETE, with an application on it

	// The hiring pipeline: moves, back and forth, a rejection with a
	// reason, a withdrawal, a move after the job's deletion.
	move := func(token, id string, body map[string]any) {
		t.Helper()
		res := jobsCall(t, s, http.MethodPatch, "/applications/"+id, token, body)
		is.Equal(res.status, http.StatusOK) // PATCH /applications/{id}
	}
	onFirst := appsList(t, s, "/jobs/"+jobs[0].ID+"/applications", acme.token).Items
	onFourth := appsList(t, s, "/jobs/"+jobs[3].ID+"/applications", acme.token).Items
	move(acme.token, onFirst[0].ID, map[string]any{"status": "interview"})
	move(acme.token, onFirst[0].ID, map[string]any{"status": "offer"})
	move(acme.token, onFirst[0].ID, map[string]any{"status": "screening"})
	move(acme.token, onFirst[1].ID, map[string]any{"status": "rejected", "reason": "Went with someone local"})
	move(seekers[0].token, onFourth[len(onFourth)-1].ID, map[string]any{"status": "withdrawn"})
	move(solo.token, onDeleted.ID, map[string]any{"status": "hired"})

	// Every projection has applied the whole log (the newest event, which
	// another test's transaction on the cluster can keep out of sight for
	// a moment).
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
	is.Equal(len(before["users"]), 4)        // every account
	is.Equal(len(before["jobs"]), 5)         // every job, the deleted one marked
	is.Equal(len(before["applications"]), 5) // every application
	served := jobsGet(t, s, jobs[0].ID, "")

	var logged int64
	is.NoErr(s.app.Pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&logged))
	rebuilt, err := replay.Run(ctx, s.db.Owner, ps, replay.Options{Keys: testdb.Keyring()})
	is.NoErr(err)
	is.Equal(rebuilt.Events, logged) // from the whole log
	after, err := replay.Take(ctx, s.app.Pool, ps)
	is.NoErr(err)
	if d := before.Diff(after); d != "" {
		t.Fatalf("the rebuilt views differ from the ones the API filled:\n%s", d)
	}
	is.Equal(jobsGet(t, s, jobs[0].ID, ""), served)                 // the API serves the rebuilt views
	is.Equal(appsCount(t, s, jobs[0].ID, acme.token), len(seekers)) // with the applications counted
	is.Equal(jobsGet(t, s, jobs[3].ID, "").Location, "Remote")      // and the last change of each job
	byStatus := jobsGet(t, s, jobs[0].ID, acme.token).ApplicationsByStatus
	is.Equal(byStatus["screening"]+byStatus["rejected"], 2) // and where each application stands
	is.Equal(appsList(t, s, "/jobs/"+jobs[0].ID+"/applications?status=rejected", acme.token).Total, 1)
}
