// Package sqlite keeps satloop's durable state in SQLite files through a
// pure-Go driver (modernc.org/sqlite), so that the embedded default needs no
// cgo and no server: the buyer's tokens and spend log, the gateway's quotas,
// revocations and sales.
//
// Every component keeps its own numbered migrations, applied once each and
// recorded in the file, so that opening a file twice, or by an older and a
// newer binary in turn, never re-applies or skips one.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// busyTimeout is how long a writer waits for another process's write lock
// before SQLite reports "database is locked". Payments take seconds; writes
// take milliseconds, so this only ever absorbs contention.
const busyTimeout = 10 * time.Second

// DB is an open SQLite file.
type DB struct {
	sql  *sql.DB
	path string
}

// Open opens (creating if needed) the database at path. The file is created
// 0600 and its directory 0700: it holds bearer credentials.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: no database path given")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create the directory for %s: %w", path, err)
	}
	// Create the file ourselves so that its mode is 0600 from the first
	// byte; the driver would create it with the process umask.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	f.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, fmt.Errorf("sqlite: restrict %s to its owner: %w", path, err)
	}

	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	// IMMEDIATE makes every transaction take the write lock when it
	// begins, so that two processes doing read-then-write cannot both read
	// the old state (a deferred transaction would fail with SQLITE_BUSY on
	// upgrade instead of waiting).
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// WAL leaves -wal and -shm files beside the database; they hold the
	// same secrets.
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Chmod(path+suffix, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			db.Close()
			return nil, fmt.Errorf("sqlite: restrict %s to its owner: %w", path+suffix, err)
		}
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (
		component  TEXT    NOT NULL,
		version    INTEGER NOT NULL,
		applied_at INTEGER NOT NULL,
		PRIMARY KEY (component, version)
	)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: prepare %s: %w", path, err)
	}
	return &DB{sql: db, path: path}, nil
}

// Path is the file the database lives in.
func (db *DB) Path() string { return db.path }

// Close closes the database.
func (db *DB) Close() error { return db.sql.Close() }

// migrate applies, in order and each in its own transaction, the migrations
// of component that this file has not recorded yet. migrations[i] is version
// i+1; a released migration is never edited, only followed by a new one.
func (db *DB) migrate(ctx context.Context, component string, migrations []string) error {
	for i, stmt := range migrations {
		version := i + 1
		err := db.tx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx,
				`SELECT count(*) FROM migrations WHERE component = ? AND version = ?`,
				component, version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx,
				`INSERT INTO migrations (component, version, applied_at) VALUES (?, ?, ?)`,
				component, version, time.Now().Unix())
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: migrate %s to version %d in %s: %w", component, version, db.path, err)
		}
	}
	return nil
}

// tx runs fn in a transaction that holds the write lock from its start,
// committing when fn returns nil.
func (db *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
