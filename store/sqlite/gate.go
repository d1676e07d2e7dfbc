package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/satloop/satloop/gate"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
)

var _ gate.Store = (*GateStore)(nil)

// gateMigrations are the gateway's tables, component "gate". Token ids and
// payment hashes are lowercase hex, so that an operator can look one up
// with the sqlite3 shell; times are Unix microseconds.
var gateMigrations = []string{
	`CREATE TABLE gate_quota (
		token_id TEXT    PRIMARY KEY,
		used     INTEGER NOT NULL CHECK (used >= 0)
	) WITHOUT ROWID;
	CREATE TABLE gate_revocations (
		seq        INTEGER PRIMARY KEY AUTOINCREMENT,
		token_id   TEXT    NOT NULL UNIQUE,
		reason     TEXT    NOT NULL,
		revoked_at INTEGER NOT NULL
	);
	CREATE TABLE gate_sales (
		seq          INTEGER PRIMARY KEY AUTOINCREMENT,
		token_id     TEXT    NOT NULL UNIQUE,
		payment_hash TEXT    NOT NULL,
		route        TEXT    NOT NULL,
		amount_msat  INTEGER NOT NULL,
		at_us        INTEGER NOT NULL
	);
	CREATE INDEX gate_sales_by_time ON gate_sales (at_us DESC, seq DESC);`,
}

// GateStore is the gateway's shared state (gate.Store) in a SQLite file:
// quotas, revocations and sales. Several processes may open the same file,
// but SQLite is meant for one gateway instance; several instances behind a
// load balancer share a PostgreSQL database (store/postgres).
type GateStore struct {
	db *DB
}

// OpenGateStore opens (creating if needed) the gateway's database at path
// and brings its tables up to date.
func OpenGateStore(ctx context.Context, path string) (*GateStore, error) {
	db, err := Open(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx, "gate", gateMigrations); err != nil {
		db.Close()
		return nil, err
	}
	return &GateStore{db: db}, nil
}

// Close closes the database.
func (s *GateStore) Close() error { return s.db.Close() }

// useQuotaSQL counts one request in one statement, which SQLite runs under
// the write lock from its first step: the revocation check, the limit check
// and the increment cannot interleave with another writer, in this process
// or another. No row back means nothing was counted.
const useQuotaSQL = `
	INSERT INTO gate_quota (token_id, used)
		SELECT ?1, 1
		WHERE ?2 >= 1 AND NOT EXISTS (SELECT 1 FROM gate_revocations WHERE token_id = ?1)
	ON CONFLICT (token_id) DO UPDATE SET used = used + 1 WHERE used < ?2
	RETURNING used`

// UseQuota implements gate.Store.
func (s *GateStore) UseQuota(ctx context.Context, id l402.TokenID, limit int64) (int64, error) {
	var used int64
	err := s.db.sql.QueryRowContext(ctx, useQuotaSQL, id.String(), limit).Scan(&used)
	if err == nil {
		return used, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("sqlite: use quota of token %s: %w", id, err)
	}
	// Nothing was counted: say why. A revocation that lands between the
	// two statements is reported as one, which is what the caller would
	// have seen a moment later.
	revoked, err := s.Revoked(ctx, id)
	if err != nil {
		return 0, err
	}
	if revoked {
		return 0, fmt.Errorf("sqlite: use quota of token %s: %w", id, gate.ErrRevoked)
	}
	return limit, fmt.Errorf("sqlite: use quota of token %s (limit %d): %w", id, limit, gate.ErrQuotaExhausted)
}

// RefundQuota implements gate.Store.
func (s *GateStore) RefundQuota(ctx context.Context, id l402.TokenID) error {
	if _, err := s.db.sql.ExecContext(ctx,
		`UPDATE gate_quota SET used = used - 1 WHERE token_id = ? AND used > 0`, id.String()); err != nil {
		return fmt.Errorf("sqlite: refund quota of token %s: %w", id, err)
	}
	return nil
}

