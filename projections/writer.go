package projections

import (
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Table is a read-model table as a projector writes it: its name and the
// columns a row is written with, its uuid key first. Columns it leaves out
// (a generated column, say) are the database's business.
type Table struct {
	Name    string
	Columns []string

	index      map[string]int
	quoted     []string // the columns, quoted for SQL
	insertSQL  string
	deleteSQL  string
	updateHead string // "UPDATE t SET "
	keyWhere   string // " WHERE key = $1"
}

// NewTable describes a table; key is its primary key column, a uuid.
func NewTable(name, key string, columns ...string) *Table {
	t := &Table{Name: name, Columns: append([]string{key}, columns...), index: map[string]int{}}
	placeholders := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		if _, dup := t.index[c]; dup {
			panic(fmt.Sprintf("table %s: column %s twice", name, c))
		}
		t.index[c] = i
		t.quoted = append(t.quoted, pgx.Identifier{c}.Sanitize())
		placeholders[i] = fmt.Sprintf("$%d", i+1)
	}
	// Unqualified: the table is found through the search path, which is
	// how a replay points the same statements at its copies.
	table := pgx.Identifier{name}.Sanitize()
	t.insertSQL = `INSERT INTO ` + table + ` (` + strings.Join(t.quoted, ", ") + `) VALUES (` +
		strings.Join(placeholders, ", ") + `) ON CONFLICT (` + t.quoted[0] + `) DO NOTHING`
	t.updateHead = `UPDATE ` + table + ` SET `
	t.keyWhere = ` WHERE ` + t.quoted[0] + ` = $1`
	t.deleteSQL = `DELETE FROM ` + table + t.keyWhere
	return t
}

// Key is the name of the key column.
func (t *Table) Key() string { return t.Columns[0] }

// checkRow is an error unless row has a value for each column.
func (t *Table) checkRow(row []any) error {
	if len(row) != len(t.Columns) {
		return fmt.Errorf("insert into %s: %d values for %d columns", t.Name, len(row), len(t.Columns))
	}
	return nil
}

// column is the place of a column in a row, or an error naming it.
func (t *Table) column(name string) (int, error) {
	i, ok := t.index[name]
	if !ok {
		return 0, fmt.Errorf("table %s has no column %q", t.Name, name)
	}
	return i, nil
}

// Assignment is a value for one column, for Writer.Update.
type Assignment struct {
	Column string
	Value  any
}

// Set is the assignment of v to column.
func Set(column string, v any) Assignment { return Assignment{column, v} }

// Writer is what a projector changes its read model through. Every change
// is blind: it names a row by its key and needs no answer, and a projector
// never reads. That is what lets the same projector code run as SQL in a
// live subscriber's transaction (SQLWriter) and, in a replay, as a fold
// into rows held in memory (MemoryWriter) that are then copied into the
// tables in bulk: a change means the same thing to both.
//
// Values are Go values as pgx sends them: nil (or a nil pointer) for NULL,
// string, bool, int64, time.Time, uuid.UUID.
type Writer interface {
	// Insert adds a row, its values in the table's column order, unless a
	// row with its key is there already.
	Insert(t *Table, row ...any) error
	// InsertCounted is Insert and, when the row is new, an Increment by
	// one of each of columns of counter's row with key, as one change:
	// applied again over the same rows, it counts nothing twice.
	InsertCounted(t *Table, row []any, counter *Table, key uuid.UUID, columns ...string) error
	// Update sets columns of the row with key; without such a row it does
	// nothing.
	Update(t *Table, key uuid.UUID, set ...Assignment) error
	// Increment adds n to an integer column of the row with key; without
	// such a row it does nothing.
	Increment(t *Table, key uuid.UUID, column string, n int64) error
	// Delete removes the row with key, if there is one.
	Delete(t *Table, key uuid.UUID) error
}
