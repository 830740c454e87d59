package replay

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/projections"
)

// Snapshot is the content of read models: per table, every row as JSON, in
// primary key order. Two snapshots of the same log are equal.
type Snapshot map[string][]string

// Take reads every table of ps.
func Take(ctx context.Context, q eventstore.Querier, ps []projections.Projector) (Snapshot, error) {
	s := Snapshot{}
	for _, p := range ps {
		for _, table := range p.Tables() {
			rows, err := q.Query(ctx, `SELECT to_jsonb(t)::text FROM public.`+ident(table.Name)+` t ORDER BY 1`)
			if err != nil {
				return nil, fmt.Errorf("snapshot %s: %w", table.Name, err)
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return nil, fmt.Errorf("snapshot %s: %w", table.Name, err)
			}
			s[table.Name] = lines
		}
	}
	return s, nil
}

// Diff describes how s and other differ (at most a few lines of it), or
// returns "" when they are equal.
func (s Snapshot) Diff(other Snapshot) string {
	out := ""
	for table, rows := range s {
		theirs := other[table]
		if len(rows) != len(theirs) {
			out += fmt.Sprintf("%s: %d rows, then %d\n", table, len(rows), len(theirs))
			continue
		}
		shown := 0
		for i := range rows {
			if rows[i] != theirs[i] && shown < 3 {
				out += fmt.Sprintf("%s row %d:\n  %s\n  %s\n", table, i, rows[i], theirs[i])
				shown++
			}
		}
	}
	for table := range other {
		if _, ok := s[table]; !ok {
			out += fmt.Sprintf("%s: only in the second\n", table)
		}
	}
	return out
}
