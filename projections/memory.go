package projections

import (
	"fmt"
	"slices"

	"github.com/google/uuid"
)

// MemoryWriter folds a projector's changes into rows held in memory, each
// change meaning what its SQL statement means to a table (see Writer). A
// replay folds the whole log this way and then copies the rows into fresh
// tables in bulk: a row updated a hundred times is written once.
type MemoryWriter struct {
	tables map[*Table]*memoryTable
	live   int
}

type memoryTable struct {
	rows [][]any // in insertion order; nil once deleted
	at   map[uuid.UUID]int
}

// NewMemoryWriter returns a writer holding no rows.
func NewMemoryWriter() *MemoryWriter { return &MemoryWriter{tables: map[*Table]*memoryTable{}} }

func (w *MemoryWriter) table(t *Table) *memoryTable {
	m := w.tables[t]
	if m == nil {
		m = &memoryTable{at: map[uuid.UUID]int{}}
		w.tables[t] = m
	}
	return m
}

// find returns the row of t with key, or nil.
func (w *MemoryWriter) find(t *Table, key uuid.UUID) []any {
	m := w.tables[t]
	if m == nil {
		return nil
	}
	i, ok := m.at[key]
	if !ok {
		return nil
	}
	return m.rows[i]
}

func (w *MemoryWriter) Insert(t *Table, row ...any) error {
	_, err := w.insert(t, row)
	return err
}

// insert adds row unless its key is there, and reports whether it did.
func (w *MemoryWriter) insert(t *Table, row []any) (bool, error) {
	if err := t.checkRow(row); err != nil {
		return false, err
	}
	key, ok := row[0].(uuid.UUID)
	if !ok {
		return false, fmt.Errorf("insert into %s: the key %s is a %T, not a uuid.UUID", t.Name, t.Key(), row[0])
	}
	m := w.table(t)
	if _, exists := m.at[key]; exists {
		return false, nil // ON CONFLICT DO NOTHING
	}
	m.at[key] = len(m.rows)
	m.rows = append(m.rows, slices.Clone(row))
	w.live++
	return true, nil
}

func (w *MemoryWriter) InsertCounted(t *Table, row []any, counter *Table, key uuid.UUID, columns ...string) error {
	for _, column := range columns {
		if _, err := counter.column(column); err != nil {
			return err
		}
	}
	inserted, err := w.insert(t, row)
	if err != nil || !inserted {
		return err
	}
	for _, column := range columns {
		if err := w.Increment(counter, key, column, 1); err != nil {
			return err
		}
	}
	return nil
}

func (w *MemoryWriter) Update(t *Table, key uuid.UUID, set ...Assignment) error {
	cols := make([]int, len(set))
	for i, a := range set {
		c, err := t.column(a.Column)
		if err != nil {
			return err
		}
		cols[i] = c
	}
	row := w.find(t, key)
	if row == nil {
		return nil
	}
	for i, a := range set {
		row[cols[i]] = a.Value
	}
	return nil
}

func (w *MemoryWriter) Increment(t *Table, key uuid.UUID, column string, n int64) error {
	c, err := t.column(column)
	if err != nil {
		return err
	}
	row := w.find(t, key)
	if row == nil {
		return nil
	}
	switch v := row[c].(type) {
	case nil: // NULL + n is NULL
	case *int64:
		if v != nil {
			row[c] = *v + n
		}
	case int64:
		row[c] = v + n
	default:
		return fmt.Errorf("increment %s.%s: the value is a %T, not an int64", t.Name, column, row[c])
	}
	return nil
}

func (w *MemoryWriter) Delete(t *Table, key uuid.UUID) error {
	m := w.tables[t]
	if m == nil {
		return nil
	}
	if i, ok := m.at[key]; ok {
		m.rows[i] = nil
		delete(m.at, key)
		w.live--
	}
	return nil
}

// Len is how many rows the writer holds, over all its tables.
func (w *MemoryWriter) Len() int { return w.live }

// Rows returns t's rows, in the order they were inserted, with the values
// in t's column order.
func (w *MemoryWriter) Rows(t *Table) [][]any {
	m := w.tables[t]
	if m == nil {
		return nil
	}
	out := make([][]any, 0, len(m.at))
	for _, row := range m.rows {
		if row != nil {
			out = append(out, row)
		}
	}
	return out
}
