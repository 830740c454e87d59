package replay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
)

// seeder makes a realistic log: recruiters and job seekers register,
// recruiters post jobs and then update, close, reopen and delete them,
// seekers apply (once per job each). Events are written straight into the
// events table with COPY, as the event store would store them (it is the
// log a replay reads; nothing is published to Watermill).
type seeder struct {
	rng        *rand.Rand
	at         time.Time
	recruiters []uuid.UUID
	seekers    []uuid.UUID
	jobs       []*seedJob // live jobs
	applied    map[[2]uuid.UUID]bool
	rows       [][]any
	events     []seedEvent
	counts     map[string]int
}

type seedEvent struct {
	stream  eventstore.Stream
	actor   uuid.UUID
	version int64
	event   domain.Event
}

type seedJob struct {
	id, recruiter uuid.UUID
	version       int64
	closed        bool
}

func newSeeder(seed uint64) *seeder {
	return &seeder{
		rng:     rand.New(rand.NewPCG(seed, seed*7+1)),
		at:      time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		applied: map[[2]uuid.UUID]bool{},
		counts:  map[string]int{},
	}
}

var (
	seedTitles    = []string{"Backend Engineer", "Data Analyst", "Registered Nurse", "Sales Manager", "Product Designer", "Go Developer", "Site Reliability Engineer"}
	seedCities    = []string{"London", "Berlin", "Paris", "Lisbon", "Toronto", "Austin", "Tokyo"}
	seedCompanies = []string{"Acme", "Globex", "Initech", "Umbrella", "Hooli"}
)

func (s *seeder) pick(list []string) string { return list[s.rng.IntN(len(list))] }

// add records one event of a stream.
func (s *seeder) add(streamType string, stream, actor uuid.UUID, version int64, e domain.Event) {
	data, err := json.Marshal(e)
	if err != nil {
		panic(err)
	}
	s.at = s.at.Add(time.Duration(1+s.rng.IntN(1000)) * time.Millisecond)
	s.rows = append(s.rows, []any{uuid.New(), streamType, stream, version, e.EventType(), domain.SchemaVersion(e), data, actor, s.at})
	s.events = append(s.events, seedEvent{eventstore.Stream{Type: streamType, ID: stream}, actor, version, e})
	s.counts[e.EventType()]++
}

// generate adds about n events (the accounts first, the first time).
func (s *seeder) generate(n int) {
	users := max(n/100, 4)
	if len(s.recruiters) > 0 {
		users = 0
	}
	for i := range users {
		id := uuid.New()
		role, company := domain.RoleJobSeeker, ""
		if i%5 == 0 {
			role, company = domain.RoleRecruiter, s.pick(seedCompanies)
			s.recruiters = append(s.recruiters, id)
		} else {
			s.seekers = append(s.seekers, id)
		}
		s.add(domain.StreamUser, id, id, 1, domain.UserRegistered{UserID: id, Email: fmt.Sprintf("user-%s@example.com", id),
			Name: fmt.Sprintf("User %d", i), Role: role, Company: company, RegisteredAt: s.at})
	}
	for len(s.rows) < n {
		switch r := s.rng.IntN(100); {
		case r < 12 || len(s.jobs) < 10:
			s.post()
		case r < 50:
			s.update()
		case r < 58:
			s.toggle()
		case r < 60:
			s.remove()
		default:
			s.apply()
		}
	}
}

func (s *seeder) post() {
	j := &seedJob{id: uuid.New(), recruiter: s.recruiters[s.rng.IntN(len(s.recruiters))], version: 1}
	var salaryMin, salaryMax *int64
	if s.rng.IntN(10) < 6 {
		lo, hi := int64(30000+s.rng.IntN(50000)), int64(90000+s.rng.IntN(60000))
		salaryMin, salaryMax = &lo, &hi
	}
	e := domain.JobPosted{JobID: j.id, RecruiterID: j.recruiter, Title: s.pick(seedTitles),
		Description: "We are hiring. " + s.pick(seedTitles) + " in " + s.pick(seedCities) + ", working with a small team.",
		Company:     s.pick(seedCompanies), Location: s.pick(seedCities), EmploymentType: domain.EmploymentTypes[s.rng.IntN(len(domain.EmploymentTypes))],
		Remote: s.rng.IntN(4) == 0, SalaryMin: salaryMin, SalaryMax: salaryMax, PostedAt: s.at}
	if salaryMin != nil {
		e.SalaryCurrency = "EUR"
	}
	s.add(domain.StreamJob, j.id, j.recruiter, 1, e)
	s.jobs = append(s.jobs, j)
}

