package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/jobboard/jobboard/projections"
)

// planNode is the part of EXPLAIN (FORMAT JSON) the test reads.
type planNode struct {
	NodeType     string     `json:"Node Type"`
	IndexName    string     `json:"Index Name"`
	RelationName string     `json:"Relation Name"`
	Plans        []planNode `json:"Plans"`
}

// scans lists a plan's scans as "Node Type on index", or "Node Type on
// table" for a scan without an index, depth first.
func (n planNode) scans() []string {
	var out []string
	if strings.HasSuffix(n.NodeType, "Scan") {
		s := n.NodeType
		switch {
		case n.IndexName != "":
			s += " on " + n.IndexName
		case n.RelationName != "":
			s += " on " + n.RelationName
		}
		out = append(out, s)
	}
	for _, c := range n.Plans {
		out = append(out, c.scans()...)
	}
	return out
}

// explainListing plans one of List's statements as PostgreSQL runs it for
// the application: prepared (pgx prepares every statement it sends), with
// the plan cache in mode, which is force_custom_plan (a plan made for these
// values, as for a statement's first five runs) or force_generic_plan (the
// one plan for any value that it may keep afterwards).
func explainListing(t *testing.T, ctx context.Context, tx pgx.Tx, mode, sql string, args []any) []string {
	t.Helper()
	if _, err := tx.Exec(ctx, "SET LOCAL plan_cache_mode = "+mode); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "PREPARE listing AS "+sql); err != nil {
		t.Fatalf("prepare %s: %v", sql, err)
	}
	defer tx.Exec(ctx, "DEALLOCATE listing") //nolint:errcheck // the transaction is rolled back anyway
	params := make([]string, len(args))
	for i := range args {
		params[i] = fmt.Sprintf("$%d", i+1)
	}
	// The simple protocol makes pgx quote the values into EXECUTE's text.
	var out []byte
	err := tx.QueryRow(ctx, "EXPLAIN (FORMAT JSON) EXECUTE listing("+strings.Join(params, ", ")+")",
		append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...).Scan(&out)
	if err != nil {
		t.Fatalf("explain %s: %v", sql, err)
	}
	var plans []struct{ Plan planNode }
	if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("read plan %s: %v", out, err)
	}
	return plans[0].Plan.scans()
}

