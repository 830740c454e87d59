package projections

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Reader is what the views read through: a *pgxpool.Pool (the primary), or
// postgres.ReadPool, which sends each read to a read replica that has
// replayed every write already answered, or to the primary.
type Reader interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}
