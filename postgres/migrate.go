package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock key that serialises migrations between
// processes starting at the same time.
const migrationLock = 7_246_021_001

// Migrate applies, in order, every embedded migration not yet recorded in
// schema_migrations, each in its own transaction. Two processes may call it
// at once: the second waits for the first and then finds nothing to do.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("migrate: take lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock) //nolint:errcheck // the lock also ends with the session

	// Created only when missing, rather than with IF NOT EXISTS, which
	// needs the right to create tables even when the table exists: the
	// service's own role has none, and migrates nothing once the owner has.
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (
		version integer PRIMARY KEY,
		name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("migrate: %w", withOwnerHint(err))
		}
	}
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, file := range files {
		if err := applyMigration(ctx, conn.Conn(), file); err != nil {
			return err
		}
	}
	return nil
}

func applyMigration(ctx context.Context, conn *pgx.Conn, file string) error {
	name, version, err := migrationVersion(file)
	if err != nil {
		return err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	var done bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, version).Scan(&done); err != nil {
		return err
	}
	if done {
		return nil
	}
	sql, err := migrations.ReadFile(file)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, string(sql)); err != nil {
		return fmt.Errorf("migration %s: %w", name, withOwnerHint(err))
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, version, name); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migration %s: commit: %w", name, err)
	}
	slog.Info("applied migration", "name", name)
	return nil
}

// withOwnerHint adds to a permission error what to do about it: the
// migrations were run as a role that may not change the schema, such as the
// service's own.
func withOwnerHint(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" {
		return fmt.Errorf("%w (migrations must run as the database's owner: set MIGRATE_DATABASE_URL, or run jobboard migrate with it)", err)
	}
	return err
}

// ErrNotMigrated says that a database lacks migrations this build needs.
var ErrNotMigrated = errors.New("not migrated")

// CheckMigrated returns an error wrapping ErrNotMigrated, naming the
// database and what it lacks, unless every migration of this build has been
// applied to it. It changes nothing: the operator's read-only commands use
// it instead of migrating, so that a mistyped DATABASE_URL is an error, not
// a new database.
func CheckMigrated(ctx context.Context, pool *pgxpool.Pool) error {
	db := pool.Config().ConnConfig.Database
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("database %s has no job board schema (%w): run jobboard migrate, or check DATABASE_URL", db, ErrNotMigrated)
	}
	var applied []int
	if err := pool.QueryRow(ctx, `SELECT coalesce(array_agg(version), '{}') FROM schema_migrations`).Scan(&applied); err != nil {
		return err
	}
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	var missing []string
	for _, file := range files {
		name, version, err := migrationVersion(file)
		if err != nil {
			return err
		}
		if !slices.Contains(applied, version) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("database %s lacks migrations %s (%w): run jobboard migrate", db, strings.Join(missing, ", "), ErrNotMigrated)
	}
	return nil
}

// migrationVersion is a migration file's name and the number it starts
// with, its version.
func migrationVersion(file string) (name string, version int, err error) {
	name = strings.TrimPrefix(file, "migrations/")
	version, err = strconv.Atoi(name[:max(strings.IndexByte(name, '_'), 0)])
	if err != nil {
		return name, 0, fmt.Errorf("migration %s: name must start with a number", name)
	}
	return name, version, nil
}
