// Package gatetest is the conformance suite for gate.Store: one set of tests
// that every implementation (memory, SQLite, PostgreSQL) must pass, so that
// the gateway behaves the same whichever store an operator picks.
//
//	func TestGateStore(t *testing.T) {
//		gatetest.TestStore(t, func(t *testing.T) gatetest.Open {
//			path := filepath.Join(t.TempDir(), "gate.db")
//			return func(t *testing.T) gate.Store { ... open path ... }
//		})
//	}
package gatetest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/satloop/satloop/gate"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
)

// Open opens a new handle on one backing store. Every handle must be an
// independent instance (its own connections), as two gateway processes
// would have; handles on a store that lives in one process's memory may be
// the same value. The suite closes the handles it opens.
type Open func(t *testing.T) gate.Store

// NewBacking creates a fresh, empty backing store (a database file, a
// PostgreSQL database) for one subtest and returns how to open handles on
// it.
type NewBacking func(t *testing.T) Open

// TestStore runs the conformance suite against the store that newBacking
// creates.
func TestStore(t *testing.T, newBacking NewBacking) {
	tests := []struct {
		name string
		run  func(t *testing.T, open Open)
	}{
		{"QuotaCountsToLimit", testQuotaCountsToLimit},
		{"QuotaLimitBelowOneAdmitsNothing", testQuotaLimitBelowOne},
		{"QuotaPerToken", testQuotaPerToken},
		{"QuotaAtomicUnderConcurrency", testQuotaConcurrent},
		{"QuotaSharedAcrossHandles", testQuotaAcrossHandles},
		{"RefundNeverBelowZero", testRefund},
		{"RevokeRefusesQuota", testRevoke},
		{"RevokeSeenByOtherHandle", testRevokeAcrossHandles},
		{"RevokedSinceCursor", testRevokedSince},
		{"RevokedSinceConcurrentNoMissNoDuplicate", testRevokedSinceConcurrent},
		{"RecordSaleOnce", testRecordSaleOnce},
		{"RecordSaleOnceUnderConcurrency", testRecordSaleConcurrent},
		{"SalesOrderSinceLimit", testSales},
		{"SaleJSONRoundTrip", testSaleJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, closing(newBacking(t)))
		})
	}
}

