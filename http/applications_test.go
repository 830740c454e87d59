package http_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/internal/testdb"
	"github.com/jobboard/jobboard/internal/testfiles"
)

// The helpers of this file are prefixed with "apps" so that they cannot
// collide with the package's other test files.

// appsApplication is an application as the API shows it.
type appsApplication struct {
	ID          string      `json:"id"`
	JobID       string      `json:"job_id"`
	ApplicantID string      `json:"applicant_id"`
	Name        string      `json:"name"`
	Email       string      `json:"email"`
	CoverLetter *string     `json:"cover_letter"`
	Status      string      `json:"status"`
	Resume      *appsResume `json:"resume"`
	CreatedAt   string      `json:"created_at"`
	UpdatedAt   string      `json:"updated_at"`
	Version     int64       `json:"version"`
	// RejectionReason is shown to the job's recruiter only.
	RejectionReason *string `json:"rejection_reason"`
	Job             *struct {
		ID      string `json:"id"`
		Title   string `json:"title"`
		Company string `json:"company"`
	} `json:"job,omitempty"`
}

type appsResume struct {
	FileName    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
}

// appsFields are the fields of an application, as the contract lists them.
var appsFields = []string{"applicant_id", "cover_letter", "created_at", "email", "id", "job_id", "name", "resume", "status",
	"updated_at", "version"}

// appsDecode reads an application answer and checks its shape.
func appsDecode(t *testing.T, res response, status int) appsApplication {
	t.Helper()
	is := is.New(t)
	is.Helper()
	if res.status != status {
		t.Fatalf("want %d %s, got %s", status, http.StatusText(status), res)
	}
	is.Equal(res.header.Get("Content-Type"), "application/json; charset=utf-8") // JSON out
	is.Equal(jobsKeys(t, res.body), appsFields)                                 // exactly the contract's fields
	var a appsApplication
	dec := json.NewDecoder(bytes.NewReader(res.body))
	dec.DisallowUnknownFields()
	is.NoErr(dec.Decode(&a)) // the body is an application
	return a
}

// appsFile is a file part of a multipart form.
type appsFile struct {
	// disposition, when set, is the part's Content-Disposition as it is
	// sent, so that a test can send a file name no Go writer would.
	disposition string
	name        string
	contentType string
	content     []byte
}

// appsForm builds a multipart/form-data body from name, value pairs and an
// optional file (field "resume").
func appsForm(t *testing.T, file *appsFile, pairs ...string) (*bytes.Buffer, string) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := w.WriteField(pairs[i], pairs[i+1]); err != nil {
			t.Fatalf("write field: %v", err)
		}
	}
	if file != nil {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", file.disposition)
		if file.disposition == "" {
			name := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(file.name)
			h.Set("Content-Disposition", `form-data; name="resume"; filename="`+name+`"`)
		}
		h.Set("Content-Type", file.contentType)
		if file.contentType == "" {
			h.Set("Content-Type", "application/octet-stream")
		}
		part, err := w.CreatePart(h)
		if err != nil {
			t.Fatalf("create part: %v", err)
		}
		part.Write(file.content)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close form: %v", err)
	}
	return &body, w.FormDataContentType()
}

// appsPostForm sends a multipart application.
func appsPostForm(t *testing.T, s *service, token, jobID string, file *appsFile, pairs ...string) response {
	t.Helper()
	body, contentType := appsForm(t, file, pairs...)
	return appsPostBody(t, s, token, jobID, body, contentType)
}

// appsPostBody sends body to POST /jobs/{jobID}/apply as it is.
func appsPostBody(t *testing.T, s *service, token, jobID string, body io.Reader, contentType string) response {
	t.Helper()
	header := []string{"Content-Type", contentType}
	if token != "" {
		header = append(header, "Authorization", "Bearer "+token)
	}
	return s.do(http.MethodPost, "/jobs/"+jobID+"/apply", body, header...)
}

// appsApplyJSON sends a JSON application.
func appsApplyJSON(t *testing.T, s *service, token, jobID string, body any) response {
	t.Helper()
	return jobsCall(t, s, http.MethodPost, "/jobs/"+jobID+"/apply", token, body)
}

// appsApply applies with a JSON body and returns the 201's application.
func appsApply(t *testing.T, s *service, token, jobID string, body any) appsApplication {
	t.Helper()
	is := is.New(t)
	is.Helper()
	res := appsApplyJSON(t, s, token, jobID, body)
	a := appsDecode(t, res, http.StatusCreated)
	is.Equal(res.header.Get("Location"), "/applications/"+a.ID) // Location names the application
	return a
}

// appsGet reads an application as someone.
func appsGet(t *testing.T, s *service, id, token string) response {
	t.Helper()
	return jobsCall(t, s, http.MethodGet, "/applications/"+id, token, nil)
}

// appsPage is one page of a listing of applications.
type appsPage = page[appsApplication]

func (a appsApplication) itemID() string { return a.ID }

// appsList reads a listing (path with its query) and checks its shape.
func appsList(t *testing.T, s *service, path, token string) appsPage {
	t.Helper()
	return listPage[appsApplication](t, s, path, token)
}

// appsSetup is a job with its recruiter, another recruiter and two job
// seekers.
type appsSetup struct {
	owner, other, seeker, otherSeeker jobsActor
	job                               jobsJob
}

func appsStart(t *testing.T, s *service) appsSetup {
	t.Helper()
	owner := jobsRegister(t, s, "recruiter", "Apps Co")
	return appsSetup{
		owner:       owner,
		other:       jobsRegister(t, s, "recruiter", "Other Co"),
		seeker:      jobsRegister(t, s, "job_seeker", ""),
		otherSeeker: jobsRegister(t, s, "job_seeker", ""),
		job:         jobsPost(t, s, owner.token, jobsBody("Apps "+jobsMarker())),
	}
}

// appsCount reads a job's application_count as its owner sees it.
func appsCount(t *testing.T, s *service, jobID, ownerToken string) int {
	t.Helper()
	j := jobsGet(t, s, jobID, ownerToken)
	if j.ApplicationCount == nil {
		t.Fatalf("the owner does not see application_count")
	}
	return *j.ApplicationCount
}

