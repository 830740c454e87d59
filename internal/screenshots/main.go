// Command screenshots takes the web UI's screenshots in docs/screenshots/:
// the search page with a filter applied, a job's page with the apply form as
// a job seeker sees it, and a recruiter's applicants page (and, with
// -mobile, the search page at a phone's width).
//
//	scripts/screenshots            # or: go run ./internal/screenshots
//
// The pictures in the repository are meant to show the UI as it is, so they
// are taken from the real thing, never from mock-ups: the program creates a
// database of its own (dropped first, so every run starts from the same
// state), runs the whole service in this process as cmd/jobboard does,
// seeds it through the REST API as a client would (two recruiters, a dozen
// jobs, applications with PDF resumes), signs in through the UI's own
// sign-in form in headless Chromium (internal/browser) and takes full-page
// PNGs. Nothing is faked in the page: if the UI breaks, the run fails.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jobboard/jobboard/app"
	"github.com/jobboard/jobboard/internal/browser"
	"github.com/jobboard/jobboard/postgres"
)

// serviceRole is the role the service connects as, as in a deployment: the
// screenshots must not depend on rights only the owner has.
const serviceRole = "jobboard_app"

// password is every seeded account's password. The database is thrown away
// after the run, so it protects nothing.
const password = "screenshots only, not a secret"

// Desktop and phone widths, in CSS pixels. The height is only the first
// viewport: the screenshots cover the whole page.
const (
	desktopWidth, desktopHeight = 1280, 720
	mobileWidth, mobileHeight   = 390, 844
)

