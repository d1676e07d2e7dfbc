package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBuyerMigration2KeepsTokensServed: tokens bought before the refused
// mark existed count as served, so a refusal replaces them once, as it
// did when they were bought.
func TestBuyerMigration2KeepsTokensServed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buyer.db")
	ctx := context.Background()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.migrate(ctx, "buyer", buyerMigrations[:1]); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	_, err = db.sql.ExecContext(ctx, `INSERT INTO buyer_tokens (token_id, payment_hash, origin, scope, macaroon, preimage,
		price_msat, fee_msat, created_us, valid_until_us) VALUES (?, ?, 'https://a.test:443', '/v1/', x'00', ?, 10000, 0, ?, 0)`,
		strings.Repeat("1", 64), strings.Repeat("2", 64), make([]byte, 32), created.UnixMicro())
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := OpenBuyerStore(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tok, err := s.Token(ctx, "https://a.test:443", "/v1/")
	if err != nil {
		t.Fatal(err)
	}
	if !tok.AcceptedAt.Equal(created) || tok.Refused() {
		t.Errorf("migrated token: accepted %v refused %v, want accepted at its purchase and not refused", tok.AcceptedAt, tok.RefusedAt)
	}
}
