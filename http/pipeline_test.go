package http_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/matryer/is"
)

// The helpers of this file are prefixed with "pipe".

// pipeMove sends PATCH /applications/{id}.
func pipeMove(t *testing.T, s *service, id, token string, body any, header ...string) response {
	t.Helper()
	return jobsCall(t, s, http.MethodPatch, "/applications/"+id, token, body, header...)
}

// pipeMoved is the application a successful move answers with, checked
// to be at version, with that version as its ETag.
func pipeMoved(t *testing.T, res response, status string, version int64) appsApplication {
	t.Helper()
	if res.status != http.StatusOK {
		t.Fatalf("move to %s: want 200, got %s", status, res)
	}
	var a appsApplication
	if err := json.Unmarshal(res.body, &a); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if a.Status != status || a.Version != version {
		t.Fatalf("moved to %s v%d, want %s v%d", a.Status, a.Version, status, version)
	}
	if etag := res.header.Get("ETag"); etag != strconv.Quote(strconv.FormatInt(version, 10)) {
		t.Fatalf("ETag %s, want %q", etag, strconv.FormatInt(version, 10))
	}
	return a
}

// pipeHistoryItem is an item of GET /applications/{id}/history.
type pipeHistoryItem struct {
	Position   int64           `json:"position"`
	Version    int64           `json:"version"`
	Type       string          `json:"type"`
	OccurredAt string          `json:"occurred_at"`
	ActorID    *string         `json:"actor_id"`
	Data       json.RawMessage `json:"data"`
}

func pipeHistory(t *testing.T, s *service, id, token string) []pipeHistoryItem {
	t.Helper()
	res := jobsCall(t, s, http.MethodGet, "/applications/"+id+"/history", token, nil)
	if res.status != http.StatusOK {
		t.Fatalf("history: %s", res)
	}
	var out struct {
		Items []pipeHistoryItem `json:"items"`
	}
	if err := json.Unmarshal(res.body, &out); err != nil {
		t.Fatalf("decode history: %v", err)
	}
	return out.Items
}

