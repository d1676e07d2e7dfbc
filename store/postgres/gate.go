package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/satloop/satloop/gate"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
)

var _ gate.Store = (*GateStore)(nil)

// gateMigrations are the gateway's tables, component "gate". Token ids and
// payment hashes are lowercase hex, as in the SQLite store and in
// `satloop gate sales`, so that an operator can paste one into psql.
var gateMigrations = []string{
	`CREATE TABLE gate_quota (
		token_id text   PRIMARY KEY,
		used     bigint NOT NULL CHECK (used >= 0)
	);
	CREATE TABLE gate_revocations (
		seq        bigserial   PRIMARY KEY,
		token_id   text        NOT NULL UNIQUE,
		reason     text        NOT NULL,
		revoked_at timestamptz NOT NULL DEFAULT now()
	);
	CREATE TABLE gate_sales (
		seq          bigserial   PRIMARY KEY,
		token_id     text        NOT NULL UNIQUE,
		payment_hash text        NOT NULL,
		route        text        NOT NULL,
		amount_msat  bigint      NOT NULL,
		at           timestamptz NOT NULL
	);
	CREATE INDEX gate_sales_by_time ON gate_sales (at DESC, seq DESC);`,
}

// GateStore is the gateway's shared state (gate.Store) in PostgreSQL: any
// number of gateway instances open the same database and count quotas,
// see revocations and record sales together.
type GateStore struct {
	pool *pgxpool.Pool
}

// OpenGateStore connects to the database named by dsn (a postgres:// URL
// or key=value string; pool_max_conns and the other pgxpool parameters
// apply) and brings the gateway's tables up to date. Instances may start
// together: migrations are applied once. The password in dsn is never
// logged nor put in an error. A nil logger is silent.
func OpenGateStore(ctx context.Context, dsn string, logger *slog.Logger) (*GateStore, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	pool, err := openPool(ctx, dsn, logger)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, pool, logger, "gate", gateMigrations); err != nil {
		pool.Close()
		return nil, err
	}
	return &GateStore{pool: pool}, nil
}

// Close closes the store's connections.
func (s *GateStore) Close() error {
	s.pool.Close()
	return nil
}

// useQuotaSQL counts one request in one statement. ON CONFLICT DO UPDATE
// locks the token's row and evaluates its WHERE against the latest
// committed count, so concurrent requests on any number of instances queue
// on the row and never both take the last request. The revocation check
// sees every revocation committed before the statement began. No row back
// means nothing was counted.
const useQuotaSQL = `
	INSERT INTO gate_quota AS q (token_id, used)
		SELECT $1, 1
		WHERE $2::bigint >= 1 AND NOT EXISTS (SELECT 1 FROM gate_revocations WHERE token_id = $1)
	ON CONFLICT (token_id) DO UPDATE SET used = q.used + 1 WHERE q.used < $2::bigint
	RETURNING used`

// UseQuota implements gate.Store.
func (s *GateStore) UseQuota(ctx context.Context, id l402.TokenID, limit int64) (int64, error) {
	var used int64
	err := s.pool.QueryRow(ctx, useQuotaSQL, id.String(), limit).Scan(&used)
	if err == nil {
		return used, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("postgres: use quota of token %s: %w", id, err)
	}
	// Nothing was counted: say why. A revocation that lands between the
	// two statements is reported as one, which is what the caller would
	// have seen a moment later.
	revoked, err := s.Revoked(ctx, id)
	if err != nil {
		return 0, err
	}
	if revoked {
		return 0, fmt.Errorf("postgres: use quota of token %s: %w", id, gate.ErrRevoked)
	}
	return limit, fmt.Errorf("postgres: use quota of token %s (limit %d): %w", id, limit, gate.ErrQuotaExhausted)
}

// RefundQuota implements gate.Store.
func (s *GateStore) RefundQuota(ctx context.Context, id l402.TokenID) error {
	if _, err := s.pool.Exec(ctx,
		`UPDATE gate_quota SET used = used - 1 WHERE token_id = $1 AND used > 0`, id.String()); err != nil {
		return fmt.Errorf("postgres: refund quota of token %s: %w", id, err)
	}
	return nil
}