func main() {
	out := flag.String("out", "docs/screenshots", "the folder the PNGs are written to")
	server := flag.String("server", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"the PostgreSQL server, as a role that may create databases and roles (its database name is ignored)")
	dbName := flag.String("db", "jobboard_screenshots", "the database to create (dropped first if it exists)")
	keep := flag.Bool("keep", false, "leave the database behind after the run, to look at what was seeded")
	mobile := flag.Bool("mobile", true, "also take search-mobile.png at a phone's width")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	flag.Parse()

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	err := run(ctx, options{out: *out, server: *server, db: *dbName, keep: *keep, mobile: *mobile})
	if err != nil {
		fmt.Fprintln(os.Stderr, "screenshots:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "screenshots: done in %.1fs\n", time.Since(start).Seconds())
}

type options struct {
	out, server, db string
	keep, mobile    bool
}

func run(ctx context.Context, o options) (err error) {
	ownerURL, serviceURL, err := databaseURLs(o.server, o.db)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "jobboard-screenshots-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	step("drop and recreate the database %s", o.db)
	if err := postgres.DropDatabase(ctx, ownerURL, o.db); err != nil {
		return fmt.Errorf("drop %s: %w (is PostgreSQL running? scripts/ensure-postgres starts it)", o.db, err)
	}
	if !o.keep {
		defer func() {
			dropCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if dropErr := postgres.DropDatabase(dropCtx, ownerURL, o.db); dropErr != nil && err == nil {
				err = fmt.Errorf("drop %s: %w", o.db, dropErr)
			}
		}()
	}

	base, stop, err := startService(ctx, ownerURL, serviceURL, filepath.Join(tmp, "mail"))
	if err != nil {
		return err
	}
	// Deferred after the drop, so it runs before it: the service's pool
	// must be closed before its database goes.
	defer func() {
		if stopErr := stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()

	step("seed through the REST API at %s", base)
	seeded, err := seed(ctx, &apiClient{base: base, http: &http.Client{Timeout: 30 * time.Second}})
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}

	step("start Chromium")
	tab, closeBrowser, err := browser.Start(ctx, browser.Options{Width: desktopWidth, Height: desktopHeight})
	if err != nil {
		return err
	}
	defer closeBrowser()

	shots := []struct {
		file string
		take func(context.Context) ([]byte, error)
	}{
		{"search.png", func(c context.Context) ([]byte, error) { return searchPage(c, base, seeded) }},
		{"job-apply.png", func(c context.Context) ([]byte, error) { return jobApplyPage(c, base, seeded, tmp) }},
		{"applicants.png", func(c context.Context) ([]byte, error) { return applicantsPage(c, base, seeded) }},
	}
	if o.mobile {
		shots = append(shots, struct {
			file string
			take func(context.Context) ([]byte, error)
		}{"search-mobile.png", func(c context.Context) ([]byte, error) { return searchMobile(c, base, seeded) }})
	}
	for _, s := range shots {
		step("take %s", s.file)
		png, err := inSession(tab, s.file, s.take)
		if err != nil {
			return fmt.Errorf("%s: %w", s.file, err)
		}
		if err := os.WriteFile(filepath.Join(o.out, s.file), png, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// step says what the program is doing, with the time since it started, so
// that a slow or stuck run shows where.
var began = time.Now()

func step(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "screenshots: %5.1fs  %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
}

// databaseURLs makes the owner's and the service role's URLs of database
// name on server.
func databaseURLs(server, name string) (owner, service string, err error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", "", fmt.Errorf("-server: want a postgres:// URL, got %q", server)
	}
	if name == "" || strings.ContainsAny(name, "/?#") {
		return "", "", fmt.Errorf("-db: %q is not a database name", name)
	}
	u.Path = "/" + name
	owner = u.String()
	u.User = url.User(serviceRole)
	return owner, u.String(), nil
}

// startService runs the job board in this process, as cmd/jobboard does:
// `serve` creates the database, migrates it as its owner and grants the
// service's role its rights. It returns the base URL and a func that stops
// the service.
func startService(ctx context.Context, ownerURL, serviceURL, mailDir string) (base string, stop func() error, err error) {
	secret := make([]byte, 48)
	rand.Read(secret)
	env := map[string]string{
		"DATABASE_URL":         serviceURL,
		"MIGRATE_DATABASE_URL": ownerURL,
		"HTTP_ADDR":            "127.0.0.1:0",
		"JWT_SECRET":           base64.StdEncoding.EncodeToString(secret),
		// The lowest cost bcrypt allows: at the default (12), the seven
		// registrations and the logins and sign-ins after them would add
		// seconds to every run, and these passwords protect nothing.
		"BCRYPT_COST": "4",
		"MAIL_DIR":    mailDir,
		"LOG_LEVEL":   "warn",
	}
	cfg, err := app.ConfigFromEnv(func(name string) string { return env[name] })
	if err != nil {
		return "", nil, fmt.Errorf("configuration: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// The migrations log through the default logger: one line each at
	// info, noise here.
	slog.SetDefault(logger)
	step("start the service (migrates the new database)")
	runCtx, cancel := context.WithCancel(ctx)
	a := app.New(cfg, logger)
	if err := a.Run(runCtx); err != nil {
		cancel()
		a.Close()
		return "", nil, fmt.Errorf("start the service: %w", err)
	}
	// The context ends before the app is closed, as cmd/jobboard's signal
	// context does.
	return "http://" + a.Server.Addr(), func() error { cancel(); return a.Close() }, nil
}

// shotTimeout bounds one picture: seconds when the UI is what the program
// expects, so a minute means an element it waits for is not there.
const shotTimeout = time.Minute

// inSession runs take in a browser context of its own (its own cookies, so
// every picture is of one person's session only) and, when it fails, saves
// what the page looked like then, to see which part of the UI did not match.
func inSession(tab context.Context, name string, take func(context.Context) ([]byte, error)) ([]byte, error) {
	session, cancel := chromedp.NewContext(tab, chromedp.WithNewBrowserContext())
	defer cancel()
	// The first action opens the tab and ties its life to the context it
	// is given: open it without a deadline, then bound the shot, since an
	// element query waits until its element shows up or its context ends.
	if err := chromedp.Do(session); err != nil {
		return nil, err
	}
	ctx, cancelShot := context.WithTimeout(session, shotTimeout)
	defer cancelShot()
	png, err := take(ctx)
	if err == nil {
		return png, nil
	}
	// Left in the system's temporary folder, which outlives the run's own.
	failed := filepath.Join(os.TempDir(), "jobboard-screenshots-failed-"+strings.TrimSuffix(name, ".png"))
	quick, cancelQuick := context.WithTimeout(session, 10*time.Second)
	defer cancelQuick()
	if shot, shotErr := chromedp.Run(quick, chromedp.FullScreenshot(100)); shotErr == nil {
		os.WriteFile(failed+".png", shot, 0o644)
	}
	if html, htmlErr := chromedp.Run(quick, chromedp.OuterHTML(chromedp.CSS("html"))); htmlErr == nil {
		os.WriteFile(failed+".html", []byte(html), 0o644)
	}
	loc, _ := chromedp.Run(quick, chromedp.Location())
	return nil, fmt.Errorf("%w (page %s; what it showed: %s.png and .html)", err, loc, failed)
}

// The shots. Each one gets to its page the way a person would (links,
// forms) where that is what the picture is about, and waits for the
// elements the picture must show before it is taken.

// searchFilter is what the search picture filters on: a title word that
// most seeded jobs share and an employment type that leaves a handful.
var searchFilter = url.Values{"title": {"engineer"}, "employment_type": {"full_time"}}

func searchPage(ctx context.Context, base string, s *seeded) ([]byte, error) {
	if err := open(ctx, base+"/app/"); err != nil {
		return nil, err
	}
	err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.ID("search")),
		chromedp.SendKeys(chromedp.CSS(`#search input[name="title"]`), searchFilter.Get("title")),
		chromedp.SetValue(chromedp.CSS(`#search select[name="employment_type"]`), searchFilter.Get("employment_type")),
	)
	if err != nil {
		return nil, err
	}
	if err := submit(ctx, `#search button`); err != nil {
		return nil, err
	}
	if err := expectPath(ctx, "/app/"); err != nil {
		return nil, err
	}
	if err := expectCount(ctx, `#results li.job`, s.matchingSearch); err != nil {
		return nil, err
	}
	return fullPage(ctx, chromedp.WaitVisible(chromedp.ID("result-count")))
}

func searchMobile(ctx context.Context, base string, s *seeded) ([]byte, error) {
	err := chromedp.Do(ctx, chromedp.EmulateViewport(mobileWidth, mobileHeight, chromedp.EmulateMobile, chromedp.EmulateScale(1)))
	if err != nil {
		return nil, err
	}
	if err := open(ctx, base+"/app/?"+searchFilter.Encode()); err != nil {
		return nil, err
	}
	if err := expectCount(ctx, `#results li.job`, s.matchingSearch); err != nil {
		return nil, err
	}
	return fullPage(ctx, chromedp.WaitVisible(chromedp.ID("result-count")))
}

func jobApplyPage(ctx context.Context, base string, s *seeded, tmp string) ([]byte, error) {
	if err := signIn(ctx, base, s.seeker); err != nil {
		return nil, err
	}
	// A filled-in form, not yet sent: the resume chosen and a cover letter
	// begun, as the page looks just before "Apply".
	resume := filepath.Join(tmp, "maya-patel-cv.pdf")
	if err := os.WriteFile(resume, resumePDF(s.seeker.Name, "Backend engineer, Go and PostgreSQL", s.seeker.Email), 0o644); err != nil {
		return nil, err
	}
	if err := open(ctx, base+"/app/jobs/"+s.showcase.ID); err != nil {
		return nil, err
	}
	return fullPage(ctx,
		chromedp.WaitVisible(chromedp.ID("job-title")),
		chromedp.WaitVisible(chromedp.CSS(`#apply input[name="name"]`)),
		chromedp.SendKeys(chromedp.CSS(`#apply textarea[name="cover_letter"]`),
			"Hello Ann,\n\nI have built and run Go services on PostgreSQL for six years, most recently an event-sourced "+
				"billing system. I would love to bring that to Northwind Labs' platform team.\n\nBest regards,\nMaya"),
		chromedp.SetUploadFiles(chromedp.CSS(`#apply input[name="resume"]`), []string{resume}),
		chromedp.Blur(chromedp.CSS(`#apply textarea[name="cover_letter"]`)),
	)
}

func applicantsPage(ctx context.Context, base string, s *seeded) ([]byte, error) {
	if err := signIn(ctx, base, s.recruiter); err != nil {
		return nil, err
	}
	if err := open(ctx, base+"/app/jobs/"+s.showcase.ID+"/applications"); err != nil {
		return nil, err
	}
	if err := expectCount(ctx, `#applicants tr.application`, len(s.applicants)); err != nil {
		return nil, err
	}
	if err := expectCount(ctx, `#applicants a.resume-link`, len(s.applicants)); err != nil {
		return nil, err
	}
	return fullPage(ctx)
}

// signIn signs in through the UI's sign-in form, as a person does.
func signIn(ctx context.Context, base string, a account) error {
	if err := open(ctx, base+"/app/signin"); err != nil {
		return err
	}
	err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.ID("signin")),
		chromedp.SendKeys(chromedp.CSS(`#signin input[name="email"]`), a.Email),
		chromedp.SendKeys(chromedp.CSS(`#signin input[name="password"]`), password),
	)
	if err != nil {
		return err
	}
	if err := submit(ctx, `#signin button`); err != nil {
		return err
	}
	// Signed in, the page's navigation has a sign-out form; a failed
	// sign-in shows the form again with a problem instead.
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return err
	}
	if strings.Contains(loc, "/app/signin") {
		quick, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		problem, _ := chromedp.Run(quick, chromedp.Text(chromedp.CSS(`#problem`)))
		return fmt.Errorf("sign in as %s: still on the sign-in page (%q)", a.Email, problem)
	}
	return chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("signout")))
}

