package mailer

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/jobboard/jobboard/commands"
	"github.com/jobboard/jobboard/domain"
)

// Erasure. The queue's rows name mails, not people, but a mail about an
// application carries its applicant's name and email, and goes to them or
// to the job's recruiter: when either is erased, the mails about their
// applications go, sent or not, and so do their files in the mail
// directory.

// Forgetter deletes the mails of people being erased (commands.Forgetter).
type Forgetter struct {
	// Dir and From are the mail directory and sender of the workers that
	// write mails as files (no SMTP_URL): the files are named after the
	// Message-ID, which From's domain is part of. Dir empty: no files.
	Dir  string
	From string
}

// Forget deletes, in tx, the queue rows of every mail about p's
// applications (a job seeker) or to p about applications to their jobs (a
// recruiter), and, after the commit, the files those mails were written
// to.
func (f Forgetter) Forget(ctx context.Context, tx pgx.Tx, p commands.Person) (func(), error) {
	rows, err := tx.Query(ctx, `
DELETE FROM email_deliveries
WHERE application_id = ANY($1)
   OR (kind IN ('new_application', 'application_withdrawn')
       AND application_id IN (SELECT application_id FROM application_claims WHERE job_id = ANY($2)))
RETURNING id, kind`, p.Applications, p.Jobs)
	if err != nil {
		return nil, err
	}
	type mail struct {
		id   uuid.UUID
		kind Kind
	}
	mails, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (mail, error) {
		var m mail
		err := r.Scan(&m.id, &m.kind)
		return m, err
	})
	if err != nil || f.Dir == "" {
		return nil, err
	}
	return func() {
		for _, m := range mails {
			name := safeFileName(MessageID(m.kind, m.id, f.From))
			if name == "" {
				continue
			}
			// Gone already (never sent, or removed by hand) is fine.
			_ = os.Remove(filepath.Join(f.Dir, name+".eml"))
		}
	}, nil
}

// errPersonErased is why a mail is not composed: a person it is about or
// for was erased. Such a mail is dropped from the queue, not failed.
var errPersonErased = errors.New("a person this mail is about or for was erased")

func erased(err error) bool { return errors.Is(err, errPersonErased) }

// drop deletes a delivery that is not to be sent at all.
func (q *Queue) drop(ctx context.Context, id uuid.UUID, attempt int) error {
	return q.record(ctx, `DELETE FROM email_deliveries WHERE id = $1 AND attempts = $2`, id, attempt)
}

// erasedUser reports whether u's personal data was erased.
func erasedUser(u *domain.User) bool { return u.Erased() || u.Email() == "" }