// Revoke implements gate.Store. A bigserial alone would not make a safe
// cursor: its numbers are handed out before commit, so a reader could see
// number 6 committed, move its cursor past it, and miss number 5
// committing a moment later. Revocations therefore take a transaction-wide
// advisory lock before drawing their number and hold it until they have
// committed: numbers become visible in order. Revocations are rare; the
// lock costs nothing that matters.
func (s *GateStore) Revoke(ctx context.Context, id l402.TokenID, reason string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockRevocations); err != nil {
			return err
		}
		_, err := tx.Exec(ctx,
			`INSERT INTO gate_revocations (token_id, reason) VALUES ($1, $2) ON CONFLICT (token_id) DO NOTHING`,
			id.String(), storableText(reason))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: revoke token %s: %w", id, err)
	}
	return nil
}

// Revoked implements gate.Store.
func (s *GateStore) Revoked(ctx context.Context, id l402.TokenID) (bool, error) {
	var revoked bool
	if err := s.pool.QueryRow(ctx,
		`SELECT EXISTS (SELECT 1 FROM gate_revocations WHERE token_id = $1)`, id.String()).Scan(&revoked); err != nil {
		return false, fmt.Errorf("postgres: check revocation of token %s: %w", id, err)
	}
	return revoked, nil
}

// RevokedSince implements gate.Store. The cursor is the sequence number of
// the last revocation seen; see Revoke for why it never skips one.
func (s *GateStore) RevokedSince(ctx context.Context, cursor int64) ([]l402.TokenID, int64, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT seq, token_id FROM gate_revocations WHERE seq > $1 ORDER BY seq`, cursor)
	if err != nil {
		return nil, cursor, fmt.Errorf("postgres: list revocations: %w", err)
	}
	defer rows.Close()
	var ids []l402.TokenID
	next := cursor
	for rows.Next() {
		var hexID string
		if err := rows.Scan(&next, &hexID); err != nil {
			return nil, cursor, fmt.Errorf("postgres: list revocations: %w", err)
		}
		id, err := l402.ParseTokenID(hexID)
		if err != nil {
			return nil, cursor, fmt.Errorf("postgres: list revocations: revocation %d: %w", next, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, cursor, fmt.Errorf("postgres: list revocations: %w", err)
	}
	return ids, next, nil
}

// RecordSale implements gate.Store.
func (s *GateStore) RecordSale(ctx context.Context, sale gate.Sale) (bool, error) {
	tag, err := s.pool.Exec(ctx,
		`INSERT INTO gate_sales (token_id, payment_hash, route, amount_msat, at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (token_id) DO NOTHING`,
		sale.TokenID.String(), sale.PaymentHash.String(), sale.Route, int64(sale.Amount), microseconds(sale.At))
	if err != nil {
		return false, fmt.Errorf("postgres: record sale of token %s: %w", sale.TokenID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Sales implements gate.Store.
func (s *GateStore) Sales(ctx context.Context, since time.Time, limit int) ([]gate.Sale, error) {
	if limit < 1 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx,
		`SELECT token_id, payment_hash, route, amount_msat, at FROM gate_sales
		WHERE at >= $1 ORDER BY at DESC, seq DESC LIMIT $2`,
		microseconds(since), limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list sales: %w", err)
	}
	defer rows.Close()
	var sales []gate.Sale
	for rows.Next() {
		var (
			tokenID, hash string
			sale          gate.Sale
			amount        int64
		)
		if err := rows.Scan(&tokenID, &hash, &sale.Route, &amount, &sale.At); err != nil {
			return nil, fmt.Errorf("postgres: list sales: %w", err)
		}
		if sale.TokenID, err = l402.ParseTokenID(tokenID); err != nil {
			return nil, fmt.Errorf("postgres: list sales: %w", err)
		}
		if sale.PaymentHash, err = l402.ParsePaymentHash(hash); err != nil {
			return nil, fmt.Errorf("postgres: list sales: %w", err)
		}
		sale.Amount = money.MilliSat(amount)
		sale.At = sale.At.UTC()
		sales = append(sales, sale)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list sales: %w", err)
	}
	return sales, nil
}

// storableText makes operator-supplied text fit a PostgreSQL text column,
// which refuses NUL bytes and invalid UTF-8: a revocation must never fail
// because of how its reason is spelt.
func storableText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