// appsStored counts, in the database, the applications to a job: events,
// claims and resumes. A refused application must add to none of them.
func appsStored(t *testing.T, jobID string) (events, claims, resumes int) {
	t.Helper()
	ctx := context.Background()
	err := db.Pool.QueryRow(ctx, `
SELECT (SELECT count(*) FROM events WHERE event_type = 'ApplicationSubmitted' AND data->>'job_id' = $1),
       (SELECT count(*) FROM application_claims WHERE job_id = $1::uuid),
       (SELECT count(*) FROM resume_blobs b JOIN application_claims c ON c.application_id = b.application_id WHERE c.job_id = $1::uuid)`,
		jobID).Scan(&events, &claims, &resumes)
	if err != nil {
		t.Fatalf("count stored applications: %v", err)
	}
	return events, claims, resumes
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestApplicationsApply checks both ways to apply, the 201 and what later
// reads show at once: the application, its resume, the job's count.
func TestApplicationsApply(t *testing.T) {
	s := startService(t, nil)
	setup := appsStart(t, s)
	seekerAccount := jobsDecodeUser(t, jobsCall(t, s, http.MethodGet, "/me", setup.seeker.token, nil))

	t.Run("JSON, with the account's name and email", func(t *testing.T) {
		is := is.New(t)
		job := jobsPost(t, s, setup.owner.token, jobsBody("JSON "+jobsMarker()))
		before := time.Now().UTC().Add(-time.Second)
		a := appsApply(t, s, setup.seeker.token, job.ID, map[string]any{})
		id, err := uuid.Parse(a.ID)
		is.NoErr(err)                                                                                                                                                                                                              // the id is a UUID
		is.Equal(id.Version(), uuid.Version(7))                                                                                                                                                                                    // version 7, like every id
		is.Equal(a, appsApplication{ID: a.ID, JobID: job.ID, ApplicantID: setup.seeker.id, Name: seekerAccount.Name, Email: seekerAccount.Email, Status: "submitted", CreatedAt: a.CreatedAt, UpdatedAt: a.CreatedAt, Version: 1}) // defaults, no cover letter, no resume, version 1
		created, err := time.Parse(time.RFC3339, a.CreatedAt)
		is.NoErr(err)                                                                 // created_at is RFC 3339
		is.True(strings.HasSuffix(a.CreatedAt, "Z"))                                  // in UTC
		is.True(created.After(before) && created.Before(time.Now().Add(time.Second))) // and now

		is.Equal(appsDecode(t, appsGet(t, s, a.ID, setup.seeker.token), http.StatusOK), a) // readable at once, as the 201 showed it
		is.Equal(appsCount(t, s, job.ID, setup.owner.token), 1)                            // the count is up at once
		is.Equal(jobsGet(t, s, job.ID, setup.owner.token).Version, int64(1))               // an application does not change the job's version
		var raw map[string]any
		is.NoErr(json.Unmarshal(appsGet(t, s, a.ID, setup.seeker.token).body, &raw))
		is.True(raw["resume"] == nil && raw["cover_letter"] == nil) // null, not absent
	})

	t.Run("JSON, every field", func(t *testing.T) {
		is := is.New(t)
		letter := "Dear team,\n\nI'd <b>love</b> to join & help.\n\tAda"
		a := appsApply(t, s, setup.seeker.token, setup.job.ID, map[string]any{"name": " Ada King ", "email": "Ada.King@Example.com", "cover_letter": letter})
		is.Equal(a.Name, "Ada King")              // trimmed
		is.Equal(a.Email, "ada.king@example.com") // normalised
		is.Equal(*a.CoverLetter, letter)          // user text comes back verbatim
		res := appsGet(t, s, a.ID, setup.owner.token)
		is.True(bytes.Contains(res.body, []byte(`I'd <b>love</b> to join & help.`))) // unescaped in the JSON too
	})

	t.Run("multipart with a resume", func(t *testing.T) {
		is := is.New(t)
		job := jobsPost(t, s, setup.owner.token, jobsBody("Multipart "+jobsMarker()))
		pdf := testfiles.PDF(3000)
		res := appsPostForm(t, s, setup.seeker.token, job.ID,
			&appsFile{name: "Ada's CV.pdf", contentType: "text/html", content: pdf},
			"name", "Ada", "email", "ada@example.com", "cover_letter", "Hello")
		a := appsDecode(t, res, http.StatusCreated)
		is.Equal(res.header.Get("Location"), "/applications/"+a.ID)
		is.Equal(a.Name, "Ada")
		is.Equal(a.Email, "ada@example.com")
		is.Equal(*a.CoverLetter, "Hello")
		is.Equal(*a.Resume, appsResume{FileName: "Ada's CV.pdf", ContentType: "application/pdf", Size: 3000, SHA256: sha256Hex(pdf)}) // the type is the content's, not the client's
		is.Equal(appsDecode(t, appsGet(t, s, a.ID, setup.seeker.token), http.StatusOK), a)                                            // GET shows it as the 201 did

		for _, token := range []string{setup.seeker.token, setup.owner.token} { // the applicant and the recruiter
			res := jobsCall(t, s, http.MethodGet, "/applications/"+a.ID+"/resume", token, nil)
			is.Equal(res.status, http.StatusOK)
			is.Equal(res.body, pdf)                                                                                                   // the exact bytes
			is.Equal(res.header.Get("Content-Type"), "application/pdf")                                                               // the stored type
			is.Equal(res.header.Get("X-Content-Type-Options"), "nosniff")                                                             // never sniffed
			is.Equal(res.header.Get("Content-Length"), "3000")                                                                        // its size
			is.Equal(res.header.Get("Content-Disposition"), `attachment; filename="Ada's CV.pdf"; filename*=UTF-8''Ada%27s%20CV.pdf`) // an attachment, with its name
			is.Equal(res.header.Get("Cache-Control"), "no-store")                                                                     // not kept in shared caches
		}
		is.Equal(appsCount(t, s, job.ID, setup.owner.token), 1)
		events, claims, resumes := appsStored(t, job.ID)
		is.Equal([]int{events, claims, resumes}, []int{1, 1, 1}) // one event, one claim, one stored file
		var logged string
		is.NoErr(db.Pool.QueryRow(context.Background(), `SELECT data::text FROM events WHERE stream_id = $1`, a.ID).Scan(&logged))
		is.True(!strings.Contains(logged, "1 0 obj"))         // the log holds no byte of the file
		is.True(!strings.Contains(logged, sha256Hex(pdf)))    // and its description only sealed, with the applicant's key
		is.True(!strings.Contains(logged, "Ada's CV.pdf"))    // (its name often is the person's)
		is.True(!strings.Contains(logged, "ada@example.com")) // as are the email
		is.True(!strings.Contains(logged, "Hello"))           // and the cover letter
		read, err := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring())).ReadStream(context.Background(), uuid.MustParse(a.ID))
		is.NoErr(err) // the event as the log's readers see it, opened
		is.Equal(len(read), 1)
		e, err := read[0].Event()
		is.NoErr(err)
		submitted := e.(domain.ApplicationSubmitted)
		is.Equal(*submitted.Resume, domain.ResumeFile{FileName: "Ada's CV.pdf", ContentType: "application/pdf", Size: 3000, SHA256: sha256Hex(pdf)}) // holds the digest (the log is also what the subscribers read)
		is.Equal(submitted.Email, "ada@example.com")
		is.Equal(submitted.CoverLetter, "Hello")
	})

	t.Run("multipart without a file, and a browser's empty file part", func(t *testing.T) {
		is := is.New(t)
		job := jobsPost(t, s, setup.owner.token, jobsBody("No file "+jobsMarker()))
		a := appsDecode(t, appsPostForm(t, s, setup.seeker.token, job.ID, nil), http.StatusCreated)
		is.Equal(a.Name, seekerAccount.Name)   // the account's name
		is.Equal(a.Email, seekerAccount.Email) // and email
		is.Equal(a.Resume, nil)                // no resume

		job = jobsPost(t, s, setup.owner.token, jobsBody("Empty file "+jobsMarker()))
		a = appsDecode(t, appsPostForm(t, s, setup.seeker.token, job.ID, &appsFile{name: ""}, "cover_letter", ""), http.StatusCreated)
		is.Equal(a.Resume, nil)                                                                                                     // an empty part with no file name is no file
		is.Equal(a.CoverLetter, nil)                                                                                                // and an empty cover letter no letter
		problemOf(t, jobsCall(t, s, http.MethodGet, "/applications/"+a.ID+"/resume", setup.seeker.token, nil), http.StatusNotFound) // no resume to download
	})

	t.Run("no body at all", func(t *testing.T) {
		is := is.New(t)
		job := jobsPost(t, s, setup.owner.token, jobsBody("No body "+jobsMarker()))
		a := appsDecode(t, s.do(http.MethodPost, "/jobs/"+job.ID+"/apply", nil, "Authorization", "Bearer "+setup.seeker.token), http.StatusCreated)
		is.Equal(a.Name, seekerAccount.Name) // applies with the account's details
	})

	t.Run("every resume type", func(t *testing.T) {
		for _, f := range []struct {
			name, want string
			content    []byte
		}{
			{"cv.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", testfiles.DOCX(false)},
			{"cv.doc", "application/msword", testfiles.DOC()},
			{"cv.odt", "application/vnd.oasis.opendocument.text", testfiles.ODT()},
			{"cv.txt", "text/plain; charset=utf-8", []byte("Ada Lovelace\nAnalyst — 1843\n")},
			{"cv", "application/pdf", testfiles.PDF(100)},
		} {
			t.Run(f.name, func(t *testing.T) {
				is := is.New(t)
				job := jobsPost(t, s, setup.owner.token, jobsBody("Type "+jobsMarker()))
				a := appsDecode(t, appsPostForm(t, s, setup.seeker.token, job.ID, &appsFile{name: f.name, content: f.content}), http.StatusCreated)
				is.Equal(a.Resume.ContentType, f.want) // the official type
				res := jobsCall(t, s, http.MethodGet, "/applications/"+a.ID+"/resume", setup.owner.token, nil)
				is.Equal(res.body, f.content)                    // the exact bytes
				is.Equal(res.header.Get("Content-Type"), f.want) // served with the stored type
			})
		}
	})
}

