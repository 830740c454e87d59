package projections_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/internal/testdb"
	"github.com/jobboard/jobboard/projections"
)

// appendJobAndApplications appends a job, then one application by each of
// n job seekers, and returns every record in log order.
func appendJobAndApplications(t *testing.T, ctx context.Context, store *eventstore.Store, n int) (*domain.Job, []eventstore.Record) {
	t.Helper()
	poster := domain.Poster{ID: uuid.New(), Role: domain.RoleRecruiter, Company: "Acme"}
	title, description, location := "Analyst", "Analyse engines.", "London"
	job, events, err := domain.PostJob(uuid.New(), poster, domain.JobDraft{Title: &title, Description: &description, Location: &location}, time.Now())
	if err != nil {
		t.Fatalf("post job: %v", err)
	}
	appended, err := store.Append(ctx, eventstore.Stream{Type: domain.StreamJob, ID: job.ID()}, 0, events)
	if err != nil {
		t.Fatalf("append job: %v", err)
	}
	records := appended.Records
	for i := range n {
		seeker := domain.Applicant{ID: uuid.New(), Role: domain.RoleJobSeeker, Name: "Ada", Email: "ada@example.com"}
		id := uuid.Must(uuid.NewV7())
		var resume *domain.ResumeUpload
		if i == 0 {
			resume = &domain.ResumeUpload{FileName: "cv.txt", Content: []byte("Ada Lovelace\n")}
		}
		_, events, err := domain.SubmitApplication(id, job, seeker, domain.ApplicationForm{}, resume, time.Now().Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatalf("submit application: %v", err)
		}
		appended, err := store.Append(ctx, eventstore.Stream{Type: domain.StreamApplication, ID: id}, 0, events)
		if err != nil {
			t.Fatalf("append application: %v", err)
		}
		records = append(records, appended.Records...)
	}
	return job, records
}