// open goes to url and waits for it to load; an error page is an error,
// rather than a minute spent waiting for elements it does not have.
func open(ctx context.Context, target string) error {
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(target))
	if err != nil {
		return fmt.Errorf("open %s: %w", target, err)
	}
	if resp.Status >= 400 {
		return fmt.Errorf("open %s: the page answered %d", target, resp.Status)
	}
	return nil
}

// submit clicks a form's button and waits for the page it leads to, which
// must not be an error.
func submit(ctx context.Context, button string) error {
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(button))
	if err != nil {
		return fmt.Errorf("click %s: %w", button, err)
	}
	if resp.Status >= 400 {
		return fmt.Errorf("click %s: the page answered %d", button, resp.Status)
	}
	return nil
}

// expectPath fails unless the page's path is path.
func expectPath(ctx context.Context, path string) error {
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return err
	}
	u, err := url.Parse(loc)
	if err != nil || u.Path != path {
		return fmt.Errorf("the browser is at %s, not %s", loc, path)
	}
	return nil
}

// expectCount waits for the elements sel selects and fails unless there are
// n of them: a picture of the wrong data would pass unnoticed otherwise.
func expectCount(ctx context.Context, sel string, n int) error {
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(sel)))
	if err != nil {
		return fmt.Errorf("find %s: %w", sel, err)
	}
	if len(nodes) != n {
		return fmt.Errorf("%d elements match %s, want %d", len(nodes), sel, n)
	}
	return nil
}