// jobsDecodeUser reads a user answer.
func jobsDecodeUser(t *testing.T, res response) user {
	t.Helper()
	if res.status != http.StatusOK {
		t.Fatalf("want 200, got %s", res)
	}
	var u user
	if err := json.Unmarshal(res.body, &u); err != nil {
		t.Fatalf("not a user: %v", err)
	}
	return u
}

// TestApplicationsRoles checks who may do what: anonymous callers get 401,
// recruiters 403 on apply, another recruiter or job seeker 404 on an
// application (its id reveals nothing) and 403 on a job's list (the job is
// public), the owners 2xx.
func TestApplicationsRoles(t *testing.T) {
	s := startService(t, nil)
	setup := appsStart(t, s)
	job := setup.job

	t.Run("POST /jobs/{id}/apply", func(t *testing.T) {
		is := is.New(t)
		jobsIsUnauthorized(t, appsApplyJSON(t, s, "", job.ID, map[string]any{}))
		jobsIsUnauthorized(t, appsApplyJSON(t, s, "garbage", job.ID, map[string]any{}))
		problemOf(t, appsApplyJSON(t, s, setup.owner.token, job.ID, map[string]any{}), http.StatusForbidden) // not even the job's own recruiter
		problemOf(t, appsApplyJSON(t, s, setup.other.token, job.ID, map[string]any{}), http.StatusForbidden)
		problemOf(t, appsPostForm(t, s, setup.other.token, job.ID, &appsFile{name: "cv.pdf", content: testfiles.PDF(100)}), http.StatusForbidden)
		events, claims, resumes := appsStored(t, job.ID)
		is.Equal([]int{events, claims, resumes}, []int{0, 0, 0}) // refused applications store nothing
		is.Equal(appsCount(t, s, job.ID, setup.owner.token), 0)
	})

	pdf := testfiles.PDF(500)
	a := appsDecode(t, appsPostForm(t, s, setup.seeker.token, job.ID, &appsFile{name: "cv.pdf", content: pdf}), http.StatusCreated)

	for _, path := range []string{"/applications/" + a.ID, "/applications/" + a.ID + "/resume"} {
		t.Run("GET "+path, func(t *testing.T) {
			is := is.New(t)
			jobsIsUnauthorized(t, jobsCall(t, s, http.MethodGet, path, "", nil))
			jobsIsUnauthorized(t, jobsCall(t, s, http.MethodGet, path, "garbage", nil))
			unknown := problemOf(t, jobsCall(t, s, http.MethodGet, strings.Replace(path, a.ID, uuid.Must(uuid.NewV7()).String(), 1), setup.seeker.token, nil), http.StatusNotFound)
			for _, other := range []jobsActor{setup.otherSeeker, setup.other} {
				p := problemOf(t, jobsCall(t, s, http.MethodGet, path, other.token, nil), http.StatusNotFound)
				is.Equal(p.Detail, unknown.Detail) // exactly as if it did not exist
			}
			for _, owner := range []jobsActor{setup.seeker, setup.owner} {
				is.Equal(jobsCall(t, s, http.MethodGet, path, owner.token, nil).status, http.StatusOK) // the applicant and the job's recruiter
			}
			problemOf(t, jobsCall(t, s, http.MethodGet, strings.Replace(path, a.ID, "not-a-uuid", 1), setup.seeker.token, nil), http.StatusNotFound)
			problemOf(t, jobsCall(t, s, http.MethodGet, strings.Replace(path, a.ID, job.ID, 1), setup.owner.token, nil), http.StatusNotFound) // a job's id is not an application's
		})
	}

	t.Run("GET /jobs/{id}/applications", func(t *testing.T) {
		is := is.New(t)
		path := "/jobs/" + job.ID + "/applications"
		jobsIsUnauthorized(t, jobsCall(t, s, http.MethodGet, path, "", nil))
		problemOf(t, jobsCall(t, s, http.MethodGet, path, setup.seeker.token, nil), http.StatusForbidden) // not the applicants, even one who applied
		problemOf(t, jobsCall(t, s, http.MethodGet, path, setup.otherSeeker.token, nil), http.StatusForbidden)
		problemOf(t, jobsCall(t, s, http.MethodGet, path, setup.other.token, nil), http.StatusForbidden) // nor another recruiter
		problemOf(t, jobsCall(t, s, http.MethodGet, "/jobs/"+uuid.Must(uuid.NewV7()).String()+"/applications", setup.owner.token, nil), http.StatusNotFound)
		problemOf(t, jobsCall(t, s, http.MethodGet, "/jobs/not-a-uuid/applications", setup.owner.token, nil), http.StatusNotFound)
		page := appsList(t, s, path, setup.owner.token)
		is.Equal(page.ids(), []string{a.ID}) // the owner sees the application
		is.Equal(page.Items[0], a)           // as the 201 showed it
	})

	t.Run("GET /me/applications", func(t *testing.T) {
		is := is.New(t)
		jobsIsUnauthorized(t, jobsCall(t, s, http.MethodGet, "/me/applications", "", nil))
		problemOf(t, jobsCall(t, s, http.MethodGet, "/me/applications", setup.owner.token, nil), http.StatusForbidden) // recruiters have no applications
		is.Equal(appsList(t, s, "/me/applications", setup.otherSeeker.token).Total, 0)                                 // another seeker sees none of it
		mine := appsList(t, s, "/me/applications", setup.seeker.token)
		is.Equal(mine.ids(), []string{a.ID}) // the applicant sees theirs
	})

	t.Run("methods", func(t *testing.T) {
		is := is.New(t)
		res := jobsCall(t, s, http.MethodGet, "/jobs/"+job.ID+"/apply", setup.seeker.token, nil)
		problemOf(t, res, http.StatusMethodNotAllowed)
		is.Equal(res.header.Get("Allow"), http.MethodPost)
		res = jobsCall(t, s, http.MethodDelete, "/applications/"+a.ID, setup.seeker.token, nil)
		problemOf(t, res, http.StatusMethodNotAllowed)
		is.Equal(res.header.Get("Allow"), "GET, HEAD, PATCH")
	})
}