// Revoke implements gate.Store. Writers are serialised by SQLite's write
// lock, so revocations commit in the order of their sequence numbers and
// RevokedSince's cursor never skips one.
func (s *GateStore) Revoke(ctx context.Context, id l402.TokenID, reason string) error {
	if _, err := s.db.sql.ExecContext(ctx,
		`INSERT INTO gate_revocations (token_id, reason, revoked_at) VALUES (?, ?, ?)
		ON CONFLICT (token_id) DO NOTHING`,
		id.String(), reason, time.Now().UnixMicro()); err != nil {
		return fmt.Errorf("sqlite: revoke token %s: %w", id, err)
	}
	return nil
}

// Revoked implements gate.Store.
func (s *GateStore) Revoked(ctx context.Context, id l402.TokenID) (bool, error) {
	var n int
	if err := s.db.sql.QueryRowContext(ctx,
		`SELECT count(*) FROM gate_revocations WHERE token_id = ?`, id.String()).Scan(&n); err != nil {
		return false, fmt.Errorf("sqlite: check revocation of token %s: %w", id, err)
	}
	return n > 0, nil
}

// RevokedSince implements gate.Store. The cursor is the sequence number of
// the last revocation seen.
func (s *GateStore) RevokedSince(ctx context.Context, cursor int64) ([]l402.TokenID, int64, error) {
	rows, err := s.db.sql.QueryContext(ctx,
		`SELECT seq, token_id FROM gate_revocations WHERE seq > ? ORDER BY seq`, cursor)
	if err != nil {
		return nil, cursor, fmt.Errorf("sqlite: list revocations: %w", err)
	}
	defer rows.Close()
	var ids []l402.TokenID
	next := cursor
	for rows.Next() {
		var hexID string
		if err := rows.Scan(&next, &hexID); err != nil {
			return nil, cursor, fmt.Errorf("sqlite: list revocations: %w", err)
		}
		id, err := l402.ParseTokenID(hexID)
		if err != nil {
			return nil, cursor, fmt.Errorf("sqlite: list revocations: revocation %d: %w", next, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, cursor, fmt.Errorf("sqlite: list revocations: %w", err)
	}
	return ids, next, nil
}

// RecordSale implements gate.Store.
func (s *GateStore) RecordSale(ctx context.Context, sale gate.Sale) (bool, error) {
	res, err := s.db.sql.ExecContext(ctx,
		`INSERT INTO gate_sales (token_id, payment_hash, route, amount_msat, at_us) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (token_id) DO NOTHING`,
		sale.TokenID.String(), sale.PaymentHash.String(), sale.Route, int64(sale.Amount), sale.At.UnixMicro())
	if err != nil {
		return false, fmt.Errorf("sqlite: record sale of token %s: %w", sale.TokenID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlite: record sale of token %s: %w", sale.TokenID, err)
	}
	return n == 1, nil
}

// Sales implements gate.Store.
func (s *GateStore) Sales(ctx context.Context, since time.Time, limit int) ([]gate.Sale, error) {
	if limit < 1 {
		return nil, nil
	}
	rows, err := s.db.sql.QueryContext(ctx,
		`SELECT token_id, payment_hash, route, amount_msat, at_us FROM gate_sales
		WHERE at_us >= ? ORDER BY at_us DESC, seq DESC LIMIT ?`,
		since.UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list sales: %w", err)
	}
	defer rows.Close()
	var sales []gate.Sale
	for rows.Next() {
		var (
			tokenID, hash string
			sale          gate.Sale
			amount, atUS  int64
		)
		if err := rows.Scan(&tokenID, &hash, &sale.Route, &amount, &atUS); err != nil {
			return nil, fmt.Errorf("sqlite: list sales: %w", err)
		}
		if sale.TokenID, err = l402.ParseTokenID(tokenID); err != nil {
			return nil, fmt.Errorf("sqlite: list sales: %w", err)
		}
		if sale.PaymentHash, err = l402.ParsePaymentHash(hash); err != nil {
			return nil, fmt.Errorf("sqlite: list sales: %w", err)
		}
		sale.Amount = money.MilliSat(amount)
		sale.At = time.UnixMicro(atUS).UTC()
		sales = append(sales, sale)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list sales: %w", err)
	}
	return sales, nil
}
