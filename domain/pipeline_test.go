package domain_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/domain"
)

// applicationAt returns an application of a new job, moved to status
// through the events a real history would hold, and the ids of its
// recruiter and applicant.
func applicationAt(t *testing.T, status domain.ApplicationStatus) (*domain.Application, uuid.UUID, uuid.UUID) {
	t.Helper()
	job := openJob(t)
	applicant := seeker()
	app, events, err := submit(job, applicant, domain.ApplicationForm{}, nil)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	submitted := events[0].(domain.ApplicationSubmitted)
	history := []domain.Event{submitted}
	switch status {
	case domain.ApplicationSubmittedStatus:
	case domain.StatusWithdrawn:
		history = append(history, domain.ApplicationWithdrawn{ApplicationID: app.ID(), JobID: job.ID(),
			ApplicantID: applicant.ID, RecruiterID: job.RecruiterID(), From: domain.ApplicationSubmittedStatus, WithdrawnAt: t0})
	default:
		history = append(history, domain.ApplicationStatusChanged{ApplicationID: app.ID(), JobID: job.ID(),
			ApplicantID: applicant.ID, RecruiterID: job.RecruiterID(), From: domain.ApplicationSubmittedStatus, To: status,
			ChangedBy: job.RecruiterID(), ChangedAt: t0})
	}
	app, err = domain.ApplicationFromHistory(history)
	if err != nil {
		t.Fatalf("fold: %v", err)
	}
	if app.Status() != status {
		t.Fatalf("folded to %s, want %s", app.Status(), status)
	}
	return app, job.RecruiterID(), applicant.ID
}

// TestApplicationMoves checks every (from, to, actor) triple against the
// pipeline's rules, written out as one grid per actor: rows are the
// status moved from, columns the status asked for, in the order of
// domain.ApplicationStatuses (submitted, screening, interview, offer,
// hired, rejected, withdrawn). "ok" is an accepted move; otherwise the
// kind of error.
func TestApplicationMoves(t *testing.T) {
	grids := map[string][7][7]string{
		"recruiter": {
			/* submitted */ {"409", "ok", "ok", "ok", "ok", "ok", "403"},
			/* screening */ {"ok", "409", "ok", "ok", "ok", "ok", "403"},
			/* interview */ {"ok", "ok", "409", "ok", "ok", "ok", "403"},
			/* offer     */ {"ok", "ok", "ok", "409", "ok", "ok", "403"},
			/* hired     */ {"409", "409", "409", "409", "409", "409", "403"},
			/* rejected  */ {"409", "409", "409", "409", "409", "409", "403"},
			/* withdrawn */ {"409", "409", "409", "409", "409", "409", "403"},
		},
		"applicant": {
			/* submitted */ {"403", "403", "403", "403", "403", "403", "ok"},
			/* screening */ {"403", "403", "403", "403", "403", "403", "ok"},
			/* interview */ {"403", "403", "403", "403", "403", "403", "ok"},
			/* offer     */ {"403", "403", "403", "403", "403", "403", "ok"},
			/* hired     */ {"403", "403", "403", "403", "403", "403", "409"},
			/* rejected  */ {"403", "403", "403", "403", "403", "403", "409"},
			/* withdrawn */ {"403", "403", "403", "403", "403", "403", "409"},
		},
		"stranger": {
			{"404", "404", "404", "404", "404", "404", "404"},
			{"404", "404", "404", "404", "404", "404", "404"},
			{"404", "404", "404", "404", "404", "404", "404"},
			{"404", "404", "404", "404", "404", "404", "404"},
			{"404", "404", "404", "404", "404", "404", "404"},
			{"404", "404", "404", "404", "404", "404", "404"},
			{"404", "404", "404", "404", "404", "404", "404"},
		},
	}
	kinds := map[domain.Kind]string{domain.KindForbidden: "403", domain.KindNotFound: "404", domain.KindConflict: "409"}
	for actorName, grid := range grids {
		for i, from := range domain.ApplicationStatuses {
			for j, to := range domain.ApplicationStatuses {
				t.Run(actorName+"/"+from.String()+"->"+to.String(), func(t *testing.T) {
					is := is.New(t)
					app, recruiterID, applicantID := applicationAt(t, from)
					actor := map[string]uuid.UUID{"recruiter": recruiterID, "applicant": applicantID, "stranger": uuid.New()}[actorName]
					version := app.Version()
					at := t0.Add(time.Hour)
					events, err := app.Move(actor, domain.ApplicationMove{Status: to.String()}, at)
					want := grid[i][j]
					if want != "ok" {
						is.True(err != nil)                       // refused
						is.Equal(kinds[domain.KindOf(err)], want) // with the right kind
						is.Equal(len(events), 0)
						is.Equal(app.Status(), from) // and nothing changed
						is.Equal(app.Version(), version)
						return
					}
					is.NoErr(err)
					is.Equal(len(events), 1)
					is.Equal(app.Status(), to)
					is.Equal(app.Version(), version+1)
					is.Equal(app.UpdatedAt(), at)
					switch e := events[0].(type) {
					case domain.ApplicationStatusChanged:
						is.True(to != domain.StatusWithdrawn)
						is.Equal(e.From, from)
						is.Equal(e.To, to)
						is.Equal(e.ChangedBy, actor)
						is.Equal(e.ApplicationID, app.ID())
						is.Equal(e.JobID, app.JobID())
						is.Equal(e.ApplicantID, applicantID)
						is.Equal(e.RecruiterID, recruiterID)
					case domain.ApplicationWithdrawn:
						is.Equal(to, domain.StatusWithdrawn)
						is.Equal(e.From, from)
						is.Equal(e.ApplicantID, actor)
					default:
						t.Fatalf("decided %T", e)
					}
				})
			}
		}
	}
}

