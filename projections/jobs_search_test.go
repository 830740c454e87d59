package projections_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/internal/testdb"
	"github.com/jobboard/jobboard/projections"
)

// searchJob is a job of the listing tests' data.
type searchJob struct {
	title, company, location, employment string
	remote, closed                       bool
	at                                   time.Time
}

// postSearchJobs posts jobs through the domain and the jobs projection, as
// the service does, by recruiter, and returns their ids.
func postSearchJobs(t *testing.T, ctx context.Context, pool *pgxpool.Pool, recruiter uuid.UUID, jobs []searchJob) []uuid.UUID {
	t.Helper()
	store := eventstore.New(pool, eventstore.WithKeyring(testdb.Keyring()))
	poster := domain.Poster{ID: recruiter, Role: domain.RoleRecruiter, Company: "Default Co"}
	var ids []uuid.UUID
	for _, j := range jobs {
		description := "Work on " + j.title + "."
		draft := domain.JobDraft{Title: &j.title, Description: &description, Company: &j.company, Location: &j.location,
			EmploymentType: &j.employment, Remote: &j.remote}
		job, events, err := domain.PostJob(uuid.Must(uuid.NewV7()), poster, draft, j.at)
		if err != nil {
			t.Fatalf("post %q: %v", j.title, err)
		}
		if j.closed {
			closed := domain.StatusClosed.String()
			more, err := job.Patch(poster, domain.JobPatch{Status: &closed}, j.at.Add(time.Second))
			if err != nil {
				t.Fatalf("close %q: %v", j.title, err)
			}
			events = append(events, more...)
		}
		appended, err := store.Append(ctx, eventstore.Stream{Type: domain.StreamJob, ID: job.ID()}, 0, events)
		if err != nil {
			t.Fatalf("append %q: %v", j.title, err)
		}
		for _, r := range appended.Records {
			if err := projectCommitted(t, ctx, pool, projections.JobsProjector{}, r); err != nil {
				t.Fatalf("project %q: %v", j.title, err)
			}
		}
		ids = append(ids, job.ID())
	}
	return ids
}

// listAll walks every page of a listing, limit jobs a page, and returns
// the ids in the order the pages gave them and the total of each page.
// With few > 0, the listing takes up to few matches as few (see
// projections.ListTakingFew).
func listAll(t *testing.T, ctx context.Context, view projections.JobsView, f projections.JobFilter, limit, few int) ([]uuid.UUID, []int) {
	t.Helper()
	f.Limit, f.After = limit, nil
	var ids []uuid.UUID
	var totals []int
	for pages := 0; ; pages++ {
		page, err := view.List(ctx, f)
		if few > 0 {
			page, err = projections.ListTakingFew(ctx, view, f, few)
		}
		if err != nil {
			t.Fatalf("list %+v: %v", f, err)
		}
		totals = append(totals, page.Total)
		for _, j := range page.Items {
			ids = append(ids, j.ID)
		}
		if page.Next == nil {
			return ids, totals
		}
		if pages > 1000 {
			t.Fatalf("list %+v: the pages do not end", f)
		}
		f.After = page.Next
	}
}

