package http_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/internal/testdb"
)

// A transaction elsewhere on the database server — another database's
// batch job, a migration of this database that does not touch the log —
// delays no write's answer: writes wait for their projections, and the
// projections wait only for running appends. Before, any transaction that
// held an id hid every newer event from the projectors until it ended, so
// each write answered 503 after CONSISTENCY_TIMEOUT.
func TestForeignTransactionsDelayNoWrite(t *testing.T) {
	is := is.New(t)
	own := testdb.New(t)
	s := startServiceOn(t, own, map[string]string{"CONSISTENCY_TIMEOUT": "3s"})
	recruiter := jobsRegister(t, s, "recruiter", "Acme")
	ctx := t.Context()

	elsewhere := testdb.New(t)
	for _, hold := range []struct {
		pool interface {
			Begin(context.Context) (pgx.Tx, error)
		}
		sql string
	}{
		{elsewhere.Owner, `CREATE TABLE batch_job (i int)`},
		{own.Owner, `CREATE TABLE long_migration (i int)`},
	} {
		tx, err := hold.pool.Begin(ctx)
		is.NoErr(err)                                 // begin the foreign transaction
		defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // only ever rolled back
		_, err = tx.Exec(ctx, hold.sql)
		is.NoErr(err) // it holds a transaction id, and stays open for the whole test
	}

	for range 3 {
		title := "Foreign " + jobsMarker()
		start := time.Now()
		res := jobsCall(t, s, http.MethodPost, "/jobs", recruiter.token, jobsBody(title))
		took := time.Since(start)
		is.Equal(res.status, http.StatusCreated) // answered 201, not 503
		is.True(took < 3*time.Second)            // well before the consistency timeout
		job := jobsDecode(t, res, http.StatusCreated)
		is.Equal(jobsGet(t, s, job.ID, "").Title, title) // and readable at once
		listed := listPage[jobsJob](t, s, "/jobs?title="+url.QueryEscape(title), "")
		is.Equal(listed.Total, 1) // and listed
		t.Logf("POST /jobs answered in %s", took)
	}
	seeker := jobsRegister(t, s, "job_seeker", "") // registration waits for its projection too
	is.True(seeker.token != "")
}
