package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// writeListing prints the rows an operator's listing found: in format
// "jsonl" one JSON object per row (line gives it), otherwise a table
// under header, a row's tab-separated cells from cells, and "(none)" for
// no rows. The listings of emails and webhooks share it.
func writeListing[T any](w io.Writer, format string, rows []T, line func(T) any, header string, cells func(T) string) error {
	if format == "jsonl" {
		enc := json.NewEncoder(w)
		for _, r := range rows {
			if err := enc.Encode(line(r)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, cells(r))
	}
	if len(rows) == 0 {
		fmt.Fprintln(tw, "(none)")
	}
	return tw.Flush()
}
