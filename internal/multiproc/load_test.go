package multiproc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jobboard/jobboard/internal/testfiles"
)

// account is a registered user, with a token once logged in.
type account struct {
	id, email, name, role, token string
	// registered: its POST /register was answered 201 (not a 409 to a
	// retry of an attempt that got no answer).
	registered bool
}

const password = "multi-process password"

// postedJob is a job whose POST /jobs was answered 201.
type postedJob struct {
	id     string
	marker string // in its title and nowhere else
	title  string
	owner  *account
	// accepted counts the applies to it answered 201 so far: a read of its
	// application_count started after that must show at least as many.
	accepted atomic.Int64
}

// acceptedApp is an application whose apply was answered 201.
type acceptedApp struct {
	id     string
	job    *postedJob
	seeker *account
}

// pair is one job seeker and one job: at most one application each.
type pair struct{ jobID, seekerID string }

// load is the mixed traffic of the test and everything it was answered.
// Writes answered 2xx are recorded as accepted; a write whose request went
// to a process that was then killed got no answer, may or may not have
// happened, and is recorded as uncertain, never as accepted.
type load struct {
	t         *testing.T
	apis      []*proc
	runMarker string // the company of every job posted, to list them all
	resume    []byte
	resumeSHA string

	mu         sync.Mutex
	recruiters []*account
	seekers    []*account
	jobs       []*postedJob
	jobsByID   map[string]*postedJob
	apps       []*acceptedApp
	applied    map[pair]bool // applies sent or about to be
	// Writes that ended without a 2xx and may still have happened: the
	// markers of job posts that got no answer (a retry posts under a new
	// marker), the pairs of applies that got no 201 (a retry that found
	// one made answers 409), and the count of registrations a retry found
	// taken. The checks allow these in the log and the views, never more.
	uncertainJobs    map[string]bool
	uncertainApplies map[pair]bool
	uncertainUsers   int
	// problems are the broken promises seen during the load: a stale read
	// after a 2xx write, a doubled application, an answer no client should
	// get. The test fails with each.
	problems []string
	// counts for the summary
	requests, lost, raced atomic.Int64
}

func newLoad(t *testing.T, apis []*proc) *load {
	resume := testfiles.PDF(1500)
	sum := sha256.Sum256(resume)
	return &load{
		t:                t,
		apis:             apis,
		runMarker:        marker(),
		resume:           resume,
		resumeSHA:        hex.EncodeToString(sum[:]),
		jobsByID:         map[string]*postedJob{},
		applied:          map[pair]bool{},
		uncertainJobs:    map[string]bool{},
		uncertainApplies: map[pair]bool{},
	}
}

// marker returns a word of lower-case letters no other data contains, so
// that a search for it finds exactly what it was put in.
func marker() string {
	b := make([]byte, 12)
	for i := range b {
		b[i] = 'a' + byte(rand.N(26))
	}
	return "zq" + string(b)
}

func (l *load) problem(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
}

// live returns the API processes not killed.
func (l *load) live() []*proc {
	var live []*proc
	for _, p := range l.apis {
		if !p.killed.Load() {
			live = append(live, p)
		}
	}
	return live
}

// pick returns a random live API process: the load is spread over all.
func (l *load) pick() *proc {
	live := l.live()
	if len(live) == 0 {
		return nil
	}
	return live[rand.N(len(live))]
}

// other returns a live API process other than p, or p's survivor when p is
// the only one left: a read right after a write goes to the process that
// did not answer it whenever there is one, since that is the read a
// load balancer makes likely and a process-local cache would get wrong.
func (l *load) other(p *proc) *proc {
	live := l.live()
	for _, q := range live {
		if q != p {
			return q
		}
	}
	if len(live) > 0 {
		return live[0]
	}
	return nil
}

// try runs attempt on api and, as long as the process it ran on turns out
// killed (its connection errors are no answers), again on another live
// one. lost counts the attempts that got no answer. ok is false, and the
// failure a problem, when a live process failed to answer.
func (l *load) try(ctx context.Context, api *proc, what string, attempt func(*proc) (response, error)) (res response, used *proc, lost int, ok bool) {
	for api != nil {
		l.requests.Add(1)
		res, err := attempt(api)
		if err == nil {
			return res, api, lost, true
		}
		if !api.killed.Load() {
			if ctx.Err() == nil {
				l.problem("%s on %s, which was not killed: %v", what, api.name, err)
			}
			return res, api, lost, false
		}
		l.lost.Add(1)
		lost++
		api = l.other(api)
	}
	l.problem("%s: no API process left to send it to", what)
	return response{}, nil, lost, false
}

