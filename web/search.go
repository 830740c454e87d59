package web

import (
	"net/http"
	"net/url"

	api "github.com/jobboard/jobboard/http"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/projections"
)

// searchParams are the query parameters of the search that a next page
// keeps: GET /jobs's, but for status and recruiter_id, which the search of
// open jobs does not take (a recruiter's closed jobs are on "My jobs").
var searchParams = []string{"title", "location", "company", "q", "employment_type", "remote", "limit"}

// searchData is the search page: the form as it was filled in, and the
// results (none when the filter was refused).
type searchData struct {
	Form            url.Values
	EmploymentTypes []option
	Remote          []option
	Searched        bool
	Total           int
	Jobs            []projections.JobRow
	Next            string
}

// option is an <option> of a <select>.
type option struct {
	Value, Label string
	Selected     bool
}

// employmentTypeLabels name the employment types for people.
var employmentTypeLabels = map[string]string{
	"full_time": "Full time", "part_time": "Part time", "contract": "Contract",
	"internship": "Internship", "temporary": "Temporary",
}

// employmentTypeOptions are the employment types, selected as chosen,
// after a first option with anyLabel (none: no such option).
func employmentTypeOptions(chosen, anyLabel string) []option {
	var opts []option
	if anyLabel != "" {
		opts = append(opts, option{Value: "", Label: anyLabel, Selected: chosen == ""})
	}
	for _, t := range domain.EmploymentTypes {
		opts = append(opts, option{Value: t.String(), Label: employmentTypeLabel(t.String()), Selected: chosen == t.String()})
	}
	return opts
}

func employmentTypeLabel(slug string) string {
	if l, ok := employmentTypeLabels[slug]; ok {
		return l
	}
	return slug
}

// handleSearch handles the "GET /app/" route: the same filter as GET /jobs
// (api.ParseJobFilter), listed by the same one call of JobsView.List.
func (u *UI) handleSearch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	data := searchData{Form: q,
		EmploymentTypes: employmentTypeOptions(q.Get("employment_type"), "Any"),
		Remote: []option{{"", "Any", q.Get("remote") == ""}, {"true", "Remote only", q.Get("remote") == "true"},
			{"false", "On site only", q.Get("remote") == "false"}},
	}
	params := url.Values{}
	for _, name := range searchParams {
		if v := q.Get(name); v != "" {
			params.Set(name, v)
		}
	}
	if v := q.Get("cursor"); v != "" {
		params.Set("cursor", v)
	}
	f, err := api.ParseJobFilter(params)
	var jobs projections.JobPage
	if err == nil {
		jobs, err = u.Jobs.List(r.Context(), f)
	}
	if err != nil {
		status, p, errs := u.formProblem(w, r, err)
		u.render(w, r, status, "search", &page{Title: "Find a job", Problem: p, Errors: errs, Data: data})
		return
	}
	data.Searched, data.Total, data.Jobs = true, jobs.Total, jobs.Items
	if cursor := api.EncodeJobCursor(jobs.Next); cursor != "" {
		params.Set("cursor", cursor)
		data.Next = "/app/?" + params.Encode()
	}
	u.render(w, r, http.StatusOK, "search", &page{Title: "Find a job", Data: data})
}
