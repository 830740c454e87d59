package http_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"
)

// TestWebhookDataIsWhatTheAPIShows: a delivery's data is what the
// recruiter reads through the API, field for field and value for value:
// the job as GET /jobs/{id} shows it (without the application counts,
// which are the read model's), the application as GET /applications/{id}
// shows it to the job's recruiter, rejection reason included.
func TestWebhookDataIsWhatTheAPIShows(t *testing.T) {
	is := is.New(t)
	var mu sync.Mutex
	got := map[string]map[string]any{} // event type → the data of its last delivery
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var env struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		if json.Unmarshal(body, &env) == nil {
			mu.Lock()
			got[env.Type] = env.Data
			mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	s := startService(t, map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"})
	setup := appsStart(t, s)
	hooksCreate(t, s, setup.owner.token, map[string]any{"url": receiver.URL + "/hook",
		"events": []string{"job.updated", "application.status_changed"}})

	res := jobsCall(t, s, http.MethodPatch, "/jobs/"+setup.job.ID, setup.owner.token, map[string]any{"salary_min": 1000, "salary_max": 2000, "salary_currency": "EUR"})
	is.Equal(res.status, http.StatusOK)
	a := appsApply(t, s, setup.seeker.token, setup.job.ID, map[string]any{"cover_letter": "<b>Hello</b> & welcome"})
	res = pipeMove(t, s, a.ID, setup.owner.token, map[string]any{"status": "rejected", "reason": "Not <this> time"})
	is.Equal(res.status, http.StatusOK)

	delivered := func(eventType string) map[string]any {
		t.Helper()
		var data map[string]any
		if !eventually(t, 15*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			data = got[eventType]
			return data != nil
		}) {
			t.Fatalf("no %s delivered", eventType)
		}
		return data
	}
	asRead := func(path string) map[string]any {
		t.Helper()
		res := jobsCall(t, s, http.MethodGet, path, setup.owner.token, nil)
		is.Equal(res.status, http.StatusOK)
		var v map[string]any
		is.NoErr(json.Unmarshal(res.body, &v))
		return v
	}

	job := asRead("/jobs/" + setup.job.ID)
	delete(job, "application_count")
	delete(job, "applications_by_status")
	is.Equal(delivered("job.updated"), job) // the job, as the API reads it
	application := asRead("/applications/" + a.ID)
	is.Equal(application["rejection_reason"], "Not <this> time")
	is.Equal(delivered("application.status_changed"), application) // the application, as its recruiter reads it
}