// fullPage runs the steps, then takes a PNG of the whole page.
func fullPage(ctx context.Context, steps ...chromedp.Action[chromedp.Void]) ([]byte, error) {
	if err := chromedp.Do(ctx, steps...); err != nil {
		return nil, err
	}
	// Quality 100 is a PNG (lossless); anything lower would be a JPEG.
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		return nil, errors.New("the screenshot is not a PNG")
	}
	return png, nil
}

// The seed data: what the pictures show, so it reads like a real board.

// account is a seeded user.
type account struct {
	Email, Name, Role, Company string
	token                      string
}

type jobSpec struct {
	Title          string  `json:"title"`
	Description    string  `json:"description"`
	Company        string  `json:"company"`
	Location       string  `json:"location"`
	EmploymentType string  `json:"employment_type"`
	Remote         bool    `json:"remote"`
	SalaryMin      *int64  `json:"salary_min,omitempty"`
	SalaryMax      *int64  `json:"salary_max,omitempty"`
	SalaryCurrency *string `json:"salary_currency,omitempty"`
}

type job struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// seeded is what the shots need to know about the data.
type seeded struct {
	recruiter  account // owns showcase
	seeker     account // signed in on the apply page; has not applied to showcase
	showcase   job     // the job whose page and applicants are shown
	applicants []account
	// matchingSearch is how many seeded jobs searchFilter matches.
	matchingSearch int
}

