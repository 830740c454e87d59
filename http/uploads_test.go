package http_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matryer/is"

	jbhttp "github.com/jobboard/jobboard/http"
	"github.com/jobboard/jobboard/internal/testfiles"
)

// stalledUpload is a multipart application whose client sends the form's
// start and the first bytes of a resume of declared size, and then
// nothing until the answer has come: a server that answers refused what it
// had to refuse without reading the rest.
type stalledUpload struct {
	sent atomic.Int64 // bytes of the body the server has read
}

func (u *stalledUpload) send(t *testing.T, s *service, token, jobID string, first []byte, declared int) response {
	t.Helper()
	const boundary = "stalled-upload-boundary"
	head := fmt.Sprintf("--%s\r\nContent-Disposition: form-data; name=\"resume\"; filename=\"cv.pdf\"\r\nContent-Type: application/pdf\r\n\r\n", boundary)
	tail := fmt.Sprintf("\r\n--%s--\r\n", boundary)
	pr, pw := io.Pipe()
	// A server that waits for the rest never answers: give up after a
	// while, and end the body then, so that it is not left reading.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	go func() {
		n, _ := pw.Write(append([]byte(head), first...))
		u.sent.Add(int64(n))
		<-ctx.Done() // the rest never comes before the answer
		pw.CloseWithError(io.ErrUnexpectedEOF)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/jobs/"+jobID+"/apply", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(head) + declared + len(tail))
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("POST apply, after sending %d bytes of the body: %v", u.sent.Load(), err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return response{status: res.StatusCode, header: res.Header, body: body}
}

// An upload is judged before it is read whole: a job that does not exist
// or is closed, an application already made, or a file whose first bytes
// are no resume is refused while the client has sent only its start (the
// client here would wait forever for an answer to a body it never ends).
func TestUploadsAreRefusedBeforeTheyAreRead(t *testing.T) {
	s := startService(t, nil)
	setup := appsStart(t, s)
	pdf := testfiles.PDF(64 << 10)
	const declared = 5 << 20

	t.Run("unknown job", func(t *testing.T) {
		is := is.New(t)
		var u stalledUpload
		res := u.send(t, s, setup.seeker.token, "0190f3a2-8c1e-7000-8000-000000000000", pdf, declared)
		is.Equal(res.status, http.StatusNotFound)
	})
	t.Run("closed job", func(t *testing.T) {
		is := is.New(t)
		job := jobsPost(t, s, setup.owner.token, jobsBody("Closed upload "+jobsMarker()))
		jobsDecode(t, jobsCall(t, s, http.MethodPatch, "/jobs/"+job.ID, setup.owner.token, map[string]any{"status": "closed"}), http.StatusOK)
		var u stalledUpload
		res := u.send(t, s, setup.seeker.token, job.ID, pdf, declared)
		is.Equal(res.status, http.StatusConflict)
	})
	t.Run("applied already", func(t *testing.T) {
		is := is.New(t)
		job := jobsPost(t, s, setup.owner.token, jobsBody("Twice upload "+jobsMarker()))
		appsApply(t, s, setup.seeker.token, job.ID, map[string]any{})
		var u stalledUpload
		res := u.send(t, s, setup.seeker.token, job.ID, pdf, declared)
		is.Equal(res.status, http.StatusConflict)
		is.True(bytes.Contains(res.body, []byte("already applied")))
	})
	t.Run("not a resume", func(t *testing.T) {
		is := is.New(t)
		job := jobsPost(t, s, setup.owner.token, jobsBody("Wrong type upload "+jobsMarker()))
		exe := append([]byte("MZ\x90\x00"), bytes.Repeat([]byte{0}, 300<<10)...) // a Windows executable's start
		var u stalledUpload
		res := u.send(t, s, setup.seeker.token, job.ID, exe, declared)
		is.Equal(res.status, http.StatusUnsupportedMediaType)
		events, claims, resumes := appsStored(t, job.ID)
		is.Equal([]int{events, claims, resumes}, []int{0, 0, 0}) // nothing stored
	})
}

// The bytes of uploads held in memory are bounded per process: an upload
// that finds no room within a moment is refused with 503 and Retry-After,
// and goes through once there is room.
func TestUploadsBeyondTheMemoryBudgetWait(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	setup := appsStart(t, s)
	t.Cleanup(jbhttp.SetUploadBudget(jbhttp.MaxApplyBody)) // room for one upload of the largest size

	// One upload holds the room: its client stalls after the start.
	holder := jobsPost(t, s, setup.owner.token, jobsBody("Holder "+jobsMarker()))
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.url+"/jobs/"+holder.ID+"/apply", pr)
		req.ContentLength = jbhttp.MaxApplyBody
		req.Header.Set("Content-Type", "multipart/form-data; boundary=b")
		req.Header.Set("Authorization", "Bearer "+setup.seeker.token)
		if res, err := s.client.Do(req); err == nil {
			res.Body.Close()
		}
	}()
	_, err := pw.Write([]byte("--b\r\nContent-Disposition: form-data; name=\"resume\"; filename=\"cv.pdf\"\r\n\r\n%PDF-1.4\n"))
	is.NoErr(err) // the server is reading it, so it has reserved its room

	job := jobsPost(t, s, setup.owner.token, jobsBody("Waiting "+jobsMarker()))
	started := time.Now()
	res := appsPostForm(t, s, setup.otherSeeker.token, job.ID, &appsFile{name: "cv.pdf", contentType: "application/pdf", content: testfiles.PDF(4000)})
	is.Equal(res.status, http.StatusServiceUnavailable)                    // no room
	is.Equal(res.header.Get("Retry-After"), "1")                           // come back in a moment
	is.True(time.Since(started) >= jbhttp.UploadWait-100*time.Millisecond) // after waiting for room a while
	events, claims, resumes := appsStored(t, job.ID)
	is.Equal([]int{events, claims, resumes}, []int{0, 0, 0}) // nothing stored

	pw.CloseWithError(io.ErrUnexpectedEOF) // the holder gives up: its room is back
	deadline := time.Now().Add(20 * time.Second)
	for appsPostForm(t, s, setup.otherSeeker.token, job.ID, &appsFile{name: "cv.pdf", contentType: "application/pdf", content: testfiles.PDF(4000)}).status != http.StatusCreated {
		if time.Now().After(deadline) {
			t.Fatal("after 20s: the upload never found room")
		}
	}
}