// TestApplicationsOnePerJob checks that one job seeker applies once to a
// job, even when twenty applications race, and that others still may.
func TestApplicationsOnePerJob(t *testing.T) {
	s := startService(t, nil)
	setup := appsStart(t, s)

	t.Run("one after the other", func(t *testing.T) {
		is := is.New(t)
		job := jobsPost(t, s, setup.owner.token, jobsBody("Twice "+jobsMarker()))
		appsApply(t, s, setup.seeker.token, job.ID, map[string]any{})
		p := problemOf(t, appsApplyJSON(t, s, setup.seeker.token, job.ID, map[string]any{"name": "Again"}), http.StatusConflict)
		is.True(strings.Contains(p.Detail, "already applied"))             // says why
		appsApply(t, s, setup.otherSeeker.token, job.ID, map[string]any{}) // another seeker may
		other := jobsPost(t, s, setup.owner.token, jobsBody("Other "+jobsMarker()))
		appsApply(t, s, setup.seeker.token, other.ID, map[string]any{}) // and the seeker may apply to another job
		is.Equal(appsCount(t, s, job.ID, setup.owner.token), 2)
	})

	t.Run("twenty at once", func(t *testing.T) {
		is := is.New(t)
		job := jobsPost(t, s, setup.owner.token, jobsBody("Race "+jobsMarker()))
		const n = 20
		statuses := make([]int, n)
		bodies := make([][]byte, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var body bytes.Buffer
				w := multipart.NewWriter(&body)
				w.WriteField("cover_letter", fmt.Sprintf("attempt %d", i))
				f, _ := w.CreateFormFile("resume", "cv.pdf")
				f.Write(testfiles.PDF(20000 + i))
				w.Close()
				<-start
				res, err := jobsSend(t.Context(), s, http.MethodPost, "/jobs/"+job.ID+"/apply", setup.seeker.token, body.Bytes(),
					"Content-Type", w.FormDataContentType())
				if err != nil {
					t.Errorf("apply %d: %v", i, err)
					return
				}
				statuses[i], bodies[i] = res.status, res.body
			}()
		}
		close(start)
		wg.Wait()
		created, conflicts := 0, 0
		for i, st := range statuses {
			switch st {
			case http.StatusCreated:
				created++
			case http.StatusConflict:
				conflicts++
				is.True(bytes.Contains(bodies[i], []byte("already applied"))) // each loser is told why
			default:
				t.Errorf("attempt %d: unexpected %d %s", i, st, bodies[i])
			}
		}
		is.Equal(created, 1)     // exactly one application
		is.Equal(conflicts, n-1) // and nineteen conflicts
		events, claims, resumes := appsStored(t, job.ID)
		is.Equal([]int{events, claims, resumes}, []int{1, 1, 1}) // one event, one claim, one file: the losers left nothing
		is.Equal(appsCount(t, s, job.ID, setup.owner.token), 1)
		is.Equal(appsList(t, s, "/jobs/"+job.ID+"/applications", setup.owner.token).Total, 1)
	})
}