// pipeEvents counts the events of an application's stream.
func pipeEvents(t *testing.T, id string) int {
	t.Helper()
	var n int
	if err := db.Pool.QueryRow(t.Context(), `SELECT count(*) FROM events WHERE stream_id = $1::uuid`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPipelineMoves takes an application from submitted to hired, and
// checks at each step the application, its job's counts, the status
// filter, and the history.
func TestPipelineMoves(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	setup := appsStart(t, s)
	res := appsApplyJSON(t, s, setup.seeker.token, setup.job.ID, map[string]any{})
	is.Equal(res.header.Get("ETag"), `"1"`) // a new application is at version 1
	a := appsDecode(t, res, http.StatusCreated)
	is.Equal(a.Version, int64(1))
	is.Equal(appsGet(t, s, a.ID, setup.owner.token).header.Get("ETag"), `"1"`)
	is.Equal(a.UpdatedAt, a.CreatedAt)
	other := appsApply(t, s, setup.otherSeeker.token, setup.job.ID, map[string]any{})

	counts := func() map[string]int {
		return jobsGet(t, s, setup.job.ID, setup.owner.token).ApplicationsByStatus
	}
	is.Equal(counts(), map[string]int{"submitted": 2, "screening": 0, "interview": 0, "offer": 0, "hired": 0, "rejected": 0, "withdrawn": 0})
	is.Equal(jobsGet(t, s, setup.job.ID, setup.seeker.token).ApplicationsByStatus, nil) // the owner's only

	version := int64(1)
	for _, status := range []string{"screening", "interview", "offer", "interview", "offer", "hired"} {
		version++
		moved := pipeMoved(t, pipeMove(t, s, a.ID, setup.owner.token, map[string]any{"status": status}), status, version)
		is.Equal(moved.ID, a.ID)
		is.Equal(moved.RejectionReason, nil)
		// Read your writes: the application, its job's counts and the
		// filtered listing show the move at once.
		got := appsDecode(t, appsGet(t, s, a.ID, setup.seeker.token), http.StatusOK)
		is.Equal(got.Status, status)
		is.Equal(got.Version, version)
		is.Equal(got.CreatedAt, a.CreatedAt)
		is.Equal(counts()[status], 1)
		is.Equal(counts()["submitted"], 1)
		listed := appsList(t, s, "/jobs/"+setup.job.ID+"/applications?status="+status, setup.owner.token)
		is.Equal(listed.ids(), []string{a.ID})
	}
	is.Equal(counts(), map[string]int{"submitted": 1, "screening": 0, "interview": 0, "offer": 0, "hired": 1, "rejected": 0, "withdrawn": 0})
	is.Equal(appsList(t, s, "/jobs/"+setup.job.ID+"/applications?status=submitted", setup.owner.token).ids(), []string{other.ID})
	is.Equal(appsList(t, s, "/jobs/"+setup.job.ID+"/applications?status=rejected", setup.owner.token).Total, 0)
	is.Equal(appsList(t, s, "/jobs/"+setup.job.ID+"/applications", setup.owner.token).Total, 2)
	mine := appsList(t, s, "/me/applications", setup.seeker.token)
	is.Equal(mine.Items[0].Status, "hired") // the applicant sees where it stands

	// Hired is final.
	problemOf(t, pipeMove(t, s, a.ID, setup.owner.token, map[string]any{"status": "offer"}), http.StatusConflict)
	problemOf(t, pipeMove(t, s, a.ID, setup.seeker.token, map[string]any{"status": "withdrawn"}), http.StatusConflict)

	history := pipeHistory(t, s, a.ID, setup.owner.token)
	is.Equal(len(history), 7)
	is.Equal(history[0].Type, "ApplicationSubmitted")
	is.Equal(*history[0].ActorID, setup.seeker.id)
	wantMoves := [][2]string{{"submitted", "screening"}, {"screening", "interview"}, {"interview", "offer"},
		{"offer", "interview"}, {"interview", "offer"}, {"offer", "hired"}}
	for i, move := range wantMoves {
		item := history[i+1]
		is.Equal(item.Type, "ApplicationStatusChanged")
		is.Equal(item.Version, int64(i+2))
		is.Equal(*item.ActorID, setup.owner.id) // who moved it
		var data map[string]any
		is.NoErr(json.Unmarshal(item.Data, &data))
		is.Equal(data, map[string]any{"from": move[0], "to": move[1]})
		is.True(item.Position > history[i].Position)
	}
	is.Equal(len(pipeHistory(t, s, a.ID, setup.seeker.token)), 7) // the applicant reads it too
}

// TestPipelineRejectionReason checks that a rejection's reason is the
// recruiter's alone: in the application and its history for them, nowhere
// for the applicant.
func TestPipelineRejectionReason(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	setup := appsStart(t, s)
	a := appsApply(t, s, setup.seeker.token, setup.job.ID, map[string]any{})
	reason := "Not enough Go, says the team " + uuid.NewString()

	moved := pipeMoved(t, pipeMove(t, s, a.ID, setup.owner.token, map[string]any{"status": "rejected", "reason": "  " + reason + " "}), "rejected", 2)
	is.Equal(*moved.RejectionReason, reason) // trimmed
	var owner map[string]any
	is.NoErr(json.Unmarshal(appsGet(t, s, a.ID, setup.owner.token).body, &owner))
	is.Equal(owner["rejection_reason"], reason) // the recruiter sees it
	for _, res := range []response{
		appsGet(t, s, a.ID, setup.seeker.token),
		jobsCall(t, s, http.MethodGet, "/me/applications", setup.seeker.token, nil),
		jobsCall(t, s, http.MethodGet, "/applications/"+a.ID+"/history", setup.seeker.token, nil),
	} {
		is.Equal(res.status, http.StatusOK)
		is.True(!strings.Contains(string(res.body), reason)) // the applicant never reads it
		is.True(!strings.Contains(string(res.body), "rejection_reason"))
	}
	ownerHistory := pipeHistory(t, s, a.ID, setup.owner.token)
	var data map[string]any
	is.NoErr(json.Unmarshal(ownerHistory[1].Data, &data))
	is.Equal(data, map[string]any{"from": "submitted", "to": "rejected", "reason": reason})
	listed := appsList(t, s, "/jobs/"+setup.job.ID+"/applications?status=rejected", setup.owner.token)
	is.Equal(*listed.Items[0].RejectionReason, reason)
	problemOf(t, pipeMove(t, s, a.ID, setup.owner.token, map[string]any{"status": "submitted"}), http.StatusConflict) // final
}

// TestPipelineWithdraw checks the applicant's one move, and the job's
// counts after it.
func TestPipelineWithdraw(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	setup := appsStart(t, s)
	a := appsApply(t, s, setup.seeker.token, setup.job.ID, map[string]any{})
	pipeMoved(t, pipeMove(t, s, a.ID, setup.owner.token, map[string]any{"status": "interview"}), "interview", 2)
	pipeMoved(t, pipeMove(t, s, a.ID, setup.seeker.token, map[string]any{"status": "withdrawn"}), "withdrawn", 3)
	counts := jobsGet(t, s, setup.job.ID, setup.owner.token).ApplicationsByStatus
	is.Equal(counts["withdrawn"], 1)
	is.Equal(counts["interview"], 0)
	is.Equal(*jobsGet(t, s, setup.job.ID, setup.owner.token).ApplicationCount, 1) // still counted
	history := pipeHistory(t, s, a.ID, setup.seeker.token)
	is.Equal(history[2].Type, "ApplicationWithdrawn")
	is.Equal(*history[2].ActorID, setup.seeker.id)
	var data map[string]any
	is.NoErr(json.Unmarshal(history[2].Data, &data))
	is.Equal(data, map[string]any{"from": "interview", "to": "withdrawn"})
	problemOf(t, pipeMove(t, s, a.ID, setup.seeker.token, map[string]any{"status": "withdrawn"}), http.StatusConflict)
	problemOf(t, pipeMove(t, s, a.ID, setup.owner.token, map[string]any{"status": "screening"}), http.StatusConflict)
	is.Equal(pipeEvents(t, a.ID), 3)
}

// TestPipelineRefusals checks each 4xx of PATCH /applications/{id}, and
// that none adds an event.
func TestPipelineRefusals(t *testing.T) {
	s := startService(t, nil)
	setup := appsStart(t, s)
	a := appsApply(t, s, setup.seeker.token, setup.job.ID, map[string]any{})
	reason := "r"
	tests := []struct {
		name   string
		token  string
		path   string
		body   any
		header []string
		status int
		field  string
	}{
		{"another recruiter", setup.other.token, a.ID, map[string]any{"status": "screening"}, nil, 404, ""},
		{"another job seeker", setup.otherSeeker.token, a.ID, map[string]any{"status": "withdrawn"}, nil, 404, ""},
		{"no token", "", a.ID, map[string]any{"status": "screening"}, nil, 401, ""},
		{"unknown application", setup.owner.token, uuid.NewString(), map[string]any{"status": "screening"}, nil, 404, ""},
		{"a job's id", setup.owner.token, setup.job.ID, map[string]any{"status": "screening"}, nil, 404, ""},
		{"malformed id", setup.owner.token, "nope", map[string]any{"status": "screening"}, nil, 404, ""},
		{"the recruiter withdraws", setup.owner.token, a.ID, map[string]any{"status": "withdrawn"}, nil, 403, ""},
		{"the applicant moves", setup.seeker.token, a.ID, map[string]any{"status": "interview"}, nil, 403, ""},
		{"the applicant rejects", setup.seeker.token, a.ID, map[string]any{"status": "rejected"}, nil, 403, ""},
		{"to its own status", setup.owner.token, a.ID, map[string]any{"status": "submitted"}, nil, 409, ""},
		{"unknown status", setup.owner.token, a.ID, map[string]any{"status": "fired"}, nil, 422, "status"},
		{"no status", setup.owner.token, a.ID, map[string]any{}, nil, 422, "status"},
		{"status of the wrong type", setup.owner.token, a.ID, map[string]any{"status": 3}, nil, 422, "status"},
		{"a reason without a rejection", setup.owner.token, a.ID, map[string]any{"status": "interview", "reason": reason}, nil, 422, "reason"},
		{"a reason of 501 characters", setup.owner.token, a.ID, map[string]any{"status": "rejected", "reason": strings.Repeat("é", 501)}, nil, 422, "reason"},
		{"an unknown field", setup.owner.token, a.ID, map[string]any{"status": "interview", "note": "x"}, nil, 422, "note"},
		{"a read-only field", setup.owner.token, a.ID, map[string]any{"status": "interview", "version": 1}, nil, 422, "version"},
		{"a stale If-Match", setup.owner.token, a.ID, map[string]any{"status": "interview"}, []string{"If-Match", `"2"`}, 412, ""},
		{"a weak If-Match", setup.owner.token, a.ID, map[string]any{"status": "interview"}, []string{"If-Match", `W/"1"`}, 412, ""},
		{"a malformed If-Match", setup.owner.token, a.ID, map[string]any{"status": "interview"}, []string{"If-Match", `abc`}, 412, ""},
		{"not JSON", setup.owner.token, a.ID, "{", nil, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			p := problemOf(t, pipeMove(t, s, tt.path, tt.token, tt.body, tt.header...), tt.status)
			if tt.field != "" {
				is.Equal(p.fields(), []string{tt.field})
			}
			is.Equal(pipeEvents(t, a.ID), 1) // nothing was added
		})
	}
	is := is.New(t)
	problemOf(t, jobsCall(t, s, http.MethodGet, "/jobs/"+setup.job.ID+"/applications?status=fired", setup.owner.token, nil), http.StatusBadRequest)
	problemOf(t, jobsCall(t, s, http.MethodGet, "/applications/"+a.ID+"/history", setup.otherSeeker.token, nil), http.StatusNotFound)
	problemOf(t, jobsCall(t, s, http.MethodGet, "/applications/"+a.ID+"/history", setup.other.token, nil), http.StatusNotFound)
	problemOf(t, jobsCall(t, s, http.MethodGet, "/applications/"+setup.job.ID+"/history", setup.owner.token, nil), http.StatusNotFound)
	// The right If-Match, and *, go through.
	pipeMoved(t, pipeMove(t, s, a.ID, setup.owner.token, map[string]any{"status": "screening"}, "If-Match", `"1"`), "screening", 2)
	pipeMoved(t, pipeMove(t, s, a.ID, setup.owner.token, map[string]any{"status": "interview"}, "If-Match", `*`), "interview", 3)
	// A list matches when one of its tags does (RFC 9110, 13.1.1).
	problemOf(t, pipeMove(t, s, a.ID, setup.owner.token, map[string]any{"status": "offer"}, "If-Match", `"1", "2"`), http.StatusPreconditionFailed)
	pipeMoved(t, pipeMove(t, s, a.ID, setup.owner.token, map[string]any{"status": "offer"}, "If-Match", `"2", "3"`), "offer", 4)
	is.Equal(pipeEvents(t, a.ID), 4)
}

// TestPipelineClosedAndDeletedJobs checks that hiring goes on after a
// posting closes or is deleted.
func TestPipelineClosedAndDeletedJobs(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	setup := appsStart(t, s)
	a := appsApply(t, s, setup.seeker.token, setup.job.ID, map[string]any{})
	is.Equal(jobsCall(t, s, http.MethodPatch, "/jobs/"+setup.job.ID, setup.owner.token, map[string]any{"status": "closed"}).status, http.StatusOK)
	pipeMoved(t, pipeMove(t, s, a.ID, setup.owner.token, map[string]any{"status": "interview"}), "interview", 2)
	is.Equal(jobsCall(t, s, http.MethodDelete, "/jobs/"+setup.job.ID, setup.owner.token, nil).status, http.StatusNoContent)
	pipeMoved(t, pipeMove(t, s, a.ID, setup.owner.token, map[string]any{"status": "offer"}), "offer", 3)
	pipeMoved(t, pipeMove(t, s, a.ID, setup.seeker.token, map[string]any{"status": "withdrawn"}), "withdrawn", 4)
	is.Equal(len(pipeHistory(t, s, a.ID, setup.owner.token)), 4)
	problemOf(t, jobsCall(t, s, http.MethodGet, "/jobs/"+setup.job.ID, setup.owner.token, nil), http.StatusNotFound) // the job stays gone
}

// TestPipelineConcurrentMoves sends the same move, with the same If-Match,
// many times at once: one wins, the rest fail their precondition, and the
// stream gains exactly one event.
func TestPipelineConcurrentMoves(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	setup := appsStart(t, s)
	a := appsApply(t, s, setup.seeker.token, setup.job.ID, map[string]any{})
	const n = 8
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, err := jobsSend(t.Context(), s, http.MethodPatch, "/applications/"+a.ID, setup.owner.token,
				map[string]any{"status": "screening"}, "If-Match", `"1"`)
			if err == nil {
				statuses[i] = res.status
			}
		})
	}
	wg.Wait()
	won := 0
	for _, st := range statuses {
		switch st {
		case http.StatusOK:
			won++
		case http.StatusPreconditionFailed:
		default:
			t.Fatalf("a concurrent move answered %d", st)
		}
	}
	is.Equal(won, 1)
	is.Equal(pipeEvents(t, a.ID), 2)
}