func salary(lo, hi int64, currency string) (*int64, *int64, *string) { return &lo, &hi, &currency }

func seed(ctx context.Context, c *apiClient) (*seeded, error) {
	ann := account{Email: "ann.jensen@northwind.example", Name: "Ann Jensen", Role: "recruiter", Company: "Northwind Labs"}
	ben := account{Email: "ben.okafor@blueharbor.example", Name: "Ben Okafor", Role: "recruiter", Company: "Blue Harbor Health"}
	maya := account{Email: "maya.patel@example.org", Name: "Maya Patel", Role: "job_seeker"}
	applicants := []account{
		{Email: "lucas.moreau@example.org", Name: "Lucas Moreau", Role: "job_seeker"},
		{Email: "sofia.garcia@example.net", Name: "Sofia García", Role: "job_seeker"},
		{Email: "tom.becker@example.com", Name: "Tom Becker", Role: "job_seeker"},
		{Email: "aiko.tanaka@example.org", Name: "Aiko Tanaka", Role: "job_seeker"},
	}
	for _, a := range append([]*account{&ann, &ben, &maya}, pointers(applicants)...) {
		if err := c.register(ctx, a); err != nil {
			return nil, err
		}
	}

	eur := func(lo, hi int64) func(*jobSpec) {
		return func(j *jobSpec) { j.SalaryMin, j.SalaryMax, j.SalaryCurrency = salary(lo, hi, "EUR") }
	}
	gbp := func(lo, hi int64) func(*jobSpec) {
		return func(j *jobSpec) { j.SalaryMin, j.SalaryMax, j.SalaryCurrency = salary(lo, hi, "GBP") }
	}
	none := func(*jobSpec) {}
	type posting struct {
		by   *account
		spec jobSpec
		pay  func(*jobSpec)
	}
	// Posted oldest first: the listing shows the last one at the top.
	postings := []posting{
		{&ben, jobSpec{Title: "Patient Support Specialist", Location: "Cork, Ireland", EmploymentType: "part_time",
			Description: "Be the first voice our patients hear. You answer questions about appointments and billing by phone and chat, and you know when to bring in a nurse.\n\nThree days a week, in our Cork clinic."}, none},
		{&ann, jobSpec{Title: "Product Designer", Location: "Lisbon, Portugal", EmploymentType: "part_time", Remote: true,
			Description: "Design the screens our customers use every day, from research to the last pixel. You will work with two engineers and a product manager, and test your ideas with real users every other week."}, none},
		{&ben, jobSpec{Title: "Registered Nurse, Night Shift", Location: "Dublin, Ireland", EmploymentType: "full_time",
			Description: "Join the night team of our 40-bed ward. You hold an NMBI registration and have at least two years of acute care experience.\n\nFour nights on, four off; a shift allowance on top of the salary."}, eur(42000, 52000)},
		{&ann, jobSpec{Title: "Software Engineering Intern", Location: "Berlin, Germany", EmploymentType: "internship",
			Description: "Six months in our platform team, with a mentor, real code review and a project of your own that ships to production. For students in their last year of a computer science degree or similar."}, eur(24000, 26000)},
		{&ben, jobSpec{Title: "Clinical Data Analyst", Location: "Dublin, Ireland", EmploymentType: "full_time", Remote: true,
			Description: "Turn ward and lab data into reports that clinicians trust. SQL every day, some Python, and a lot of careful questions about where the numbers come from."}, eur(55000, 68000)},
		{&ann, jobSpec{Title: "Data Engineer", Location: "London, United Kingdom", EmploymentType: "contract",
			Description: "A twelve-month contract to move our batch pipelines to streaming. Kafka, PostgreSQL and dbt; you have done a migration like this before."}, gbp(70000, 85000)},
		{&ben, jobSpec{Title: "Mobile Engineer (iOS)", Location: "Dublin, Ireland", EmploymentType: "full_time", Remote: true,
			Description: "Build the app patients use to book appointments and read their results. Swift and SwiftUI, accessibility from the start, and a release every two weeks."}, eur(70000, 85000)},
		{&ann, jobSpec{Title: "Engineering Manager, Platform", Location: "Berlin, Germany", EmploymentType: "full_time",
			Description: "Lead the seven engineers who run our infrastructure and internal tools. You have managed a team before and still enjoy reading a design document closely."}, eur(95000, 120000)},
		{&ben, jobSpec{Title: "Machine Learning Engineer, Imaging", Location: "London, United Kingdom", EmploymentType: "full_time",
			Description: "Train and ship models that flag urgent scans for radiologists. PyTorch, a GPU cluster, and a clinical safety process you will help shape."}, gbp(85000, 110000)},
		{&ann, jobSpec{Title: "Frontend Engineer (Accessibility)", Location: "Amsterdam, Netherlands", EmploymentType: "full_time", Remote: true,
			Description: "Make our product usable by everyone: semantic HTML, keyboard and screen reader support, WCAG 2.2 AA. You will audit, fix and teach."}, eur(65000, 80000)},
		{&ann, jobSpec{Title: "Site Reliability Engineer", Location: "Berlin, Germany", EmploymentType: "full_time", Remote: true,
			Description: "Keep our PostgreSQL clusters and Kubernetes fleet boring. On call one week in six, with time after every incident to fix its cause."}, eur(72000, 92000)},
		{&ann, jobSpec{Title: "Senior Backend Engineer (Go)", Location: "Berlin, Germany", EmploymentType: "full_time",
			Description: "Northwind Labs builds logistics software that plans a million deliveries a day. As a senior backend engineer in our platform team you will design and run the Go services behind it, on PostgreSQL and Kafka.\n\n" +
				"What you will do:\n- own services from design document to production\n- review code and mentor two mid-level engineers\n- take part in an on-call rotation (one week in six)\n\n" +
				"What you bring: five or more years of backend work, Go or a willingness to learn it quickly, and SQL you are proud of.\n\n" +
				"We offer 30 days of leave, a learning budget of €2,000 a year, and a hybrid week (two days in our Kreuzberg office)."}, eur(80000, 100000)},
	}
	matching := 0
	var showcase job
	for i, p := range postings {
		p.spec.Company = p.by.Company
		p.pay(&p.spec)
		j, err := c.postJob(ctx, p.by, p.spec)
		if err != nil {
			return nil, err
		}
		if strings.Contains(strings.ToLower(p.spec.Title), searchFilter.Get("title")) &&
			p.spec.EmploymentType == searchFilter.Get("employment_type") {
			matching++
		}
		if i == len(postings)-1 {
			showcase = j
		}
	}

	headlines := []string{
		"Backend engineer, eight years of Go and Java",
		"Software engineer, distributed systems",
		"Platform engineer, Kubernetes and PostgreSQL",
		"Backend developer, payments",
	}
	letters := []string{
		"I have run Go services on PostgreSQL in production for five years, most recently the routing engine of a delivery start-up. Your platform team's work is exactly what I want to do next.",
		"Hola Ann, I am a software engineer in Madrid moving to Berlin this spring. I led the migration of our order service from a monolith to Go services on Kafka.",
		"",
		"I maintain an open-source PostgreSQL connection pooler written in Go and would enjoy working on logistics problems at your scale.",
	}
	for i := range applicants {
		a := &applicants[i]
		pdf := resumePDF(a.Name, headlines[i], a.Email)
		file := strings.ToLower(strings.ReplaceAll(asciiOnly(a.Name), " ", "-")) + "-cv.pdf"
		if err := c.apply(ctx, a, showcase.ID, letters[i], file, pdf); err != nil {
			return nil, err
		}
	}
	return &seeded{recruiter: ann, seeker: maya, showcase: showcase, applicants: applicants, matchingSearch: matching}, nil
}