// TestApplicationsJobStates checks applying to jobs that are closed,
// reopened, deleted, unknown or not jobs at all.
func TestApplicationsJobStates(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	setup := appsStart(t, s)
	job := setup.job

	jobsDecode(t, jobsCall(t, s, http.MethodPatch, "/jobs/"+job.ID, setup.owner.token, map[string]any{"status": "closed"}), http.StatusOK)
	p := problemOf(t, appsApplyJSON(t, s, setup.seeker.token, job.ID, map[string]any{}), http.StatusConflict)
	is.True(strings.Contains(p.Detail, "closed")) // a closed job says so
	p = problemOf(t, appsPostForm(t, s, setup.seeker.token, job.ID, &appsFile{name: "cv.pdf", content: testfiles.PDF(100)}), http.StatusConflict)
	events, claims, resumes := appsStored(t, job.ID)
	is.Equal([]int{events, claims, resumes}, []int{0, 0, 0}) // nothing stored

	jobsDecode(t, jobsCall(t, s, http.MethodPatch, "/jobs/"+job.ID, setup.owner.token, map[string]any{"status": "open"}), http.StatusOK)
	a := appsApply(t, s, setup.seeker.token, job.ID, map[string]any{}) // reopened, it takes applications again

	is.Equal(jobsCall(t, s, http.MethodDelete, "/jobs/"+job.ID, setup.owner.token, nil).status, http.StatusNoContent)
	problemOf(t, appsApplyJSON(t, s, setup.otherSeeker.token, job.ID, map[string]any{}), http.StatusNotFound) // a deleted job is not found
	for _, path := range []string{
		"/jobs/" + uuid.Must(uuid.NewV7()).String() + "/apply", // unknown
		"/jobs/not-a-uuid/apply",                               // malformed
		"/jobs/" + setup.owner.id + "/apply",                   // a user, not a job
		"/jobs/" + a.ID + "/apply",                             // an application, not a job
	} {
		problemOf(t, jobsCall(t, s, http.MethodPost, path, setup.seeker.token, map[string]any{}), http.StatusNotFound)
	}

	// The deleted job's application leaves every listing, its resume
	// stays stored for audit, and the application stays readable by its
	// two parties (hiring may go on after a posting is withdrawn).
	is.Equal(appsDecode(t, appsGet(t, s, a.ID, setup.seeker.token), http.StatusOK).ID, a.ID)
	is.Equal(appsDecode(t, appsGet(t, s, a.ID, setup.owner.token), http.StatusOK).ID, a.ID)
	problemOf(t, appsGet(t, s, a.ID, setup.otherSeeker.token), http.StatusNotFound)
	is.Equal(appsList(t, s, "/me/applications", setup.seeker.token).Total, 0)
	problemOf(t, jobsCall(t, s, http.MethodGet, "/jobs/"+job.ID+"/applications", setup.owner.token, nil), http.StatusNotFound)
	events, _, _ = appsStored(t, job.ID)
	is.Equal(events, 1) // the log keeps it
}

