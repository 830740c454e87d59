package http_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/jobboard/jobboard/internal/testdb"
)

// The helpers of this file are prefixed with "hooks" so that they cannot
// collide with the package's other test files.

// hooksWebhook is a webhook subscription as the API shows it.
type hooksWebhook struct {
	ID        string   `json:"id"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	Secret    string   `json:"secret"`
	CreatedAt string   `json:"created_at"`
}

// hooksDelivery is one delivery as GET /webhooks/{id}/deliveries shows it.
type hooksDelivery struct {
	ID             string  `json:"id"`
	EventType      string  `json:"event_type"`
	EventID        string  `json:"event_id"`
	Status         string  `json:"status"`
	Attempts       int     `json:"attempts"`
	LastStatusCode *int    `json:"last_status_code"`
	LastError      *string `json:"last_error"`
	NextAttemptAt  *string `json:"next_attempt_at"`
	CreatedAt      string  `json:"created_at"`
	DeliveredAt    *string `json:"delivered_at"`
}

func (d hooksDelivery) itemID() string { return d.ID }

// hooksCreate subscribes as token and returns the 201's subscription.
func hooksCreate(t *testing.T, s *service, token string, body any) hooksWebhook {
	t.Helper()
	is := is.New(t)
	is.Helper()
	res := jobsCall(t, s, http.MethodPost, "/webhooks", token, body)
	if res.status != http.StatusCreated {
		t.Fatalf("POST /webhooks: %s", res)
	}
	var w hooksWebhook
	dec := json.NewDecoder(strings.NewReader(string(res.body)))
	dec.DisallowUnknownFields()
	is.NoErr(dec.Decode(&w))                                            // the body is a subscription and nothing else
	is.Equal(res.header.Get("Location"), "/webhooks/"+w.ID)             // Location names it
	is.Equal(res.header.Get("Cache-Control"), "no-store")               // an API answer
	is.True(regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(w.Secret)) // 32 random bytes, hex
	return w
}

// TestWebhookSubscriptions: a recruiter subscribes, lists, reads and
// deletes their webhooks; the secret is shown once; nobody else learns
// that they exist; bad subscriptions are refused field by field.
func TestWebhookSubscriptions(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	owner := jobsRegister(t, s, "recruiter", "Hooks Co")
	other := jobsRegister(t, s, "recruiter", "Other Co")
	seeker := jobsRegister(t, s, "job_seeker", "")

	w := hooksCreate(t, s, owner.token, map[string]any{
		"url": "https://hooks.example.com/jobboard?team=7", "events": []string{"job.posted", "application.status_changed"}})
	is.Equal(w.URL, "https://hooks.example.com/jobboard?team=7")
	is.Equal(w.Events, []string{"job.posted", "application.status_changed"})
	_, err := time.Parse(time.RFC3339, w.CreatedAt)
	is.NoErr(err) // created_at is RFC 3339

	res := jobsCall(t, s, http.MethodGet, "/webhooks/"+w.ID, owner.token, nil)
	is.Equal(res.status, http.StatusOK)
	is.Equal(jobsKeys(t, res.body), []string{"created_at", "events", "id", "url"}) // no secret once made
	res = jobsCall(t, s, http.MethodGet, "/webhooks", owner.token, nil)
	is.Equal(res.status, http.StatusOK)
	is.Equal(res.header.Get("Cache-Control"), "no-store")
	var list struct{ Items []map[string]any }
	is.NoErr(json.Unmarshal(res.body, &list))
	is.Equal(len(list.Items), 1) // the owner's one
	is.Equal(list.Items[0]["id"], w.ID)
	_, shown := list.Items[0]["secret"]
	is.True(!shown) // nor in the list

	// Anyone else: it does not exist.
	for _, path := range []string{"/webhooks/" + w.ID, "/webhooks/" + w.ID + "/deliveries"} {
		problemOf(t, jobsCall(t, s, http.MethodGet, path, other.token, nil), http.StatusNotFound)
		problemOf(t, jobsCall(t, s, http.MethodGet, path, seeker.token, nil), http.StatusNotFound)
	}
	problemOf(t, jobsCall(t, s, http.MethodDelete, "/webhooks/"+w.ID, other.token, nil), http.StatusNotFound)
	res = jobsCall(t, s, http.MethodGet, "/webhooks", other.token, nil)
	is.Equal(string(res.body), "{\"items\":[]}\n") // another recruiter's list is their own
	problemOf(t, jobsCall(t, s, http.MethodGet, "/webhooks/not-an-id", owner.token, nil), http.StatusNotFound)

	// Only recruiters subscribe.
	problemOf(t, jobsCall(t, s, http.MethodPost, "/webhooks", seeker.token,
		map[string]any{"url": "https://hooks.example.com/", "events": []string{"job.posted"}}), http.StatusForbidden)

	// Bad subscriptions, field by field.
	long := "https://hooks.example.com/" + strings.Repeat("x", 2000)
	for _, c := range []struct {
		body  any
		field string
	}{
		{map[string]any{"url": "http://hooks.example.com/", "events": []string{"job.posted"}}, "url"},
		{map[string]any{"url": "https://127.0.0.1/hook", "events": []string{"job.posted"}}, "url"},
		{map[string]any{"url": "https://localhost:8080/hook", "events": []string{"job.posted"}}, "url"},
		{map[string]any{"url": "https://user:pass@hooks.example.com/", "events": []string{"job.posted"}}, "url"},
		{map[string]any{"url": "hooks.example.com/x", "events": []string{"job.posted"}}, "url"},
		{map[string]any{"url": long, "events": []string{"job.posted"}}, "url"},
		{map[string]any{"events": []string{"job.posted"}}, "url"},
		{map[string]any{"url": 42, "events": []string{"job.posted"}}, "url"},
		{map[string]any{"url": "https://hooks.example.com/"}, "events"},
		{map[string]any{"url": "https://hooks.example.com/", "events": []string{}}, "events"},
		{map[string]any{"url": "https://hooks.example.com/", "events": []string{"job.posted", "job.posted"}}, "events"},
		{map[string]any{"url": "https://hooks.example.com/", "events": []string{"job.exploded"}}, "events"},
		{map[string]any{"url": "https://hooks.example.com/", "events": "job.posted"}, "events"},
		{map[string]any{"url": "https://hooks.example.com/", "events": []string{"job.posted"}, "secret": "mine"}, "secret"},
		{map[string]any{"url": "https://hooks.example.com/", "events": []string{"job.posted"}, "id": w.ID}, "id"},
	} {
		p := problemOf(t, jobsCall(t, s, http.MethodPost, "/webhooks", owner.token, c.body), http.StatusUnprocessableEntity)
		is.Equal(p.fields(), []string{c.field}) // the field at fault is named
	}
	problemOf(t, jobsCall(t, s, http.MethodPost, "/webhooks", owner.token, `{"url": `), http.StatusBadRequest)

	// Deleted: gone for its owner too.
	res = jobsCall(t, s, http.MethodDelete, "/webhooks/"+w.ID, owner.token, nil)
	is.Equal(res.status, http.StatusNoContent)
	problemOf(t, jobsCall(t, s, http.MethodGet, "/webhooks/"+w.ID, owner.token, nil), http.StatusNotFound)
	problemOf(t, jobsCall(t, s, http.MethodDelete, "/webhooks/"+w.ID, owner.token, nil), http.StatusNotFound)
}

// TestWebhookSubscriptionLimits: a recruiter has one subscription per URL
// and at most 25 of them; beyond, 409 says why, and deleting one makes
// room. Another recruiter's are counted apart.
func TestWebhookSubscriptionLimits(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	owner := jobsRegister(t, s, "recruiter", "Many Hooks Co")
	other := jobsRegister(t, s, "recruiter", "Other Co")
	body := func(i int) map[string]any {
		return map[string]any{"url": fmt.Sprintf("https://hooks.example.com/jobboard/%d", i), "events": []string{"job.posted"}}
	}

	first := hooksCreate(t, s, owner.token, body(0))
	p := problemOf(t, jobsCall(t, s, http.MethodPost, "/webhooks", owner.token,
		map[string]any{"url": first.URL, "events": []string{"job.closed"}}), http.StatusConflict)
	is.True(strings.Contains(p.Detail, "already have a webhook for this URL")) // the same URL twice: refused, saying so
	hooksCreate(t, s, other.token, body(0))                                    // another recruiter's is their own

	for i := 1; i < 25; i++ {
		hooksCreate(t, s, owner.token, body(i))
	}
	p = problemOf(t, jobsCall(t, s, http.MethodPost, "/webhooks", owner.token, body(25)), http.StatusConflict)
	is.True(strings.Contains(p.Detail, "25")) // the 26th: refused, naming the limit
	res := jobsCall(t, s, http.MethodGet, "/webhooks", owner.token, nil)
	var list struct{ Items []hooksWebhook }
	is.NoErr(json.Unmarshal(res.body, &list))
	is.Equal(len(list.Items), 25) // nothing made by the refusals

	res = jobsCall(t, s, http.MethodDelete, "/webhooks/"+first.ID, owner.token, nil)
	is.Equal(res.status, http.StatusNoContent)
	hooksCreate(t, s, owner.token, body(25)) // room again
	hooksCreate(t, s, other.token, body(1))  // and the other recruiter was never near the limit
}

// hooksReceiver is a recruiter's endpoint: it checks every signature with
// its own code and keeps what it got.
type hooksReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	got    []hooksReceived
}

type hooksReceived struct {
	delivery, event string
	sigErr          error
	body            []byte
}

func hooksStartReceiver(t *testing.T) *hooksReceiver {
	rc := &hooksReceiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, hooksReceived{delivery: r.Header.Get("Jobboard-Delivery"), event: r.Header.Get("Jobboard-Event"),
			sigErr: hooksVerify(rc.secret, r.Header.Get("Jobboard-Signature"), body), body: body})
		rc.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *hooksReceiver) received() []hooksReceived {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hooksReceived(nil), rc.got...)
}

// hooksVerify checks a Jobboard-Signature from the contract alone:
// t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">, keyed with the
// secret's hex text.
func hooksVerify(secret, header string, body []byte) error {
	fields := map[string]string{}
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		fields[k] = v
	}
	ts, err := strconv.ParseInt(fields["t"], 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		return fmt.Errorf("bad or stale t in %q", header)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(fields["t"] + "." + string(body)))
	if got, err := hex.DecodeString(fields["v1"]); err != nil || !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("the signature %q does not match", header)
	}
	return nil
}

// hooksSameAsAPI checks that a webhook's data is what the API shows its
// recruiter of the same resource: every field, with the same value (the
// read model's counts aside, which are not the resource's own).
func hooksSameAsAPI(t *testing.T, what string, data json.RawMessage, api []byte) {
	t.Helper()
	var got, want map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("%s: the webhook's data: %v", what, err)
	}
	if err := json.Unmarshal(api, &want); err != nil {
		t.Fatalf("%s: the API's answer: %v", what, err)
	}
	delete(want, "application_count")
	delete(want, "applications_by_status")
	for k, v := range want {
		if g, ok := got[k]; !ok || fmt.Sprint(g) != fmt.Sprint(v) {
			t.Errorf("%s: the webhook's %s is %v, the API's %v", what, k, g, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: the webhook has %s, which the API does not show", what, k)
		}
	}
}

// TestWebhookDeliveredThroughTheService: the whole way, on a service of
// its own: what recruiters and job seekers do through the API reaches the
// subscribed endpoint signed, with the data the API shows, and the
// deliveries are listed, newest first, a page at a time.
func TestWebhookDeliveredThroughTheService(t *testing.T) {
	is := is.New(t)
	// A database of its own: the services of other tests, which refuse
	// private addresses, must not take its deliveries.
	s := startServiceOn(t, testdb.New(t), map[string]string{
		"WEBHOOK_ALLOW_PRIVATE":  "true",
		"WEBHOOK_RETRY_SCHEDULE": "10ms,20ms",
		"WEBHOOK_TIMEOUT":        "5s",
	})
	rc := hooksStartReceiver(t)
	owner := jobsRegister(t, s, "recruiter", "Hooks Co")
	seeker := jobsRegister(t, s, "job_seeker", "")
	w := hooksCreate(t, s, owner.token, map[string]any{"url": rc.srv.URL + "/hook",
		"events": []string{"job.posted", "application.submitted", "application.status_changed"}})
	rc.mu.Lock()
	rc.secret = w.Secret
	rc.mu.Unlock()

	job := jobsPost(t, s, owner.token, jobsBody("Hooked "+jobsMarker()))
	app := appsApply(t, s, seeker.token, job.ID, map[string]any{"cover_letter": "Hello"})
	moveApplication(t, s, owner.token, app.ID, map[string]string{"status": "screening"})

	if !eventually(t, 30*time.Second, func() bool { return len(rc.received()) >= 3 }) {
		t.Fatalf("the endpoint got %d deliveries, want 3", len(rc.received()))
	}
	got := rc.received()
	is.Equal(len(got), 3)
	var envelopes []struct {
		ID, Type string
		Data     json.RawMessage
	}
	for _, g := range got {
		is.NoErr(g.sigErr) // the endpoint's own check of the signature passes
		var e struct {
			ID, Type string
			Data     json.RawMessage
		}
		is.NoErr(json.Unmarshal(g.body, &e))
		is.Equal(e.Type, g.event)
		envelopes = append(envelopes, e)
	}
	is.Equal([]string{envelopes[0].Type, envelopes[1].Type, envelopes[2].Type},
		[]string{"job.posted", "application.submitted", "application.status_changed"}) // in the order of the events
	hooksSameAsAPI(t, "job.posted", envelopes[0].Data, jobsCall(t, s, http.MethodGet, "/jobs/"+job.ID, owner.token, nil).body)
	hooksSameAsAPI(t, "application.status_changed", envelopes[2].Data,
		jobsCall(t, s, http.MethodGet, "/applications/"+app.ID, owner.token, nil).body)

	// The deliveries, newest first, a page at a time.
	if !eventually(t, 30*time.Second, func() bool {
		p := listPage[hooksDelivery](t, s, "/webhooks/"+w.ID+"/deliveries", owner.token)
		return len(p.Items) == 3 && p.Items[0].Status == "delivered" && p.Items[2].Status == "delivered"
	}) {
		t.Fatal("the deliveries are not all recorded delivered")
	}
	first := listPage[hooksDelivery](t, s, "/webhooks/"+w.ID+"/deliveries?limit=2", owner.token)
	is.Equal(first.Total, 3)
	is.Equal(len(first.Items), 2)
	is.True(first.NextCursor != nil) // there is more
	second := listPage[hooksDelivery](t, s, "/webhooks/"+w.ID+"/deliveries?limit=2&cursor="+*first.NextCursor, owner.token)
	is.Equal(len(second.Items), 1)
	is.Equal(second.NextCursor, (*string)(nil)) // the last page
	all := append(first.Items, second.Items...)
	is.Equal([]string{all[0].EventType, all[1].EventType, all[2].EventType},
		[]string{"application.status_changed", "application.submitted", "job.posted"}) // newest first
	for i, d := range all {
		is.Equal(d.Status, "delivered")
		is.Equal(d.Attempts, 1)
		is.Equal(*d.LastStatusCode, http.StatusNoContent)
		is.Equal(d.LastError, (*string)(nil))
		is.Equal(d.NextAttemptAt, (*string)(nil)) // nothing more to try
		is.True(d.DeliveredAt != nil)
		is.Equal(d.ID, got[2-i].delivery)      // the id the endpoint got in Jobboard-Delivery
		is.Equal(d.EventID, envelopes[2-i].ID) // and the event's
	}
	res := jobsCall(t, s, http.MethodGet, "/webhooks/"+w.ID+"/deliveries", owner.token, nil)
	is.Equal(jobsKeys(t, res.body), []string{"items", "next_cursor", "total"})
	var raw struct{ Items []json.RawMessage }
	is.NoErr(json.Unmarshal(res.body, &raw))
	is.Equal(jobsKeys(t, raw.Items[0]), []string{"attempts", "created_at", "delivered_at", "event_id", "event_type", "id",
		"last_error", "last_status_code", "next_attempt_at", "status"}) // every field of the contract, and no other
	problemOf(t, jobsCall(t, s, http.MethodGet, "/webhooks/"+w.ID+"/deliveries?limit=0", owner.token, nil), http.StatusBadRequest)
	problemOf(t, jobsCall(t, s, http.MethodGet, "/webhooks/"+w.ID+"/deliveries?cursor=nope", owner.token, nil), http.StatusBadRequest)
}
