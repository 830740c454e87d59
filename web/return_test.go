package web

import (
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	api "github.com/jobboard/jobboard/http"
	"github.com/jobboard/jobboard/projections"
)

// TestReturnPathKeepsTheListsPage checks that a move made on a later page
// of a list comes back to that page: its cursor and limit, and its
// filter, are kept once checked; a cursor that is none is dropped.
func TestReturnPathKeepsTheListsPage(t *testing.T) {
	a := projections.ApplicationRow{ID: uuid.New(), JobID: uuid.New()}
	cursor := api.EncodeApplicationCursor(&projections.ApplicationCursor{CreatedAt: time.Now().UTC().Truncate(time.Microsecond), ID: uuid.New()})
	applicants := "/app/jobs/" + a.JobID.String() + "/applications"
	for _, c := range []struct {
		raw       string
		recruiter bool
		want      string
	}{
		{applicants + "?" + url.Values{"status": {"offer"}, "limit": {"10"}, "cursor": {cursor}}.Encode(), true,
			applicants + "?" + url.Values{"status": {"offer"}, "limit": {"10"}, "cursor": {cursor}}.Encode()},
		{"/app/me/applications?" + url.Values{"cursor": {cursor}, "status": {"offer"}}.Encode(), false,
			"/app/me/applications?" + url.Values{"cursor": {cursor}}.Encode()}, // My applications has no filter
		{"/app/me/applications?limit=0", false, "/app/me/applications"},
		{applicants + "?cursor=" + cursor + "x", true, applicants},
		{"/app/me/applications", true, "/app/applications/" + a.ID.String()},
	} {
		if got := returnPath(c.raw, a, c.recruiter); got != c.want {
			t.Errorf("returnPath(%q, recruiter %v) = %q, want %q", c.raw, c.recruiter, got, c.want)
		}
	}
}