// TestApplicationsInvalid checks the 4xx of POST /jobs/{id}/apply for
// requests that are malformed or break a rule, and that none stores
// anything.
func TestApplicationsInvalid(t *testing.T) {
	s := startService(t, nil)
	setup := appsStart(t, s)
	job := setup.job
	letter10001 := strings.Repeat("c", 10001)

	fieldCases := []struct {
		name  string
		body  any
		field string
	}{
		{"cover letter of 10001 characters", map[string]any{"cover_letter": letter10001}, "cover_letter"},
		{"cover letter of 10001 two-byte characters", map[string]any{"cover_letter": strings.Repeat("é", 10001)}, "cover_letter"},
		{"bad email", map[string]any{"email": "not an email"}, "email"},
		{"blank name", map[string]any{"name": "  "}, "name"},
		{"name of 101 characters", map[string]any{"name": strings.Repeat("n", 101)}, "name"},
		{"name of the wrong type", map[string]any{"name": 42}, "name"},
		{"unknown field", map[string]any{"phone": "123"}, "phone"},
		{"a resume in JSON", map[string]any{"resume": "JVBERi0="}, "resume"},
		{"read-only status", map[string]any{"status": "submitted"}, "status"},
	}
	for _, c := range fieldCases {
		t.Run("JSON "+c.name, func(t *testing.T) {
			is := is.New(t)
			p := problemOf(t, appsApplyJSON(t, s, setup.seeker.token, job.ID, c.body), http.StatusUnprocessableEntity)
			is.True(slices.Contains(p.fields(), c.field)) // names the field
		})
	}

	multipartCases := []struct {
		name   string
		file   *appsFile
		pairs  []string
		status int
		field  string
	}{
		{"cover letter of 10001 characters", nil, []string{"cover_letter", letter10001}, http.StatusUnprocessableEntity, "cover_letter"},
		{"bad email", nil, []string{"email", "@"}, http.StatusUnprocessableEntity, "email"},
		{"unknown field", nil, []string{"phone", "123"}, http.StatusUnprocessableEntity, "phone"},
		{"a field twice", nil, []string{"name", "A", "name", "B"}, http.StatusUnprocessableEntity, "name"},
		{"a field far too long", nil, []string{"cover_letter", strings.Repeat("c", 100<<10)}, http.StatusUnprocessableEntity, "cover_letter"},
		{"an empty file", &appsFile{name: "cv.pdf"}, nil, http.StatusUnprocessableEntity, "resume"},
		{"an HTML file", &appsFile{name: "cv.html", contentType: "text/html", content: testfiles.HTML()}, nil, http.StatusUnsupportedMediaType, ""},
		{"an HTML file named cv.pdf", &appsFile{name: "cv.pdf", contentType: "application/pdf", content: testfiles.HTML()}, nil, http.StatusUnsupportedMediaType, ""},
		{"an ELF executable named cv.pdf", &appsFile{name: "cv.pdf", contentType: "application/pdf", content: testfiles.ELF()}, nil, http.StatusUnsupportedMediaType, ""},
		{"a PE executable named cv.pdf", &appsFile{name: "cv.pdf", contentType: "application/pdf", content: testfiles.PE()}, nil, http.StatusUnsupportedMediaType, ""},
		{"a ZIP named cv.docx", &appsFile{name: "cv.docx", content: testfiles.ZIP()}, nil, http.StatusUnsupportedMediaType, ""},
	}
	for _, c := range multipartCases {
		t.Run("multipart "+c.name, func(t *testing.T) {
			is := is.New(t)
			p := problemOf(t, appsPostForm(t, s, setup.seeker.token, job.ID, c.file, c.pairs...), c.status)
			if c.field != "" {
				is.True(slices.Contains(p.fields(), c.field)) // names the field
			}
		})
	}

	requestCases := []struct {
		name        string
		body        string
		contentType string
		status      int
	}{
		{"not JSON", `{"name":`, "application/json", http.StatusBadRequest},
		{"a JSON array", `[]`, "application/json", http.StatusBadRequest},
		{"plain text", "name=Ada", "text/plain", http.StatusUnsupportedMediaType},
		{"a URL-encoded form", "name=Ada", "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"multipart without a boundary", "--x\r\n", "multipart/form-data", http.StatusBadRequest},
		{"multipart that is not", "this is not multipart at all", "multipart/form-data; boundary=xyz", http.StatusBadRequest},
		{"multipart cut short", "--xyz\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nAda", "multipart/form-data; boundary=xyz", http.StatusBadRequest},
		{"a part without a name", "--xyz\r\nContent-Disposition: form-data\r\n\r\nAda\r\n--xyz--\r\n", "multipart/form-data; boundary=xyz", http.StatusBadRequest},
		{"mixed multipart", "--xyz\r\n\r\nAda\r\n--xyz--\r\n", "multipart/mixed; boundary=xyz", http.StatusUnsupportedMediaType},
	}
	for _, c := range requestCases {
		t.Run(c.name, func(t *testing.T) {
			problemOf(t, appsPostBody(t, s, setup.seeker.token, job.ID, strings.NewReader(c.body), c.contentType), c.status)
		})
	}

	is := is.New(t)
	events, claims, resumes := appsStored(t, job.ID)
	is.Equal([]int{events, claims, resumes}, []int{0, 0, 0}) // no refused application stored anything
	is.Equal(appsCount(t, s, job.ID, setup.owner.token), 0)
	a := appsApply(t, s, setup.seeker.token, job.ID, map[string]any{"cover_letter": strings.Repeat("é", 10000)})
	is.Equal(len([]rune(*a.CoverLetter)), 10000) // 10000 characters is a valid cover letter
}

// TestApplicationsFileNames checks that a file name is stored as a clean
// base name and sent back in a header that nothing in it can break.
func TestApplicationsFileNames(t *testing.T) {
	s := startService(t, nil)
	setup := appsStart(t, s)
	cases := []struct {
		name        string
		file        appsFile
		stored      string
		disposition string
	}{
		{"a path traversal", appsFile{name: "../../etc/passwd.pdf"}, "passwd.pdf",
			`attachment; filename="passwd.pdf"; filename*=UTF-8''passwd.pdf`},
		{"a Windows path, escaped as Go sends it", appsFile{name: `C:\Users\x\cv.pdf`}, "cv.pdf",
			`attachment; filename="cv.pdf"; filename*=UTF-8''cv.pdf`},
		{"a Windows path, raw as old browsers send it", appsFile{disposition: `form-data; name="resume"; filename="C:\Users\x\cv.pdf"`}, "cv.pdf",
			`attachment; filename="cv.pdf"; filename*=UTF-8''cv.pdf`},
		{"a UNC path", appsFile{name: `\\fileserver\share\cv.pdf`}, "cv.pdf",
			`attachment; filename="cv.pdf"; filename*=UTF-8''cv.pdf`},
		{"non-ASCII characters", appsFile{name: "Lebenslauf Müller.pdf"}, "Lebenslauf Müller.pdf",
			`attachment; filename="Lebenslauf M_ller.pdf"; filename*=UTF-8''Lebenslauf%20M%C3%BCller.pdf`},
		{"an RFC 2231 name", appsFile{disposition: `form-data; name="resume"; filename*=UTF-8''%E5%B1%A5%E6%AD%B4%E6%9B%B8.pdf`}, "履歴書.pdf",
			`attachment; filename="___.pdf"; filename*=UTF-8''%E5%B1%A5%E6%AD%B4%E6%9B%B8.pdf`},
		{"quotes, percent signs and semicolons", appsFile{name: `my "best"; 100% cv.pdf`}, `my _best_; 100% cv.pdf`,
			`attachment; filename="my _best_; 100_ cv.pdf"; filename*=UTF-8''my%20_best_%3B%20100%25%20cv.pdf`},
		{"a right-to-left override", appsFile{name: "cv\u202efdp.exe"}, "cvfdp.exe",
			`attachment; filename="cvfdp.exe"; filename*=UTF-8''cvfdp.exe`},
		{"no name left", appsFile{name: "../"}, "resume.pdf",
			`attachment; filename="resume.pdf"; filename*=UTF-8''resume.pdf`},
		{"no file name at all", appsFile{disposition: `form-data; name="resume"`}, "resume.pdf",
			`attachment; filename="resume.pdf"; filename*=UTF-8''resume.pdf`},
	}
	pdf := testfiles.PDF(200)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			job := jobsPost(t, s, setup.owner.token, jobsBody("Names "+jobsMarker()))
			file := c.file
			file.content = pdf
			a := appsDecode(t, appsPostForm(t, s, setup.seeker.token, job.ID, &file), http.StatusCreated)
			is.Equal(a.Resume.FileName, c.stored) // stored clean
			res := jobsCall(t, s, http.MethodGet, "/applications/"+a.ID+"/resume", setup.owner.token, nil)
			is.Equal(res.status, http.StatusOK)
			is.Equal(res.header.Get("Content-Disposition"), c.disposition) // sent back safely
			is.Equal(res.body, pdf)
		})
	}
}

