// Package postgres keeps the state that several satloop gateway instances
// share in one PostgreSQL database, through pgx: quota counters,
// revocations and sales (gate.Store). SQLite (store/sqlite) is the default
// for one instance; this is for several behind a load balancer.
//
// Every component keeps its own numbered migrations in the table
// satloop_migrations, applied once each under an advisory lock, so that
// instances starting together never apply one twice and an older binary
// never sees half of a newer schema.
package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Advisory lock keys, taken with pg_advisory_xact_lock so that they are
// released when the transaction ends, whatever happens to the connection.
// Arbitrary constants; they only need to differ from each other and from
// what other applications sharing the database use.
const (
	lockMigrations  int64 = 0x7361746c6f6f7001 // "satloop" 01
	lockRevocations int64 = 0x7361746c6f6f7002 // "satloop" 02
)

// openPool connects to dsn and checks that the server answers. Nothing it
// logs or returns contains the password.
func openPool(ctx context.Context, dsn string, log *slog.Logger) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password from the connection string it quotes.
		return nil, fmt.Errorf("postgres: parse the DSN: %w", err)
	}
	where := fmt.Sprintf("database %q on %s:%d as %q", cfg.ConnConfig.Database, cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.User)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect to %s: %w", where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s: %w", where, err)
	}
	log.Info("postgres: connected", "database", cfg.ConnConfig.Database, "host", cfg.ConnConfig.Host,
		"port", cfg.ConnConfig.Port, "user", cfg.ConnConfig.User, "max_conns", cfg.MaxConns)
	return pool, nil
}

// migrate applies, in order, the migrations of component that the database
// has not recorded yet. migrations[i] is version i+1; a released migration
// is never edited, only followed by a new one. Everything happens in one
// transaction holding an advisory lock: instances starting at once queue
// behind each other, and a failed migration leaves no trace.
func migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger, component string, migrations []string) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockMigrations); err != nil {
			return fmt.Errorf("postgres: lock for migrations: %w", err)
		}
		// Look before creating: CREATE TABLE IF NOT EXISTS needs the
		// CREATE privilege even when the table exists, and instances may
		// run as a role without it once the schema is in place.
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass('satloop_migrations') IS NOT NULL`).Scan(&exists); err != nil {
			return fmt.Errorf("postgres: look for the migrations table: %w", err)
		}
		if !exists {
			if _, err := tx.Exec(ctx, `CREATE TABLE satloop_migrations (
				component  text        NOT NULL,
				version    integer     NOT NULL,
				applied_at timestamptz NOT NULL DEFAULT now(),
				PRIMARY KEY (component, version)
			)`); err != nil {
				return fmt.Errorf("postgres: create the migrations table: %w", err)
			}
		}
		var applied int
		if err := tx.QueryRow(ctx,
			`SELECT coalesce(max(version), 0) FROM satloop_migrations WHERE component = $1`,
			component).Scan(&applied); err != nil {
			return fmt.Errorf("postgres: read %s migrations: %w", component, err)
		}
		if applied > len(migrations) {
			// A newer instance got here first, during a rolling upgrade.
			// Migrations only ever add, so this binary still works.
			log.Warn("postgres: the database schema is newer than this binary's",
				"component", component, "database_version", applied, "binary_version", len(migrations))
		}
		for i := applied; i < len(migrations); i++ {
			version := i + 1
			if _, err := tx.Exec(ctx, migrations[i]); err != nil {
				return fmt.Errorf("postgres: migrate %s to version %d: %w", component, version, err)
			}
			if _, err := tx.Exec(ctx,
				`INSERT INTO satloop_migrations (component, version) VALUES ($1, $2)`,
				component, version); err != nil {
				return fmt.Errorf("postgres: record %s migration %d: %w", component, version, err)
			}
			log.Info("postgres: migrated", "component", component, "version", version)
		}
		return nil
	})
}

// microseconds is PostgreSQL's timestamp precision; times are truncated to
// it explicitly so that what is compared is what is stored.
func microseconds(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
