package multiproc

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/jobboard/jobboard/internal/testdb"
)

// webhookReceiver is a recruiter's endpoint for the kill test: it checks
// each delivery's signature with its own code, keeps what it got, and
// leaves the first request without an answer until the worker that sent
// it is gone.
type webhookReceiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	secret  string
	got     []webhookRequest
	hanging chan struct{} // closed when the first request has come
}

type webhookRequest struct {
	delivery string
	body     []byte
	sigErr   error
	title    string
	at       time.Time
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	rc := &webhookReceiver{hanging: make(chan struct{})}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var env struct {
			Data struct{ Title string }
		}
		json.Unmarshal(body, &env) //nolint:errcheck // the checks look at the title
		rc.mu.Lock()
		rc.got = append(rc.got, webhookRequest{delivery: r.Header.Get("Jobboard-Delivery"), body: body, title: env.Data.Title,
			sigErr: checkWebhookSignature(rc.secret, r.Header.Get("Jobboard-Signature"), body), at: time.Now()})
		first := len(rc.got) == 1
		rc.mu.Unlock()
		if first {
			close(rc.hanging)
			<-r.Context().Done() // the worker is killed mid-send: its connection drops
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *webhookReceiver) requests() []webhookRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]webhookRequest(nil), rc.got...)
}

// checkWebhookSignature checks a Jobboard-Signature from the contract:
// t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">, keyed with the
// secret's hex text.
func checkWebhookSignature(secret, header string, body []byte) error {
	fields := map[string]string{}
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		fields[k] = v
	}
	if _, err := strconv.ParseInt(fields["t"], 10, 64); err != nil {
		return fmt.Errorf("no t in %q", header)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(fields["t"] + "." + string(body)))
	if got, err := hex.DecodeString(fields["v1"]); err != nil || !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("signature %q does not match", header)
	}
	return nil
}

