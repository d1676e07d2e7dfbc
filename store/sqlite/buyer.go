package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
)

var _ client.Store = (*BuyerStore)(nil)

// buyerMigrations are the buyer's tables, component "buyer". Token ids and
// payment hashes are lowercase hex, so that an operator can look one up
// with the sqlite3 shell; times are Unix microseconds, 0 for none.
// Macaroons and preimages are secrets: the file is 0600.
var buyerMigrations = []string{
	`CREATE TABLE buyer_tokens (
		token_id       TEXT    PRIMARY KEY,
		payment_hash   TEXT    NOT NULL,
		origin         TEXT    NOT NULL,
		scope          TEXT    NOT NULL,
		macaroon       BLOB    NOT NULL,
		preimage       BLOB    NOT NULL,
		price_msat     INTEGER NOT NULL,
		fee_msat       INTEGER NOT NULL,
		created_us     INTEGER NOT NULL,
		valid_until_us INTEGER NOT NULL,
		UNIQUE (origin, scope)
	) WITHOUT ROWID;
	CREATE TABLE buyer_payments (
		payment_hash TEXT    PRIMARY KEY,
		url          TEXT    NOT NULL,
		host         TEXT    NOT NULL,
		origin       TEXT    NOT NULL,
		scope        TEXT    NOT NULL,
		invoice      TEXT    NOT NULL,
		description  TEXT    NOT NULL,
		amount_msat  INTEGER NOT NULL,
		fee_msat     INTEGER NOT NULL,
		status       TEXT    NOT NULL,
		macaroon     BLOB,
		created_us   INTEGER NOT NULL,
		finished_us  INTEGER NOT NULL,
		error        TEXT    NOT NULL
	);
	CREATE INDEX buyer_payments_by_time ON buyer_payments (created_us DESC);
	CREATE INDEX buyer_payments_pending ON buyer_payments (status) WHERE status = 'pending';`,
	// 2: whether the seller has served a token (accepted_us) or refused it
	// after it was paid for (refused_us). Tokens bought before this
	// version count as accepted: a refusal drops them and buys once, as
	// it did when they were bought.
	`ALTER TABLE buyer_tokens ADD COLUMN accepted_us INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE buyer_tokens ADD COLUMN refused_us INTEGER NOT NULL DEFAULT 0;
	UPDATE buyer_tokens SET accepted_us = created_us;`,
}

// BuyerStore is the buyer's tokens and spend log (client.Store) in a SQLite
// file. Any number of processes may share the file; purchases are
// serialized across them by lock files in a directory beside it.
type BuyerStore struct {
	db *DB
	// lockDir holds one lock file per lock key.
	lockDir string
}

// OpenBuyerStore opens (creating if needed) the buyer's database at path
// and brings its tables up to date. Lock files live in path+".locks".
func OpenBuyerStore(ctx context.Context, path string) (*BuyerStore, error) {
	db, err := Open(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx, "buyer", buyerMigrations); err != nil {
		db.Close()
		return nil, err
	}
	lockDir := path + ".locks"
	if err := os.MkdirAll(lockDir, 0o700); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: create the lock directory %s: %w", lockDir, err)
	}
	return &BuyerStore{db: db, lockDir: lockDir}, nil
}

// Close closes the database.
func (s *BuyerStore) Close() error { return s.db.Close() }

// Path is the database file.
func (s *BuyerStore) Path() string { return s.db.Path() }

// lockPath is the file whose flock is the lock named key: a hash, so that
// any key makes a safe file name.
func (s *BuyerStore) lockPath(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(s.lockDir, hex.EncodeToString(sum[:16])+".lock")
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us)
}

const tokenColumns = `token_id, payment_hash, origin, scope, macaroon, preimage, price_msat, fee_msat, created_us, valid_until_us, accepted_us, refused_us`

type scanner interface{ Scan(dest ...any) error }

