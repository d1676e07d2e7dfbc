package sqlite

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
	"github.com/satloop/satloop/wallet"
	"github.com/satloop/satloop/wallet/wallettest"
)

func TestLedger(t *testing.T) {
	wallettest.Run(t, func(t *testing.T) wallettest.Open {
		path := filepath.Join(t.TempDir(), "wallet.db")
		return func(t *testing.T) wallet.Ledger {
			return openTestLedger(t, path)
		}
	})
}

// openTestLedger opens a handle on path; the caller closes it.
func openTestLedger(t *testing.T, path string) *Ledger {
	t.Helper()
	l, err := OpenLedger(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var ledgerT0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

func testAgent(n byte, name string) wallet.Agent {
	a := wallet.Agent{Name: name, RootKey: make(wallet.RootKey, 32), Caveats: []string{"wallet_budget_day=1000"}, CreatedAt: ledgerT0}
	a.ID[0] = n
	a.RootKey[0] = n
	return a
}

func testHash(n byte) l402.PaymentHash {
	var p l402.Preimage
	p[0] = n
	return p.Hash()
}

func TestLedgerFilesArePrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wallet.db")
	l := openTestLedger(t, path)
	defer l.Close()
	// Write something so that the WAL exists too.
	if err := l.CreateAgent(context.Background(), testAgent(1, "a")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s: mode %v, want 0600 (it holds root keys and preimages)", p, got)
		}
	}
}