// appsPattern is an endless upload: it yields n bytes of a PDF-looking
// filler without ever holding more than the caller's buffer.
type appsPattern struct{ n int64 }

func (p *appsPattern) Read(b []byte) (int, error) {
	if p.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n {
		b = b[:p.n]
	}
	for i := range b {
		b[i] = 'x'
	}
	p.n -= int64(len(b))
	return len(b), nil
}

// appsStreamedForm is a multipart application whose resume is a PDF header
// followed by size bytes of filler, generated as it is read.
func appsStreamedForm(size int64) (io.Reader, int64, string) {
	const boundary = "appsboundary0123456789"
	head := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"resume\"; filename=\"huge.pdf\"\r\n" +
		"Content-Type: application/pdf\r\n\r\n%PDF-1.4\n%"
	tail := "\r\n--" + boundary + "--\r\n"
	body := io.MultiReader(strings.NewReader(head), &appsPattern{n: size}, strings.NewReader(tail))
	return body, int64(len(head)) + size + int64(len(tail)), "multipart/form-data; boundary=" + boundary
}

// TestApplicationsUploadLimits checks the 5 MiB limit on a resume, and that
// a 50 MiB upload is refused without being read into memory.
func TestApplicationsUploadLimits(t *testing.T) {
	s := startService(t, nil)
	setup := appsStart(t, s)

	for _, known := range []bool{false, true} {
		name := "50 MiB streamed, length unknown"
		if known {
			name = "50 MiB streamed, length announced"
		}
		t.Run(name, func(t *testing.T) {
			is := is.New(t)
			job := jobsPost(t, s, setup.owner.token, jobsBody("Huge "+jobsMarker()))
			body, length, contentType := appsStreamedForm(50 << 20)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.url+"/jobs/"+job.ID+"/apply", body)
			is.NoErr(err)
			req.Header.Set("Content-Type", contentType)
			req.Header.Set("Authorization", "Bearer "+setup.seeker.token)
			if known {
				req.ContentLength = length
			} else {
				req.ContentLength = -1 // chunked: the server has to count for itself
			}

			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			res, err := s.client.Do(req)
			is.NoErr(err) // the server answers, before the client is done sending
			got, err := io.ReadAll(res.Body)
			res.Body.Close()
			is.NoErr(err)
			runtime.ReadMemStats(&after)

			problemOf(t, response{status: res.StatusCode, header: res.Header, body: got}, http.StatusRequestEntityTooLarge)
			allocated := after.TotalAlloc - before.TotalAlloc
			t.Logf("allocated %.1f MiB while refusing a 50 MiB upload", float64(allocated)/(1<<20))
			// The service runs in this process, so this counts everything it
			// allocated meanwhile: at most a resume's worth (and its
			// buffers' growth), far from the upload's 50 MiB.
			is.True(allocated < 20<<20) // the upload was not read into memory
			events, claims, resumes := appsStored(t, job.ID)
			is.Equal([]int{events, claims, resumes}, []int{0, 0, 0}) // nothing stored
		})
	}

	t.Run("exactly 5 MiB", func(t *testing.T) {
		is := is.New(t)
		pdf := testfiles.PDF(5 << 20)
		a := appsDecode(t, appsPostForm(t, s, setup.seeker.token, setup.job.ID, &appsFile{name: "cv.pdf", content: pdf},
			"cover_letter", strings.Repeat("é", 10000)), http.StatusCreated)
		is.Equal(a.Resume.Size, int64(5<<20)) // accepted, with a cover letter of the longest kind
		res := jobsCall(t, s, http.MethodGet, "/applications/"+a.ID+"/resume", setup.seeker.token, nil)
		is.Equal(sha256Hex(res.body), sha256Hex(pdf)) // and stored whole
	})

	t.Run("5 MiB and one byte", func(t *testing.T) {
		is := is.New(t)
		job := jobsPost(t, s, setup.owner.token, jobsBody("Limit "+jobsMarker()))
		problemOf(t, appsPostForm(t, s, setup.seeker.token, job.ID, &appsFile{name: "cv.pdf", content: testfiles.PDF(5<<20 + 1)}), http.StatusRequestEntityTooLarge)
		events, claims, resumes := appsStored(t, job.ID)
		is.Equal([]int{events, claims, resumes}, []int{0, 0, 0}) // nothing stored
	})

	t.Run("JSON bodies keep their 1 MiB cap", func(t *testing.T) {
		job := jobsPost(t, s, setup.owner.token, jobsBody("JSON cap "+jobsMarker()))
		big := `{"cover_letter":"` + strings.Repeat("c", 2<<20) + `"}`
		problemOf(t, appsApplyJSON(t, s, setup.seeker.token, job.ID, big), http.StatusRequestEntityTooLarge)
	})
}