func scanToken(row scanner) (client.Token, error) {
	var (
		tok                client.Token
		id, hash           string
		preimage           []byte
		price, fee         int64
		created, validUtil int64
		accepted, refused  int64
	)
	if err := row.Scan(&id, &hash, &tok.Origin, &tok.Scope, (*[]byte)(&tok.Macaroon), &preimage, &price, &fee, &created, &validUtil,
		&accepted, &refused); err != nil {
		return client.Token{}, err
	}
	var err error
	if tok.ID, err = l402.ParseTokenID(id); err != nil {
		return client.Token{}, fmt.Errorf("sqlite: stored token id: %w", err)
	}
	if tok.PaymentHash, err = l402.ParsePaymentHash(hash); err != nil {
		return client.Token{}, fmt.Errorf("sqlite: stored payment hash: %w", err)
	}
	if len(preimage) != len(tok.Preimage) {
		return client.Token{}, fmt.Errorf("sqlite: stored preimage of token %s has %d bytes", tok.ID, len(preimage))
	}
	copy(tok.Preimage[:], preimage)
	tok.Price, tok.Fee = money.MilliSat(price), money.MilliSat(fee)
	tok.CreatedAt, tok.ValidUntil = fromMicros(created), fromMicros(validUtil)
	tok.AcceptedAt, tok.RefusedAt = fromMicros(accepted), fromMicros(refused)
	return tok, nil
}

// Token implements client.Store.
func (s *BuyerStore) Token(ctx context.Context, origin, scope string) (client.Token, error) {
	row := s.db.sql.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM buyer_tokens WHERE origin = ? AND scope = ?`, origin, scope)
	tok, err := scanToken(row)
	if errors.Is(err, sql.ErrNoRows) {
		return client.Token{}, fmt.Errorf("sqlite: no token for %s%s: %w", origin, scope, client.ErrNotFound)
	}
	return tok, err
}

// TokenByID implements client.Store.
func (s *BuyerStore) TokenByID(ctx context.Context, id l402.TokenID) (client.Token, error) {
	row := s.db.sql.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM buyer_tokens WHERE token_id = ?`, id.String())
	tok, err := scanToken(row)
	if errors.Is(err, sql.ErrNoRows) {
		return client.Token{}, fmt.Errorf("sqlite: no token %s: %w", id, client.ErrNotFound)
	}
	return tok, err
}

