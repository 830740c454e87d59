// Package postgres opens the database, creates it when it is missing, applies
// the embedded migrations and tells connectivity failures from other errors.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultMaxConns is the size of the pool when DATABASE_URL does not give
// pool_max_conns.
const DefaultMaxConns = 20

// Open returns a pool over the database named in url, which must exist
// (Setup creates and migrates it).
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	return openPool(ctx, url, DefaultMaxConns)
}

// openPool opens a pool of maxConns connections, unless url sets
// pool_max_conns, and checks that it reaches the database.
func openPool(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := poolConfig(url, maxConns, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "3D000" { // invalid_catalog_name
			return nil, fmt.Errorf("database %s does not exist on %s:%d: run jobboard migrate, which creates it, or check the database URL",
				cfg.ConnConfig.Database, cfg.ConnConfig.Host, cfg.ConnConfig.Port)
		}
		return nil, fmt.Errorf("connect to database %s as %s: %w", cfg.ConnConfig.Database, cfg.ConnConfig.User, err)
	}
	return pool, nil
}

// poolConfig is the configuration of a pool of the service's: maxConns
// connections unless url sets pool_max_conns, each given up after
// connectTimeout, with the UUID type registered.
func poolConfig(url string, maxConns int32, connectTimeout time.Duration) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgxpool's default is the number of CPUs (at least 4); each
		// subscriber holds a connection for its transaction, the relay one
		// for LISTEN, and the API needs its own. pool_max_conns in the URL
		// overrides this.
		cfg.MaxConns = maxConns
	}
	cfg.ConnConfig.ConnectTimeout = connectTimeout
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		registerUUID(c.TypeMap())
		return nil
	}
	return cfg, nil
}

// EnsureDatabase creates the database named in url, connecting to the
// server's "postgres" database to do so, unless it already exists.
func EnsureDatabase(ctx context.Context, url string) error {
	// Parsed as a pool's URL, so that pool settings (pool_max_conns…) are
	// taken out rather than sent to the server as run-time parameters.
	poolCfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	cfg := poolCfg.ConnConfig
	name := cfg.Database
	cfg.Database = "postgres"
	cfg.ConnectTimeout = 5 * time.Second
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL at %s:%d (is it running? "+
			"start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start): %w",
			cfg.Host, cfg.Port, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	// Created by a concurrent start: 42P04 when it committed before our
	// CREATE began, a unique violation on pg_database when it committed
	// while ours was running.
	if errors.As(err, &pgErr) && (pgErr.Code == "42P04" ||
		pgErr.Code == "23505" && pgErr.ConstraintName == "pg_database_datname_index") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// DropDatabase removes the database named name on the server of url,
// disconnecting anyone still using it. Tests use it to clean up.
func DropDatabase(ctx context.Context, url, name string) error {
	poolCfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return err
	}
	cfg := poolCfg.ConnConfig
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`)
	return err
}

// IsUnavailable reports whether err means the database could not be reached
// (as opposed to a query that reached it and failed).
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr):
		return true
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		// The server or the network hung up on a connection of the pool
		// in the middle of a query: pgx closes that connection and makes
		// new ones, once the server can be reached again.
		return true
	case errors.As(err, &pgErr):
		// Class 08: connection exception; 57P01-03: the server is shutting down or starting.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	return pgconn.SafeToRetry(err)
}