// TestListingQueriesUseTheirIndexes plans the statements GET /jobs sends
// over 20,000 jobs and checks that the filters are answered from their
// indexes, and that no listing reads the wide jobs table whole: a filter
// with a trigram from the trigram index, one without from job_search and
// its listing index, never the trigram index (which would return every
// row). bench/search/README.md shows the same plans, timed, over 100,000
// jobs.
func TestListingQueriesUseTheirIndexes(t *testing.T) {
	ctx := testCtx(t)
	// The jobs go into the shared database in a transaction that is rolled
	// back: ANALYZE's statistics are transactional too, so nothing stays.
	// As the database's owner, who may drop and create indexes.
	tx, err := db.Owner.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // nothing to keep
	// The GIN indexes are dropped and built again after the insert, from
	// their own definitions: built in bulk they take a fraction of a second,
	// where taking their entries one row at a time would take seconds of
	// database CPU, enough to slow the tests of other packages running
	// alongside. (Nor would leaving the rows in a GIN pending list do: the
	// planner then prices the index out.)
	start := time.Now()
	rows, err := tx.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('jobs', 'job_search') AND indexdef LIKE '% USING gin %'`)
	if err != nil {
		t.Fatal(err)
	}
	defs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Name, Def string }])
	if err != nil || len(defs) != 2 {
		t.Fatalf("read the GIN indexes of jobs and job_search: %v %v", defs, err)
	}
	for _, d := range defs {
		if _, err := tx.Exec(ctx, `DROP INDEX `+pgx.Identifier{d.Name}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
	_, err = tx.Exec(ctx, `
INSERT INTO jobs (id, recruiter_id, title, description, company, location, employment_type, remote,
                  status, created_at, updated_at, version)
SELECT gen_random_uuid(), gen_random_uuid(), title, 'We are hiring a ' || title || ' at ' || company ||
         '. You care about reliability, observability and keeping things simple. We offer flexible hours.',
       company, location, 'full_time', i % 4 = 0, CASE WHEN i % 10 = 0 THEN 'closed' ELSE 'open' END,
       now() - i * interval '25 minutes', now() - i * interval '25 minutes', 1
FROM (
  SELECT i,
    CASE WHEN h1 % 50 = 0 THEN 'Registered Nurse' ELSE
      (ARRAY['', 'Junior ', 'Senior ', 'Lead '])[1 + h1 % 4] ||
      (ARRAY['Backend', 'Frontend', 'Data', 'Mobile', 'Cloud', 'Security', 'Platform', 'Product'])[1 + h2 % 8] || ' ' ||
      (ARRAY['Engineer', 'Developer', 'Analyst', 'Designer', 'Manager'])[1 + h3 % 5] END AS title,
    (ARRAY['London, United Kingdom', 'Berlin, Germany', 'New York, NY', 'Paris, France', 'Amsterdam, Netherlands',
           'Toronto, Canada', 'Austin, TX', 'Munich, Germany', 'Dublin, Ireland', 'Lisbon, Portugal',
           'Tokyo, Japan', 'Madrid, Spain', 'Vienna, Austria', 'Oslo, Norway', 'Warsaw, Poland',
           'Boston, MA', 'Chicago, IL', 'Denver, CO', 'Sydney, Australia', 'Singapore'])[1 + h2 % 20] AS location,
    (ARRAY['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Wonka', 'Stark', 'Tyrell'])[1 + h3 % 8] || ' ' ||
    (ARRAY['Labs', 'Systems', 'Health', 'Logistics', 'Software', 'Energy'])[1 + h1 % 6] AS company
  FROM generate_series(1, 20000) AS i,
       LATERAL (SELECT abs(hashint4(i)) AS h1, abs(hashint4(i + 100000)) AS h2, abs(hashint4(i + 200000)) AS h3) AS h
) AS rows`)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	// And into job_search, as the projector writes them.
	if _, err := tx.Exec(ctx, `
INSERT INTO job_search (id, recruiter_id, status, created_at, title, company, location, employment_type, remote)
SELECT id, recruiter_id, status, created_at, title, company, location, employment_type, remote FROM jobs
ON CONFLICT (id) DO NOTHING`); err != nil {
		t.Fatalf("seed job_search: %v", err)
	}
	for _, d := range defs {
		if _, err := tx.Exec(ctx, d.Def); err != nil {
			t.Fatalf("%s: %v", d.Def, err)
		}
	}
	if _, err := tx.Exec(ctx, `ANALYZE jobs; ANALYZE job_search`); err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded and analyzed 20,000 jobs in %s", time.Since(start).Round(time.Millisecond))

	var newest struct {
		CreatedAt time.Time
		ID        uuid.UUID
	}
	if err := tx.QueryRow(ctx, `SELECT created_at, id FROM jobs WHERE status = 'open' ORDER BY created_at DESC, id DESC OFFSET 20 LIMIT 1`).
		Scan(&newest.CreatedAt, &newest.ID); err != nil {
		t.Fatal(err)
	}
	cursor := &projections.JobCursor{CreatedAt: newest.CreatedAt, ID: newest.ID}

	const (
		trigram   = "Bitmap Index Scan on job_search_filters_trgm"
		search    = "Bitmap Index Scan on jobs_search"
		listing   = "Index Scan on job_search_listing"
		listingIO = "Index Only Scan on job_search_listing"
		narrow    = "Seq Scan on job_search"
		wide      = "Seq Scan on jobs"
	)
	open := func(f projections.JobFilter) projections.JobFilter {
		f.Status, f.Limit = "open", 20
		return f
	}
	for _, c := range []struct {
		name   string
		filter projections.JobFilter
		// q, when set, is the filter's q as websearch_to_tsquery writes it
		// out: List then matches it by the words it excludes.
		q string
		// Each statement's plan must contain one of these scans, in either
		// plan cache mode, and none of never.
		page, count, never []string
	}{
		// A filter with a trigram is answered by the trigram index, or, when
		// it matches many jobs, the page walks the listing index instead.
		{name: "title and location", filter: open(projections.JobFilter{Title: "nurse", Location: "lisbon"}),
			page: []string{trigram}, count: []string{trigram}, never: []string{wide}},
		{name: "common title and location", filter: open(projections.JobFilter{Title: "engineer", Location: "berlin"}),
			page: []string{trigram, listing, listingIO}, count: []string{trigram}, never: []string{wide}},
		{name: "title and location, next page", filter: open(projections.JobFilter{Title: "engineer", Location: "berlin", After: cursor}),
			page: []string{trigram, listing, listingIO}, count: []string{trigram}, never: []string{wide}},
		{name: "company", filter: open(projections.JobFilter{Company: "hooli health"}),
			page: []string{trigram}, count: []string{trigram}, never: []string{wide}},
		// A filter without one reads job_search or its listing index, never
		// the trigram index and never jobs whole.
		{name: "one letter", filter: open(projections.JobFilter{Title: "e"}),
			page: []string{listing, listingIO, narrow}, count: []string{narrow, listingIO}, never: []string{trigram, wide}},
		{name: "two letters, no match", filter: open(projections.JobFilter{Location: "zq"}),
			page: []string{listing, listingIO, narrow}, count: []string{narrow, listingIO}, never: []string{trigram, wide}},
		{name: "a literal %", filter: open(projections.JobFilter{Title: "%"}),
			page: []string{listing, listingIO, narrow}, count: []string{narrow, listingIO}, never: []string{trigram, wide}},
		{name: "one letter and a word", filter: open(projections.JobFilter{Title: "e", Location: "lisbon"}),
			page: []string{trigram}, count: []string{trigram}, never: []string{wide}},
		{name: "full text", filter: open(projections.JobFilter{Query: `nurse -senior`}),
			page: []string{search}, count: []string{search}},
		{name: "full text of excluded words", filter: open(projections.JobFilter{Query: `-nurse -senior`}), q: `!'nurs' & !'senior'`,
			page: []string{search}, count: []string{search}, never: []string{wide}},
		// The first page of everything is the head of the listing index; its
		// count reads job_search (nine jobs in ten match), never jobs.
		{name: "unfiltered", filter: open(projections.JobFilter{}),
			page: []string{listing, listingIO}, count: []string{narrow, listingIO}, never: []string{wide}},
		{name: "next page", filter: open(projections.JobFilter{After: cursor}),
			page: []string{listing, listingIO}, count: []string{narrow, listingIO}, never: []string{wide}},
	} {
		pageSQL, pageArgs, countSQL, countArgs := projections.ListSQLFor(c.filter, c.q)
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			for _, s := range []struct {
				what string
				sql  string
				args []any
				want []string
			}{{"page", pageSQL, pageArgs, c.page}, {"count", countSQL, countArgs, c.count}} {
				scans := explainListing(t, ctx, tx, mode, s.sql, s.args)
				if bad := slices.IndexFunc(scans, func(scan string) bool { return slices.Contains(c.never, scan) }); bad >= 0 {
					t.Errorf("%s, %s, %s: %s: %v", c.name, s.what, mode, scans[bad], scans)
				}
				if !slices.ContainsFunc(scans, func(scan string) bool { return slices.Contains(s.want, scan) }) {
					t.Errorf("%s, %s, %s: want one of %v, plan has %v", c.name, s.what, mode, s.want, scans)
				}
			}
		}
	}
}
