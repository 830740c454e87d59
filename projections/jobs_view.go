package projections

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/jobboard/jobboard/domain"
)

// JobRow is a job as the jobs read model holds it.
type JobRow struct {
	ID               uuid.UUID
	RecruiterID      uuid.UUID
	Title            string
	Description      string
	Company          string
	Location         string
	EmploymentType   string
	Remote           bool
	SalaryMin        *int64
	SalaryMax        *int64
	SalaryCurrency   *string
	Status           string
	CreatedAt        time.Time
	UpdatedAt        time.Time
	Version          int64
	ApplicationCount int
	// ApplicationsByStatus counts the job's applications at each status,
	// in the order of domain.ApplicationStatuses.
	ApplicationsByStatus [7]int
}

// JobCursor is where a page of jobs ends: the listing is ordered by
// (created_at, id), newest first.
type JobCursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// JobFilter selects jobs; every set field narrows the result.
type JobFilter struct {
	Title, Location, Company string // case-insensitive substrings
	Query                    string // full-text, websearch syntax
	EmploymentType           string
	Remote                   *bool
	RecruiterID              *uuid.UUID
	Status                   string // "open", "closed" or AnyStatus
	Limit                    int
	After                    *JobCursor
}

// AnyStatus is the JobFilter.Status of a listing of open and closed jobs
// alike.
const AnyStatus = "all"

// JobPage is one page of a listing.
type JobPage struct {
	Items []JobRow
	Next  *JobCursor // nil on the last page
	Total int        // jobs matching the filter, on all pages
}

// JobsView reads the jobs read model.
type JobsView struct{ pool Reader }

// NewJobsView returns a view over pool.
func NewJobsView(pool Reader) JobsView { return JobsView{pool: pool} }

const jobColumns = `id, recruiter_id, title, description, company, location, employment_type, remote,
salary_min, salary_max, salary_currency, status, created_at, updated_at, version, application_count,
applications_submitted, applications_screening, applications_interview, applications_offer, applications_hired,
applications_rejected, applications_withdrawn`

// scanJob reads a row of jobColumns, then into extra any columns after them.
func scanJob(row pgx.Row, extra ...any) (JobRow, error) {
	var j JobRow
	err := row.Scan(append([]any{&j.ID, &j.RecruiterID, &j.Title, &j.Description, &j.Company, &j.Location, &j.EmploymentType,
		&j.Remote, &j.SalaryMin, &j.SalaryMax, &j.SalaryCurrency, &j.Status, &j.CreatedAt, &j.UpdatedAt,
		&j.Version, &j.ApplicationCount, &j.ApplicationsByStatus[0], &j.ApplicationsByStatus[1],
		&j.ApplicationsByStatus[2], &j.ApplicationsByStatus[3], &j.ApplicationsByStatus[4], &j.ApplicationsByStatus[5],
		&j.ApplicationsByStatus[6]}, extra...)...)
	j.CreatedAt, j.UpdatedAt = j.CreatedAt.UTC(), j.UpdatedAt.UTC()
	return j, err
}