func TestApplicationsProjectionCountsEachApplicationOnce(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	ctx := testCtx(t)
	own := testdb.New(t)
	store := eventstore.New(own.Pool, eventstore.WithKeyring(testdb.Keyring()))
	job, records := appendJobAndApplications(t, ctx, store, 3)
	jobs := projections.JobsProjector{}

	for _, r := range records {
		is.NoErr(projectCommitted(t, ctx, own.Pool, jobs, r)) // first delivery
	}
	for _, r := range records {
		is.NoErr(projectCommitted(t, ctx, own.Pool, jobs, r)) // every event again: delivery is at least once
	}
	row, err := projections.NewJobsView(own.Pool).Get(ctx, job.ID())
	is.NoErr(err)
	is.Equal(row.ApplicationCount, 3) // each application counted once
	is.Equal(row.Version, int64(1))   // applications do not change the job's version

	// Applying the log again over rows that are still there (its
	// checkpoint reset) must not count them again either, and rebuilding
	// the projection's tables (jobs and applications, together, as a
	// replay does) counts them once.
	for _, reset := range []string{
		`DELETE FROM checkpoints WHERE name = 'jobs'`,
		`DELETE FROM checkpoints WHERE name = 'jobs'; DELETE FROM jobs; DELETE FROM applications`,
	} {
		_, err = own.Pool.Exec(ctx, reset)
		is.NoErr(err)
		for _, r := range records {
			is.NoErr(projectCommitted(t, ctx, own.Pool, jobs, r))
		}
		row, err = projections.NewJobsView(own.Pool).Get(ctx, job.ID())
		is.NoErr(err)
		is.Equal(row.ApplicationCount, 3) // still 3
	}

	view := projections.NewApplicationsView(own.Pool)
	page, err := view.ListForJob(ctx, job.ID(), "", 2, nil)
	is.NoErr(err)
	is.Equal(page.Total, 3) // every application of the job
	is.Equal(len(page.Items), 2)
	is.True(page.Next != nil) // with a next page
	first := page.Items[0]
	is.Equal(first.JobTitle, "Analyst")                     // shown with its job
	is.Equal(first.RecruiterID, job.RecruiterID())          // and its owner
	is.True(first.CreatedAt.After(page.Items[1].CreatedAt)) // newest first
	rest, err := view.ListForJob(ctx, job.ID(), "", 2, &projections.ApplicationCursor{CreatedAt: page.Next.CreatedAt, ID: page.Next.ID})
	is.NoErr(err)
	is.Equal(len(rest.Items), 1)
	is.Equal(rest.Next, nil)
	oldest := rest.Items[0]
	sum := sha256.Sum256([]byte("Ada Lovelace\n"))
	is.Equal(*oldest.Resume, domain.ResumeFile{FileName: "cv.txt", ContentType: domain.ContentTypePlainText, Size: 13,
		SHA256: hex.EncodeToString(sum[:])}) // its resume, described
	is.Equal(first.Resume, nil) // the others have none

	mine, err := view.ListForApplicant(ctx, oldest.ApplicantID, 20, nil)
	is.NoErr(err)
	is.Equal(mine.Total, 1) // an applicant sees their own
	is.Equal(mine.Items[0].ID, oldest.ID)
	got, err := view.Get(ctx, oldest.ID)
	is.NoErr(err)
	is.Equal(got, oldest) // Get agrees with the listings

	// Once the job is deleted its applications are listed nowhere, but
	// each stays readable (by its two parties, which the API checks).
	events, err := job.Delete(domain.Poster{ID: job.RecruiterID(), Role: domain.RoleRecruiter}, time.Now())
	is.NoErr(err)
	deleted, err := store.Append(ctx, eventstore.Stream{Type: domain.StreamJob, ID: job.ID()}, 1, events)
	is.NoErr(err)
	is.NoErr(projectCommitted(t, ctx, own.Pool, jobs, deleted.Records[0]))
	got, err = view.Get(ctx, oldest.ID)
	is.NoErr(err)
	is.True(got.JobDeleted) // readable, and known to be of a deleted job
	_, err = projections.NewJobsView(own.Pool).Get(ctx, job.ID())
	is.Equal(domain.KindOf(err), domain.KindNotFound) // while the job is not found
	byJob, err := view.ListForJob(ctx, job.ID(), "", 20, nil)
	is.NoErr(err)
	is.Equal(byJob.Total, 0) // not listed under its job
	mine, err = view.ListForApplicant(ctx, oldest.ApplicantID, 20, nil)
	is.NoErr(err)
	is.Equal(mine.Total, 0) // not listed
	is.Equal(len(mine.Items), 0)

	// A job deleted before migration 0012 has no row left at all: its
	// applications read the same, without its title.
	_, err = own.Pool.Exec(ctx, `DELETE FROM jobs WHERE id = $1`, job.ID())
	is.NoErr(err)
	got, err = view.Get(ctx, oldest.ID)
	is.NoErr(err)
	is.True(got.JobDeleted)
	is.Equal(got.RecruiterID, job.RecruiterID()) // still its recruiter's
	is.Equal(got.JobTitle, "")
	mine, err = view.ListForApplicant(ctx, oldest.ApplicantID, 20, nil)
	is.NoErr(err)
	is.Equal(mine.Total, 0) // and listed nowhere
	is.Equal(len(mine.Items), 0)
}

// A job and its applications are one partition: a replay in parts puts an
// application's row and its job's count in the same part.
func TestJobsPartitionKeyIsTheJob(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	ctx := testCtx(t)
	own := testdb.New(t)
	job, records := appendJobAndApplications(t, ctx, eventstore.New(own.Pool, eventstore.WithKeyring(testdb.Keyring())), 2)
	var p projections.JobsProjector
	for _, r := range records {
		key, ok := p.PartitionKey(r)
		is.True(ok)             // every job and application event has one
		is.Equal(key, job.ID()) // the job's id, for the applications too
	}
	users := projections.UsersProjector{}
	_, ok := users.PartitionKey(records[0])
	is.True(!ok) // a job's event is none of the users projection's
}
