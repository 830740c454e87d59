package projections

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
)

// Execer runs a statement: a transaction, or a replay's queue of them.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// SQLWriter writes a projector's changes as SQL statements through db, one
// statement per change, each needing no answer (so a replay can queue them
// and send them together).
type SQLWriter struct {
	ctx context.Context
	db  Execer
}

// NewSQLWriter returns a writer whose statements run through db.
func NewSQLWriter(ctx context.Context, db Execer) SQLWriter { return SQLWriter{ctx, db} }

func (w SQLWriter) Insert(t *Table, row ...any) error {
	if err := t.checkRow(row); err != nil {
		return err
	}
	return w.exec(t, "insert", t.insertSQL, row)
}

func (w SQLWriter) InsertCounted(t *Table, row []any, counter *Table, key uuid.UUID, columns ...string) error {
	if err := t.checkRow(row); err != nil {
		return err
	}
	var set strings.Builder
	for i, column := range columns {
		c, err := counter.column(column)
		if err != nil {
			return err
		}
		if i > 0 {
			set.WriteString(", ")
		}
		col := counter.quoted[c]
		set.WriteString(col + ` = ` + col + ` + 1`)
	}
	sql := `WITH inserted AS (` + t.insertSQL + ` RETURNING 1) ` + counter.updateHead + set.String() +
		fmt.Sprintf(` WHERE %s = $%d AND EXISTS (SELECT FROM inserted)`, counter.quoted[0], len(row)+1)
	return w.exec(t, "insert", sql, append(slices.Clip(row), key))
}

func (w SQLWriter) Update(t *Table, key uuid.UUID, set ...Assignment) error {
	if len(set) == 0 {
		return nil
	}
	// The statement's text depends only on which columns are set, in the
	// caller's order, so that pgx prepares each kind once per connection.
	var sql strings.Builder
	sql.WriteString(t.updateHead)
	args := make([]any, 1, len(set)+1)
	args[0] = key
	for i, a := range set {
		c, err := t.column(a.Column)
		if err != nil {
			return err
		}
		if i > 0 {
			sql.WriteString(", ")
		}
		args = append(args, a.Value)
		fmt.Fprintf(&sql, "%s = $%d", t.quoted[c], len(args))
	}
	sql.WriteString(t.keyWhere)
	return w.exec(t, "update", sql.String(), args)
}

func (w SQLWriter) Increment(t *Table, key uuid.UUID, column string, n int64) error {
	c, err := t.column(column)
	if err != nil {
		return err
	}
	col := t.quoted[c]
	return w.exec(t, "increment", t.updateHead+col+` = `+col+` + $2`+t.keyWhere, []any{key, n})
}

func (w SQLWriter) Delete(t *Table, key uuid.UUID) error {
	return w.exec(t, "delete", t.deleteSQL, []any{key})
}

func (w SQLWriter) exec(t *Table, what, sql string, args []any) error {
	if _, err := w.db.Exec(w.ctx, sql, args...); err != nil {
		return fmt.Errorf("%s %s: %w", what, t.Name, err)
	}
	return nil
}
