package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The service connects as a role of its own, which can read and append to
// the event log but not change it: the append-only trigger on events holds
// only against roles that cannot switch triggers off (a superuser can, with
// SET session_replication_role = replica) and cannot UPDATE, DELETE or
// TRUNCATE the table past it (an owner can drop the trigger). Migrations
// run as the owner, which creates that role and grants it what the service
// needs.

// Setup makes the database ready for the service: it creates the database
// named in ownerURL when it is missing, applies the migrations as ownerURL's
// role and, when serviceURL names another role, creates that role when it is
// missing and grants it what the service does (see GrantService).
//
// With one URL for both (MIGRATE_DATABASE_URL unset and DATABASE_URL set),
// the role migrates and serves: a restricted role can then start a service
// whose migrations were applied by the owner, and an owner or superuser
// runs as before (CheckService says what that costs).
func Setup(ctx context.Context, ownerURL, serviceURL string) error {
	if err := EnsureDatabase(ctx, ownerURL); err != nil {
		return err
	}
	owner, err := openPool(ctx, ownerURL, 2)
	if err != nil {
		return err
	}
	defer owner.Close()
	if err := Migrate(ctx, owner); err != nil {
		return err
	}
	service, err := pgxpool.ParseConfig(serviceURL)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	if service.ConnConfig.User == owner.Config().ConnConfig.User {
		return nil
	}
	return GrantService(ctx, owner, service.ConnConfig.User, service.ConnConfig.Password)
}

// GrantService creates the service's role when it is missing (a login role,
// with password when one is given, and no other attribute: not a superuser,
// no CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS) and grants it, in pool's
// database: SELECT and INSERT on the event log, SELECT, INSERT, UPDATE and
// DELETE on every other table (read models, checkpoints, the mail queue,
// throttle counters), and the sequences behind them. Nothing else: no
// TRUNCATE, no DDL, no UPDATE or DELETE on events. An existing role keeps
// its password and attributes; its grants are set again, so that tables
// added by later migrations are covered. pool must be the owner's.
func GrantService(ctx context.Context, pool *pgxpool.Pool, role, password string) error {
	if err := ensureRole(ctx, pool, role, password); err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	// GRANT rewrites the catalog rows of every table: two processes doing it
	// at once fail with "tuple concurrently updated". The migrations' lock
	// keeps them apart.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("grant: take lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock) //nolint:errcheck // the lock also ends with the session

	r := pgx.Identifier{role}.Sanitize()
	stmts := []string{
		`GRANT USAGE ON SCHEMA public TO ` + r,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ` + r,
		`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ` + r,
		// The log: read and append, nothing else, for the service and
		// for anyone else who is not its owner.
		`REVOKE ALL ON events FROM PUBLIC`,
		`REVOKE ALL ON events FROM ` + r,
		`GRANT SELECT, INSERT ON events TO ` + r,
		// The migrations' own bookkeeping is only read (to tell whether
		// the schema is up to date).
		`REVOKE ALL ON schema_migrations FROM ` + r,
		`GRANT SELECT ON schema_migrations TO ` + r,
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("grant %s what the service needs: %s: %w", role, s, err)
		}
	}
	return tx.Commit(ctx)
}

// ensureRole creates role unless it exists. Roles belong to the server, not
// to a database: processes migrating different databases of one server may
// create it at the same moment, and the loser's error means it exists.
func ensureRole(ctx context.Context, pool *pgxpool.Pool, role, password string) error {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)`, role).Scan(&exists); err != nil {
		return fmt.Errorf("look up role %s: %w", role, err)
	}
	if exists {
		return nil
	}
	// CREATE ROLE takes no parameters: the server quotes the name and the
	// password itself (format's %I and %L), so that neither can be read as
	// SQL.
	var stmt string
	if err := pool.QueryRow(ctx, `SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS', $1::text)
		|| CASE WHEN $2::text <> '' THEN format(' PASSWORD %L', $2::text) ELSE '' END`, role, password).Scan(&stmt); err != nil {
		return err
	}
	_, err := pool.Exec(ctx, stmt)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && (pgErr.Code == "42710" || pgErr.Code == "23505"):
		return nil // created by someone else meanwhile
	case errors.As(err, &pgErr) && pgErr.Code == "42501":
		return fmt.Errorf("create role %s for DATABASE_URL: %s; create it yourself (CREATE ROLE %s LOGIN PASSWORD '…') or set MIGRATE_DATABASE_URL to a role that may", role, pgErr.Message, role)
	case err != nil:
		return fmt.Errorf("create role %s: %w", role, err)
	}
	slog.Info("created the service's database role", "role", role)
	return nil
}

// CheckService says what the role of pool, the service's, can do to the log
// beyond reading and appending to it: nothing when it is the restricted
// role GrantService makes; otherwise the reasons it can rewrite history
// (a superuser, the table's owner, UPDATE, DELETE or TRUNCATE granted).
func CheckService(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	var super, owner, update, del, truncate bool
	err := pool.QueryRow(ctx, `SELECT r.rolsuper OR r.rolbypassrls,
	pg_has_role(current_user, c.relowner, 'USAGE'),
	has_table_privilege('events', 'UPDATE'), has_table_privilege('events', 'DELETE'), has_table_privilege('events', 'TRUNCATE')
FROM pg_roles r, pg_class c WHERE r.rolname = current_user AND c.oid = 'events'::regclass`).Scan(&super, &owner, &update, &del, &truncate)
	if err != nil {
		return nil, fmt.Errorf("check the service's database role: %w", err)
	}
	var can []string
	for _, c := range []struct {
		yes  bool
		what string
	}{{super, "is a superuser (can switch the append-only trigger off)"}, {owner, "owns the events table (can drop its trigger)"},
		{update, "may UPDATE events"}, {del, "may DELETE from events"}, {truncate, "may TRUNCATE events"}} {
		if c.yes {
			can = append(can, c.what)
		}
	}
	return can, nil
}