// likeLiteral escapes s for ILIKE as the listing's contract reads a filter:
// %, _ and \ match themselves.
var likeLiteral = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// reference is what a listing must return, written the plainest way, over
// the jobs table: ILIKE on each substring filter, websearch_to_tsquery for
// q, newest first.
func reference(t *testing.T, ctx context.Context, pool *pgxpool.Pool, f projections.JobFilter) []uuid.UUID {
	t.Helper()
	where := []string{"status = $1"}
	args := []any{f.Status}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	for _, s := range []struct{ column, value string }{{"title", f.Title}, {"location", f.Location}, {"company", f.Company}} {
		if s.value != "" {
			where = append(where, s.column+" ILIKE '%' || "+arg(likeLiteral.Replace(s.value))+" || '%'")
		}
	}
	if f.Query != "" {
		where = append(where, "search @@ websearch_to_tsquery('english', "+arg(f.Query)+")")
	}
	if f.EmploymentType != "" {
		where = append(where, "employment_type = "+arg(f.EmploymentType))
	}
	if f.Remote != nil {
		where = append(where, "remote = "+arg(*f.Remote))
	}
	if f.RecruiterID != nil {
		where = append(where, "recruiter_id = "+arg(*f.RecruiterID))
	}
	rows, err := pool.Query(ctx, `SELECT id FROM jobs WHERE `+strings.Join(where, " AND ")+` ORDER BY created_at DESC, id DESC`, args...)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestListingMatchesLikeILIKE lists a set of jobs with the filters an
// attacker would pick (one or two letters, LIKE's wildcards, mixed case and
// letters outside ASCII, two short filters together, a 200-character
// value, q that only excludes words) and checks each listing, walked two
// jobs a page, against the plainest query that says what the contract
// means: ILIKE over jobs. Every page must give the same total, the jobs in
// the same order, each once. Each listing is walked twice: as List does
// for the few matches these are, and as it does for many (taking no more
// than three as few), walking the listing's order and counting apart.
func TestListingMatchesLikeILIKE(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	own := testdb.New(t)
	recruiter, other := uuid.New(), uuid.New()
	titles := []string{"Senior Backend Engineer", "ÉCOLE Lecturer", "100% Remote Engineer", "snake_case Developer",
		`Back\slash Analyst`, "Yoga Teacher", "Nurse", "Data Engineer", "Ingénieure Données", "STRASSE Planner"}
	companies := []string{"Acme", "Yak Labs", "École Normale", "Hooli", "Straße GmbH", "Stark"}
	locations := []string{"Berlin, Germany", "Abu Dhabi", "Lisbon, Portugal", "Évry, France", "London"}
	employment := []string{"full_time", "contract", "part_time"}
	start := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	var jobs []searchJob
	for i := range 48 {
		// Three jobs at a time share their created_at, and are ordered by
		// id: a page of two ends inside such a run.
		at := start.Add(-time.Duration(i/3) * time.Hour)
		jobs = append(jobs, searchJob{
			title: titles[i%len(titles)], company: companies[(i/2)%len(companies)], location: locations[(i/3)%len(locations)],
			employment: employment[i%len(employment)], remote: i%4 == 0, closed: i%9 == 5, at: at,
		})
	}
	postSearchJobs(t, ctx, own.Pool, recruiter, jobs[:24])
	postSearchJobs(t, ctx, own.Pool, other, jobs[24:])
	view := projections.NewJobsView(own.Pool)
	yes := true

	long := strings.Repeat("senior backend engineer ", 9)[:200]
	for _, c := range []struct {
		f projections.JobFilter
		// want is how many match, where the test states it rather than
		// only trusting the reference: -1 for none stated.
		want int
	}{
		{projections.JobFilter{Title: "e"}, -1},
		{projections.JobFilter{Title: "E"}, -1},
		{projections.JobFilter{Company: "y"}, -1},
		{projections.JobFilter{Location: "ab"}, -1},
		{projections.JobFilter{Title: "%"}, -1},
		{projections.JobFilter{Title: "_"}, -1},
		{projections.JobFilter{Title: `\`}, -1},
		{projections.JobFilter{Title: "0% r"}, -1},
		{projections.JobFilter{Title: "e_c"}, -1},
		{projections.JobFilter{Title: `k\s`}, -1},
		{projections.JobFilter{Title: "%%"}, 0},
		{projections.JobFilter{Title: "éc"}, -1},
		{projections.JobFilter{Title: "ÉCOLE"}, -1},
		{projections.JobFilter{Title: "école lecturer"}, -1},
		{projections.JobFilter{Company: "ÉCOLE normale"}, -1},
		{projections.JobFilter{Location: "évry"}, -1},
		{projections.JobFilter{Title: "ingénieure"}, -1},
		{projections.JobFilter{Company: "straße"}, -1},
		{projections.JobFilter{Title: "eer"}, -1},
		{projections.JobFilter{Title: "Senior Backend Engineer"}, -1},
		{projections.JobFilter{Title: long}, 0},
		{projections.JobFilter{Title: "e", Company: "y"}, -1},
		{projections.JobFilter{Title: "an", Location: "on"}, -1},
		{projections.JobFilter{Title: "e", Location: "berlin"}, -1},
		{projections.JobFilter{Title: "engineer", Location: "lisbon"}, -1},
		{projections.JobFilter{Title: "engineer", Company: "k"}, -1},
		{projections.JobFilter{Title: "e", Status: "closed"}, -1},
		{projections.JobFilter{Title: "e", EmploymentType: "contract"}, -1},
		{projections.JobFilter{Title: "e", Remote: &yes}, -1},
		{projections.JobFilter{Title: "e", RecruiterID: &recruiter}, -1},
		{projections.JobFilter{Title: "e", Query: "engineer"}, -1},
		{projections.JobFilter{Title: "a", Query: "-nurse"}, -1},
		{projections.JobFilter{Query: "-nurse -yoga"}, -1},
		{projections.JobFilter{Query: "engineer or -backend"}, -1},
		{projections.JobFilter{Query: `-"backend engineer" -teacher`}, -1},
		{projections.JobFilter{Query: "-the -and"}, 0}, // stop words only: an empty query matches nothing
		{projections.JobFilter{Query: "full-time"}, -1},
		{projections.JobFilter{Query: "engineer"}, -1},
		{projections.JobFilter{}, -1},
		{projections.JobFilter{RecruiterID: &recruiter}, 24 - 3}, // jobs 5, 14 and 23 are closed
	} {
		f := c.f
		if f.Status == "" {
			f.Status = "open"
		}
		t.Run(fmt.Sprintf("%+v", f), func(t *testing.T) {
			is := is.New(t)
			want := reference(t, ctx, own.Pool, f)
			if c.want >= 0 {
				is.Equal(len(want), c.want) // the reference itself counts as stated
			}
			for _, few := range []int{0, 3} {
				got, totals := listAll(t, ctx, view, f, 2, few)
				if !slices.Equal(got, want) {
					t.Fatalf("few=%d: listed %v, want %v", few, got, want) // the same jobs, in the same order
				}
				for _, total := range totals {
					is.Equal(total, len(want)) // every page counts them all
				}
			}
		})
	}

	// The filters that matter here match something, and not everything:
	// otherwise the comparisons above prove little.
	for _, f := range []projections.JobFilter{{Title: "éc"}, {Title: "_"}, {Title: "%"}, {Title: `\`}, {Company: "straße"},
		{Query: "-nurse -yoga"}, {Title: "e", Company: "y"}} {
		f.Status = "open"
		n := len(reference(t, ctx, own.Pool, f))
		if n == 0 || n >= 40 {
			t.Errorf("%+v matches %d jobs: the data no longer tests it", f, n)
		}
	}
	// Folding case is lower()'s, as ILIKE's: É and é, and ß in Straße and
	// STRASSE stay apart (lower('STRASSE') is 'strasse').
	is := is.New(t)
	page, err := view.List(ctx, projections.JobFilter{Title: "éc", Status: "open", Limit: 100})
	is.NoErr(err)
	is.True(page.Total > 0)
	for _, j := range page.Items {
		is.Equal(j.Title, "ÉCOLE Lecturer") // "éc" finds ÉCOLE
	}
	page, err = view.List(ctx, projections.JobFilter{Company: "strasse", Status: "open", Limit: 100})
	is.NoErr(err)
	is.Equal(page.Total, 0) // nor is ß folded to ss
}

// searchRow is a job's row in job_search, next to what jobs says of it.
type searchRow struct {
	inJobs, inSearch bool
	differs          []string
}

// jobSearchRow compares the job's row in job_search with its row in jobs:
// the columns both have, and the lowercased ones with lower() of jobs'.
func jobSearchRow(t *testing.T, ctx context.Context, pool *pgxpool.Pool, id uuid.UUID) searchRow {
	t.Helper()
	var r searchRow
	var differs []string
	err := pool.QueryRow(ctx, `
SELECT j.id IS NOT NULL, s.id IS NOT NULL, array_remove(ARRAY[
  CASE WHEN j.recruiter_id IS DISTINCT FROM s.recruiter_id THEN 'recruiter_id' END,
  CASE WHEN j.status IS DISTINCT FROM s.status THEN 'status' END,
  CASE WHEN j.created_at IS DISTINCT FROM s.created_at THEN 'created_at' END,
  CASE WHEN j.title IS DISTINCT FROM s.title THEN 'title' END,
  CASE WHEN j.company IS DISTINCT FROM s.company THEN 'company' END,
  CASE WHEN j.location IS DISTINCT FROM s.location THEN 'location' END,
  CASE WHEN j.employment_type IS DISTINCT FROM s.employment_type THEN 'employment_type' END,
  CASE WHEN j.remote IS DISTINCT FROM s.remote THEN 'remote' END,
  CASE WHEN lower(j.title) IS DISTINCT FROM s.title_lower THEN 'title_lower' END,
  CASE WHEN lower(j.company) IS DISTINCT FROM s.company_lower THEN 'company_lower' END,
  CASE WHEN lower(j.location) IS DISTINCT FROM s.location_lower THEN 'location_lower' END], NULL)
FROM (SELECT $1::uuid AS id) k LEFT JOIN jobs j ON j.id = k.id AND j.deleted_at IS NULL LEFT JOIN job_search s ON s.id = k.id`, id).
		Scan(&r.inJobs, &r.inSearch, &differs)
	if err != nil {
		t.Fatal(err)
	}
	if r.inJobs && r.inSearch {
		r.differs = differs
	}
	return r
}

// TestJobSearchFollowsJobs changes a job in every way the domain can and
// checks after each change that its row in job_search says what its row in
// jobs does, and that listings find it by its new text only.
func TestJobSearchFollowsJobs(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	ctx := testCtx(t)
	own := testdb.New(t)
	store := eventstore.New(own.Pool, eventstore.WithKeyring(testdb.Keyring()))
	view := projections.NewJobsView(own.Pool)
	poster := domain.Poster{ID: uuid.New(), Role: domain.RoleRecruiter, Company: "Acme"}
	title, description, location := "Quarry Surveyor", "Survey quarries.", "Leeds"
	job, events, err := domain.PostJob(uuid.Must(uuid.NewV7()), poster, domain.JobDraft{Title: &title, Description: &description, Location: &location}, time.Now())
	is.NoErr(err)
	version := int64(0)
	apply := func(what string, events []domain.Event, err error) {
		t.Helper()
		is.NoErr(err)
		appended, err := store.Append(ctx, eventstore.Stream{Type: domain.StreamJob, ID: job.ID()}, version, events)
		is.NoErr(err)
		version += int64(len(events))
		for _, r := range appended.Records {
			is.NoErr(projectCommitted(t, ctx, own.Pool, projections.JobsProjector{}, r))
		}
		row := jobSearchRow(t, ctx, own.Pool, job.ID())
		if row.inJobs && (!row.inSearch || len(row.differs) > 0) {
			t.Fatalf("after %s: job_search is not in step with jobs: in job_search %v, differs in %v", what, row.inSearch, row.differs)
		}
	}
	found := func(f projections.JobFilter) int {
		t.Helper()
		if f.Status == "" {
			f.Status = "open"
		}
		f.Limit, f.RecruiterID = 20, &poster.ID
		page, err := view.List(ctx, f)
		is.NoErr(err)
		return page.Total
	}
	at := time.Now()
	later := func() time.Time { at = at.Add(time.Minute); return at }

	apply("posting", events, nil)
	is.Equal(found(projections.JobFilter{Title: "quarry"}), 1)
	is.Equal(found(projections.JobFilter{Title: "ry s"}), 1)

	newTitle, company, place, contract, remote := "Tunnel Engineer", "Bore Ltd", "Zürich", "contract", true
	events, err = job.Patch(poster, domain.JobPatch{Title: &newTitle, Company: &company, Location: &place,
		EmploymentType: &contract, Remote: &remote}, later())
	apply("an update of every listed field", events, err)
	is.Equal(found(projections.JobFilter{Title: "quarry"}), 0)    // not by its old title
	is.Equal(found(projections.JobFilter{Title: "tu"}), 1)        // by its new one
	is.Equal(found(projections.JobFilter{Company: "bore"}), 1)    // its new company
	is.Equal(found(projections.JobFilter{Location: "ZÜRICH"}), 1) // its new location, in any case
	is.Equal(found(projections.JobFilter{Title: "t", EmploymentType: "contract", Remote: &remote}), 1)

	longer := "Survey tunnels, and write it all down."
	events, err = job.Patch(poster, domain.JobPatch{Description: &longer}, later())
	apply("an update of a field job_search does not hold", events, err)

	closed := domain.StatusClosed.String()
	events, err = job.Patch(poster, domain.JobPatch{Status: &closed}, later())
	apply("closing", events, err)
	is.Equal(found(projections.JobFilter{Title: "tu"}), 0)                   // no longer open
	is.Equal(found(projections.JobFilter{Title: "tu", Status: "closed"}), 1) // but closed

	open := domain.StatusOpen.String()
	events, err = job.Patch(poster, domain.JobPatch{Status: &open}, later())
	apply("reopening", events, err)
	is.Equal(found(projections.JobFilter{Title: "tu"}), 1)

	renamed := "Tunnel Inspector"
	events, err = job.Patch(poster, domain.JobPatch{Title: &renamed, Status: &closed}, later())
	apply("an update that closes it too", events, err)
	is.Equal(found(projections.JobFilter{Title: "insp", Status: "closed"}), 1)

	events, err = job.Delete(poster, later())
	apply("deleting", events, err)
	row := jobSearchRow(t, ctx, own.Pool, job.ID())
	is.True(!row.inJobs && !row.inSearch) // gone from both (jobs keeps it, marked deleted)
	is.Equal(found(projections.JobFilter{Title: "insp", Status: "closed"}), 0)
}

// The filters are parameters: what a value holds never reaches the
// statement's text, whichever form the value gives the statement.
func TestListingStatementsCarryNoValue(t *testing.T) {
	is := is.New(t)
	marker := "zqx'\"\\%_;"
	for _, f := range []projections.JobFilter{
		{Title: marker}, {Title: "ab" + marker}, {Company: marker, Location: marker + "abc"}, {Query: marker},
		{Query: marker, Title: marker},
	} {
		f.Status, f.Limit = "open", 20
		pageSQL, _, countSQL, _ := projections.ListSQL(f)
		is.True(!strings.Contains(pageSQL, "zqx"))  // the page's text holds no value
		is.True(!strings.Contains(countSQL, "zqx")) // nor the count's
	}
	// A value with a trigram and one without are two forms of a statement,
	// and only the one with a trigram can be answered by the trigram index
	// (jobs_explain_test.go shows it).
	with, _, _, _ := projections.ListSQL(projections.JobFilter{Title: "abc", Status: "open", Limit: 20})
	without, _, _, _ := projections.ListSQL(projections.JobFilter{Title: "ab", Status: "open", Limit: 20})
	is.True(!strings.Contains(with, `COLLATE "C"`))
	is.True(strings.Contains(without, `COLLATE "C"`))
}
