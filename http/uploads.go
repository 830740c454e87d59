package http

import (
	"context"
	"net/http"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/jobboard/jobboard/domain"
)

// uploadMemoryBytes bounds the bytes of uploads one process holds in
// memory at once. A resume is read whole (its type and digest need all of
// it, and it is stored in the append's transaction), and on its way to
// PostgreSQL it is copied into the connection's buffer, and encoded once
// more before that: about three times its size, for the time of a request.
// Two uploads of the largest size fit, which keeps a process under a flood
// of uploads within ~100 MB (bench/README.md) and still lets several
// ordinary resumes (a few hundred kB) through at once.
const uploadMemoryBytes = 2 * maxApplyBody

// uploadWait is how long an upload waits for room before it is refused.
const uploadWait = 2 * time.Second

// uploads is the process's upload budget.
var uploads = newUploadBudget(uploadMemoryBytes)

type uploadBudget struct {
	sem  *semaphore.Weighted
	size int64
}

func newUploadBudget(size int64) *uploadBudget {
	return &uploadBudget{sem: semaphore.NewWeighted(size), size: size}
}

var errUploadsBusy = &domain.Error{Kind: domain.KindUnavailable, RetryAfter: time.Second,
	Message: "the server is receiving as many uploads as it can hold; send the application again in a moment"}

// reserve takes room for an upload of up to n bytes (the request's
// Content-Length, or the cap when it is not given), waiting up to
// uploadWait, and returns what gives it back.
func (b *uploadBudget) reserve(ctx context.Context, n int64) (release func(), err error) {
	n = min(max(n, 1), b.size)
	ctx, cancel := context.WithTimeout(ctx, uploadWait)
	defer cancel()
	if err := b.sem.Acquire(ctx, n); err != nil {
		return nil, errUploadsBusy
	}
	return func() { b.sem.Release(n) }, nil
}

// uploadSize is how many bytes r's body may bring: its Content-Length,
// or the apply route's cap when the client does not say.
func uploadSize(r *http.Request) int64 {
	if r.ContentLength >= 0 {
		return min(r.ContentLength, maxApplyBody)
	}
	return maxApplyBody
}

// ReserveUpload takes room in the process's upload budget for r's body,
// as POST /jobs/{id}/apply does, and returns what gives it back: the apply
// form of the pages (package web) shares the budget, so that uploads
// through either stay within it together. It waits up to uploadWait, then
// refuses with a 503-kind error.
func ReserveUpload(ctx context.Context, r *http.Request) (release func(), err error) {
	return uploads.reserve(ctx, uploadSize(r))
}