// TestApplicationMoveFields checks the status and reason of a move, which
// are checked before who may make it.
func TestApplicationMoveFields(t *testing.T) {
	reason := func(s string) *string { return &s }
	tests := []struct {
		name   string
		actor  string
		move   domain.ApplicationMove
		fields []string
	}{
		{"unknown status", "recruiter", domain.ApplicationMove{Status: "fired"}, []string{"status"}},
		{"empty status", "recruiter", domain.ApplicationMove{Status: ""}, []string{"status"}},
		{"status in capitals", "recruiter", domain.ApplicationMove{Status: "REJECTED"}, []string{"status"}},
		{"reason without a rejection", "recruiter", domain.ApplicationMove{Status: "interview", Reason: reason("x")}, []string{"reason"}},
		{"reason with a withdrawal", "applicant", domain.ApplicationMove{Status: "withdrawn", Reason: reason("x")}, []string{"reason"}},
		{"reason too long", "recruiter", domain.ApplicationMove{Status: "rejected", Reason: reason(strings.Repeat("é", 501))}, []string{"reason"}},
		{"reason on two lines", "recruiter", domain.ApplicationMove{Status: "rejected", Reason: reason("a\nb")}, []string{"reason"}},
		{"unknown status and a reason", "recruiter", domain.ApplicationMove{Status: "nope", Reason: reason("x")}, []string{"status"}},
		{"applicant with an unknown status", "applicant", domain.ApplicationMove{Status: "nope"}, []string{"status"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			app, recruiterID, applicantID := applicationAt(t, domain.ApplicationSubmittedStatus)
			actor := recruiterID
			if tt.actor == "applicant" {
				actor = applicantID
			}
			_, err := app.Move(actor, tt.move, t0)
			is.Equal(domain.KindOf(err), domain.KindInvalid)
			var got []string
			var derr *domain.Error
			is.True(errors.As(err, &derr))
			for _, f := range derr.Fields {
				got = append(got, f.Field)
			}
			is.Equal(got, tt.fields)
			is.Equal(app.Status(), domain.ApplicationSubmittedStatus)
		})
	}
}

// TestApplicationRejectionReason checks that a reason is kept, trimmed,
// with a rejection, and that 500 characters are allowed.
func TestApplicationRejectionReason(t *testing.T) {
	is := is.New(t)
	app, recruiterID, _ := applicationAt(t, domain.StatusInterview)
	reason := " " + strings.Repeat("é", 500) + " "
	events, err := app.Move(recruiterID, domain.ApplicationMove{Status: "rejected", Reason: &reason}, t0)
	is.NoErr(err)
	e := events[0].(domain.ApplicationStatusChanged)
	is.Equal(e.Reason, strings.TrimSpace(reason))
	is.Equal(app.RejectionReason(), e.Reason)
	data, err := json.Marshal(e)
	is.NoErr(err)
	back, err := domain.DecodeEvent(e.EventType(), domain.SchemaVersion(e), data)
	is.NoErr(err)
	is.Equal(back, e) // the event survives the log
}

// TestNotifiesApplicant checks which moves mail the applicant.
func TestNotifiesApplicant(t *testing.T) {
	s := map[string]domain.ApplicationStatus{}
	for _, st := range domain.ApplicationStatuses {
		s[st.String()] = st
	}
	tests := []struct {
		from, to string
		want     bool
	}{
		{"submitted", "screening", false},
		{"submitted", "interview", true},
		{"screening", "interview", true},
		{"offer", "interview", false}, // a step back
		{"interview", "offer", true},
		{"submitted", "offer", true},
		{"offer", "submitted", false},
		{"interview", "screening", false},
		{"offer", "screening", false},
		{"offer", "hired", true},
		{"submitted", "hired", true},
		{"submitted", "rejected", true},
		{"offer", "rejected", true},
	}
	for _, tt := range tests {
		e := domain.ApplicationStatusChanged{From: s[tt.from], To: s[tt.to]}
		if got := e.NotifiesApplicant(); got != tt.want {
			t.Errorf("%s -> %s: notifies %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
}
