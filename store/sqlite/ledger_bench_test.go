package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
	"github.com/satloop/satloop/wallet"
)

// BenchmarkLedgerReserveSettle measures reserve+settle pairs (one payment's
// two ledger writes) against one budget key, with a history of settled
// entries already charged to that key: inside the budget's window (which
// Reserve must sum), or before it (which it must skip). Serial is one
// daemon goroutine; parallel is several at once on one handle, serialised
// by SQLite's write lock.
//
//	go test -run '^$' -bench LedgerReserveSettle -benchtime 2000x ./store/sqlite/
func BenchmarkLedgerReserveSettle(b *testing.B) {
	cases := []struct {
		inWindow, beforeWindow int
	}{
		{0, 0},
		{10_000, 0},
		{100_000, 0},
		{1_000, 100_000},
	}
	for _, c := range cases {
		name := fmt.Sprintf("window=%d/older=%d", c.inWindow, c.beforeWindow)
		b.Run(name+"/serial", func(b *testing.B) {
			l, r := benchLedger(b, c.inWindow, c.beforeWindow)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				reserveSettle(b, ctx, l, r, uint64(i))
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
		})
		b.Run(name+"/parallel", func(b *testing.B) {
			l, r := benchLedger(b, c.inWindow, c.beforeWindow)
			ctx := context.Background()
			var next atomic.Uint64
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					reserveSettle(b, ctx, l, r, next.Add(1))
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
		})
	}
}

// reserveSettle reserves and settles payment n of the template r.
func reserveSettle(b *testing.B, ctx context.Context, l *Ledger, r wallet.Reservation, n uint64) {
	var p l402.Preimage
	binary.BigEndian.PutUint64(p[:], n)
	p[31] = 0xbe // apart from the seeded history's preimages
	r.Hash = p.Hash()
	r.At = r.At.Add(time.Duration(n) * time.Microsecond)
	if _, err := l.Reserve(ctx, r); err != nil {
		b.Fatal(err)
	}
	if _, err := l.Settle(ctx, r.Hash, r.Amount, money.MilliSat(100), p, r.At); err != nil {
		b.Fatal(err)
	}
}

// benchLedger opens a ledger holding one agent and the given history, and
// returns it with a reservation template whose budget window starts after
// the older entries and before the ones in the window.
func benchLedger(b *testing.B, inWindow, beforeWindow int) (*Ledger, wallet.Reservation) {
	b.Helper()
	ctx := context.Background()
	l, err := OpenLedger(ctx, filepath.Join(b.TempDir(), "wallet.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	a := wallet.Agent{Name: "bench", RootKey: make(wallet.RootKey, 32), CreatedAt: ledgerT0}
	a.ID[0] = 1
	if err := l.CreateAgent(ctx, a); err != nil {
		b.Fatal(err)
	}
	// A rolling day that starts mid-hour, as a window ending now does:
	// the history spreads over the day before it and the day in it.
	const key = "agent/day"
	windowStart := ledgerT0.Add(24*time.Hour + 30*time.Minute)
	seedSettled(b, l, a.ID, key, beforeWindow, ledgerT0, 0)
	seedSettled(b, l, a.ID, key, inWindow, windowStart, beforeWindow)
	budget := wallet.Budget{Key: key, Limit: money.MaxMilliSat, Since: windowStart}
	// The window holds the seeds meant for it, and only those.
	if u, err := l.Used(ctx, []wallet.Budget{budget}); err != nil || u[0].Used != money.MilliSat(10_100*inWindow) {
		b.Fatalf("seeded window: used %v, err = %v; want %d entries of 10,100 msat", u, err, inWindow)
	}
	return l, wallet.Reservation{
		AgentID: a.ID, Kind: wallet.KindFetch, Invoice: "lnbcrt10n1bench",
		URL: "https://api.example.com/v1/search", Host: "api.example.com",
		Amount: money.Sats(10), FeeLimit: money.Sats(1),
		Budgets: []wallet.Budget{budget},
		At:      windowStart.Add(24 * time.Hour),
	}
}

// seedSettled writes n settled entries charged to key, created evenly
// over the day from start, straight into the tables in one
// transaction: as Reserve and Settle would leave them, a hundred times
// faster. Preimage numbers start at first so that seeds never collide.
func seedSettled(b *testing.B, l *Ledger, agent wallet.AgentID, key string, n int, start time.Time, first int) {
	b.Helper()
	if n == 0 {
		return
	}
	err := l.db.tx(context.Background(), func(tx *sql.Tx) error {
		entry, err := tx.Prepare(`INSERT INTO wallet_entries (payment_hash, agent_id, kind, invoice, url, host,
			amount_msat, fee_limit_msat, fee_msat, status, preimage, created_us, finished_us, error)
			VALUES (?, ?, 'pay', 'lnbcrt10n1seed', '', '', 10000, 1000, 100, 'settled', ?, ?, ?, '')`)
		if err != nil {
			return err
		}
		defer entry.Close()
		charge, err := tx.Prepare(`INSERT INTO wallet_charges (payment_hash, budget_key, created_us, charged_msat) VALUES (?, ?, ?, 10100)`)
		if err != nil {
			return err
		}
		defer charge.Close()
		hour, err := tx.Prepare(`INSERT INTO wallet_charge_hours (budget_key, hour_us, charged_msat) VALUES (?, ?, 10100)
			ON CONFLICT (budget_key, hour_us) DO UPDATE SET charged_msat = charged_msat + excluded.charged_msat`)
		if err != nil {
			return err
		}
		defer hour.Close()
		for i := 0; i < n; i++ {
			p := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(first+i)))
			hash := l402.Preimage(p).Hash().String()
			created := start.Add(time.Duration(i) * (24 * time.Hour / time.Duration(n))).UnixMicro()
			if _, err := entry.Exec(hash, agent.String(), p[:], created, created); err != nil {
				return err
			}
			if _, err := charge.Exec(hash, key, created); err != nil {
				return err
			}
			if _, err := hour.Exec(key, hourStart(created)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
