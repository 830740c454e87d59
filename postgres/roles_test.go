package postgres_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/postgres"
)

// The service's role can read the log and append to it, and nothing that
// would let it change what is there: not switch the append-only trigger off
// (a superuser's SET session_replication_role = replica), not UPDATE,
// DELETE or TRUNCATE events past it, not change the schema.
func TestTheServiceCannotRewriteTheLog(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)

	var id uuid.UUID
	err := db.Pool.QueryRow(ctx, `INSERT INTO events (event_id, stream_type, stream_id, stream_version, event_type, schema_version, data, occurred_at)
VALUES (gen_random_uuid(), 'Test', gen_random_uuid(), 1, 'Tested', 1, '{}', now()) RETURNING event_id`).Scan(&id)
	is.NoErr(err) // the service appends
	var n int
	is.NoErr(db.Pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE event_id = $1`, id).Scan(&n)) // and reads
	is.Equal(n, 1)

	for _, sql := range []string{
		`SET session_replication_role = replica`,
		`UPDATE events SET event_type = 'Tampered' WHERE event_id = $1`,
		`DELETE FROM events WHERE event_id = $1`,
		`TRUNCATE events`,
		`ALTER TABLE events DISABLE TRIGGER USER`,
		`DROP TRIGGER events_no_update ON events`,
		`CREATE TABLE shadow_log (LIKE events)`,
		`DELETE FROM schema_migrations`,
	} {
		args := []any{}
		if strings.Contains(sql, "$1") {
			args = append(args, id)
		}
		_, err := db.Pool.Exec(ctx, sql, args...)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("%s as the service: want permission denied (42501), got %v", sql, err)
		}
	}
	is.NoErr(db.Owner.QueryRow(ctx, `SELECT count(*) FROM events WHERE event_id = $1 AND event_type = 'Tested'`, id).Scan(&n))
	is.Equal(n, 1) // the event is as it was appended

	var super, createDB, createRole, replication, bypassRLS bool
	is.NoErr(db.Pool.QueryRow(ctx, `SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = current_user`).
		Scan(&super, &createDB, &createRole, &replication, &bypassRLS))
	is.True(!super && !createDB && !createRole && !replication && !bypassRLS) // a role with no attribute

	can, err := postgres.CheckService(ctx, db.Pool)
	is.NoErr(err)
	is.Equal(len(can), 0) // which the start-up check finds harmless
	can, err = postgres.CheckService(ctx, db.Owner)
	is.NoErr(err)
	is.True(len(can) >= 2) // and it warns of the owner (a superuser here), which could
}

// Setup creates the service's role when it is missing, with the password
// DATABASE_URL gives; names and passwords that SQL would misread are quoted
// by the server.
func TestSetupCreatesTheServiceRole(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	owner, name := freshDatabaseURL(t)
	role := `jobboard test "` + uuid.NewString()[:8] + `'; DROP TABLE events; --`
	password := `it's a "secret"; --`
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// With the database gone, the role holds no privilege and can go.
		err := postgres.DropDatabase(ctx, db.OwnerURL, name)
		if err == nil {
			_, err = db.Owner.Exec(ctx, `DROP ROLE IF EXISTS `+pgx.Identifier{role}.Sanitize())
		}
		if err != nil {
			t.Errorf("drop role: %v", err)
		}
	})
	u, err := url.Parse(owner)
	is.NoErr(err)
	u.User = url.UserPassword(role, password)
	service := u.String()

	is.NoErr(postgres.Setup(ctx, owner, service)) // creates the database, migrates it, creates the role
	var hasPassword, super bool
	err = db.Owner.QueryRow(ctx, `SELECT rolpassword IS NOT NULL, rolsuper FROM pg_authid WHERE rolname = $1`, role).Scan(&hasPassword, &super)
	is.NoErr(err)        // the role exists, under its name
	is.True(hasPassword) // with a password
	is.True(!super)      // and no more than a login

	pool, err := postgres.Open(ctx, service)
	is.NoErr(err) // the service connects as it
	defer pool.Close()
	var tables int
	is.NoErr(pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&tables)) // and reads the log
	is.NoErr(postgres.Setup(ctx, owner, service))                             // a second setup finds the role there
}

// A service given only its own role finds an unmigrated database and says
// what to do, rather than failing on a permission.
func TestMigrationsNeedTheOwner(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	owner, _ := freshDatabaseURL(t)
	is.NoErr(postgres.EnsureDatabase(ctx, owner))
	pool, err := postgres.Open(ctx, serviceURL(t, owner))
	is.NoErr(err)
	defer pool.Close()

	err = postgres.Migrate(ctx, pool)
	is.True(err != nil)                                            // the service's role cannot migrate
	is.True(strings.Contains(err.Error(), "MIGRATE_DATABASE_URL")) // and the error says who can
	is.True(strings.Contains(err.Error(), "permission denied"))    // and why
}
