package browsertest

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/matryer/is"
)

// filterLink is the CSS of the applicants page's filter link for status
// ("" for all).
func filterLink(jobID, status string) string {
	href := "/app/jobs/" + jobID + "/applications"
	if status != "" {
		href += "?status=" + status
	}
	return `nav.status-filter a[href="` + href + `"]`
}

// reasonShown says whether the reason field of the move form formID is
// shown: the stylesheet shows it only while Rejected is chosen.
func (tb *tab) reasonShown(formID string) bool {
	tb.t.Helper()
	return eval[bool](tb, `getComputedStyle(document.querySelector(`+js("#"+formID+" .reason-field")+`)).display !== "none"`)
}

// chooseStatus chooses a status in the move form formID's list.
func (tb *tab) chooseStatus(formID, status string) {
	tb.t.Helper()
	tb.do("choose "+status+" in #"+formID, chromedp.SetValue(chromedp.CSS("#"+formID+` select[name="status"]`), status))
}

// testHiringPipeline follows a recruiter and a job seeker through the
// hiring pipeline. The recruiter opens a job's applicants, moves one to
// interview from the unfiltered list, filters on interview, and rejects
// her from there with a reason; the applicant sees the rejection without
// the reason, and withdraws her other application from My applications.
func testHiringPipeline(t *testing.T, b context.Context, s *service) {
	is := is.New(t)
	m := marker()
	recruiter := s.register(t, "recruiter", "Rosa Recruiter")
	jobA := s.postJob(t, recruiter, "Platform Engineer "+m, "Lyon "+m)
	jobB := s.postJob(t, recruiter, "Data Engineer "+m, "Lyon "+m)
	ada := s.register(t, "job_seeker", "Ada Applicant")
	bob := s.register(t, "job_seeker", "Bob Builder")
	resume := []byte("My resume, as plain text.\n")
	adaA := s.apply(t, ada, jobA, "Platform work is my thing.", "ada.txt", resume)
	adaB := s.apply(t, ada, jobB, "Data work too.", "ada.txt", resume)
	bobA := s.apply(t, bob, jobA, "Hello.", "bob.txt", resume)
	applicants := "/app/jobs/" + jobA + "/applications"

	rt := newTab(t, b, s)
	rt.signIn(recruiter)
	rt.open("/app/jobs/" + jobA)
	rt.follow("#job-applicants")
	is.Equal(rt.path(), applicants)
	is.Equal(rt.text(filterLink(jobA, "")), "All (2)")
	is.Equal(rt.text(filterLink(jobA, "submitted")), "Submitted (2)")
	is.Equal(rt.text(filterLink(jobA, "interview")), "Interview (0)")
	is.Equal(rt.attrs(filterLink(jobA, ""), "aria-current"), []string{"page"})
	is.Equal(rt.texts("#applicants tr.application td.status"), []string{"Submitted", "Submitted"})

	// Ada to interview, from the whole list.
	formA := "move-" + adaA
	is.True(!rt.reasonShown(formA)) // no reason to give until Rejected is chosen
	rt.chooseStatus(formA, "interview")
	is.True(!rt.reasonShown(formA))
	rt.follow(button(formA, "Move"))
	is.Equal(rt.path(), applicants+"?moved="+adaA)
	is.Equal(rt.text("#moved"), "Ada Applicant moved to Interview.")
	is.Equal(rt.texts("#applicant-"+adaA+" td.status"), []string{"Interview"})
	is.Equal(rt.texts("#applicant-"+bobA+" td.status"), []string{"Submitted"})
	is.Equal(rt.text(filterLink(jobA, "interview")), "Interview (1)")

	// The interview filter lists her alone; she is rejected from there,
	// with a reason.
	rt.follow(filterLink(jobA, "interview"))
	is.Equal(rt.path(), applicants+"?status=interview")
	is.Equal(rt.count("#applicants tr.application"), 1)
	is.Equal(rt.texts(`#applicants tr.application a[href="/app/applications/`+adaA+`"]`), []string{"Ada Applicant"})
	reason := "Wants to work from Mars only " + m
	rt.chooseStatus(formA, "rejected")
	is.True(rt.reasonShown(formA)) // the reason field appears with Rejected
	rt.fill("#reason-"+adaA, reason)
	rt.follow(button(formA, "Move"))
	is.Equal(rt.path(), applicants+"?status=interview&moved="+adaA) // back on the filtered page
	is.True(strings.HasPrefix(rt.text("#moved"), "Ada Applicant moved to Rejected."))
	is.Equal(rt.count("#applicants tr.application"), 0) // she left the filter
	is.Equal(rt.text("#no-applicants"), "No applicants at Interview.")

	rt.follow(filterLink(jobA, "rejected"))
	is.Equal(rt.count("#applicants tr.application"), 1)
	is.Equal(rt.texts("#applicant-"+adaA+" td.status"), []string{"Rejected"})
	is.Equal(rt.count("#applicant-"+adaA+" form"), 0) // final: no more moves
	is.True(strings.Contains(rt.text("#applicant-"+adaA+" td.move"), "Final"))

	rt.follow(`#applicants a[href="/app/applications/` + adaA + `"]`)
	is.Equal(rt.text("#application-status"), "Rejected")
	is.Equal(rt.text("#rejection-reason"), reason) // the recruiter sees the reason
	is.Equal(rt.texts("#history .history-what"), []string{"Applied", "Submitted → Interview", "Interview → Rejected"})
	is.True(strings.Contains(rt.text("#history"), reason))
	is.Equal(rt.count("#move"), 0)

	// What the pages did is what the service stored.
	var stored struct {
		Status          string  `json:"status"`
		RejectionReason *string `json:"rejection_reason"`
	}
	s.callJSON(t, http.MethodGet, "/applications/"+adaA, recruiter.token, nil, http.StatusOK, &stored)
	is.Equal(stored.Status, "rejected")
	is.True(stored.RejectionReason != nil && *stored.RejectionReason == reason)

	// The applicant: the rejection, never its reason; a withdrawal.
	st := newTab(t, b, s)
	st.signIn(ada)
	st.follow(navLink("My applications"))
	is.Equal(st.path(), "/app/me/applications")
	is.Equal(st.texts("#application-"+adaA+" td.status"), []string{"Rejected"})
	is.Equal(st.texts("#application-"+adaB+" td.status"), []string{"Submitted"})
	is.Equal(st.count("#application-"+adaA+" a.withdraw-link"), 0) // final
	is.True(!strings.Contains(st.text("#main"), reason))

	st.follow("#application-" + adaB + " a.withdraw-link")
	is.Equal(st.path(), "/app/applications/"+adaB+"/withdraw?return=%2Fapp%2Fme%2Fapplications")
	is.Equal(st.text("h1"), "Withdraw your application to “Data Engineer "+m+"”?")
	st.follow(button("withdraw-confirm", "Withdraw application"))
	is.Equal(st.path(), "/app/me/applications?moved="+adaB) // back on My applications
	is.Equal(st.text("#moved"), "Your application to “Data Engineer "+m+"” is now Withdrawn.")
	is.Equal(st.texts("#application-"+adaB+" td.status"), []string{"Withdrawn"})
	is.Equal(st.count("#my-applications a.withdraw-link"), 0) // nothing left to withdraw

	st.follow(`#my-applications a[href="/app/applications/` + adaA + `"]`)
	is.Equal(st.text("#application-status"), "Rejected")
	is.Equal(st.texts("#history .history-what"), []string{"Applied", "Submitted → Interview", "Interview → Rejected"})
	is.Equal(st.count("#rejection-reason"), 0)
	is.True(!strings.Contains(st.text("#main"), reason)) // the reason is the recruiter's alone

	statuses := map[string]string{}
	for _, a := range s.myApplications(t, ada.token) {
		statuses[a.ID] = a.Status
	}
	is.Equal(statuses, map[string]string{adaA: "rejected", adaB: "withdrawn"})

	// The recruiter's page, reloaded, shows the withdrawal too.
	rt.open("/app/jobs/" + jobB + "/applications?status=withdrawn")
	is.Equal(rt.texts("#applicant-"+adaB+" td.status"), []string{"Withdrawn"})

	// At a phone's width the applicants page, forms and all, scrolls its
	// table, never the page.
	rt.do("narrow the window to 375 pixels", chromedp.EmulateViewport(375, 812))
	rt.open(applicants)
	w := eval[[2]int](rt, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`)
	if w[0] > w[1] {
		rt.fatalf("the applicants page is %d pixels wide in a %d-pixel window", w[0], w[1])
	}
}