// TestLedgerReopenKeepsData: everything written survives a close and a
// reopen (a daemon restart), and reopening applies no migration twice.
func TestLedgerReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wallet.db")
	l := openTestLedger(t, path)
	a := testAgent(1, "a")
	if err := l.CreateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	budget := wallet.Budget{Key: "day", Limit: money.Sats(1000), Since: ledgerT0}
	reserve := func(l *Ledger, n byte) (wallet.Entry, error) {
		return l.Reserve(ctx, wallet.Reservation{Hash: testHash(n), AgentID: a.ID, Kind: wallet.KindPay, Invoice: "lnbcrt1",
			Amount: money.Sats(400), Budgets: []wallet.Budget{budget}, At: ledgerT0.Add(time.Duration(n) * time.Second)})
	}
	if _, err := reserve(l, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := reserve(l, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Settle(ctx, testHash(2), money.Sats(400), 0, l402.Preimage{2}, ledgerT0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := l.SetFrozen(ctx, true, ledgerT0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	for run := 0; run < 2; run++ {
		l = openTestLedger(t, path)
		var migrations int
		if err := l.db.sql.QueryRowContext(ctx, `SELECT count(*) FROM migrations WHERE component = 'wallet'`).Scan(&migrations); err != nil {
			t.Fatal(err)
		}
		if migrations != len(ledgerMigrations) {
			t.Errorf("reopen %d: %d wallet migrations recorded, want %d", run, migrations, len(ledgerMigrations))
		}
		got, err := l.Agent(ctx, a.ID)
		if err != nil || string(got.RootKey) != string(a.RootKey) || !reflect.DeepEqual(got.Caveats, a.Caveats) {
			t.Errorf("reopen %d: agent %+v, err = %v", run, got, err)
		}
		res, err := l.Reserved(ctx)
		if err != nil || len(res) != 1 || res[0].Hash != testHash(1) {
			t.Errorf("reopen %d: reserved %v, err = %v; want payment 1 (to resolve after the crash)", run, res, err)
		}
		if e, err := l.Entry(ctx, testHash(2)); err != nil || e.Status != wallet.EntrySettled || e.Preimage != (l402.Preimage{2}) {
			t.Errorf("reopen %d: settled entry %+v, err = %v", run, e, err)
		}
		if u, err := l.Used(ctx, []wallet.Budget{budget}); err != nil || u[0].Used != money.Sats(800) {
			t.Errorf("reopen %d: used %v, err = %v; want 800 sat", run, u, err)
		}
		if frozen, since, err := l.Frozen(ctx); err != nil || !frozen || !since.Equal(ledgerT0.Add(time.Hour)) {
			t.Errorf("reopen %d: frozen %v since %v, err = %v", run, frozen, since, err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// The child half of TestLedgerBudgetAcrossProcesses: with these set, the
// test binary reserves against the shared budget and writes how many of
// its reservations fit to the result file.
const (
	envLedgerChildDB     = "SATLOOP_TEST_LEDGER_CHILD_DB"
	envLedgerChildIndex  = "SATLOOP_TEST_LEDGER_CHILD_INDEX"
	envLedgerChildResult = "SATLOOP_TEST_LEDGER_CHILD_RESULT"
	ledgerChildTries     = 16
)

// ledgerChildBudget is the budget the processes share: room for ten
// reservations of 100 sat.
var ledgerChildBudget = wallet.Budget{Key: "agent/day", Limit: money.Sats(1000), Since: ledgerT0}

// TestLedgerBudgetAcrossProcesses runs several daemons' worth of
// reservations against one file at once, each process with many
// goroutines: SQLite's file locks, not anything in one process, must keep
// the budget.
func TestLedgerBudgetAcrossProcesses(t *testing.T) {
	if path := os.Getenv(envLedgerChildDB); path != "" {
		reserveAsChild(t, path, os.Getenv(envLedgerChildIndex), os.Getenv(envLedgerChildResult))
		return
	}
	const processes = 4
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wallet.db")
	l := openTestLedger(t, path)
	defer l.Close()
	if err := l.CreateAgent(ctx, testAgent(1, "a")); err != nil {
		t.Fatal(err)
	}
	total := sumOfChildren(t, "TestLedgerBudgetAcrossProcesses", processes, envLedgerChildResult, func(i int) []string {
		return []string{envLedgerChildDB + "=" + path, envLedgerChildIndex + "=" + strconv.Itoa(i)}
	})
	if total != 10 {
		t.Errorf("%d processes reserving 100 sat %d times each against 1,000 sat: %d fit, want 10", processes, ledgerChildTries, total)
	}
	if u, err := l.Used(ctx, []wallet.Budget{ledgerChildBudget}); err != nil || u[0].Used != money.Sats(1000) {
		t.Errorf("after the children: used %v, err = %v; want 1,000 sat", u, err)
	}
}

func reserveAsChild(t *testing.T, path, index, result string) {
	child, err := strconv.Atoi(index)
	if err != nil {
		t.Fatal(err)
	}
	l := openTestLedger(t, path)
	defer l.Close()
	var (
		wg       sync.WaitGroup
		reserved atomic.Int64
	)
	for i := 0; i < ledgerChildTries; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := l.Reserve(context.Background(), wallet.Reservation{
				Hash: testHash(byte(child*ledgerChildTries + i)), AgentID: testAgent(1, "a").ID, Kind: wallet.KindPay,
				Invoice: "lnbcrt1u1child", Amount: money.Sats(100), Budgets: []wallet.Budget{ledgerChildBudget}, At: ledgerT0,
			})
			switch {
			case err == nil:
				reserved.Add(1)
			case !errors.Is(err, wallet.ErrOverBudget):
				t.Errorf("Reserve: %v", err)
			}
		}()
	}
	wg.Wait()
	if err := os.WriteFile(result, []byte(strconv.Itoa(int(reserved.Load()))), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLedgerFreezeKeepsItsStart: freezing a frozen wallet again keeps the
// time it was first frozen, which is what an operator wants to see.
func TestLedgerFreezeKeepsItsStart(t *testing.T) {
	ctx := context.Background()
	l := openTestLedger(t, filepath.Join(t.TempDir(), "wallet.db"))
	defer l.Close()
	steps := []struct {
		frozen    bool
		at        time.Time
		wantSince time.Time
	}{
		{false, ledgerT0, time.Time{}},
		{true, ledgerT0.Add(1 * time.Minute), ledgerT0.Add(1 * time.Minute)},
		{true, ledgerT0.Add(2 * time.Minute), ledgerT0.Add(1 * time.Minute)},
		{false, ledgerT0.Add(3 * time.Minute), ledgerT0.Add(3 * time.Minute)},
		{false, ledgerT0.Add(4 * time.Minute), ledgerT0.Add(3 * time.Minute)},
	}
	for i, s := range steps {
		if err := l.SetFrozen(ctx, s.frozen, s.at); err != nil {
			t.Fatal(err)
		}
		frozen, since, err := l.Frozen(ctx)
		if err != nil || frozen != s.frozen || !since.Equal(s.wantSince) {
			t.Errorf("step %d: frozen %v since %v, err = %v; want %v since %v", i, frozen, since, err, s.frozen, s.wantSince)
		}
	}
}

// TestLedgerRefusesBadInput: what would corrupt a budget or a record is
// refused before it reaches the file.
func TestLedgerRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	l := openTestLedger(t, filepath.Join(t.TempDir(), "wallet.db"))
	defer l.Close()
	a := testAgent(1, "a")
	if err := l.CreateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	budget := wallet.Budget{Key: "day", Limit: money.Sats(1000)}
	good := wallet.Reservation{Hash: testHash(1), AgentID: a.ID, Kind: wallet.KindPay, Invoice: "lnbcrt1",
		Amount: money.Sats(10), FeeLimit: money.Sats(1), Budgets: []wallet.Budget{budget}, At: ledgerT0}
	reservations := []struct {
		name   string
		change func(*wallet.Reservation)
	}{
		{"negative amount frees room", func(r *wallet.Reservation) { r.Amount = -money.Sats(500) }},
		{"negative fee limit frees room", func(r *wallet.Reservation) { r.FeeLimit = -1 }},
		{"amount past 21M BTC", func(r *wallet.Reservation) { r.Amount = money.MaxMilliSat + 1 }},
		{"no time: would count in every window", func(r *wallet.Reservation) { r.At = time.Time{} }},
		{"unknown kind", func(r *wallet.Reservation) { r.Kind = "steal" }},
	}
	for _, tt := range reservations {
		t.Run(tt.name, func(t *testing.T) {
			r := good
			tt.change(&r)
			if _, err := l.Reserve(ctx, r); err == nil {
				t.Fatal("Reserve accepted it")
			}
			if _, err := l.Entry(ctx, r.Hash); !errors.Is(err, wallet.ErrNotFound) {
				t.Errorf("the refused reservation was stored: err = %v", err)
			}
		})
	}
	if _, err := l.Reserve(ctx, good); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Settle(ctx, good.Hash, money.Sats(10), -money.Sats(100), l402.Preimage{1}, ledgerT0); err == nil {
		t.Error("Settle accepted a negative fee")
	}
	if _, err := l.Settle(ctx, good.Hash, money.Sats(10), 0, l402.Preimage{1}, time.Time{}); err == nil {
		t.Error("Settle accepted no time")
	}
	if _, err := l.Release(ctx, good.Hash, "x", time.Time{}); err == nil {
		t.Error("Release accepted no time")
	}
	if e, err := l.Entry(ctx, good.Hash); err != nil || e.Status != wallet.EntryReserved {
		t.Errorf("after refused settlements: %+v, err = %v; want still reserved", e, err)
	}
	if _, err := l.RevokeAgent(ctx, "a", time.Time{}); err == nil {
		t.Error("RevokeAgent accepted no time (it would read as not revoked)")
	}
	if got, _ := l.Agent(ctx, a.ID); got.Revoked() {
		t.Error("a refused revocation revoked")
	}
	agents := []struct {
		name   string
		change func(*wallet.Agent)
	}{
		{"zero id", func(a *wallet.Agent) { a.ID = wallet.AgentID{} }},
		{"no name", func(a *wallet.Agent) { a.Name = "" }},
		{"no root key", func(a *wallet.Agent) { a.RootKey = nil }},
	}
	for _, tt := range agents {
		b := testAgent(2, "b")
		tt.change(&b)
		if err := l.CreateAgent(ctx, b); err == nil {
			t.Errorf("CreateAgent accepted an agent with %s", tt.name)
		}
	}
	if err := l.RecordInvoice(ctx, wallet.ReceivedInvoice{Hash: testHash(9), AgentID: a.ID, Amount: -1, CreatedAt: ledgerT0}); err == nil {
		t.Error("RecordInvoice accepted a negative amount")
	}
}

// TestLedgerBudgetSumUsesIndex guards the property that keeps Reserve fast
// with a long history and a busy window: each part of a budget's sum is a
// range search of an index, never a scan of a table.
func TestLedgerBudgetSumUsesIndex(t *testing.T) {
	ctx := context.Background()
	l := openTestLedger(t, filepath.Join(t.TempDir(), "wallet.db"))
	defer l.Close()
	rows, err := l.db.sql.QueryContext(ctx, `EXPLAIN QUERY PLAN `+budgetSumQuery(2), 0, "day", 0, 0, 1, "host", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var charges, hours, others []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(detail, "SEARCH c USING COVERING INDEX wallet_charges_by_key (budget_key=? AND created_us"):
			charges = append(charges, detail)
		case strings.HasPrefix(detail, "SEARCH h USING PRIMARY KEY (budget_key=? AND hour_us>?)"):
			hours = append(hours, detail)
		case strings.Contains(detail, "wallet_") || strings.HasPrefix(detail, "SCAN c") || strings.HasPrefix(detail, "SCAN h"):
			others = append(others, detail)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(charges) != 2 || len(hours) != 1 || len(others) != 0 {
		t.Errorf("budget sum plan: charge searches %q, hour searches %q, other reads %q; want 2 range searches of wallet_charges_by_key, 1 of wallet_charge_hours, nothing else",
			charges, hours, others)
	}
}

// FuzzScanLedgerRows decodes agent, entry and invoice rows with arbitrary
// contents (a file damaged, or written by something else): errors, never
// a panic, a settled entry without a full preimage, or caveats that are
// not what the column says.
func FuzzScanLedgerRows(f *testing.F) {
	hex64 := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	hex32 := hex64[:32]
	f.Add(hex32, hex64, `["a=b","c"]`, "settled", make([]byte, 32), int64(1), int64(2))
	f.Add(hex32, hex64, `[]`, "reserved", []byte{}, int64(0), int64(0))
	f.Add("zz", hex64[:10], `null`, "", []byte{1}, int64(-1), int64(1<<62))
	f.Add(hex32, hex64, `{"a":1}`, "released", []byte(nil), int64(5), int64(5))
	f.Add(hex32, hex64, `["a",1]`, "settled", make([]byte, 31), int64(5), int64(5))
	f.Fuzz(func(t *testing.T, id, hash, caveats, status string, preimage []byte, created, finished int64) {
		a, err := scanAgent(row{id, "name", []byte("key"), caveats, created, finished})
		if err == nil {
			if !strings.EqualFold(a.ID.String(), id) {
				t.Fatalf("accepted agent id %q", id)
			}
			back, err := encodeCaveats(a.Caveats)
			if err != nil {
				t.Fatal(err)
			}
			again, err := decodeCaveats(back)
			if err != nil || !reflect.DeepEqual(again, a.Caveats) {
				t.Fatalf("caveats %q read as %q do not round-trip: %q, %v", caveats, a.Caveats, again, err)
			}
		}
		e, err := scanEntry(row{hash, id, "pay", "inv", "", "", created, finished, int64(0), status, preimage, created, finished, ""})
		if err == nil {
			if !strings.EqualFold(e.Hash.String(), hash) || !strings.EqualFold(e.AgentID.String(), id) {
				t.Fatalf("accepted hash %q agent %q", hash, id)
			}
			if e.Status == wallet.EntrySettled && len(preimage) != 32 {
				t.Fatalf("accepted a settled entry with a preimage of %d bytes", len(preimage))
			}
		}
		inv, err := scanInvoice(row{hash, id, "lnbcrt1", created, "memo", created, finished})
		if err == nil && (!strings.EqualFold(inv.Hash.String(), hash) || !strings.EqualFold(inv.AgentID.String(), id)) {
			t.Fatalf("accepted invoice hash %q agent %q", hash, id)
		}
	})
}

// FuzzCaveatsRoundTrip: any list of UTF-8 caveat strings survives the
// column exactly; one that is not UTF-8 is refused, never stored altered.
func FuzzCaveatsRoundTrip(f *testing.F) {
	f.Add("a=b", "line\nbreak", `q"uote`)
	f.Add("", "\x00", "\xff\xfe")
	f.Add("\u2028", "<>&", "\ufffd")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		in := []string{a, b, c}
		s, err := encodeCaveats(in)
		if err != nil {
			if utf8.ValidString(a) && utf8.ValidString(b) && utf8.ValidString(c) {
				t.Fatalf("encode %q: %v", in, err)
			}
			return
		}
		out, err := decodeCaveats(s)
		if err != nil {
			t.Fatalf("decode %q: %v", s, err)
		}
		if !reflect.DeepEqual(out, in) {
			t.Fatalf("caveats %q read back as %q", in, out)
		}
	})
}

// TestLedgerHourTotalsMatchEntries drives a ledger through random
// reservations, settlements, releases and replacements spread over ten
// hours and three keys, then checks every budget sum, for windows starting
// on, beside and between hour boundaries, against the entries themselves.
func TestLedgerHourTotalsMatchEntries(t *testing.T) {
	ctx := context.Background()
	l := openTestLedger(t, filepath.Join(t.TempDir(), "wallet.db"))
	defer l.Close()
	a := testAgent(1, "a")
	if err := l.CreateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	type modelEntry struct {
		created time.Time
		keys    []string
		charged money.MilliSat
		status  wallet.EntryStatus
	}
	var (
		rng     = rand.New(rand.NewPCG(1, 2))
		keys    = []string{"a", "b", "c"}
		model   = map[l402.PaymentHash]*modelEntry{}
		order   []l402.PaymentHash
		anyTime = func() time.Time {
			return ledgerT0.Add(time.Duration(rng.Int64N(int64(10 * time.Hour))).Truncate(time.Microsecond))
		}
	)
	pick := func(status wallet.EntryStatus) (l402.PaymentHash, bool) {
		var found []l402.PaymentHash
		for _, h := range order {
			if model[h].status == status {
				found = append(found, h)
			}
		}
		if len(found) == 0 {
			return l402.PaymentHash{}, false
		}
		return found[rng.IntN(len(found))], true
	}
	reserve := func(h l402.PaymentHash) {
		var budgets []wallet.Budget
		var charged []string
		for _, k := range keys {
			if rng.IntN(2) == 0 {
				budgets = append(budgets, wallet.Budget{Key: k, Limit: money.MaxMilliSat})
				charged = append(charged, k)
			}
		}
		r := wallet.Reservation{Hash: h, AgentID: a.ID, Kind: wallet.KindPay, Invoice: "lnbcrt1",
			Amount: money.MilliSat(1 + rng.Int64N(1_000_000)), FeeLimit: money.MilliSat(rng.Int64N(10_000)), Budgets: budgets, At: anyTime()}
		if _, err := l.Reserve(ctx, r); err != nil {
			t.Fatal(err)
		}
		if _, ok := model[h]; !ok {
			order = append(order, h)
		}
		model[h] = &modelEntry{created: r.At, keys: charged, charged: r.Cost(), status: wallet.EntryReserved}
	}
	for i := 0; i < 600; i++ {
		switch op := rng.IntN(10); {
		case op < 4:
			var p l402.Preimage
			binary.BigEndian.PutUint64(p[:], uint64(i))
			reserve(p.Hash())
		case op < 7:
			if h, ok := pick(wallet.EntryReserved); ok {
				e, err := l.Settle(ctx, h, money.MilliSat(1+rng.Int64N(1_000_000)), money.MilliSat(rng.Int64N(10_000)), l402.Preimage{}, anyTime())
				if err != nil {
					t.Fatal(err)
				}
				model[h].charged, model[h].status = e.Charged(), wallet.EntrySettled
			}
		case op < 9:
			if h, ok := pick(wallet.EntryReserved); ok {
				if _, err := l.Release(ctx, h, "test", anyTime()); err != nil {
					t.Fatal(err)
				}
				model[h].charged, model[h].status = 0, wallet.EntryReleased
			}
		default:
			if h, ok := pick(wallet.EntryReleased); ok {
				reserve(h)
			}
		}
	}

	var sinces []time.Time
	for hour := -1; hour <= 11; hour++ {
		boundary := ledgerT0.Add(time.Duration(hour) * time.Hour)
		sinces = append(sinces, boundary, boundary.Add(-time.Microsecond), boundary.Add(time.Microsecond), boundary.Add(17*time.Minute))
	}
	sinces = append(sinces, time.Time{})
	for i := 0; i < 20; i++ {
		sinces = append(sinces, anyTime())
	}
	for _, k := range keys {
		for _, since := range sinces {
			var want wallet.Usage
			for _, e := range model {
				if e.charged == 0 || e.created.Before(since) || !slices.Contains(e.keys, k) {
					continue
				}
				want.Used += e.charged
				if want.Oldest.IsZero() || e.created.Before(want.Oldest) {
					want.Oldest = e.created
				}
			}
			got, err := l.Used(ctx, []wallet.Budget{{Key: k, Since: since}})
			if err != nil {
				t.Fatal(err)
			}
			if got[0].Used != want.Used || !got[0].Oldest.Equal(want.Oldest) {
				t.Errorf("key %q since %v: used %s oldest %v, want %s oldest %v",
					k, since.Format(time.RFC3339Nano), got[0].Used, got[0].Oldest, want.Used, want.Oldest)
			}
		}
	}
}

// TestLedgerMigration2FillsHours: a file written before the hourly totals
// existed gets them from its charges, so no budget forgets what was spent.
func TestLedgerMigration2FillsHours(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wallet.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.migrate(ctx, "wallet", ledgerMigrations[:1]); err != nil {
		t.Fatal(err)
	}
	// Three charges to "day" over two hours (one released), one to "host".
	for i, c := range []struct {
		key     string
		created time.Time
		charged int64
	}{
		{"day", ledgerT0.Add(10 * time.Minute), 1_000},
		{"day", ledgerT0.Add(70 * time.Minute), 2_000},
		{"day", ledgerT0.Add(80 * time.Minute), 0},
		{"host", ledgerT0.Add(90 * time.Minute), 4_000},
	} {
		if _, err := db.sql.ExecContext(ctx, `INSERT INTO wallet_charges (payment_hash, budget_key, created_us, charged_msat) VALUES (?, ?, ?, ?)`,
			testHash(byte(i)).String(), c.key, c.created.UnixMicro(), c.charged); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	l := openTestLedger(t, path)
	defer l.Close()
	got, err := l.Used(ctx, []wallet.Budget{{Key: "day"}, {Key: "day", Since: ledgerT0.Add(time.Hour)}, {Key: "host"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []money.MilliSat{3_000, 2_000, 4_000}
	for i := range want {
		if got[i].Used != want[i] {
			t.Errorf("budget %d: used %s, want %s", i, got[i].Used, want[i])
		}
	}
}