// closing wraps open so that every handle is closed when the test ends.
func closing(open Open) Open {
	return func(t *testing.T) gate.Store {
		t.Helper()
		s := open(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func newTokenID(t *testing.T) l402.TokenID {
	t.Helper()
	var id l402.TokenID
	if _, err := rand.Read(id[:]); err != nil {
		t.Fatal(err)
	}
	return id
}

func newPaymentHash(t *testing.T) l402.PaymentHash {
	t.Helper()
	var h l402.PaymentHash
	if _, err := rand.Read(h[:]); err != nil {
		t.Fatal(err)
	}
	return h
}

func testQuotaCountsToLimit(t *testing.T, open Open) {
	s, c, id := open(t), ctx(t), newTokenID(t)
	for want := int64(1); want <= 3; want++ {
		used, err := s.UseQuota(c, id, 3)
		if err != nil {
			t.Fatalf("request %d: %v", want, err)
		}
		if used != want {
			t.Fatalf("request %d: used = %d", want, used)
		}
	}
	for i := 0; i < 2; i++ {
		if _, err := s.UseQuota(c, id, 3); !errors.Is(err, gate.ErrQuotaExhausted) {
			t.Fatalf("request past the limit: err = %v, want ErrQuotaExhausted", err)
		}
	}
	// The refused requests counted nothing: one refund frees exactly one.
	if err := s.RefundQuota(c, id); err != nil {
		t.Fatal(err)
	}
	if used, err := s.UseQuota(c, id, 3); err != nil || used != 3 {
		t.Fatalf("after a refund: used = %d, err = %v; want 3, nil", used, err)
	}
	// A larger limit (the route's config changed) admits the difference.
	if used, err := s.UseQuota(c, id, 4); err != nil || used != 4 {
		t.Fatalf("with limit 4: used = %d, err = %v; want 4, nil", used, err)
	}
}

func testQuotaLimitBelowOne(t *testing.T, open Open) {
	s, c := open(t), ctx(t)
	for _, limit := range []int64{0, -1} {
		id := newTokenID(t)
		if _, err := s.UseQuota(c, id, limit); !errors.Is(err, gate.ErrQuotaExhausted) {
			t.Errorf("limit %d: err = %v, want ErrQuotaExhausted", limit, err)
		}
		if used, err := s.UseQuota(c, id, 1); err != nil || used != 1 {
			t.Errorf("limit %d counted something: then used = %d, err = %v", limit, used, err)
		}
	}
}

func testQuotaPerToken(t *testing.T, open Open) {
	s, c := open(t), ctx(t)
	a, b := newTokenID(t), newTokenID(t)
	if _, err := s.UseQuota(c, a, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UseQuota(c, a, 1); !errors.Is(err, gate.ErrQuotaExhausted) {
		t.Fatalf("second use of a: err = %v, want ErrQuotaExhausted", err)
	}
	if used, err := s.UseQuota(c, b, 1); err != nil || used != 1 {
		t.Fatalf("b after a: used = %d, err = %v; want 1, nil", used, err)
	}
}

// useConcurrently makes n requests at once against token id, spread over
// the handles, and returns how many were admitted and the counts they saw.
func useConcurrently(t *testing.T, handles []gate.Store, id l402.TokenID, n int, limit int64) (admitted int, counts []int64) {
	c := ctx(t)
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for i := 0; i < n; i++ {
		s := handles[i%len(handles)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			used, err := s.UseQuota(c, id, limit)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				admitted++
				counts = append(counts, used)
			case !errors.Is(err, gate.ErrQuotaExhausted):
				t.Errorf("UseQuota: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	return admitted, counts
}

func checkCounts(t *testing.T, counts []int64, limit int64) {
	t.Helper()
	seen := make(map[int64]bool)
	for _, u := range counts {
		if u < 1 || u > limit || seen[u] {
			t.Errorf("counts returned %v: each of 1..%d exactly once expected", counts, limit)
			return
		}
		seen[u] = true
	}
}

func testQuotaConcurrent(t *testing.T, open Open) {
	const goroutines, limit = 64, 10
	admitted, counts := useConcurrently(t, []gate.Store{open(t)}, newTokenID(t), goroutines, limit)
	if admitted != limit {
		t.Errorf("%d concurrent requests with a quota of %d: %d admitted", goroutines, limit, admitted)
	}
	checkCounts(t, counts, limit)
}

func testQuotaAcrossHandles(t *testing.T, open Open) {
	const goroutines, limit = 64, 10
	a, b := open(t), open(t)
	c, id := ctx(t), newTokenID(t)
	// Sequentially, alternating: the count is one.
	for i := int64(1); i <= 4; i++ {
		s := a
		if i%2 == 0 {
			s = b
		}
		if used, err := s.UseQuota(c, id, 4); err != nil || used != i {
			t.Fatalf("request %d: used = %d, err = %v", i, used, err)
		}
	}
	if _, err := a.UseQuota(c, id, 4); !errors.Is(err, gate.ErrQuotaExhausted) {
		t.Fatalf("past the limit on a: err = %v", err)
	}
	if _, err := b.UseQuota(c, id, 4); !errors.Is(err, gate.ErrQuotaExhausted) {
		t.Fatalf("past the limit on b: err = %v", err)
	}
	// Concurrently, on both handles at once.
	admitted, counts := useConcurrently(t, []gate.Store{a, b}, newTokenID(t), goroutines, limit)
	if admitted != limit {
		t.Errorf("%d concurrent requests over two handles with a quota of %d: %d admitted", goroutines, limit, admitted)
	}
	checkCounts(t, counts, limit)
}

func testRefund(t *testing.T, open Open) {
	s, c := open(t), ctx(t)
	// Never seen, and refunded twice: nothing to give back, no error.
	id := newTokenID(t)
	for i := 0; i < 2; i++ {
		if err := s.RefundQuota(c, id); err != nil {
			t.Fatalf("refund of an unused token: %v", err)
		}
	}
	// The refunds must not have banked requests.
	if _, err := s.UseQuota(c, id, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UseQuota(c, id, 1); !errors.Is(err, gate.ErrQuotaExhausted) {
		t.Fatalf("refunds below zero were banked: err = %v", err)
	}
	// One used, three refunds, then the quota is whole again and no more.
	if err := s.RefundQuota(c, id); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := s.RefundQuota(c, id); err != nil {
			t.Fatal(err)
		}
	}
	for want := int64(1); want <= 2; want++ {
		if used, err := s.UseQuota(c, id, 2); err != nil || used != want {
			t.Fatalf("after refunds: used = %d, err = %v; want %d, nil", used, err, want)
		}
	}
	if _, err := s.UseQuota(c, id, 2); !errors.Is(err, gate.ErrQuotaExhausted) {
		t.Fatalf("refunds below zero were banked: err = %v", err)
	}
}

func testRevoke(t *testing.T, open Open) {
	s, c := open(t), ctx(t)
	id, other := newTokenID(t), newTokenID(t)
	if _, err := s.UseQuota(c, id, 5); err != nil {
		t.Fatal(err)
	}
	if revoked, err := s.Revoked(c, id); err != nil || revoked {
		t.Fatalf("before Revoke: revoked = %v, err = %v", revoked, err)
	}
	for i := 0; i < 2; i++ {
		if err := s.Revoke(c, id, "leaked in a log"); err != nil {
			t.Fatalf("Revoke #%d: %v", i+1, err)
		}
	}
	if revoked, err := s.Revoked(c, id); err != nil || !revoked {
		t.Fatalf("after Revoke: revoked = %v, err = %v", revoked, err)
	}
	if _, err := s.UseQuota(c, id, 5); !errors.Is(err, gate.ErrRevoked) {
		t.Fatalf("UseQuota of a revoked token: err = %v, want ErrRevoked", err)
	}
	// A token never used can be revoked too, and is then refused. The
	// reason is free text: no spelling of it may make a revocation fail.
	fresh := newTokenID(t)
	if err := s.Revoke(c, fresh, "nul\x00 and invalid \xff\xfe UTF-8, '; DROP TABLE x; --"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UseQuota(c, fresh, 5); !errors.Is(err, gate.ErrRevoked) {
		t.Fatalf("UseQuota of a token revoked before use: err = %v, want ErrRevoked", err)
	}
	// Others are untouched.
	if revoked, err := s.Revoked(c, other); err != nil || revoked {
		t.Fatalf("another token: revoked = %v, err = %v", revoked, err)
	}
	if _, err := s.UseQuota(c, other, 5); err != nil {
		t.Fatalf("another token: %v", err)
	}
}

func testRevokeAcrossHandles(t *testing.T, open Open) {
	a, b := open(t), open(t)
	c, id := ctx(t), newTokenID(t)
	if _, err := b.UseQuota(c, id, 5); err != nil {
		t.Fatal(err)
	}
	if err := a.Revoke(c, id, "operator"); err != nil {
		t.Fatal(err)
	}
	if revoked, err := b.Revoked(c, id); err != nil || !revoked {
		t.Fatalf("revoked on a, on b: revoked = %v, err = %v", revoked, err)
	}
	if _, err := b.UseQuota(c, id, 5); !errors.Is(err, gate.ErrRevoked) {
		t.Fatalf("revoked on a, UseQuota on b: err = %v, want ErrRevoked", err)
	}
}

// drain follows s's revocation list from cursor until nothing is new.
func drain(t *testing.T, s gate.Store, cursor int64) ([]l402.TokenID, int64) {
	t.Helper()
	ids, next, err := s.RevokedSince(ctx(t), cursor)
	if err != nil {
		t.Fatalf("RevokedSince(%d): %v", cursor, err)
	}
	if len(ids) == 0 && next != cursor {
		t.Fatalf("RevokedSince(%d): nothing new but next = %d", cursor, next)
	}
	if len(ids) > 0 && next <= cursor {
		t.Fatalf("RevokedSince(%d): %d new but next = %d did not advance", cursor, len(ids), next)
	}
	return ids, next
}

func testRevokedSince(t *testing.T, open Open) {
	a, b := open(t), open(t)
	c := ctx(t)
	ids, cursor := drain(t, a, 0)
	if len(ids) != 0 || cursor != 0 {
		t.Fatalf("empty store: ids = %v, next = %d; want none, 0", ids, cursor)
	}
	x, y, z := newTokenID(t), newTokenID(t), newTokenID(t)
	for _, id := range []l402.TokenID{x, y} {
		if err := a.Revoke(c, id, "test"); err != nil {
			t.Fatal(err)
		}
	}
	ids, cursor = drain(t, b, 0)
	if !reflect.DeepEqual(ids, []l402.TokenID{x, y}) {
		t.Fatalf("RevokedSince(0) = %v, want [%s %s] in revocation order", ids, x, y)
	}
	if ids, _ := drain(t, b, cursor); len(ids) != 0 {
		t.Fatalf("RevokedSince(next) repeated %v", ids)
	}
	// Revoking again adds nothing; a revocation through the other handle
	// is the only new one.
	if err := b.Revoke(c, x, "again"); err != nil {
		t.Fatal(err)
	}
	if err := b.Revoke(c, z, "test"); err != nil {
		t.Fatal(err)
	}
	ids, next := drain(t, a, cursor)
	if !reflect.DeepEqual(ids, []l402.TokenID{z}) {
		t.Fatalf("RevokedSince(%d) = %v, want [%s]", cursor, ids, z)
	}
	if ids, _ := drain(t, b, next); len(ids) != 0 {
		t.Fatalf("a cursor from handle a, read on handle b, repeated %v", ids)
	}
}

// testRevokedSinceConcurrent revokes from several goroutines on two handles
// while a reader follows the list: the reader must see every revocation
// exactly once. A store whose cursor is a sequence number assigned before
// commit fails this when a later number commits first.
func testRevokedSinceConcurrent(t *testing.T, open Open) {
	const writers, perWriter = 8, 25
	a, b := open(t), open(t)
	c := ctx(t)
	var (
		wg       sync.WaitGroup
		finished atomic.Bool
		want     = make(map[l402.TokenID]bool)
		byWriter = make([][]l402.TokenID, writers)
	)
	for w := range byWriter {
		for i := 0; i < perWriter; i++ {
			id := newTokenID(t)
			byWriter[w] = append(byWriter[w], id)
			want[id] = true
		}
	}
	for w := 0; w < writers; w++ {
		s := a
		if w%2 == 1 {
			s = b
		}
		ids := byWriter[w]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, id := range ids {
				if err := s.Revoke(c, id, "concurrent"); err != nil {
					t.Errorf("Revoke: %v", err)
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); finished.Store(true) }()

	seen := make(map[l402.TokenID]int)
	var cursor int64
	for readers := []gate.Store{a, b}; ; {
		done := finished.Load() // read before the poll, so the last poll follows the last write
		for _, s := range readers {
			var ids []l402.TokenID
			ids, cursor = drain(t, s, cursor)
			for _, id := range ids {
				seen[id]++
			}
		}
		if done {
			break
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("token %s seen %d times", id, n)
		}
		if !want[id] {
			t.Errorf("token %s seen but never revoked", id)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("reader saw %d of %d revocations", len(seen), len(want))
	}
}

func testRecordSaleOnce(t *testing.T, open Open) {
	a, b := open(t), open(t)
	c := ctx(t)
	sale := gate.Sale{
		TokenID:     newTokenID(t),
		PaymentHash: newPaymentHash(t),
		Route:       "weather",
		Amount:      money.Sats(10),
		At:          time.Now(),
	}
	if recorded, err := a.RecordSale(c, sale); err != nil || !recorded {
		t.Fatalf("first RecordSale: recorded = %v, err = %v", recorded, err)
	}
	changed := sale
	changed.Route, changed.Amount, changed.At = "other", money.Sats(99), sale.At.Add(time.Hour)
	for _, s := range []gate.Store{a, b} {
		if recorded, err := s.RecordSale(c, changed); err != nil || recorded {
			t.Fatalf("RecordSale of the same token again: recorded = %v, err = %v", recorded, err)
		}
	}
	got, err := b.Sales(c, time.Time{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("Sales = %d sales, want 1", len(got))
	}
	checkSale(t, got[0], sale)
}

func testRecordSaleConcurrent(t *testing.T, open Open) {
	const goroutines = 16
	handles := []gate.Store{open(t), open(t)}
	c := ctx(t)
	sale := gate.Sale{TokenID: newTokenID(t), PaymentHash: newPaymentHash(t), Route: "r", Amount: 1000, At: time.Now()}
	var (
		recorded atomic.Int32
		wg       sync.WaitGroup
	)
	for i := 0; i < goroutines; i++ {
		s := handles[i%len(handles)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.RecordSale(c, sale)
			if err != nil {
				t.Errorf("RecordSale: %v", err)
			}
			if ok {
				recorded.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := recorded.Load(); n != 1 {
		t.Errorf("%d concurrent RecordSale of one token: %d recorded, want 1", goroutines, n)
	}
}

// checkSale compares a sale read back with the one recorded: At to the
// microsecond and in UTC, everything else exactly.
func checkSale(t *testing.T, got, want gate.Sale) {
	t.Helper()
	wantAt := want.At.UTC().Truncate(time.Microsecond)
	if !got.At.Equal(wantAt) || got.At.Location() != time.UTC {
		t.Errorf("At = %v, want %v (UTC, to the microsecond)", got.At, wantAt)
	}
	got.At, want.At = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("sale = %+v, want %+v", got, want)
	}
}

func testSales(t *testing.T, open Open) {
	a, b := open(t), open(t)
	c := ctx(t)
	if got, err := a.Sales(c, time.Time{}, 10); err != nil || len(got) != 0 {
		t.Fatalf("empty store: Sales = %v, err = %v", got, err)
	}
	// Nanoseconds on purpose: stores keep microseconds.
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
	newSale := func(at time.Time, route string) gate.Sale {
		return gate.Sale{TokenID: newTokenID(t), PaymentHash: newPaymentHash(t), Route: route, Amount: money.Sats(21), At: at}
	}
	// Recorded out of time order, over both handles; s3 and s4 share an
	// instant, s4 recorded later.
	s2 := newSale(t0.Add(2*time.Second), "b")
	s0 := newSale(t0, "a")
	s3 := newSale(t0.Add(3*time.Second), "c")
	s4 := newSale(t0.Add(3*time.Second), "d")
	s1 := newSale(t0.Add(time.Second), "e ünïcode route/with spaces")
	s1.Amount = money.MaxMilliSat
	for i, s := range []gate.Sale{s2, s0, s3, s4, s1} {
		h := a
		if i%2 == 1 {
			h = b
		}
		if ok, err := h.RecordSale(c, s); err != nil || !ok {
			t.Fatalf("RecordSale(%s): recorded = %v, err = %v", s.Route, ok, err)
		}
	}
	tests := []struct {
		since time.Time
		limit int
		want  []gate.Sale
	}{
		{time.Time{}, 10, []gate.Sale{s4, s3, s2, s1, s0}},
		{time.Time{}, 2, []gate.Sale{s4, s3}},
		{t0, 10, []gate.Sale{s4, s3, s2, s1, s0}},
		{t0.Add(time.Second), 10, []gate.Sale{s4, s3, s2, s1}},
		{t0.Add(time.Second + time.Nanosecond), 10, []gate.Sale{s4, s3, s2, s1}}, // same microsecond
		{t0.Add(time.Second + time.Microsecond), 10, []gate.Sale{s4, s3, s2}},
		{t0.Add(3 * time.Second), 1, []gate.Sale{s4}},
		{t0.Add(4 * time.Second), 10, nil},
		{time.Time{}, 0, nil},
		{time.Time{}, -1, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("since=%s,limit=%d", tt.since.Format(time.RFC3339Nano), tt.limit), func(t *testing.T) {
			for name, h := range map[string]gate.Store{"a": a, "b": b} {
				got, err := h.Sales(c, tt.since, tt.limit)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("%s: %d sales, want %d: %+v", name, len(got), len(tt.want), got)
				}
				for i := range got {
					checkSale(t, got[i], tt.want[i])
				}
			}
		})
	}
}

func testSaleJSON(t *testing.T, open Open) {
	s, c := open(t), ctx(t)
	sale := gate.Sale{TokenID: newTokenID(t), PaymentHash: newPaymentHash(t), Route: `quote"d\route`, Amount: 1234567, At: time.Now()}
	if _, err := s.RecordSale(c, sale); err != nil {
		t.Fatal(err)
	}
	got, err := s.Sales(c, time.Time{}, 1)
	if err != nil || len(got) != 1 {
		t.Fatalf("Sales = %v, err = %v", got, err)
	}
	b, err := json.Marshal(got[0])
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{
		"token_id":     sale.TokenID.String(),
		"payment_hash": sale.PaymentHash.String(),
		"route":        sale.Route,
		"amount_msat":  float64(sale.Amount),
	} {
		if fields[key] != want {
			t.Errorf("JSON %s = %v, want %v (in %s)", key, fields[key], want, b)
		}
	}
	var back gate.Sale
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	checkSale(t, back, sale)
}