// TestWebhookSurvivesAKilledWorker: a worker process killed with SIGKILL
// while a receiver holds its delivery leaves that delivery to the worker
// that runs next, which sends it once its lease has run out: the receiver
// gets it at most twice, with one Jobboard-Delivery, and the later delivery
// of the same subscription comes after it, in order.
func TestWebhookSurvivesAKilledWorker(t *testing.T) {
	is := is.New(t)
	bin := buildJobboard(t)
	// A database of its own: no other test's workers, which refuse
	// private addresses, may take these deliveries.
	own := testdb.New(t)
	rc := newWebhookReceiver(t)
	env := map[string]string{
		"DATABASE_URL":         own.URL,
		"MIGRATE_DATABASE_URL": own.OwnerURL,
		"DATA_KEY":             testdb.DataKey, // the tests' (not a key file in the package's directory)
		"HTTP_ADDR":            "127.0.0.1:0",
		"BCRYPT_COST":          "4",
		"JWT_SECRET":           jwtSecret,
		"LOG_FORMAT":           "json",
		"MAIL_DIR":             t.TempDir(),
		"CONSISTENCY_TIMEOUT":  "30s",
		// The receiver is on 127.0.0.1.
		"WEBHOOK_ALLOW_PRIVATE": "true",
		// The lease is 2 × this + 5 s: the delivery the killed worker held
		// goes out again about 11 s after it was claimed.
		"WEBHOOK_TIMEOUT":        "3s",
		"WEBHOOK_RETRY_SCHEDULE": "100ms,200ms",
	}
	api := startProc(t, bin, "api", "api", env)
	workerEnv := map[string]string{"METRICS_ADDR": "127.0.0.1:0"}
	for k, v := range env {
		workerEnv[k] = v
	}
	first := startProc(t, bin, "worker-1", "worker", workerEnv)

	call := func(method, path, token string, body any) response {
		t.Helper()
		var b []byte
		if body != nil {
			b = jsonBody(body)
		}
		res, err := api.send(t.Context(), method, path, token, b, jsonType)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return res
	}
	email := "hooks-" + marker() + "@example.com"
	if res := call(http.MethodPost, "/register", "", map[string]any{"email": email, "password": password, "name": "Hook Recruiter",
		"role": "recruiter", "company": "Hooks Co"}); res.status != http.StatusCreated {
		t.Fatalf("POST /register: %s", res)
	}
	var login struct {
		AccessToken string `json:"access_token"`
	}
	res := call(http.MethodPost, "/login", "", map[string]string{"email": email, "password": password})
	is.NoErr(json.Unmarshal(res.body, &login))
	token := login.AccessToken
	res = call(http.MethodPost, "/webhooks", token, map[string]any{"url": rc.srv.URL + "/hook", "events": []string{"job.posted"}})
	if res.status != http.StatusCreated {
		t.Fatalf("POST /webhooks: %s", res)
	}
	var sub struct{ ID, Secret string }
	is.NoErr(json.Unmarshal(res.body, &sub))
	rc.mu.Lock()
	rc.secret = sub.Secret
	rc.mu.Unlock()

	postJob := func(title string) {
		t.Helper()
		if res := call(http.MethodPost, "/jobs", token, map[string]any{"title": title, "description": "Survives crashes.",
			"location": "Paris"}); res.status != http.StatusCreated {
			t.Fatalf("POST /jobs: %s", res)
		}
	}
	postJob("Before the crash")
	select {
	case <-rc.hanging:
	case <-time.After(30 * time.Second):
		t.Fatal("the first delivery did not arrive within 30s")
	}
	// A later event of the same subscription, queued while the first one
	// is in flight: it must wait for it.
	postJob("After the crash")
	first.kill(t)
	// The worker "restarts": a new process on the same database.
	startProc(t, bin, "worker-2", "worker", workerEnv)

	var deliveries []struct {
		ID, EventType, Status string
		Attempts              int
	}
	if !eventually(60*time.Second, func() bool {
		res, err := api.send(t.Context(), http.MethodGet, "/webhooks/"+sub.ID+"/deliveries", token, nil, "")
		if err != nil || res.status != http.StatusOK {
			return false
		}
		var page struct {
			Items []struct {
				ID        string `json:"id"`
				EventType string `json:"event_type"`
				Status    string `json:"status"`
				Attempts  int    `json:"attempts"`
			}
		}
		if json.Unmarshal(res.body, &page) != nil || len(page.Items) != 2 {
			return false
		}
		deliveries = deliveries[:0]
		for _, d := range page.Items {
			deliveries = append(deliveries, struct {
				ID, EventType, Status string
				Attempts              int
			}{d.ID, d.EventType, d.Status, d.Attempts})
		}
		return page.Items[0].Status == "delivered" && page.Items[1].Status == "delivered"
	}) {
		t.Fatalf("not both delivered within 60s of the kill: %+v; the receiver got %d requests", deliveries, len(rc.requests()))
	}

	got := rc.requests()
	crashed := deliveries[1] // newest first: the older is the one the killed worker held
	var again []webhookRequest
	for _, g := range got {
		is.NoErr(g.sigErr) // every request signed with the secret
		if g.delivery == crashed.ID {
			again = append(again, g)
		}
	}
	is.True(len(again) >= 1 && len(again) <= 2)                       // delivered after the restart, at most one duplicate
	is.Equal(again[0].title, "Before the crash")                      // the one held when the worker died
	is.Equal(string(again[len(again)-1].body), string(again[0].body)) // the same bytes, under the same id
	is.Equal(crashed.Attempts, len(again))                            // each attempt recorded
	is.Equal(len(got), len(again)+1)                                  // and the later event once
	last := got[len(got)-1]
	is.Equal(last.title, "After the crash") // after the first, in the order of the events
	is.True(last.at.After(again[len(again)-1].at))

	var abandoned, finished int
	is.NoErr(own.Owner.QueryRow(t.Context(), `
SELECT count(*) FILTER (WHERE duration_ms IS NULL AND error LIKE 'no outcome%'), count(*) FILTER (WHERE status_code = 200)
FROM webhook_attempts WHERE delivery_id = $1`, crashed.ID).Scan(&abandoned, &finished))
	is.Equal(abandoned, 1) // the killed worker's attempt is marked as one without an outcome
	is.Equal(finished, 1)  // the next worker's delivered it
}
