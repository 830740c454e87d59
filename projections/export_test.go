package projections

// ListSQL exposes to the external tests the two statements JobsView.List
// sends for f: the page, and the count of all matches.
func ListSQL(f JobFilter) (pageSQL string, pageArgs []any, countSQL string, countArgs []any) {
	l := listing(f, "", fewMatches)
	return l.pageSQL, l.pageArgs, l.countSQL, l.countArgs
}