// jsonBody marshals v; the values the load sends always marshal.
func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

const jsonType = "application/json; charset=utf-8"

// run sends the load from workers goroutines until ctx ends. A request
// in flight when it ends is finished (on another context), so that every
// write the load sent has an answer or is known to have none.
func (l *load) run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				l.step(context.WithoutCancel(ctx))
			}
		})
	}
	wg.Wait()
}

// step runs one operation, chosen at random with the weights of a job
// board's day: mostly reads and applies, fewer posts, fewer sign-ups.
func (l *load) step(ctx context.Context) {
	l.mu.Lock()
	recruiters, seekers, jobs := len(l.recruiters), len(l.seekers), len(l.jobs)
	l.mu.Unlock()
	switch n := rand.N(100); {
	case recruiters == 0 || n < 5:
		l.register(ctx, "recruiter")
	case seekers == 0 || n < 15:
		l.register(ctx, "job_seeker")
	case jobs == 0 || n < 35:
		l.postJob(ctx)
	case n < 70:
		l.apply(ctx)
	default:
		l.read(ctx)
	}
}

// register opens an account, then logs in and reads it back on the other
// process.
func (l *load) register(ctx context.Context, role string) {
	acc := &account{email: "mp-" + marker() + "@example.com", name: "Multi " + role, role: role}
	reg := map[string]any{"email": acc.email, "password": password, "name": acc.name, "role": role}
	if role == "recruiter" {
		reg["company"] = "Multiproc Co"
	}
	body := jsonBody(reg)
	res, used, lost, ok := l.try(ctx, l.pick(), "POST /register", func(p *proc) (response, error) {
		return p.send(ctx, http.MethodPost, "/register", "", body, jsonType)
	})
	if !ok {
		return
	}
	switch {
	case res.status == http.StatusCreated:
		var u struct{ ID string }
		if err := json.Unmarshal(res.body, &u); err != nil || u.ID == "" {
			l.problem("POST /register: a 201 that is no user: %s", res)
			return
		}
		acc.id = u.ID
		acc.registered = true
	case res.status == http.StatusConflict && lost > 0:
		// The attempt that got no answer went through: the account is
		// real, though no client was told. It is used all the same.
		l.mu.Lock()
		l.uncertainUsers++
		l.mu.Unlock()
	default:
		l.problem("POST /register on %s: want 201, got %s", used.name, res)
		return
	}

	reader := l.other(used)
	res, on, _, ok := l.try(ctx, reader, "POST /login", func(p *proc) (response, error) {
		return p.send(ctx, http.MethodPost, "/login", "", jsonBody(map[string]string{"email": acc.email, "password": password}), jsonType)
	})
	if !ok {
		return
	}
	var login struct {
		AccessToken string `json:"access_token"`
		User        struct{ ID string }
	}
	if res.status != http.StatusOK || json.Unmarshal(res.body, &login) != nil || login.AccessToken == "" {
		l.problem("POST /login on %s right after %s answered POST /register 201: %s", on.name, used.name, res)
		return
	}
	if acc.id == "" {
		acc.id = login.User.ID
	} else if login.User.ID != acc.id {
		l.problem("POST /login on %s names user %s, POST /register on %s made %s", on.name, login.User.ID, used.name, acc.id)
	}
	acc.token = login.AccessToken

	var me struct{ ID, Email string }
	readMe := func() bool {
		res, on, _, ok = l.try(ctx, reader, "GET /me", func(p *proc) (response, error) {
			return p.send(ctx, http.MethodGet, "/me", acc.token, nil, "")
		})
		return ok && res.status == http.StatusOK && json.Unmarshal(res.body, &me) == nil && me.ID == acc.id && me.Email == acc.email
	}
	if !readMe() {
		if acc.registered {
			l.problem("stale read: GET /me on %s right after %s answered POST /register 201 for %s: %s", on.name, used.name, acc.id, res)
			return
		}
		// The registration that went through got no answer (its process
		// was killed, perhaps before the read models had it, and the
		// projectors' worker may be the one killed too): nothing was
		// promised yet, but it must show up.
		if !eventually(30*time.Second, readMe) {
			l.problem("GET /me on %s: the account %s, registered without an answer, never showed: %s", on.name, acc.id, res)
			return
		}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if role == "recruiter" {
		l.recruiters = append(l.recruiters, acc)
	} else {
		l.seekers = append(l.seekers, acc)
	}
}

// postJob posts a job as a random recruiter, then reads it back on the
// other process, by id and by a search for its marker. A post that got no
// answer is sent again with a new marker, so that the one that was not
// answered can be told from the one that was in every listing.
func (l *load) postJob(ctx context.Context) {
	l.mu.Lock()
	owner := l.recruiters[rand.N(len(l.recruiters))]
	l.mu.Unlock()
	var markers []string
	res, used, _, ok := l.try(ctx, l.pick(), "POST /jobs", func(p *proc) (response, error) {
		m := marker()
		markers = append(markers, m)
		body := jsonBody(map[string]any{
			"title":       "Multiproc " + m,
			"description": "Keep a job board up while its processes crash.",
			"location":    "Lyon, France",
			"company":     l.runMarker,
		})
		return p.send(ctx, http.MethodPost, "/jobs", owner.token, body, jsonType)
	})
	if len(markers) == 0 {
		return
	}
	l.mu.Lock()
	for _, m := range markers[:len(markers)-1] {
		l.uncertainJobs[m] = true
	}
	if !ok || res.status != http.StatusCreated {
		l.uncertainJobs[markers[len(markers)-1]] = true
	}
	l.mu.Unlock()
	if !ok {
		return
	}
	if res.status != http.StatusCreated {
		l.problem("POST /jobs on %s: want 201, got %s", used.name, res)
		return
	}
	var posted struct{ ID, Title string }
	if err := json.Unmarshal(res.body, &posted); err != nil || posted.ID == "" {
		l.problem("POST /jobs: a 201 that is no job: %s", res)
		return
	}
	job := &postedJob{id: posted.ID, marker: markers[len(markers)-1], title: posted.Title, owner: owner}

	reader := l.other(used)
	got, on, _, ok := l.try(ctx, reader, "GET /jobs/{id}", func(p *proc) (response, error) {
		return p.send(ctx, http.MethodGet, "/jobs/"+job.id, owner.token, nil, "")
	})
	if ok && (got.status != http.StatusOK || !bytes.Equal(got.body, res.body)) {
		l.problem("stale read: GET /jobs/%s on %s right after %s answered POST /jobs 201 %s: %s", job.id, on.name, used.name, res.body, got)
	}
	list, on, _, ok := l.try(ctx, reader, "GET /jobs?title=", func(p *proc) (response, error) {
		return p.send(ctx, http.MethodGet, "/jobs?title="+job.marker, "", nil, "")
	})
	if ok {
		if ids, total, err := pageIDs(list); err != nil || total != 1 || !slices.Equal(ids, []string{job.id}) {
			l.problem("stale read: GET /jobs?title=%s on %s right after %s answered POST /jobs 201 for %s: %s", job.marker, on.name, used.name, job.id, list)
		}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	l.jobs = append(l.jobs, job)
	l.jobsByID[job.id] = job
}

// apply sends an application of a random job seeker to a random job it has
// not applied to, as JSON or as a form with a PDF resume; one in ten is
// sent to both API processes at once, which must answer one 201 and one
// 409. Then the application is read back on the other process by the
// applicant and by the recruiter.
func (l *load) apply(ctx context.Context) {
	l.mu.Lock()
	var job *postedJob
	var seeker *account
	for range 5 {
		j, s := l.jobs[rand.N(len(l.jobs))], l.seekers[rand.N(len(l.seekers))]
		if !l.applied[pair{j.id, s.id}] {
			job, seeker = j, s
			l.applied[pair{j.id, s.id}] = true
			break
		}
	}
	l.mu.Unlock()
	if job == nil {
		return
	}
	key := pair{job.id, seeker.id}
	withResume := rand.N(2) == 0
	body, contentType := jsonBody(map[string]string{"cover_letter": "I have kept services up through crashes."}), jsonType
	if withResume {
		body, contentType = l.form()
	}
	send := func(p *proc) (response, error) {
		return p.send(ctx, http.MethodPost, "/jobs/"+job.id+"/apply", seeker.token, body, contentType)
	}

	type answer struct {
		res  response
		used *proc
		lost int
		ok   bool
	}
	var answers []answer
	if live := l.live(); len(live) > 1 && rand.N(10) == 0 {
		l.raced.Add(1)
		answers = make([]answer, len(live))
		var wg sync.WaitGroup
		for i, p := range live {
			wg.Go(func() {
				var a answer
				a.res, a.used, a.lost, a.ok = l.try(ctx, p, "POST /jobs/{id}/apply", send)
				answers[i] = a
			})
		}
		wg.Wait()
	} else {
		var a answer
		a.res, a.used, a.lost, a.ok = l.try(ctx, l.pick(), "POST /jobs/{id}/apply", send)
		answers = []answer{a}
	}

	var created []answer
	lost, conflicts := 0, 0
	for _, a := range answers {
		lost += a.lost
		switch {
		case !a.ok:
		case a.res.status == http.StatusCreated:
			created = append(created, a)
		case a.res.status == http.StatusConflict:
			conflicts++
		default:
			l.problem("POST /jobs/%s/apply on %s: want 201 or 409, got %s", job.id, a.used.name, a.res)
		}
	}
	switch {
	case len(created) > 1:
		l.problem("doubled application: %d applies of %s to %s answered 201", len(created), seeker.id, job.id)
		return
	case len(created) == 0 && conflicts > 0 && lost > 0:
		// The attempt that got no answer went through.
		l.mu.Lock()
		l.uncertainApplies[key] = true
		l.mu.Unlock()
		return
	case len(created) == 0:
		if conflicts > 0 {
			l.problem("POST /jobs/%s/apply: 409 for a first application of %s", job.id, seeker.id)
		}
		l.mu.Lock()
		l.uncertainApplies[key] = true
		l.mu.Unlock()
		return
	}
	res, used := created[0].res, created[0].used
	var app struct {
		ID          string `json:"id"`
		JobID       string `json:"job_id"`
		ApplicantID string `json:"applicant_id"`
		Resume      *struct {
			SHA256 string `json:"sha256"`
		} `json:"resume"`
	}
	if err := json.Unmarshal(res.body, &app); err != nil || app.ID == "" {
		l.problem("POST /jobs/%s/apply: a 201 that is no application: %s", job.id, res)
		return
	}
	if app.JobID != job.id || app.ApplicantID != seeker.id || (app.Resume != nil) != withResume ||
		(withResume && app.Resume.SHA256 != l.resumeSHA) {
		l.problem("POST /jobs/%s/apply by %s answered another application: %s", job.id, seeker.id, res)
	}
	atLeast := job.accepted.Add(1)
	l.mu.Lock()
	l.apps = append(l.apps, &acceptedApp{id: app.ID, job: job, seeker: seeker})
	l.mu.Unlock()

	reader := l.other(used)
	if ids, on, ok := l.listAll(ctx, reader, "/me/applications", seeker.token); ok && count(ids, app.ID) != 1 {
		l.problem("stale read: GET /me/applications on %s right after %s answered apply 201 %s: %d copies of it", on.name, used.name, app.ID, count(ids, app.ID))
	}
	if ids, on, ok := l.listAll(ctx, reader, "/jobs/"+job.id+"/applications", job.owner.token); ok && count(ids, app.ID) != 1 {
		l.problem("stale read: GET /jobs/%s/applications on %s right after %s answered apply 201 %s: %d copies of it", job.id, on.name, used.name, app.ID, count(ids, app.ID))
	}
	got, on, _, ok := l.try(ctx, reader, "GET /jobs/{id}", func(p *proc) (response, error) {
		return p.send(ctx, http.MethodGet, "/jobs/"+job.id, job.owner.token, nil, "")
	})
	var seen struct {
		ApplicationCount *int64 `json:"application_count"`
	}
	if ok && (got.status != http.StatusOK || json.Unmarshal(got.body, &seen) != nil || seen.ApplicationCount == nil || *seen.ApplicationCount < atLeast) {
		l.problem("stale read: GET /jobs/%s on %s right after %s answered apply 201 (the %d-th): %s", job.id, on.name, used.name, atLeast, got)
	}
}

// form is a multipart application with the PDF resume.
func (l *load) form() ([]byte, string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	w.WriteField("cover_letter", "My resume is attached.")
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="resume"; filename="cv.pdf"`)
	h.Set("Content-Type", "application/pdf")
	part, _ := w.CreatePart(h)
	part.Write(l.resume)
	w.Close()
	return b.Bytes(), w.FormDataContentType()
}

// read is what visitors do most: list, search, open a job, look at
// applications. Only the status is checked; what a read must show is
// checked right after each write, and at the end.
func (l *load) read(ctx context.Context) {
	l.mu.Lock()
	job := l.jobs[rand.N(len(l.jobs))]
	seeker := l.seekers[rand.N(len(l.seekers))]
	l.mu.Unlock()
	var path, token string
	switch rand.N(5) {
	case 0:
		path = "/jobs?company=" + l.runMarker + "&limit=20"
	case 1:
		path = "/jobs?q=" + url.QueryEscape("crash multiproc")
	case 2:
		path = "/jobs/" + job.id
	case 3:
		path, token = "/me/applications", seeker.token
	default:
		path, token = "/jobs/"+job.id+"/applications", job.owner.token
	}
	res, used, _, ok := l.try(ctx, l.pick(), "GET "+path, func(p *proc) (response, error) {
		return p.send(ctx, http.MethodGet, path, token, nil, "")
	})
	if ok && res.status != http.StatusOK {
		l.problem("GET %s on %s: want 200, got %s", path, used.name, res)
	}
}

// page is one page of a listing.
type page struct {
	Items      []pageItem `json:"items"`
	NextCursor *string    `json:"next_cursor"`
	Total      int        `json:"total"`
}

// pageItem is an item of a listing: a job or an application.
type pageItem struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	JobID       string `json:"job_id"`
	ApplicantID string `json:"applicant_id"`
}

// pageIDs reads the ids and the total of one page.
func pageIDs(res response) ([]string, int, error) {
	if res.status != http.StatusOK {
		return nil, 0, fmt.Errorf("want 200, got %s", res)
	}
	var p page
	if err := json.Unmarshal(res.body, &p); err != nil {
		return nil, 0, err
	}
	ids := make([]string, len(p.Items))
	for i, item := range p.Items {
		ids[i] = item.ID
	}
	return ids, p.Total, nil
}

// listAll reads every page of a listing (path, which may have a query) on
// api, or its survivor, and returns the items' ids.
func (l *load) listAll(ctx context.Context, api *proc, path, token string) (ids []string, on *proc, ok bool) {
	items, on, ok := l.listItems(ctx, api, path, token)
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	return ids, on, ok
}

// listItems is listAll with the items.
func (l *load) listItems(ctx context.Context, api *proc, path, token string) (items []pageItem, on *proc, ok bool) {
	u, err := url.Parse(path)
	if err != nil {
		panic(err)
	}
	q := u.Query()
	q.Set("limit", "100")
	for {
		u.RawQuery = q.Encode()
		var res response
		res, on, _, ok = l.try(ctx, api, "GET "+u.Path, func(p *proc) (response, error) {
			return p.send(ctx, http.MethodGet, u.String(), token, nil, "")
		})
		if !ok {
			return nil, on, false
		}
		var p page
		if res.status != http.StatusOK || json.Unmarshal(res.body, &p) != nil {
			l.problem("GET %s on %s: want a page, got %s", u, on.name, res)
			return nil, on, false
		}
		items = append(items, p.Items...)
		if p.NextCursor == nil {
			return items, on, true
		}
		api = on
		q.Set("cursor", *p.NextCursor)
	}
}

// count counts id in ids.
func count(ids []string, id string) int {
	n := 0
	for _, x := range ids {
		if x == id {
			n++
		}
	}
	return n
}
