package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/jobboard/jobboard/internal/pgcluster"
	"github.com/jobboard/jobboard/internal/testapp"
	"github.com/jobboard/jobboard/internal/testdb"
)

// replicaReads returns what process a has sent to the replica and to the
// primary so far, from its metrics.
func replicaReads(t *testing.T, a *testapp.App) (replica, primary float64, serving bool) {
	t.Helper()
	res, err := http.Get(a.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(body), "\n") {
		var v float64
		switch {
		case strings.HasPrefix(line, `jobboard_db_reads_total{server="primary"}`):
			fmt.Sscan(strings.Fields(line)[1], &v)
			primary = v
		case strings.HasPrefix(line, `jobboard_db_reads_total{`):
			fmt.Sscan(strings.Fields(line)[1], &v)
			replica = v
		case strings.HasPrefix(line, `jobboard_replica_serving{`):
			serving = strings.Fields(line)[1] == "1"
		}
	}
	return replica, primary, serving
}

// waitServing waits until a reads from the replica again.
func waitServing(t *testing.T, a *testapp.App, want bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, _, serving := replicaReads(t, a); serving == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica's serving state did not become %v within 30 s", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func call(t *testing.T, method, url, token string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

// TestReadsFromAReplica runs two API processes (and their projectors) on
// a scratch primary with a streaming replica, reading from it: a write
// reads back at once from the other process while the replica serves,
// while its replay is paused (the reads go to the primary then) and after
// it resumes (back to the replica).
func TestReadsFromAReplica(t *testing.T) {
	is := is.New(t)
	primary, replica := pgcluster.NewPair(t)
	const name = "jobboard_replica_test"
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	is.NoErr(primary.SetupJobBoard(ctx, name))
	is.NoErr(replica.WaitCaughtUp(ctx))
	db := &testdb.DB{URL: primary.ServiceURL(name), OwnerURL: primary.URL(name), Name: name}
	env := map[string]string{
		"DATABASE_READ_URLS": replica.ServiceURL(name),
		"REPLICA_MAX_LAG":    "300ms",
		"LOG_LEVEL":          "info",
	}
	writer, reader := testapp.Start(t, db, env), testapp.Start(t, db, env)
	waitServing(t, writer, true)
	waitServing(t, reader, true)

	email := testapp.UniqueEmail("replica")
	status, _ := call(t, http.MethodPost, writer.URL+"/register", "",
		map[string]any{"email": email, "password": "replica password", "name": "Rita", "role": "recruiter", "company": "Replica Co"})
	is.Equal(status, http.StatusCreated)
	status, body := call(t, http.MethodPost, writer.URL+"/login", "", map[string]string{"email": email, "password": "replica password"})
	is.Equal(status, http.StatusOK)
	var login struct {
		AccessToken string `json:"access_token"`
	}
	is.NoErr(json.Unmarshal(body, &login))

	post := func(title string) string {
		t.Helper()
		status, body := call(t, http.MethodPost, writer.URL+"/jobs", login.AccessToken, map[string]any{
			"title": title, "description": "Reads from replicas", "company": "Replica Co",
			"location": "Berlin", "employment_type": "full_time"})
		if status != http.StatusCreated {
			t.Fatalf("POST /jobs: %d %s", status, body)
		}
		var job struct{ ID string }
		is.NoErr(json.Unmarshal(body, &job))
		return job.ID
	}
	readBack := func(id, title string) {
		t.Helper()
		status, _ := call(t, http.MethodGet, reader.URL+"/jobs/"+id, "", nil)
		is.Equal(status, http.StatusOK) // the other process reads the job at once
		status, body := call(t, http.MethodGet, reader.URL+"/jobs?title="+title, "", nil)
		is.Equal(status, http.StatusOK)
		is.True(strings.Contains(string(body), id)) // and lists it
	}

	// The replica serves: the other process reads the write from it.
	before, _, _ := replicaReads(t, reader)
	title := "replicated" + fmt.Sprint(time.Now().UnixNano())
	readBack(post(title), title)
	after, _, _ := replicaReads(t, reader)
	is.True(after > before) // the reads went to the replica

	// Replay paused: writes still read back at once, from the primary.
	is.NoErr(replica.PauseReplay(ctx))
	title = "paused" + fmt.Sprint(time.Now().UnixNano())
	id := post(title)
	_, primaryBefore, _ := replicaReads(t, reader)
	readBack(id, title)
	_, primaryAfter, serving := replicaReads(t, reader)
	is.True(!serving)                     // the stale replica serves nothing
	is.True(primaryAfter > primaryBefore) // the primary served the reads

	// Resumed: the replica catches up and serves again.
	is.NoErr(replica.ResumeReplay(ctx))
	waitServing(t, reader, true)
	before, _, _ = replicaReads(t, reader)
	title = "resumed" + fmt.Sprint(time.Now().UnixNano())
	readBack(post(title), title)
	after, _, _ = replicaReads(t, reader)
	is.True(after > before) // back on the replica

	// Down: reads go to the primary, and writes still answer.
	is.NoErr(replica.Stop(ctx))
	title = "down" + fmt.Sprint(time.Now().UnixNano())
	readBack(post(title), title)
	waitServing(t, reader, false)
}
