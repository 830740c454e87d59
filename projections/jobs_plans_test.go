package projections

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/jobboard/jobboard/internal/testdb"
)

// customPlansSQL holds for the statements after it in the same batch, the
// second time too (when pgx has the statements prepared), and for nothing
// after the batch on the same connection.
func TestCustomPlansLastTheBatch(t *testing.T) {
	ctx := t.Context()
	url := os.Getenv("TEST_DATABASE_URL")
	if url == "" {
		url = testdb.DefaultServerURL
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for range 2 {
		var inBatch string
		batch := &pgx.Batch{}
		batch.Queue(customPlansSQL)
		batch.Queue(`SELECT current_setting('plan_cache_mode')`).QueryRow(func(row pgx.Row) error { return row.Scan(&inBatch) })
		if err := conn.SendBatch(ctx, batch).Close(); err != nil {
			t.Fatal(err)
		}
		if inBatch != "force_custom_plan" {
			t.Errorf("in the batch: plan_cache_mode = %s", inBatch)
		}
		var after string
		if err := conn.QueryRow(ctx, `SELECT current_setting('plan_cache_mode')`).Scan(&after); err != nil {
			t.Fatal(err)
		}
		if after != "auto" {
			t.Errorf("after the batch: plan_cache_mode = %s", after)
		}
	}
}
