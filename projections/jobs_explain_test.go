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
	NodeType  string     `json:"Node Type"`
	IndexName string     `json:"Index Name"`
	Plans     []planNode `json:"Plans"`
}

// scans lists a plan's scans as "Node Type on index" (or just the node
// type for a scan without an index), depth first.
func (n planNode) scans() []string {
	var out []string
	if strings.HasSuffix(n.NodeType, "Scan") {
		s := n.NodeType
		if n.IndexName != "" {
			s += " on " + n.IndexName
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
// indexes, not by reading the whole table. bench/jobs/README.md shows the
// same plans, timed, over 100,000 jobs.
func TestListingQueriesUseTheirIndexes(t *testing.T) {
	ctx := testCtx(t)
	// The jobs go into the shared database in a transaction that is rolled
	// back: ANALYZE's statistics are transactional too, so nothing stays.
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // nothing to keep
	// The GIN indexes are dropped and built again after the insert, from
	// their own definitions: built in bulk they take a fraction of a second,
	// where jobs_filters_trgm (fastupdate off) would take its entries one row
	// at a time for seconds of database CPU, enough to slow the tests of
	// other packages running alongside. (Nor would leaving the rows in a GIN
	// pending list do: the planner then prices the index out.)
	start := time.Now()
	rows, err := tx.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'jobs' AND indexdef LIKE '% USING gin %'`)
	if err != nil {
		t.Fatal(err)
	}
	defs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Name, Def string }])
	if err != nil || len(defs) == 0 {
		t.Fatalf("read the GIN indexes of jobs: %v %v", defs, err)
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
	for _, d := range defs {
		if _, err := tx.Exec(ctx, d.Def); err != nil {
			t.Fatalf("%s: %v", d.Def, err)
		}
	}
	if _, err := tx.Exec(ctx, `ANALYZE jobs`); err != nil {
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

	const (
		trigram = "Bitmap Index Scan on jobs_filters_trgm"
		search  = "Bitmap Index Scan on jobs_search"
		listing = "Index Scan on jobs_listing"
	)
	open := func(f projections.JobFilter) projections.JobFilter {
		f.Status, f.Limit = "open", 20
		return f
	}
	for _, c := range []struct {
		name   string
		filter projections.JobFilter
		// Each statement's plan must contain one of these scans, and no
		// sequential scan unless seqOK.
		page, count []string
		seqOK       bool
	}{
		// With a text filter the page and the count are one statement, which
		// finds every match through the filter's index, few or many. The
		// count on its own is for a page past the end.
		{name: "title and location", filter: open(projections.JobFilter{Title: "nurse", Location: "lisbon"}),
			page: []string{trigram}, count: []string{trigram}},
		{name: "common title and location", filter: open(projections.JobFilter{Title: "engineer", Location: "berlin"}),
			page: []string{trigram}, count: []string{trigram}},
		{name: "title and location, next page", filter: open(projections.JobFilter{Title: "engineer", Location: "berlin",
			After: &projections.JobCursor{CreatedAt: newest.CreatedAt, ID: newest.ID}}),
			page: []string{trigram}, count: []string{trigram}},
		{name: "company", filter: open(projections.JobFilter{Company: "hooli health"}),
			page: []string{trigram}, count: []string{trigram}},
		{name: "full text", filter: open(projections.JobFilter{Query: `nurse -senior`}),
			page: []string{search}, count: []string{search}},
		// The first page of everything is the head of the listing index; its
		// count reads nine jobs in ten, for which a sequential scan is right.
		{name: "unfiltered", filter: open(projections.JobFilter{}),
			page: []string{listing}, seqOK: true},
		{name: "next page", filter: open(projections.JobFilter{After: &projections.JobCursor{CreatedAt: newest.CreatedAt, ID: newest.ID}}),
			page: []string{listing}, seqOK: true},
	} {
		pageSQL, pageArgs, countSQL, countArgs := projections.ListSQL(c.filter)
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			for _, s := range []struct {
				what string
				sql  string
				args []any
				want []string
			}{{"page", pageSQL, pageArgs, c.page}, {"count", countSQL, countArgs, c.count}} {
				scans := explainListing(t, ctx, tx, mode, s.sql, s.args)
				if !c.seqOK && slices.Contains(scans, "Seq Scan") {
					t.Errorf("%s, %s, %s: reads the whole table: %v", c.name, s.what, mode, scans)
				}
				if len(s.want) > 0 && !slices.ContainsFunc(scans, func(scan string) bool { return slices.Contains(s.want, scan) }) {
					t.Errorf("%s, %s, %s: want one of %v, plan has %v", c.name, s.what, mode, s.want, scans)
				}
			}
		}
	}
}