// TestApplicationsListings checks the recruiter's list of a job's
// applications and the applicant's own list: order, pages, totals, the job
// each belongs to, and that they follow writes at once.
func TestApplicationsListings(t *testing.T) {
	s := startService(t, nil)
	setup := appsStart(t, s)
	job := setup.job

	const n = 5
	var applied []appsApplication
	for i := range n {
		seeker := jobsRegister(t, s, "job_seeker", "")
		applied = append(applied, appsApply(t, s, seeker.token, job.ID, map[string]any{"name": fmt.Sprintf("Seeker %d", i)}))
	}
	slices.Reverse(applied) // newest first

	t.Run("a job's applications, page by page", func(t *testing.T) {
		is := is.New(t)
		var seen []string
		path := "/jobs/" + job.ID + "/applications?limit=2"
		for pages := 0; ; pages++ {
			is.True(pages < n) // the pages end
			p := appsList(t, s, path, setup.owner.token)
			is.Equal(p.Total, n)       // total counts every application
			is.True(len(p.Items) <= 2) // limit is respected
			for _, a := range p.Items {
				is.Equal(a.Job, nil) // no job object in the recruiter's list
				is.Equal(a.JobID, job.ID)
				seen = append(seen, a.ID)
			}
			if p.NextCursor == nil {
				break
			}
			path = "/jobs/" + job.ID + "/applications?limit=2&cursor=" + url.QueryEscape(*p.NextCursor)
		}
		want := make([]string, n)
		for i, a := range applied {
			want[i] = a.ID
		}
		is.Equal(seen, want) // every application once, newest first
		is.Equal(appsCount(t, s, job.ID, setup.owner.token), n)
		full := appsList(t, s, "/jobs/"+job.ID+"/applications", setup.owner.token)
		is.Equal(full.Items, applied) // each as its 201 showed it
		is.Equal(full.NextCursor, nil)
	})

	t.Run("bad paging parameters", func(t *testing.T) {
		for _, q := range []string{"limit=0", "limit=101", "limit=abc", "cursor=nonsense", "cursor=" + strings.Repeat("A", 300)} {
			problemOf(t, jobsCall(t, s, http.MethodGet, "/jobs/"+job.ID+"/applications?"+q, setup.owner.token, nil), http.StatusBadRequest)
			problemOf(t, jobsCall(t, s, http.MethodGet, "/me/applications?"+q, setup.seeker.token, nil), http.StatusBadRequest)
		}
	})

	t.Run("the applicant's own, with their jobs", func(t *testing.T) {
		is := is.New(t)
		title1, title2 := "First "+jobsMarker(), "Second "+jobsMarker()
		job1 := jobsPost(t, s, setup.owner.token, jobsBody(title1))
		job2 := jobsPost(t, s, setup.other.token, jobsBody(title2))
		a1 := appsApply(t, s, setup.seeker.token, job1.ID, map[string]any{})
		a2 := appsApply(t, s, setup.seeker.token, job2.ID, map[string]any{})
		appsApply(t, s, setup.otherSeeker.token, job1.ID, map[string]any{}) // not theirs

		p := appsList(t, s, "/me/applications", setup.seeker.token)
		is.Equal(p.ids(), []string{a2.ID, a1.ID}) // theirs only, newest first
		is.Equal(p.Total, 2)
		is.Equal(p.Items[0].Job.ID, job2.ID) // each with its job
		is.Equal(p.Items[0].Job.Title, title2)
		is.Equal(p.Items[0].Job.Company, "Other Co")
		is.Equal(p.Items[1].Job.Title, title1)
		res := jobsCall(t, s, http.MethodGet, "/me/applications", setup.seeker.token, nil)
		var raw struct {
			Items []map[string]json.RawMessage `json:"items"`
		}
		is.NoErr(json.Unmarshal(res.body, &raw))
		is.Equal(jobsKeys(t, raw.Items[0]["job"]), []string{"company", "id", "title"}) // the job object holds exactly these

		page1 := appsList(t, s, "/me/applications?limit=1", setup.seeker.token)
		is.Equal(page1.ids(), []string{a2.ID})
		page2 := appsList(t, s, "/me/applications?limit=1&cursor="+url.QueryEscape(*page1.NextCursor), setup.seeker.token)
		is.Equal(page2.ids(), []string{a1.ID}) // pages like any listing
		is.Equal(page2.NextCursor, nil)

		renamed := "Renamed " + jobsMarker()
		jobsDecode(t, jobsCall(t, s, http.MethodPatch, "/jobs/"+job1.ID, setup.owner.token, map[string]any{"title": renamed, "company": "New Co"}), http.StatusOK)
		p = appsList(t, s, "/me/applications", setup.seeker.token)
		is.Equal(p.Items[1].Job.Title, renamed) // a renamed job shows its new title at once
		is.Equal(p.Items[1].Job.Company, "New Co")

		jobsDecode(t, jobsCall(t, s, http.MethodPatch, "/jobs/"+job2.ID, setup.other.token, map[string]any{"status": "closed"}), http.StatusOK)
		is.Equal(appsList(t, s, "/me/applications", setup.seeker.token).Total, 2) // a closed job's applications stay
		is.Equal(appsList(t, s, "/jobs/"+job2.ID+"/applications", setup.other.token).Total, 1)

		is.Equal(jobsCall(t, s, http.MethodDelete, "/jobs/"+job2.ID, setup.other.token, nil).status, http.StatusNoContent)
		is.Equal(appsList(t, s, "/me/applications", setup.seeker.token).ids(), []string{a1.ID}) // a deleted job's leave at once
	})
}