func pointers(as []account) []*account {
	out := make([]*account, len(as))
	for i := range as {
		out[i] = &as[i]
	}
	return out
}

// apiClient talks to the REST API as any client would.
type apiClient struct {
	base string
	http *http.Client
}

func (c *apiClient) register(ctx context.Context, a *account) error {
	body := map[string]any{"email": a.Email, "password": password, "name": a.Name, "role": a.Role}
	if a.Company != "" {
		body["company"] = a.Company
	}
	if err := c.send(ctx, http.MethodPost, "/register", "", body, http.StatusCreated, nil); err != nil {
		return err
	}
	var login struct {
		AccessToken string `json:"access_token"`
	}
	if err := c.send(ctx, http.MethodPost, "/login", "", map[string]string{"email": a.Email, "password": password}, http.StatusOK, &login); err != nil {
		return err
	}
	a.token = login.AccessToken
	return nil
}

func (c *apiClient) postJob(ctx context.Context, by *account, spec jobSpec) (job, error) {
	var j job
	err := c.send(ctx, http.MethodPost, "/jobs", by.token, spec, http.StatusCreated, &j)
	return j, err
}

// apply sends an application as the UI's form does: multipart, with a
// resume.
func (c *apiClient) apply(ctx context.Context, a *account, jobID, coverLetter, fileName string, resume []byte) error {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	fields := [][2]string{{"name", a.Name}, {"email", a.Email}}
	if coverLetter != "" {
		fields = append(fields, [2]string{"cover_letter", coverLetter})
	}
	for _, f := range fields {
		if err := w.WriteField(f[0], f[1]); err != nil {
			return err
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="resume"; filename=%q`, fileName))
	h.Set("Content-Type", "application/pdf")
	part, err := w.CreatePart(h)
	if err != nil {
		return err
	}
	part.Write(resume)
	if err := w.Close(); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/jobs/"+jobID+"/apply", &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+a.token)
	return c.do(req, http.StatusCreated, nil)
}

// send sends v as JSON and decodes the answer into out (when not nil).
func (c *apiClient) send(ctx context.Context, method, path, token string, v any, want int, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return c.do(req, want, out)
}

func (c *apiClient) do(req *http.Request, want int, out any) error {
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// resumePDF makes a one-page PDF that a viewer opens and shows: the name,
// a headline, an email and a few lines of experience in Helvetica. Built by
// hand (five objects and their cross-reference table) so that the program
// needs no PDF library and no file in the repository.
func resumePDF(name, headline, email string) []byte {
	lines := []struct {
		size int
		text string
	}{
		{22, asciiOnly(name)},
		{12, headline},
		{10, email},
		{10, ""},
		{12, "Experience"},
		{10, "2021-now   Senior Software Engineer, Parcelway GmbH, Berlin"},
		{10, "2017-2021  Software Engineer, Fintrail Ltd, London"},
		{12, "Education"},
		{10, "2013-2017  BSc Computer Science, University of Edinburgh"},
	}
	var content bytes.Buffer
	content.WriteString("BT 72 740 Td")
	for i, l := range lines {
		if i > 0 {
			fmt.Fprintf(&content, " 0 -%d Td", l.size+10)
		}
		fmt.Fprintf(&content, " /F1 %d Tf (%s) Tj", l.size, pdfEscape(l.text))
	}
	content.WriteString(" ET")
	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", content.Len(), content.Bytes()),
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objects))
	for i, o := range objects {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, xref)
	return b.Bytes()
}

// pdfEscape escapes a PDF string's delimiters.
func pdfEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`).Replace(s)
}

// asciiOnly drops the accents the seeded names have (í → i), for the PDF's
// standard font and for file names.
func asciiOnly(s string) string {
	return strings.NewReplacer("í", "i", "é", "e", "á", "a", "ó", "o", "ú", "u", "ñ", "n").Replace(s)
}