// Get returns a live job.
func (v JobsView) Get(ctx context.Context, id uuid.UUID) (JobRow, error) {
	j, err := scanJob(v.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1 AND deleted_at IS NULL`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return JobRow{}, domain.Errorf(domain.KindNotFound, "no such job")
	}
	return j, err
}

// List returns one page of jobs matching f, newest first, and how many match
// in all, in one round trip (two for a q with a minus; see listing).
func (v JobsView) List(ctx context.Context, f JobFilter) (JobPage, error) {
	return v.list(ctx, f, fewMatches)
}

// list is List, taking up to few matches as few (see fewMatches).
func (v JobsView) list(ctx context.Context, f JobFilter, few int) (JobPage, error) {
	// Only a q with a minus can have a part that excludes words, which
	// calls for matching it by what it excludes (see excludedWords); it
	// takes a round trip to know.
	excluded := ""
	if strings.Contains(f.Query, "-") {
		var tsquery string
		if err := v.pool.QueryRow(ctx, `SELECT websearch_to_tsquery('english', $1)::text`, f.Query).Scan(&tsquery); err != nil {
			return JobPage{}, fmt.Errorf("list jobs: read q: %w", err)
		}
		excluded = excludedWords(tsquery)
	}
	l := listing(f, excluded, few)
	var page JobPage
	batch := &pgx.Batch{}
	batch.Queue(customPlansSQL)
	batch.Queue(l.pageSQL, l.pageArgs...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			j, err := scanJob(rows, &page.Total)
			if err != nil {
				return err
			}
			page.Items = append(page.Items, j)
		}
		return rows.Err()
	})
	if err := v.pool.SendBatch(ctx, batch).Close(); err != nil {
		return JobPage{}, fmt.Errorf("list jobs: %w", err)
	}
	// An empty first page says that nothing matches; an empty page past
	// the end of the matches has no row to carry their count.
	if len(page.Items) == 0 && f.After != nil {
		batch := &pgx.Batch{}
		batch.Queue(customPlansSQL)
		batch.Queue(l.countSQL, l.countArgs...).QueryRow(func(row pgx.Row) error { return row.Scan(&page.Total) })
		if err := v.pool.SendBatch(ctx, batch).Close(); err != nil {
			return JobPage{}, fmt.Errorf("count jobs: %w", err)
		}
	}
	if len(page.Items) > f.Limit {
		page.Items = page.Items[:f.Limit]
		last := page.Items[len(page.Items)-1]
		page.Next = &JobCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	return page, nil
}

// customPlansSQL makes PostgreSQL plan the statements after it in the batch
// for their values, every time, rather than settle on one generic plan per
// statement after five runs, as it does by default for a prepared statement
// (pgx prepares them all). A batch runs in one transaction (it ends with one
// Sync), and the setting is local to it.
//
// A plan made for the values knows what a filter matches: whether a
// substring has a trigram and how common it is, how common the words of q
// are; and with them whether to walk the listing's order or find every
// match first. A generic plan knows none of it, and it computes the pattern
// ('%' || lower($2) || '%') again for every row it looks at. Planning each
// time costs less than that even for GET /jobs?title=engineer&location=berlin:
// 3.9 ms a listing against 6.4 (bench/search/README.md).
const customPlansSQL = `SELECT set_config('plan_cache_mode', 'force_custom_plan', true)`

// listStatements are the statements of a listing: the page, each of its
// rows jobColumns and the count of all matches; and that count alone, for a
// page past the end of the matches (which has no row to carry it).
type listStatements struct {
	pageSQL, countSQL   string
	pageArgs, countArgs []any
}

// listing builds the statements List sends for f. Every value is a
// parameter, so that the statement text only depends on which filters are
// set (and, for a substring filter, on whether it has a trigram; see
// listing): pgx prepares each text once per connection.
//
// The page and the count are one statement, whose plan depends on whether
// an index narrows the matches down (bench/search/README.md has the
// figures, over 100,000 jobs):
//
//   - It does (q alone, or a substring with a trigram and no q): it takes
//     up to fewMatches matches in any order, which the index finds in one
//     pass when there are few. Fewer than that are all of them: the page
//     is their newest and the count their number, one pass where a page
//     and a count apart would find them twice (GET /jobs?title=data&
//     location=berlin: 1.4 ms, against 2.5). More, and the page walks the
//     listing's order instead (below) and the count is a scan of its own.
//   - It does not (a filter of one or two letters, a literal %): the page
//     walks the listing's order, newest first, and stops after its last
//     row, which for a filter that matches many jobs is far cheaper than
//     finding every match (title=e: 0.1 ms, against 16 ms for its 81,514
//     matches). A first page that is not full holds every match, and its
//     size is the count; otherwise the count is a scan of its own, of the
//     narrow table (12 ms).
//
// Only the page's own rows are read in full from jobs. A q is matched by
// what it excludes when excluded (see excludedWords) is set, and up to few
// matches are taken as few.
//
// Listings find their matches in job_search (migration 0010), which holds
// the few columns that the filters and the listing's order read, except
// for a q with no substring filter, which finds them in jobs through the
// full-text index on its search column.
//
// A substring filter is matched against the lowercased column with LIKE,
// which is ILIKE on the original (job_search lowercases with lower(), the
// function ILIKE folds case with); the value is lowercased by the same
// function, and escaped so that %, _ and \ match themselves.
//
// The trigram index answers a substring filter only when the value has a
// trigram: pg_trgm takes them from words (runs of letters and digits) of
// three characters or more. Given a value without one (y, ab, %, "a b"), it
// reads the whole index to return every row, and then rechecks them all:
// worse than reading the table. Such a filter compares in the "C"
// collation: LIKE matches the same way in any deterministic collation, but
// an index only answers an expression in its own collation, so that no
// plan, custom or generic, can use the trigram index for it. What it costs
// is then bounded by the narrow table (the count) and the listing index,
// which holds the lowercased columns (the page; see migration 0010).
//
// A q with a substring filter, or matched by what it excludes, is matched
// in jobs for the same id: a job matches when its row in jobs does, or,
// with excluded, when it does not match excluded.
func listing(f JobFilter, excluded string, few int) listStatements {
	substring := f.Title != "" || f.Location != "" || f.Company != ""
	table := "job_search"
	if f.Query != "" && !substring && excluded == "" {
		table = "jobs"
	}
	// indexed is whether an index narrows the matches down: the full-text
	// index for q alone, the trigram index for a substring with a trigram
	// and no q. (With q as well, a plan that takes up to few matches in
	// any order may walk jobs checking q on every row, which the other
	// statement does not ask for.)
	indexed := table == "jobs"
	var q query
	if f.Status == AnyStatus {
		// Open and closed alike; never a deleted job's row of jobs.
		q.where("status IN ('open', 'closed')")
	} else {
		q.where("status = " + q.arg(f.Status))
	}
	for _, s := range []struct{ column, value string }{
		{"title_lower", f.Title}, {"location_lower", f.Location}, {"company_lower", f.Company},
	} {
		if s.value == "" {
			continue
		}
		column := s.column
		if hasTrigram(s.value) {
			indexed = indexed || f.Query == ""
		} else {
			column += ` COLLATE "C"`
		}
		q.where(column + ` LIKE '%' || lower(` + q.arg(escapeLike(s.value)) + `) || '%'`)
	}
	switch {
	case table == "jobs":
		q.where("search @@ websearch_to_tsquery('english', " + q.arg(f.Query) + ")")
	case excluded != "":
		q.where("NOT EXISTS (SELECT FROM jobs t WHERE t.id = job_search.id AND t.search @@ " + q.arg(excluded) + "::tsquery)")
	case f.Query != "":
		q.where("EXISTS (SELECT FROM jobs t WHERE t.id = job_search.id AND t.search @@ websearch_to_tsquery('english', " +
			q.arg(f.Query) + "))")
	}
	if f.EmploymentType != "" {
		q.where("employment_type = " + q.arg(f.EmploymentType))
	}
	if f.Remote != nil {
		q.where("remote = " + q.arg(*f.Remote))
	}
	if f.RecruiterID != nil {
		q.where("recruiter_id = " + q.arg(*f.RecruiterID))
	}
	conditions := q.conditions()
	count := `SELECT count(*) FROM ` + table + ` WHERE ` + conditions
	l := listStatements{countSQL: count, countArgs: append([]any(nil), q.args...)}
	after := ""
	if f.After != nil {
		after = " AND (created_at, id) < (" + q.arg(f.After.CreatedAt) + ", " + q.arg(f.After.ID) + ")"
	}
	pageSize := q.arg(f.Limit + 1)
	order := ` ORDER BY created_at DESC, id DESC LIMIT ` + pageSize
	// A subquery under a false one-time filter (an InitPlan's value) or in
	// a CASE branch not taken is never run. The page's rows are fetched by
	// id: whatever a plan guesses of how many ids there are (a generic one
	// cannot know the limit), a look-up of each in the primary key, never a
	// scan of jobs.
	rows := ` FROM jobs WHERE id = ANY (ARRAY(SELECT id FROM p)) ORDER BY created_at DESC, id DESC`
	if indexed {
		// m is up to few matches, in no order: all of them when there
		// are fewer.
		limit := strconv.Itoa(few)
		isFew := `(SELECT count(*) FROM m) < ` + limit
		l.pageSQL = `WITH m AS MATERIALIZED (SELECT id, created_at FROM ` + table + ` WHERE ` + conditions +
			` LIMIT ` + limit + `), p AS MATERIALIZED (` +
			`(SELECT id FROM m WHERE ` + isFew + after + order + `) UNION ALL ` +
			`(SELECT id FROM ` + table + ` WHERE ` + conditions + after + ` AND NOT ` + isFew + order + `)) ` +
			`SELECT ` + jobColumns + `, CASE WHEN ` + isFew + ` THEN (SELECT count(*) FROM m) ELSE (` + count + `) END` + rows
	} else {
		// A first page that is not full holds every match.
		total := `(` + count + `)`
		if f.After == nil {
			total = `CASE WHEN (SELECT count(*) FROM p) < ` + pageSize + ` THEN (SELECT count(*) FROM p) ELSE ` + total + ` END`
		}
		l.pageSQL = `WITH p AS MATERIALIZED (SELECT id FROM ` + table + ` WHERE ` + conditions + after + order + `) ` +
			`SELECT ` + jobColumns + `, ` + total + rows
	}
	l.pageArgs = q.args
	return l
}

// fewMatches is how many matches a listing whose filter an index narrows
// down takes as few: it finds them all in one pass, and takes its page and
// its count from them. With more, it walks the listing's order for the page
// and counts them apart (see listing).
const fewMatches = 2000

// hasTrigram reports whether pg_trgm finds at least one trigram in the
// LIKE pattern '%' || escapeLike(v) || '%': whether v has three ASCII
// letters or digits in a row. The test is narrower than pg_trgm's (whose
// words may hold any letter), so that it never says yes where pg_trgm would
// find none; a value it says no to is only matched without the index.
func hasTrigram(v string) bool {
	run := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			if run++; run == 3 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

// excludedWords returns, for a q (as websearch_to_tsquery writes it out)
// that the full-text index cannot answer, the query that matches exactly
// the jobs q does not, when the index can answer that one; otherwise "".
//
// The index finds the jobs that have a word. A q with a part that only
// excludes words (-zebra -yak, or "nurse or -senior") matches jobs for
// what they lack, so the index has to return every job, and each one is
// checked against every word of q: over 100,000 jobs, 206 ms for 26
// excluded words, and more with more words (q may be 500 characters). Its
// negation, with the NOT pushed down to the words (zebra | yak, or
// !nurse & senior), always has a word every match must have, and the index
// answers it: the jobs q matches are the others. The negation is exact:
// outside a phrase, a tsquery is plain boolean logic over its words and
// phrases, which are kept whole.
func excludedWords(tsquery string) string {
	p := tsParser{s: tsquery}
	root, err := p.parse()
	if err != nil || root == nil || root.requiresMatch() {
		return ""
	}
	not := root.negate()
	if !not.requiresMatch() {
		return ""
	}
	return not.String()
}

// tsNode is a node of a tsquery: a word (op 0), or !, &, | or a phrase
// (op '<'), whose text is then its source text, kept whole.
type tsNode struct {
	op          byte
	left, right *tsNode
	text        string
}

// requiresMatch is PostgreSQL's tsquery_requires_match: whether every
// match must have one of the query's words, without which the index has to
// return every row.
func (n *tsNode) requiresMatch() bool {
	switch n.op {
	case 0:
		return true
	case '!':
		return false
	case '|':
		return n.left.requiresMatch() && n.right.requiresMatch()
	default: // & and phrases
		return n.left.requiresMatch() || n.right.requiresMatch()
	}
}

// negate is the negation of n with the NOT pushed down to the words and
// phrases (De Morgan's laws).
func (n *tsNode) negate() *tsNode {
	switch n.op {
	case '!':
		return n.left
	case '&':
		return &tsNode{op: '|', left: n.left.negate(), right: n.right.negate()}
	case '|':
		return &tsNode{op: '&', left: n.left.negate(), right: n.right.negate()}
	default:
		return &tsNode{op: '!', left: n}
	}
}

func (n *tsNode) String() string {
	switch n.op {
	case 0:
		return n.text
	case '<':
		return "( " + n.text + " )"
	case '!':
		return "!( " + n.left.String() + " )"
	default:
		return "( " + n.left.String() + " " + string(n.op) + " " + n.right.String() + " )"
	}
}

// tsParser reads a tsquery as PostgreSQL writes it out, its operators by
// their precedence: ! binds tightest, then phrase operators (<-> and <N>),
// then &, then |.
type tsParser struct {
	s   string
	pos int
}

func (p *tsParser) parse() (*tsNode, error) {
	p.space()
	if p.pos == len(p.s) {
		return nil, nil // a query of stop words only
	}
	n, err := p.or()
	if err == nil && p.peek() != 0 {
		err = fmt.Errorf("tsquery: unexpected %q at %d", p.s[p.pos:], p.pos)
	}
	return n, err
}

func (p *tsParser) space() {
	for p.pos < len(p.s) && p.s[p.pos] == ' ' {
		p.pos++
	}
}

// peek is the next character after spaces, or 0 at the end.
func (p *tsParser) peek() byte {
	p.space()
	if p.pos == len(p.s) {
		return 0
	}
	return p.s[p.pos]
}

func (p *tsParser) or() (*tsNode, error) {
	return p.binary('|', p.and)
}

func (p *tsParser) and() (*tsNode, error) {
	return p.binary('&', p.phrase)
}

func (p *tsParser) binary(op byte, operand func() (*tsNode, error)) (*tsNode, error) {
	n, err := operand()
	for err == nil && p.peek() == op {
		p.pos++
		var r *tsNode
		if r, err = operand(); err == nil {
			n = &tsNode{op: op, left: n, right: r}
		}
	}
	return n, err
}

func (p *tsParser) phrase() (*tsNode, error) {
	p.space()
	start := p.pos
	n, err := p.unary()
	for err == nil && p.peek() == '<' {
		end := strings.IndexByte(p.s[p.pos:], '>')
		if end < 0 {
			return nil, fmt.Errorf("tsquery: unterminated phrase operator at %d", p.pos)
		}
		p.pos += end + 1
		var r *tsNode
		if r, err = p.unary(); err == nil {
			n = &tsNode{op: '<', left: n, right: r, text: p.s[start:p.pos]}
		}
	}
	return n, err
}

func (p *tsParser) unary() (*tsNode, error) {
	switch p.peek() {
	case '!':
		p.pos++
		n, err := p.unary()
		return &tsNode{op: '!', left: n}, err
	case '(':
		p.pos++
		n, err := p.or()
		if err == nil && p.peek() != ')' {
			err = fmt.Errorf("tsquery: want ) at %d", p.pos)
		}
		p.pos++
		return n, err
	case '\'':
		return p.word()
	}
	return nil, fmt.Errorf("tsquery: unexpected %q at %d", p.s[p.pos:], p.pos)
}

// word reads a quoted word (” is a quote in it, \ escapes a character)
// and what follows it: a prefix match and weights (:*AB).
func (p *tsParser) word() (*tsNode, error) {
	start := p.pos
	for p.pos++; ; p.pos++ {
		switch {
		case p.pos >= len(p.s):
			return nil, fmt.Errorf("tsquery: unterminated word at %d", start)
		case p.s[p.pos] == '\\':
			p.pos++
		case p.s[p.pos] == '\'' && p.pos+1 < len(p.s) && p.s[p.pos+1] == '\'':
			p.pos++
		case p.s[p.pos] == '\'':
			p.pos++
			if p.pos < len(p.s) && p.s[p.pos] == ':' {
				p.pos++
				for p.pos < len(p.s) && strings.IndexByte("*ABCDabcd", p.s[p.pos]) >= 0 {
					p.pos++
				}
			}
			return &tsNode{text: p.s[start:p.pos]}, nil
		}
	}
}

// query builds a WHERE clause whose values are all parameters.
type query struct {
	conds []string
	args  []any
}

func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return fmt.Sprintf("$%d", len(q.args))
}

func (q *query) where(cond string) { q.conds = append(q.conds, cond) }

func (q *query) conditions() string { return strings.Join(q.conds, " AND ") }

// escapeLike makes s match itself literally inside a LIKE pattern.
func escapeLike(s string) string { return likeEscaper.Replace(s) }

// likeEscaper is built once: building a Replacer on every call showed in the
// benchmark's CPU profile.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