func (s *seeder) job() *seedJob { return s.jobs[s.rng.IntN(len(s.jobs))] }

func (s *seeder) update() {
	j := s.job()
	j.version++
	e := domain.JobUpdated{JobID: j.id, UpdatedAt: s.at}
	switch s.rng.IntN(4) {
	case 0:
		t := s.pick(seedTitles) + " II"
		e.Title = &t
	case 1:
		l := s.pick(seedCities)
		e.Location = &l
	case 2:
		d := "Updated: " + s.pick(seedTitles)
		e.Description = &d
	default:
		remote := s.rng.IntN(2) == 0
		e.Remote = &remote
	}
	s.add(domain.StreamJob, j.id, j.recruiter, j.version, e)
}

func (s *seeder) toggle() {
	j := s.job()
	j.version++
	if j.closed {
		s.add(domain.StreamJob, j.id, j.recruiter, j.version, domain.JobReopened{JobID: j.id, ReopenedAt: s.at})
	} else {
		s.add(domain.StreamJob, j.id, j.recruiter, j.version, domain.JobClosed{JobID: j.id, ClosedAt: s.at})
	}
	j.closed = !j.closed
}

func (s *seeder) remove() {
	i := s.rng.IntN(len(s.jobs))
	j := s.jobs[i]
	j.version++
	s.add(domain.StreamJob, j.id, j.recruiter, j.version, domain.JobDeleted{JobID: j.id, DeletedAt: s.at})
	s.jobs = append(s.jobs[:i], s.jobs[i+1:]...)
}

func (s *seeder) apply() {
	j := s.job()
	if j.closed {
		return
	}
	seeker := s.seekers[s.rng.IntN(len(s.seekers))]
	if s.applied[[2]uuid.UUID{j.id, seeker}] {
		return
	}
	s.applied[[2]uuid.UUID{j.id, seeker}] = true
	id := uuid.New()
	e := domain.ApplicationSubmitted{ApplicationID: id, JobID: j.id, ApplicantID: seeker, RecruiterID: j.recruiter,
		Name: "Applicant", Email: "applicant@example.com", CoverLetter: "I would like this job.", SubmittedAt: s.at}
	if s.rng.IntN(2) == 0 {
		e.Resume = &domain.ResumeFile{FileName: "cv.pdf", ContentType: "application/pdf", Size: 12345,
			SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}
	}
	s.add(domain.StreamApplication, id, seeker, 1, e)
}

// seed writes about total events, generated and copied 100,000 at a time
// so that they never all sit in memory.
func (s *seeder) seed(ctx context.Context, pool *pgxpool.Pool, total int) error {
	written := 0
	for written < total {
		s.generate(min(100_000, total-written))
		written += len(s.rows)
		if err := s.write(ctx, pool); err != nil {
			return err
		}
	}
	return nil
}

// write copies the generated events into the events table, in
// transactions of at most 100,000, and forgets them.
func (s *seeder) write(ctx context.Context, pool *pgxpool.Pool) error {
	columns := []string{"event_id", "stream_type", "stream_id", "stream_version", "event_type", "schema_version", "data", "actor_id", "occurred_at"}
	for len(s.rows) > 0 {
		n := min(len(s.rows), 100_000)
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"events"}, columns, pgx.CopyFromRows(s.rows[:n])); err != nil {
			return err
		}
		s.rows = s.rows[n:]
	}
	s.events = nil
	return nil
}

// appendAll appends the generated events one by one through store, as
// commands do (published to Watermill too), and forgets them.
func (s *seeder) appendAll(ctx context.Context, store *eventstore.Store) error {
	for _, e := range s.events {
		if _, err := store.Append(eventstore.WithActor(ctx, e.actor), e.stream, e.version-1, []domain.Event{e.event}); err != nil {
			return err
		}
	}
	s.rows, s.events = nil, nil
	return nil
}
