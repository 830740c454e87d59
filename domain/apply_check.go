package domain

import "github.com/gabriel-vasile/mimetype"

// CheckApplicant says whether someone with role may apply to job at all,
// before their form and resume are looked at: only job seekers apply
// (forbidden), a deleted job is not found, a closed one takes no
// applications (conflict). SubmitApplication checks the same, first.
func CheckApplicant(job *Job, role Role) error {
	if err := CheckCanApply(role); err != nil {
		return err
	}
	if job == nil || job.Deleted() {
		return errNoSuchJob
	}
	if job.Status() != StatusOpen {
		return errJobClosed
	}
	return nil
}

var errJobClosed = Errorf(KindConflict, "this job is closed and takes no applications")

// ResumeSniffBytes is how much of a file the content sniffer reads
// (mimetype's read limit): the type of a resume is known from its start.
const ResumeSniffBytes = 3072

// CheckResumeStart refuses, from its first bytes, a file that is none of
// the resume types, so that an upload of the wrong kind is turned away
// before the rest of it is read. start must hold the file's first
// ResumeSniffBytes bytes, or all of it when it is shorter. CheckResume
// still checks the whole file (plain text must be UTF-8 throughout).
func CheckResumeStart(start []byte) error {
	detected := mimetype.Detect(start[:min(len(start), ResumeSniffBytes)])
	for _, t := range resumeTypes {
		if detected.Is(t.sniffed) {
			return nil
		}
	}
	return errResumeType
}
