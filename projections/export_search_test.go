package projections

import "context"

// ListSQLFor is ListSQL for a filter whose q websearch_to_tsquery writes
// out as tsquery, which List reads first when q has a minus: the statements
// it sends then.
func ListSQLFor(f JobFilter, tsquery string) (pageSQL string, pageArgs []any, countSQL string, countArgs []any) {
	l := listing(f, excludedWords(tsquery), fewMatches)
	return l.pageSQL, l.pageArgs, l.countSQL, l.countArgs
}

// ListTakingFew is JobsView.List taking up to few matches as few, so that a
// test with a handful of jobs can make a listing walk and count them apart.
func ListTakingFew(ctx context.Context, v JobsView, f JobFilter, few int) (JobPage, error) {
	return v.list(ctx, f, few)
}