// Tokens implements client.Store.
func (s *BuyerStore) Tokens(ctx context.Context) ([]client.Token, error) {
	rows, err := s.db.sql.QueryContext(ctx, `SELECT `+tokenColumns+` FROM buyer_tokens ORDER BY created_us DESC, token_id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list tokens: %w", err)
	}
	defer rows.Close()
	var out []client.Token
	for rows.Next() {
		tok, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, tok)
	}
	return out, rows.Err()
}

// DeleteToken implements client.Store.
func (s *BuyerStore) DeleteToken(ctx context.Context, id l402.TokenID) error {
	res, err := s.db.sql.ExecContext(ctx, `DELETE FROM buyer_tokens WHERE token_id = ?`, id.String())
	if err != nil {
		return fmt.Errorf("sqlite: delete token %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("sqlite: no token %s: %w", id, client.ErrNotFound)
	}
	return nil
}

// MarkAccepted implements client.Store.
func (s *BuyerStore) MarkAccepted(ctx context.Context, id l402.TokenID, at time.Time) error {
	return s.markToken(ctx, id, "accepted", `UPDATE buyer_tokens
		SET accepted_us = CASE WHEN accepted_us = 0 THEN ? ELSE accepted_us END, refused_us = 0
		WHERE token_id = ?`, micros(at), id.String())
}

// MarkRefused implements client.Store.
func (s *BuyerStore) MarkRefused(ctx context.Context, id l402.TokenID, at time.Time) error {
	return s.markToken(ctx, id, "refused", `UPDATE buyer_tokens SET refused_us = ? WHERE token_id = ?`, micros(at), id.String())
}

// markToken runs query, whose first argument is the mark's time: never
// zero, which would read as no mark.
func (s *BuyerStore) markToken(ctx context.Context, id l402.TokenID, mark, query string, at int64, args ...any) error {
	if at == 0 {
		return fmt.Errorf("sqlite: mark token %s %s: no time given", id, mark)
	}
	res, err := s.db.sql.ExecContext(ctx, query, append([]any{at}, args...)...)
	if err != nil {
		return fmt.Errorf("sqlite: mark token %s %s: %w", id, mark, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("sqlite: no token %s: %w", id, client.ErrNotFound)
	}
	return nil
}

// BeginPayment implements client.Store: one statement inserts the pending
// payment, or replaces a failed or unsent one, so that two buyers cannot
// both claim a hash.
func (s *BuyerStore) BeginPayment(ctx context.Context, p client.Payment) error {
	if p.Status != client.PaymentPending {
		return fmt.Errorf("sqlite: a payment begins pending, not %q", p.Status)
	}
	res, err := s.db.sql.ExecContext(ctx, `
		INSERT INTO buyer_payments (payment_hash, url, host, origin, scope, invoice, description,
			amount_msat, fee_msat, status, macaroon, created_us, finished_us, error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 'pending', ?, ?, 0, '')
		ON CONFLICT (payment_hash) DO UPDATE SET
			url = excluded.url, host = excluded.host, origin = excluded.origin, scope = excluded.scope,
			invoice = excluded.invoice, description = excluded.description,
			amount_msat = excluded.amount_msat, fee_msat = 0, status = 'pending',
			macaroon = excluded.macaroon, created_us = excluded.created_us, finished_us = 0, error = ''
		WHERE status IN ('failed', 'not_sent')`,
		p.Hash.String(), p.URL, p.Host, p.Origin, p.Scope, p.Invoice, p.Description,
		int64(p.Amount), []byte(p.Macaroon), micros(p.CreatedAt))
	if err != nil {
		return fmt.Errorf("sqlite: record payment %s: %w", p.Hash, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("sqlite: payment %s: %w", p.Hash, client.ErrPaymentExists)
	}
	return nil
}

// SettlePayment implements client.Store.
func (s *BuyerStore) SettlePayment(ctx context.Context, hash l402.PaymentHash, fee money.MilliSat, finished time.Time, tok client.Token) error {
	return s.db.tx(ctx, func(tx *sql.Tx) error {
		if err := s.finish(ctx, tx, hash, client.PaymentSucceeded, fee, finished, ""); err != nil {
			return err
		}
		// One token per scope: the new one replaces the old.
		if _, err := tx.ExecContext(ctx, `DELETE FROM buyer_tokens WHERE (origin = ? AND scope = ?) OR token_id = ?`,
			tok.Origin, tok.Scope, tok.ID.String()); err != nil {
			return fmt.Errorf("sqlite: replace the token of %s%s: %w", tok.Origin, tok.Scope, err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO buyer_tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			tok.ID.String(), tok.PaymentHash.String(), tok.Origin, tok.Scope, []byte(tok.Macaroon), tok.Preimage[:],
			int64(tok.Price), int64(tok.Fee), micros(tok.CreatedAt), micros(tok.ValidUntil),
			micros(tok.AcceptedAt), micros(tok.RefusedAt))
		if err != nil {
			return fmt.Errorf("sqlite: store token %s: %w", tok.ID, err)
		}
		return nil
	})
}

// EndPayment implements client.Store.
func (s *BuyerStore) EndPayment(ctx context.Context, hash l402.PaymentHash, status client.PaymentStatus, finished time.Time, reason string) error {
	if status != client.PaymentFailed && status != client.PaymentNotSent {
		return fmt.Errorf("sqlite: a payment ends failed or not sent, not %q", status)
	}
	return s.db.tx(ctx, func(tx *sql.Tx) error {
		return s.finish(ctx, tx, hash, status, 0, finished, reason)
	})
}

// finish moves a pending payment to a final status and drops its macaroon,
// which the token table now holds (or which bought nothing).
func (s *BuyerStore) finish(ctx context.Context, tx *sql.Tx, hash l402.PaymentHash, status client.PaymentStatus, fee money.MilliSat, finished time.Time, reason string) error {
	res, err := tx.ExecContext(ctx, `UPDATE buyer_payments SET status = ?, fee_msat = ?, finished_us = ?, error = ?, macaroon = NULL
		WHERE payment_hash = ? AND status = 'pending'`,
		string(status), int64(fee), micros(finished), reason, hash.String())
	if err != nil {
		return fmt.Errorf("sqlite: record payment %s %s: %w", hash, status, err)
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	var have string
	err = tx.QueryRowContext(ctx, `SELECT status FROM buyer_payments WHERE payment_hash = ?`, hash.String()).Scan(&have)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: no payment %s: %w", hash, client.ErrNotFound)
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("sqlite: payment %s is %s: %w", hash, have, client.ErrNotPending)
}

const paymentColumns = `payment_hash, url, host, origin, scope, invoice, description, amount_msat, fee_msat, status, macaroon, created_us, finished_us, error`

func scanPayment(row scanner) (client.Payment, error) {
	var (
		p                 client.Payment
		hash, status      string
		amount, fee       int64
		created, finished int64
	)
	if err := row.Scan(&hash, &p.URL, &p.Host, &p.Origin, &p.Scope, &p.Invoice, &p.Description,
		&amount, &fee, &status, (*[]byte)(&p.Macaroon), &created, &finished, &p.Error); err != nil {
		return client.Payment{}, err
	}
	var err error
	if p.Hash, err = l402.ParsePaymentHash(hash); err != nil {
		return client.Payment{}, fmt.Errorf("sqlite: stored payment hash: %w", err)
	}
	p.Amount, p.Fee, p.Status = money.MilliSat(amount), money.MilliSat(fee), client.PaymentStatus(status)
	p.CreatedAt, p.FinishedAt = fromMicros(created), fromMicros(finished)
	return p, nil
}

// Payment implements client.Store.
func (s *BuyerStore) Payment(ctx context.Context, hash l402.PaymentHash) (client.Payment, error) {
	p, err := scanPayment(s.db.sql.QueryRowContext(ctx, `SELECT `+paymentColumns+` FROM buyer_payments WHERE payment_hash = ?`, hash.String()))
	if errors.Is(err, sql.ErrNoRows) {
		return client.Payment{}, fmt.Errorf("sqlite: no payment %s: %w", hash, client.ErrNotFound)
	}
	return p, err
}

// PendingPayments implements client.Store.
func (s *BuyerStore) PendingPayments(ctx context.Context) ([]client.Payment, error) {
	return s.payments(ctx, `SELECT `+paymentColumns+` FROM buyer_payments WHERE status = 'pending' ORDER BY created_us, payment_hash`)
}

// Payments implements client.Store.
func (s *BuyerStore) Payments(ctx context.Context, q client.PaymentQuery) ([]client.Payment, error) {
	limit := int64(-1)
	if q.Limit > 0 {
		limit = int64(q.Limit)
	}
	return s.payments(ctx, `SELECT `+paymentColumns+` FROM buyer_payments
		WHERE created_us >= ? AND (? = '' OR host = ?)
		ORDER BY created_us DESC, payment_hash LIMIT ?`,
		micros(q.Since), q.Host, q.Host, limit)
}

func (s *BuyerStore) payments(ctx context.Context, query string, args ...any) ([]client.Payment, error) {
	rows, err := s.db.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list payments: %w", err)
	}
	defer rows.Close()
	var out []client.Payment
	for rows.Next() {
		p, err := scanPayment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
