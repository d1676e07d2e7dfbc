// Package wallettest is the conformance suite for wallet.Ledger: one set of
// tests that every implementation (SQLite, and any other) must pass, so
// that budgets hold the same whichever ledger an operator runs.
//
//	func TestLedger(t *testing.T) {
//		wallettest.Run(t, func(t *testing.T) wallettest.Open {
//			path := filepath.Join(t.TempDir(), "wallet.db")
//			return func(t *testing.T) wallet.Ledger { ... open path ... }
//		})
//	}
//
// Each subtest calls the NewBacking function once for fresh, empty data,
// then opens one or more handles on it with the Open function it returns:
// two handles stand for two daemon processes sharing the ledger, and the
// suite checks that budgets hold across them. The suite closes every handle
// that has a Close method when the subtest ends.
package wallettest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
	"github.com/satloop/satloop/wallet"
)

// Open opens a new handle on one backing ledger. Every handle should be an
// independent instance (its own connections), as two daemon processes
// would have; handles on a ledger that lives in one process's memory may
// be the same value.
type Open func(t *testing.T) wallet.Ledger

// NewBacking creates a fresh, empty backing ledger (a database file, a
// PostgreSQL database) for one subtest and returns how to open handles on
// it.
type NewBacking func(t *testing.T) Open

// Run runs the conformance suite against the ledger newBacking creates.
func Run(t *testing.T, newBacking NewBacking) {
	tests := []struct {
		name string
		run  func(t *testing.T, newBacking NewBacking)
	}{
		{"AgentCreateAndGet", oneBacking(testAgentCreateAndGet)},
		{"AgentDuplicateName", oneBacking(testAgentDuplicateName)},
		{"AgentRevokeAndReuseName", oneBacking(testAgentRevokeAndReuseName)},
		{"AgentsOldestFirst", oneBacking(testAgentsOldestFirst)},
		{"Freeze", oneBacking(testFreeze)},
		{"ReserveReturnsEntryAsStored", oneBacking(testReserveReturnsEntry)},
		{"ReserveOrderOfChecks", testReserveOrderOfChecks},
		{"ReserveReplacesReleased", oneBacking(testReserveReplacesReleased)},
		{"ReserveSameHashConcurrently", oneBacking(testReserveSameHashConcurrently)},
		{"Budgets", testBudgets},
		{"BudgetSettledCountsPaid", oneBacking(testBudgetSettledCountsPaid)},
		{"BudgetReleasedFreesRoom", oneBacking(testBudgetReleasedFreesRoom)},
		{"BudgetAtomicAcrossHandles", oneBacking(testBudgetAtomicAcrossHandles)},
		{"SettleAndRelease", oneBacking(testSettleAndRelease)},
		{"SettleReleaseErrors", oneBacking(testSettleReleaseErrors)},
		{"SharedAcrossHandles", oneBacking(testSharedAcrossHandles)},
		{"ReservedOldestFirst", oneBacking(testReservedOldestFirst)},
		{"Entries", oneBacking(testEntries)},
		{"Used", oneBacking(testUsed)},
		{"Invoices", oneBacking(testInvoices)},
		{"HostileText", oneBacking(testHostileText)},
		{"SecretsStayOutOfErrors", oneBacking(testSecretsStayOutOfErrors)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newBacking)
		})
	}
}

// oneBacking adapts a test that needs one backing ledger (with as many
// handles on it as it likes); table-driven tests whose cases each need a
// fresh ledger take the NewBacking itself.
func oneBacking(test func(t *testing.T, open Open)) func(t *testing.T, newBacking NewBacking) {
	return func(t *testing.T, newBacking NewBacking) {
		test(t, closing(newBacking(t)))
	}
}

// closing wraps open so that every handle that can be closed is closed when
// the test ends.
func closing(open Open) Open {
	return func(t *testing.T) wallet.Ledger {
		t.Helper()
		l := open(t)
		if c, ok := l.(io.Closer); ok {
			t.Cleanup(func() {
				if err := c.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
		}
		return l
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// t0 is the suite's clock: every time is t0 plus a few seconds, whole
// microseconds, so that any ledger keeping microseconds keeps them exactly.
var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

func at(seconds int) time.Time { return t0.Add(time.Duration(seconds) * time.Second) }

// preimageOf and hashOf give each test payment n its own preimage and the
// hash it settles.
func preimageOf(n int) l402.Preimage {
	var p l402.Preimage
	copy(p[:], fmt.Sprintf("satloop wallettest preimage %04d", n))
	return p
}

func hashOf(n int) l402.PaymentHash { return preimageOf(n).Hash() }

func agentID(n int) wallet.AgentID {
	var id wallet.AgentID
	copy(id[:], fmt.Sprintf("agent-%010d", n))
	return id
}

func rootKey(n int) wallet.RootKey {
	return wallet.RootKey(bytes.Repeat([]byte{byte(n), 0xa5}, 16))
}

// mustAgent creates agent n named name at created.
func mustAgent(t *testing.T, l wallet.Ledger, n int, name string, created time.Time) wallet.Agent {
	t.Helper()
	a := wallet.Agent{
		ID:        agentID(n),
		Name:      name,
		RootKey:   rootKey(n),
		Caveats:   []string{"wallet_budget_day=10000000", "wallet_hosts=api.example.com"},
		CreatedAt: created,
	}
	if err := l.CreateAgent(ctx(t), a); err != nil {
		t.Fatalf("CreateAgent %q: %v", name, err)
	}
	return a
}

// pay is a reservation for payment n by agent.
func pay(agent wallet.AgentID, n int, amount, feeLimit money.MilliSat, created time.Time, budgets ...wallet.Budget) wallet.Reservation {
	return wallet.Reservation{
		Hash:     hashOf(n),
		AgentID:  agent,
		Kind:     wallet.KindPay,
		Invoice:  fmt.Sprintf("lnbcrt%dn1test%04d", amount.Sats(), n),
		Amount:   amount,
		FeeLimit: feeLimit,
		Budgets:  budgets,
		At:       created,
	}
}

func mustReserve(t *testing.T, l wallet.Ledger, r wallet.Reservation) wallet.Entry {
	t.Helper()
	e, err := l.Reserve(ctx(t), r)
	if err != nil {
		t.Fatalf("Reserve %s of %s: %v", r.Hash, r.Cost(), err)
	}
	return e
}

func mustSettle(t *testing.T, l wallet.Ledger, n int, amount, fee money.MilliSat, finished time.Time) wallet.Entry {
	t.Helper()
	e, err := l.Settle(ctx(t), hashOf(n), amount, fee, preimageOf(n), finished)
	if err != nil {
		t.Fatalf("Settle payment %d: %v", n, err)
	}
	return e
}

func mustRelease(t *testing.T, l wallet.Ledger, n int, finished time.Time) wallet.Entry {
	t.Helper()
	e, err := l.Release(ctx(t), hashOf(n), "no route", finished)
	if err != nil {
		t.Fatalf("Release payment %d: %v", n, err)
	}
	return e
}

func mustUsed(t *testing.T, l wallet.Ledger, budgets ...wallet.Budget) []wallet.Usage {
	t.Helper()
	u, err := l.Used(ctx(t), budgets)
	if err != nil {
		t.Fatalf("Used: %v", err)
	}
	if len(u) != len(budgets) {
		t.Fatalf("Used of %d budgets returned %d", len(budgets), len(u))
	}
	return u
}

// utc drops the location and anything finer than a microsecond, so that
// times read back compare equal to the ones written.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMicro(t.UnixMicro()).UTC()
}

func normEntry(e wallet.Entry) wallet.Entry {
	e.CreatedAt, e.FinishedAt = utc(e.CreatedAt), utc(e.FinishedAt)
	return e
}

func sameEntry(t *testing.T, what string, got, want wallet.Entry) {
	t.Helper()
	if g, w := normEntry(got), normEntry(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func sameAgent(t *testing.T, what string, got, want wallet.Agent) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || !bytes.Equal(got.RootKey, want.RootKey) ||
		!utc(got.CreatedAt).Equal(utc(want.CreatedAt)) || !utc(got.RevokedAt).Equal(utc(want.RevokedAt)) ||
		!sameStrings(got.Caveats, want.Caveats) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func hashes(entries []wallet.Entry) []l402.PaymentHash {
	out := make([]l402.PaymentHash, len(entries))
	for i, e := range entries {
		out[i] = e.Hash
	}
	return out
}

func hashList(ns ...int) []l402.PaymentHash {
	out := make([]l402.PaymentHash, len(ns))
	for i, n := range ns {
		out[i] = hashOf(n)
	}
	return out
}

func testAgentCreateAndGet(t *testing.T, open Open) {
	l, c := open(t), ctx(t)
	tests := []struct {
		name    string
		caveats []string
	}{
		{"no caveats", nil},
		{"budgets", []string{"wallet_budget_call=1000000", "wallet_budget_day=50000000"}},
		// Caveat text is the agent's business: any of it must survive.
		{"odd text", []string{"a=b,c", "line\nbreak", `quote"s and \back`, "ünïcödé=✓", "", "[\"not json\"]"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := wallet.Agent{
				ID: agentID(i + 1), Name: "agent " + tt.name, RootKey: rootKey(i + 1),
				Caveats: tt.caveats, CreatedAt: at(i),
			}
			if err := l.CreateAgent(c, want); err != nil {
				t.Fatal(err)
			}
			got, err := l.Agent(c, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			sameAgent(t, "Agent", got, want)
			if got.Revoked() {
				t.Error("a new agent reads as revoked")
			}
			byName, err := l.AgentByName(c, want.Name)
			if err != nil {
				t.Fatal(err)
			}
			sameAgent(t, "AgentByName", byName, want)
		})
	}
	if _, err := l.Agent(c, agentID(99)); !errors.Is(err, wallet.ErrNotFound) {
		t.Errorf("Agent of an unknown id: err = %v, want ErrNotFound", err)
	}
	if _, err := l.AgentByName(c, "nobody"); !errors.Is(err, wallet.ErrNotFound) {
		t.Errorf("AgentByName of an unknown name: err = %v, want ErrNotFound", err)
	}
	// Names are exact: no case folding, no prefix match.
	if _, err := l.AgentByName(c, "AGENT BUDGETS"); !errors.Is(err, wallet.ErrNotFound) {
		t.Errorf("AgentByName in other case: err = %v, want ErrNotFound", err)
	}
	if _, err := l.AgentByName(c, "agent"); !errors.Is(err, wallet.ErrNotFound) {
		t.Errorf("AgentByName of a prefix: err = %v, want ErrNotFound", err)
	}
}

func testAgentDuplicateName(t *testing.T, open Open) {
	l, c := open(t), ctx(t)
	first := mustAgent(t, l, 1, "scraper", at(0))
	dup := wallet.Agent{ID: agentID(2), Name: "scraper", RootKey: rootKey(2), CreatedAt: at(1)}
	if err := l.CreateAgent(c, dup); !errors.Is(err, wallet.ErrAgentExists) {
		t.Fatalf("CreateAgent of a held name: err = %v, want ErrAgentExists", err)
	}
	// The refused agent left nothing behind, and the holder is unchanged.
	if _, err := l.Agent(c, dup.ID); !errors.Is(err, wallet.ErrNotFound) {
		t.Errorf("the refused agent was stored: err = %v", err)
	}
	got, err := l.AgentByName(c, "scraper")
	if err != nil {
		t.Fatal(err)
	}
	sameAgent(t, "holder after a refused duplicate", got, first)
	// Another name is fine.
	mustAgent(t, l, 3, "scraper-2", at(2))
	if agents, err := l.Agents(c); err != nil || len(agents) != 2 {
		t.Errorf("Agents = %d agents, err = %v; want 2", len(agents), err)
	}

	// Two daemons creating one name at once: exactly one gets it.
	const goroutines = 16
	var created, taken int
	for _, err := range race(goroutines, []wallet.Ledger{l, open(t)}, func(h wallet.Ledger, i int) error {
		return h.CreateAgent(c, wallet.Agent{ID: agentID(10 + i), Name: "racer", RootKey: rootKey(10 + i), CreatedAt: at(3)})
	}) {
		switch {
		case err == nil:
			created++
		case errors.Is(err, wallet.ErrAgentExists):
			taken++
		default:
			t.Errorf("CreateAgent: %v", err)
		}
	}
	if created != 1 || taken != goroutines-1 {
		t.Errorf("%d concurrent creations of one name: %d created, %d refused; want 1, %d", goroutines, created, taken, goroutines-1)
	}
}

func testAgentRevokeAndReuseName(t *testing.T, open Open) {
	l, c := open(t), ctx(t)
	first := mustAgent(t, l, 1, "scraper", at(0))
	bystander := mustAgent(t, l, 9, "other", at(0))

	if _, err := l.RevokeAgent(c, "nobody", at(1)); !errors.Is(err, wallet.ErrNotFound) {
		t.Errorf("RevokeAgent of an unknown name: err = %v, want ErrNotFound", err)
	}
	revoked, err := l.RevokeAgent(c, "scraper", at(5))
	if err != nil {
		t.Fatal(err)
	}
	first.RevokedAt = at(5)
	sameAgent(t, "RevokeAgent's result", revoked, first)
	if !revoked.Revoked() {
		t.Error("RevokeAgent returned an agent that is not revoked")
	}
	if got, err := l.Agent(c, first.ID); err != nil || !got.Revoked() {
		t.Errorf("Agent after revocation: revoked = %v, err = %v", got.Revoked(), err)
	}
	// All of that name are revoked: AgentByName returns the revoked one.
	got, err := l.AgentByName(c, "scraper")
	if err != nil {
		t.Fatal(err)
	}
	sameAgent(t, "AgentByName of a revoked name", got, first)
	// Revoking again finds no unrevoked agent of that name.
	if _, err := l.RevokeAgent(c, "scraper", at(6)); !errors.Is(err, wallet.ErrNotFound) {
		t.Errorf("RevokeAgent twice: err = %v, want ErrNotFound", err)
	}
	if got, _ := l.Agent(c, first.ID); !utc(got.RevokedAt).Equal(at(5)) {
		t.Errorf("a second revocation moved RevokedAt to %v", got.RevokedAt)
	}
	// The name is free again; the new agent is the one AgentByName finds.
	second := mustAgent(t, l, 2, "scraper", at(7))
	got, err = l.AgentByName(c, "scraper")
	if err != nil {
		t.Fatal(err)
	}
	sameAgent(t, "AgentByName with a live and a revoked agent", got, second)
	// ... and it can be refused a third holder of the name.
	if err := l.CreateAgent(c, wallet.Agent{ID: agentID(3), Name: "scraper", RootKey: rootKey(3), CreatedAt: at(8)}); !errors.Is(err, wallet.ErrAgentExists) {
		t.Errorf("CreateAgent of a name held again: err = %v, want ErrAgentExists", err)
	}
	// Once both are revoked, the one revoked last is found.
	if _, err := l.RevokeAgent(c, "scraper", at(9)); err != nil {
		t.Fatal(err)
	}
	second.RevokedAt = at(9)
	got, err = l.AgentByName(c, "scraper")
	if err != nil {
		t.Fatal(err)
	}
	sameAgent(t, "AgentByName with two revoked agents", got, second)
	// The other agent is untouched throughout.
	got, err = l.AgentByName(c, "other")
	if err != nil {
		t.Fatal(err)
	}
	sameAgent(t, "an agent of another name", got, bystander)
}

func testAgentsOldestFirst(t *testing.T, open Open) {
	l, c := open(t), ctx(t)
	if agents, err := l.Agents(c); err != nil || len(agents) != 0 {
		t.Fatalf("Agents of an empty ledger = %v, err = %v", agents, err)
	}
	// Created out of order: the list follows CreatedAt, not insertion.
	mustAgent(t, l, 2, "b", at(20))
	mustAgent(t, l, 1, "a", at(10))
	mustAgent(t, l, 3, "c", at(30))
	if _, err := l.RevokeAgent(c, "c", at(40)); err != nil {
		t.Fatal(err)
	}
	mustAgent(t, l, 4, "c", at(50))
	agents, err := l.Agents(c)
	if err != nil {
		t.Fatal(err)
	}
	var got []wallet.AgentID
	for _, a := range agents {
		got = append(got, a.ID)
	}
	want := []wallet.AgentID{agentID(1), agentID(2), agentID(3), agentID(4)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Agents = %v, want %v (oldest first, revoked included)", got, want)
	}
	if len(agents) == 4 && (!agents[2].Revoked() || agents[3].Revoked()) {
		t.Errorf("revocation marks: %v %v, want revoked, live", agents[2].RevokedAt, agents[3].RevokedAt)
	}
}

func testFreeze(t *testing.T, open Open) {
	l, c := open(t), ctx(t)
	a := mustAgent(t, l, 1, "a", at(0))
	if frozen, _, err := l.Frozen(c); err != nil || frozen {
		t.Fatalf("a new ledger: frozen = %v, err = %v; want not frozen", frozen, err)
	}
	if err := l.SetFrozen(c, true, at(10)); err != nil {
		t.Fatal(err)
	}
	frozen, since, err := l.Frozen(c)
	if err != nil || !frozen || !utc(since).Equal(at(10)) {
		t.Fatalf("after SetFrozen(true, %v): frozen = %v since %v, err = %v", at(10), frozen, since, err)
	}
	if _, err := l.Reserve(c, pay(a.ID, 1, money.Sats(10), 0, at(11))); !errors.Is(err, wallet.ErrFrozen) {
		t.Fatalf("Reserve while frozen: err = %v, want ErrFrozen", err)
	}
	if _, err := l.Entry(c, hashOf(1)); !errors.Is(err, wallet.ErrNotFound) {
		t.Errorf("a reservation refused for the freeze was stored: err = %v", err)
	}
	if err := l.SetFrozen(c, false, at(20)); err != nil {
		t.Fatal(err)
	}
	if frozen, _, err := l.Frozen(c); err != nil || frozen {
		t.Fatalf("after SetFrozen(false): frozen = %v, err = %v", frozen, err)
	}
	mustReserve(t, l, pay(a.ID, 1, money.Sats(10), 0, at(21)))
}

func testReserveReturnsEntry(t *testing.T, open Open) {
	l, c := open(t), ctx(t)
	a := mustAgent(t, l, 1, "a", at(0))
	r := wallet.Reservation{
		Hash: hashOf(1), AgentID: a.ID, Kind: wallet.KindFetch,
		Invoice: "lnbcrt1u1fetchinvoice", URL: "https://api.example.com/v1/search", Host: "api.example.com",
		Amount: money.Sats(100), FeeLimit: money.MilliSat(5_123),
		Budgets: []wallet.Budget{{Key: "day", Limit: money.Sats(1000), Since: at(0)}},
		At:      at(3).Add(250 * time.Microsecond),
	}
	want := wallet.Entry{
		Hash: r.Hash, AgentID: a.ID, Kind: r.Kind, Invoice: r.Invoice, URL: r.URL, Host: r.Host,
		Amount: r.Amount, FeeLimit: r.FeeLimit, Status: wallet.EntryReserved, CreatedAt: r.At,
	}
	got := mustReserve(t, l, r)
	sameEntry(t, "Reserve's result", got, want)
	if got.Charged() != r.Cost() {
		t.Errorf("a reserved entry is charged %s, want its cost %s", got.Charged(), r.Cost())
	}
	stored, err := l.Entry(c, r.Hash)
	if err != nil {
		t.Fatal(err)
	}
	sameEntry(t, "Entry after Reserve", stored, want)
	if _, err := l.Entry(c, hashOf(2)); !errors.Is(err, wallet.ErrNotFound) {
		t.Errorf("Entry of an unknown hash: err = %v, want ErrNotFound", err)
	}
}

// testReserveOrderOfChecks sets up a ledger where several checks would
// fail at once and expects the first of them, in the contract's order.
func testReserveOrderOfChecks(t *testing.T, newBacking NewBacking) {
	const (
		live    = 1
		revoked = 2
		unknown = 3
	)
	const (
		inFlight = 10
		settled  = 11
		released = 12
		fresh    = 13
	)
	tight := wallet.Budget{Key: "tight", Limit: money.Sats(50), Since: at(0)}
	tests := []struct {
		name   string
		agent  int
		frozen bool
		hash   int
		want   error
	}{
		{"unknown agent before everything", unknown, true, inFlight, wallet.ErrNotFound},
		{"revoked agent before the freeze", revoked, true, inFlight, wallet.ErrRevoked},
		{"freeze before the hash", live, true, inFlight, wallet.ErrFrozen},
		{"frozen, fresh hash", live, true, fresh, wallet.ErrFrozen},
		{"in flight before budgets", live, false, inFlight, wallet.ErrInFlight},
		{"already paid before budgets", live, false, settled, wallet.ErrAlreadyPaid},
		{"released hash reaches budgets", live, false, released, wallet.ErrOverBudget},
		{"fresh hash reaches budgets", live, false, fresh, wallet.ErrOverBudget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, c := closing(newBacking(t))(t), ctx(t)
			mustAgent(t, l, live, "live", at(0))
			mustAgent(t, l, revoked, "revoked", at(0))
			// Fill the tight budget, and leave one entry of each status.
			mustReserve(t, l, pay(agentID(live), inFlight, money.Sats(20), 0, at(1), tight))
			mustReserve(t, l, pay(agentID(live), settled, money.Sats(20), 0, at(2), tight))
			mustSettle(t, l, settled, money.Sats(20), 0, at(3))
			mustReserve(t, l, pay(agentID(live), released, money.Sats(10), 0, at(4), tight))
			mustRelease(t, l, released, at(5))
			mustReserve(t, l, pay(agentID(live), 20, money.Sats(10), 0, at(6), tight))
			if _, err := l.RevokeAgent(c, "revoked", at(7)); err != nil {
				t.Fatal(err)
			}
			if tt.frozen {
				if err := l.SetFrozen(c, true, at(8)); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := l.Entry(c, hashOf(tt.hash))
			_, err := l.Reserve(c, pay(agentID(tt.agent), tt.hash, money.Sats(1), 0, at(9), tight))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Reserve: err = %v, want %v", err, tt.want)
			}
			// A refused reservation changes nothing.
			after, _ := l.Entry(c, hashOf(tt.hash))
			sameEntry(t, "the entry for the hash after a refused reservation", after, before)
			if u := mustUsed(t, l, tight); u[0].Used != money.Sats(50) {
				t.Errorf("tight budget used %s after a refused reservation, want 50 sat", u[0].Used)
			}
		})
	}
}

func testReserveReplacesReleased(t *testing.T, open Open) {
	l, c := open(t), ctx(t)
	a := mustAgent(t, l, 1, "a", at(0))
	b := mustAgent(t, l, 2, "b", at(0))
	oldKey := wallet.Budget{Key: "agent-a", Limit: money.Sats(1000), Since: at(0)}
	newKey := wallet.Budget{Key: "agent-b", Limit: money.Sats(1000), Since: at(0)}
	shared := wallet.Budget{Key: "shared", Limit: money.Sats(1000), Since: at(0)}

	mustReserve(t, l, pay(a.ID, 1, money.Sats(300), money.Sats(3), at(1), oldKey, shared))
	mustRelease(t, l, 1, at(2))
	// Paying that hash again is safe: another agent, another amount, other
	// budgets.
	r := pay(b.ID, 1, money.Sats(200), money.Sats(2), at(3), newKey, shared)
	r.Kind, r.URL, r.Host = wallet.KindFetch, "https://b.test/x", "b.test"
	got := mustReserve(t, l, r)
	want := wallet.Entry{
		Hash: r.Hash, AgentID: b.ID, Kind: wallet.KindFetch, Invoice: r.Invoice, URL: r.URL, Host: r.Host,
		Amount: r.Amount, FeeLimit: r.FeeLimit, Status: wallet.EntryReserved, CreatedAt: r.At,
	}
	sameEntry(t, "the replacing entry", got, want)
	stored, err := l.Entry(c, r.Hash)
	if err != nil {
		t.Fatal(err)
	}
	sameEntry(t, "Entry after replacement (no trace of the release)", stored, want)

	// The old entry's charges went with it: the old key has nothing, even
	// once the new entry settles; the new key and the shared one have the
	// new entry once.
	check := func(when string, wantNew money.MilliSat) {
		t.Helper()
		u := mustUsed(t, l, oldKey, newKey, shared)
		if u[0].Used != 0 || u[1].Used != wantNew || u[2].Used != wantNew {
			t.Errorf("%s: used old key %s, new key %s, shared %s; want 0, %s, %s", when, u[0].Used, u[1].Used, u[2].Used, wantNew, wantNew)
		}
	}
	check("reserved again", money.Sats(202))
	mustSettle(t, l, 1, money.Sats(200), money.MilliSat(1_500), at(4))
	check("settled", money.Sats(200)+money.MilliSat(1_500))
	if entries, err := l.Entries(c, wallet.EntryQuery{}); err != nil || len(entries) != 1 {
		t.Errorf("Entries after a replacement: %d entries, err = %v; want 1", len(entries), err)
	}
	if entries, err := l.Entries(c, wallet.EntryQuery{Agent: a.ID}); err != nil || len(entries) != 0 {
		t.Errorf("Entries of the first agent after a replacement: %d entries, err = %v; want 0", len(entries), err)
	}
}

// testReserveSameHashConcurrently: many reservations of one hash at once,
// over two handles; exactly one is in flight, the others are refused.
func testReserveSameHashConcurrently(t *testing.T, open Open) {
	const goroutines = 16
	l1, l2 := open(t), open(t)
	c := ctx(t)
	a := mustAgent(t, l1, 1, "a", at(0))
	var reserved, inFlight int
	for _, err := range race(goroutines, []wallet.Ledger{l1, l2}, func(l wallet.Ledger, _ int) error {
		_, err := l.Reserve(c, pay(a.ID, 1, money.Sats(10), 0, at(1)))
		return err
	}) {
		switch {
		case err == nil:
			reserved++
		case errors.Is(err, wallet.ErrInFlight):
			inFlight++
		default:
			t.Errorf("Reserve: %v", err)
		}
	}
	if reserved != 1 || inFlight != goroutines-1 {
		t.Errorf("%d concurrent reservations of one hash: %d reserved, %d in flight; want 1, %d", goroutines, reserved, inFlight, goroutines-1)
	}
}

// testBudgets checks the budget arithmetic of Reserve, one scenario per
// case: prior reservations, then one that must fit or be refused.
func testBudgets(t *testing.T, newBacking NewBacking) {
	day := wallet.Budget{Key: "agent/day", Limit: money.Sats(1000), Since: at(100)}
	host := wallet.Budget{Key: "agent/host/api.example.com", Limit: money.Sats(300), Since: at(0)}
	lifetime := wallet.Budget{Key: "agent/lifetime", Limit: money.Sats(5000)}
	type prior struct {
		at            int
		amount, limit money.MilliSat
		budgets       []wallet.Budget
	}
	tests := []struct {
		name    string
		prior   []prior
		amount  money.MilliSat
		feeLim  money.MilliSat
		budgets []wallet.Budget
		// over is the index in budgets of the one refused, -1 when it fits.
		over int
		// used is what that budget had used, when refused.
		used money.MilliSat
		// oldest is when its oldest counted entry was created, when refused.
		oldest time.Time
	}{
		{name: "no budgets: no limit", amount: money.Sats(1_000_000), over: -1},
		{name: "empty budget fits exactly", amount: money.Sats(1000), budgets: []wallet.Budget{day}, over: -1},
		{name: "empty budget one msat over", amount: money.Sats(1000) + 1, budgets: []wallet.Budget{day},
			over: 0, used: 0},
		{name: "fee limit counts", amount: money.Sats(900), feeLim: money.Sats(100) + 1, budgets: []wallet.Budget{day},
			over: 0, used: 0},
		{name: "exactly at the limit fits",
			prior:  []prior{{101, money.Sats(600), 0, []wallet.Budget{day}}},
			amount: money.Sats(390), feeLim: money.Sats(10), budgets: []wallet.Budget{day}, over: -1},
		{name: "one msat over is refused",
			prior:  []prior{{101, money.Sats(590), money.Sats(10), []wallet.Budget{day}}, {102, money.Sats(1), 0, []wallet.Budget{day}}},
			amount: money.Sats(399) + 1, budgets: []wallet.Budget{day},
			over: 0, used: money.Sats(601), oldest: at(101)},
		{name: "Since excludes older entries",
			prior:  []prior{{99, money.Sats(900), 0, []wallet.Budget{day}}},
			amount: money.Sats(1000), budgets: []wallet.Budget{day}, over: -1},
		{name: "Since includes an entry created at it",
			prior:  []prior{{99, money.Sats(900), 0, []wallet.Budget{day}}, {100, money.Sats(1), 0, []wallet.Budget{day}}},
			amount: money.Sats(1000), budgets: []wallet.Budget{day},
			over: 0, used: money.Sats(1), oldest: at(100)},
		{name: "zero Since counts everything",
			prior:  []prior{{1, money.Sats(4000), 0, []wallet.Budget{lifetime}}, {200, money.Sats(999), 0, []wallet.Budget{lifetime}}},
			amount: money.Sats(1) + 1, budgets: []wallet.Budget{lifetime},
			over: 0, used: money.Sats(4999), oldest: at(1)},
		{name: "another key does not count",
			prior:  []prior{{101, money.Sats(900), 0, []wallet.Budget{{Key: "other/day", Limit: money.Sats(1000), Since: at(100)}}}},
			amount: money.Sats(1000), budgets: []wallet.Budget{day}, over: -1},
		{name: "a key that extends another does not count",
			prior:  []prior{{101, money.Sats(900), 0, []wallet.Budget{{Key: day.Key + "x", Limit: money.Sats(1000)}}}},
			amount: money.Sats(1000), budgets: []wallet.Budget{day}, over: -1},
		{name: "the second budget refuses",
			prior:  []prior{{101, money.Sats(250), 0, []wallet.Budget{day, host}}},
			amount: money.Sats(51), budgets: []wallet.Budget{day, host},
			over: 1, used: money.Sats(250), oldest: at(101)},
		{name: "the first refusing budget is reported",
			prior:  []prior{{101, money.Sats(300), 0, []wallet.Budget{day, host}}},
			amount: money.Sats(800), budgets: []wallet.Budget{host, day},
			over: 0, used: money.Sats(300), oldest: at(101)},
		{name: "every budget has room",
			prior:  []prior{{101, money.Sats(250), 0, []wallet.Budget{day, host, lifetime}}},
			amount: money.Sats(50), budgets: []wallet.Budget{day, host, lifetime}, over: -1},
		{name: "an entry counts for each key it was charged to",
			prior:  []prior{{101, money.Sats(200), 0, []wallet.Budget{day, host}}, {102, money.Sats(100), 0, []wallet.Budget{host}}},
			amount: money.Sats(1), budgets: []wallet.Budget{day, host},
			over: 1, used: money.Sats(300), oldest: at(101)},
		{name: "a key listed twice is charged once",
			prior:  []prior{{101, money.Sats(400), 0, []wallet.Budget{lifetime, lifetime}}},
			amount: money.Sats(4600), budgets: []wallet.Budget{lifetime, lifetime}, over: -1},
		{name: "a refused reservation counted nothing",
			prior:  []prior{{101, money.Sats(700), 0, []wallet.Budget{day}}, {102, money.Sats(500), 0, []wallet.Budget{day}}},
			amount: money.Sats(300), budgets: []wallet.Budget{day}, over: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, c := closing(newBacking(t))(t), ctx(t)
			a := mustAgent(t, l, 1, "a", at(0))
			for i, p := range tt.prior {
				_, err := l.Reserve(c, pay(a.ID, 100+i, p.amount, p.limit, at(p.at), p.budgets...))
				// Priors that do not fit are part of the scenario ("a
				// refused reservation counted nothing").
				if err != nil && !errors.Is(err, wallet.ErrOverBudget) {
					t.Fatalf("prior %d: %v", i, err)
				}
			}
			r := pay(a.ID, 1, tt.amount, tt.feeLim, at(500), tt.budgets...)
			usedBefore := mustUsed(t, l, tt.budgets...)
			_, err := l.Reserve(c, r)
			if tt.over < 0 {
				if err != nil {
					t.Fatalf("Reserve %s: %v, want it to fit", r.Cost(), err)
				}
				for i, u := range mustUsed(t, l, tt.budgets...) {
					if want := usedBefore[i].Used + r.Cost(); u.Used != want {
						t.Errorf("budget %q used %s after the reservation, want %s", tt.budgets[i].Key, u.Used, want)
					}
				}
				return
			}
			var over *wallet.OverBudgetError
			if !errors.As(err, &over) || !errors.Is(err, wallet.ErrOverBudget) {
				t.Fatalf("Reserve %s: err = %v, want an *OverBudgetError", r.Cost(), err)
			}
			want := &wallet.OverBudgetError{
				Budget: tt.budgets[tt.over],
				Usage:  wallet.Usage{Used: tt.used, Oldest: tt.oldest},
				Cost:   r.Cost(),
			}
			got := *over
			got.Budget.Since, got.Usage.Oldest = utc(got.Budget.Since), utc(got.Usage.Oldest)
			want.Budget.Since = utc(want.Budget.Since)
			if !reflect.DeepEqual(&got, want) {
				t.Errorf("OverBudgetError = %+v, want %+v", got, *want)
			}
			if _, err := l.Entry(c, r.Hash); !errors.Is(err, wallet.ErrNotFound) {
				t.Errorf("a reservation over budget was stored: err = %v", err)
			}
			for i, u := range mustUsed(t, l, tt.budgets...) {
				if u.Used != usedBefore[i].Used {
					t.Errorf("budget %q used %s after a refused reservation, %s before", tt.budgets[i].Key, u.Used, usedBefore[i].Used)
				}
			}
		})
	}
}

// testBudgetSettledCountsPaid: once settled, an entry counts what was paid
// (Amount+Fee), so settling below the reservation frees room.
func testBudgetSettledCountsPaid(t *testing.T, open Open) {
	l := open(t)
	a := mustAgent(t, l, 1, "a", at(0))
	day := wallet.Budget{Key: "day", Limit: money.Sats(1000), Since: at(0)}
	mustReserve(t, l, pay(a.ID, 1, money.Sats(500), money.Sats(100), at(1), day))
	if u := mustUsed(t, l, day); u[0].Used != money.Sats(600) {
		t.Fatalf("reserved: used %s, want the cost 600 sat", u[0].Used)
	}
	// The node paid less fee than allowed.
	mustSettle(t, l, 1, money.Sats(500), money.MilliSat(10_500), at(2))
	paid := money.Sats(500) + money.MilliSat(10_500)
	if u := mustUsed(t, l, day); u[0].Used != paid {
		t.Fatalf("settled: used %s, want Amount+Fee %s", u[0].Used, paid)
	}
	room := day.Limit - paid
	if _, err := l.Reserve(ctx(t), pay(a.ID, 2, room+1, 0, at(3), day)); !errors.Is(err, wallet.ErrOverBudget) {
		t.Fatalf("Reserve of the room left plus 1 msat: err = %v, want ErrOverBudget", err)
	}
	mustReserve(t, l, pay(a.ID, 3, room, 0, at(4), day))
	if u := mustUsed(t, l, day); u[0].Used != day.Limit {
		t.Fatalf("full: used %s, want %s", u[0].Used, day.Limit)
	}
}

func testBudgetReleasedFreesRoom(t *testing.T, open Open) {
	l := open(t)
	a := mustAgent(t, l, 1, "a", at(0))
	day := wallet.Budget{Key: "day", Limit: money.Sats(1000), Since: at(0)}
	other := wallet.Budget{Key: "other", Limit: money.Sats(1000), Since: at(0)}
	mustReserve(t, l, pay(a.ID, 1, money.Sats(700), money.Sats(7), at(1), day, other))
	if _, err := l.Reserve(ctx(t), pay(a.ID, 2, money.Sats(500), 0, at(2), day)); !errors.Is(err, wallet.ErrOverBudget) {
		t.Fatalf("Reserve beside the reservation: err = %v, want ErrOverBudget", err)
	}
	mustRelease(t, l, 1, at(3))
	if u := mustUsed(t, l, day, other); u[0].Used != 0 || u[1].Used != 0 || !u[0].Oldest.IsZero() {
		t.Fatalf("released: used %+v, want nothing on either key", u)
	}
	mustReserve(t, l, pay(a.ID, 2, money.Sats(1000), 0, at(4), day))
}

// testBudgetAtomicAcrossHandles is the case that matters most: 64
// reservations of 100 sat at once against a 1,000-sat budget, spread over
// two handles (two daemons sharing the ledger). Exactly 10 fit.
func testBudgetAtomicAcrossHandles(t *testing.T, open Open) {
	const goroutines = 64
	l1, l2 := open(t), open(t)
	c := ctx(t)
	a := mustAgent(t, l1, 1, "a", at(0))
	budget := wallet.Budget{Key: "agent/day", Limit: money.Sats(1000), Since: at(0)}
	var reserved, over int
	for _, err := range race(goroutines, []wallet.Ledger{l1, l2}, func(l wallet.Ledger, i int) error {
		_, err := l.Reserve(c, pay(a.ID, 1000+i, money.Sats(100), 0, at(1), budget))
		return err
	}) {
		var ob *wallet.OverBudgetError
		switch {
		case err == nil:
			reserved++
		case errors.As(err, &ob):
			over++
			if ob.Usage.Used+ob.Cost <= budget.Limit {
				t.Errorf("refused with used %s + cost %s within the limit %s", ob.Usage.Used, ob.Cost, budget.Limit)
			}
		default:
			t.Errorf("Reserve: %v", err)
		}
	}
	if reserved != 10 || over != goroutines-10 {
		t.Errorf("%d concurrent reservations of 100 sat against 1,000 sat: %d reserved, %d over budget; want 10, %d",
			goroutines, reserved, over, goroutines-10)
	}
	for i, l := range []wallet.Ledger{l1, l2} {
		if u := mustUsed(t, l, budget); u[0].Used != money.Sats(1000) {
			t.Errorf("handle %d: used %s, want 1,000 sat", i+1, u[0].Used)
		}
		if res, err := l.Reserved(c); err != nil || len(res) != 10 {
			t.Errorf("handle %d: %d reserved entries, err = %v; want 10", i+1, len(res), err)
		}
	}
}

func testSettleAndRelease(t *testing.T, open Open) {
	l, c := open(t), ctx(t)
	a := mustAgent(t, l, 1, "a", at(0))
	r1 := pay(a.ID, 1, money.Sats(100), money.Sats(2), at(1))
	r2 := pay(a.ID, 2, money.Sats(50), money.Sats(1), at(2))
	e1, e2 := mustReserve(t, l, r1), mustReserve(t, l, r2)

	settled := mustSettle(t, l, 1, money.Sats(100), money.MilliSat(1_234), at(3))
	want := e1
	want.Status, want.Fee, want.Preimage, want.FinishedAt = wallet.EntrySettled, money.MilliSat(1_234), preimageOf(1), at(3)
	sameEntry(t, "Settle's result", settled, want)
	if got, err := l.Entry(c, hashOf(1)); err != nil {
		t.Fatal(err)
	} else {
		sameEntry(t, "Entry after Settle", got, want)
	}
	if settled.Charged() != money.Sats(100)+money.MilliSat(1_234) {
		t.Errorf("settled entry charged %s", settled.Charged())
	}

	released := mustRelease(t, l, 2, at(4))
	want = e2
	want.Status, want.FinishedAt, want.Error = wallet.EntryReleased, at(4), "no route"
	sameEntry(t, "Release's result", released, want)
	if got, err := l.Entry(c, hashOf(2)); err != nil {
		t.Fatal(err)
	} else {
		sameEntry(t, "Entry after Release", got, want)
	}
	if released.Charged() != 0 {
		t.Errorf("released entry charged %s", released.Charged())
	}
}

func testSettleReleaseErrors(t *testing.T, open Open) {
	const (
		settled  = 1
		released = 2
		unknown  = 3
	)
	l, c := open(t), ctx(t)
	a := mustAgent(t, l, 1, "a", at(0))
	mustReserve(t, l, pay(a.ID, settled, money.Sats(10), 0, at(1)))
	mustSettle(t, l, settled, money.Sats(10), 0, at(2))
	mustReserve(t, l, pay(a.ID, released, money.Sats(10), 0, at(3)))
	mustRelease(t, l, released, at(4))
	settle := func(n int) error {
		_, err := l.Settle(c, hashOf(n), money.Sats(10), 0, preimageOf(n), at(9))
		return err
	}
	release := func(n int) error {
		_, err := l.Release(c, hashOf(n), "again", at(9))
		return err
	}
	tests := []struct {
		name    string
		do      func(int) error
		n       int
		want    error
		notWant error
	}{
		{"settle settled", settle, settled, wallet.ErrNotReserved, wallet.ErrNotFound},
		{"settle released", settle, released, wallet.ErrNotReserved, wallet.ErrNotFound},
		{"settle unknown", settle, unknown, wallet.ErrNotFound, wallet.ErrNotReserved},
		{"release settled", release, settled, wallet.ErrNotReserved, wallet.ErrNotFound},
		{"release released", release, released, wallet.ErrNotReserved, wallet.ErrNotFound},
		{"release unknown", release, unknown, wallet.ErrNotFound, wallet.ErrNotReserved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := l.Entry(c, hashOf(tt.n))
			err := tt.do(tt.n)
			if !errors.Is(err, tt.want) || errors.Is(err, tt.notWant) {
				t.Fatalf("err = %v, want %v only", err, tt.want)
			}
			after, _ := l.Entry(c, hashOf(tt.n))
			sameEntry(t, "the entry after a refused change", after, before)
		})
	}
}

// testSharedAcrossHandles: what one handle writes, another sees and acts
// on at once.
func testSharedAcrossHandles(t *testing.T, open Open) {
	l1, l2 := open(t), open(t)
	c := ctx(t)
	a := mustAgent(t, l1, 1, "a", at(0))
	mustReserve(t, l1, pay(a.ID, 1, money.Sats(10), 0, at(1)))
	if _, err := l2.Reserve(c, pay(a.ID, 1, money.Sats(10), 0, at(2))); !errors.Is(err, wallet.ErrInFlight) {
		t.Fatalf("the same hash on the other handle: err = %v, want ErrInFlight", err)
	}
	mustSettle(t, l2, 1, money.Sats(10), 0, at(3))
	if e, err := l1.Entry(c, hashOf(1)); err != nil || e.Status != wallet.EntrySettled {
		t.Fatalf("settled on handle 2, on handle 1: status %q, err = %v", e.Status, err)
	}
	if err := l2.SetFrozen(c, true, at(4)); err != nil {
		t.Fatal(err)
	}
	if _, err := l1.Reserve(c, pay(a.ID, 2, money.Sats(10), 0, at(5))); !errors.Is(err, wallet.ErrFrozen) {
		t.Fatalf("frozen on handle 2, Reserve on handle 1: err = %v, want ErrFrozen", err)
	}
	if err := l1.SetFrozen(c, false, at(6)); err != nil {
		t.Fatal(err)
	}
	if _, err := l2.RevokeAgent(c, "a", at(7)); err != nil {
		t.Fatal(err)
	}
	if _, err := l1.Reserve(c, pay(a.ID, 2, money.Sats(10), 0, at(8))); !errors.Is(err, wallet.ErrRevoked) {
		t.Fatalf("revoked on handle 2, Reserve on handle 1: err = %v, want ErrRevoked", err)
	}
}

func testReservedOldestFirst(t *testing.T, open Open) {
	l, c := open(t), ctx(t)
	if res, err := l.Reserved(c); err != nil || len(res) != 0 {
		t.Fatalf("Reserved of an empty ledger = %v, err = %v", res, err)
	}
	a := mustAgent(t, l, 1, "a", at(0))
	// Reserved out of order, then some finished.
	for _, p := range []struct{ n, at int }{{3, 30}, {1, 10}, {5, 50}, {2, 20}, {4, 40}} {
		mustReserve(t, l, pay(a.ID, p.n, money.Sats(1), 0, at(p.at)))
	}
	mustSettle(t, l, 2, money.Sats(1), 0, at(60))
	mustRelease(t, l, 4, at(61))
	res, err := l.Reserved(c)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hashes(res), hashList(1, 3, 5); !reflect.DeepEqual(got, want) {
		t.Errorf("Reserved = %v, want %v (oldest first, finished left out)", got, want)
	}
	for _, e := range res {
		if e.Status != wallet.EntryReserved {
			t.Errorf("Reserved listed an entry %s", e.Status)
		}
	}
}

func testEntries(t *testing.T, open Open) {
	l := open(t)
	a := mustAgent(t, l, 1, "a", at(0))
	b := mustAgent(t, l, 2, "b", at(0))
	// n: 1..6 at n*10 seconds, agents alternating a, b; inserted out of
	// order and in every status.
	for _, n := range []int{4, 1, 6, 2, 5, 3} {
		agent := a.ID
		if n%2 == 0 {
			agent = b.ID
		}
		mustReserve(t, l, pay(agent, n, money.Sats(int64(n)), 0, at(n*10)))
	}
	mustSettle(t, l, 1, money.Sats(1), 0, at(70))
	mustRelease(t, l, 2, at(71))
	tests := []struct {
		name string
		q    wallet.EntryQuery
		want []l402.PaymentHash
	}{
		{"all, newest first", wallet.EntryQuery{}, hashList(6, 5, 4, 3, 2, 1)},
		{"one agent", wallet.EntryQuery{Agent: a.ID}, hashList(5, 3, 1)},
		{"the other agent", wallet.EntryQuery{Agent: b.ID}, hashList(6, 4, 2)},
		{"an agent with none", wallet.EntryQuery{Agent: agentID(9)}, nil},
		{"since an entry's time includes it", wallet.EntryQuery{Since: at(30)}, hashList(6, 5, 4, 3)},
		{"since between entries", wallet.EntryQuery{Since: at(31)}, hashList(6, 5, 4)},
		{"since after all", wallet.EntryQuery{Since: at(61)}, nil},
		{"limit", wallet.EntryQuery{Limit: 2}, hashList(6, 5)},
		{"limit above the count", wallet.EntryQuery{Limit: 100}, hashList(6, 5, 4, 3, 2, 1)},
		{"negative limit is no cap", wallet.EntryQuery{Limit: -1}, hashList(6, 5, 4, 3, 2, 1)},
		{"agent, since and limit", wallet.EntryQuery{Agent: b.ID, Since: at(20), Limit: 2}, hashList(6, 4)},
		{"agent and since", wallet.EntryQuery{Agent: a.ID, Since: at(11)}, hashList(5, 3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, err := l.Entries(ctx(t), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := hashes(entries); len(got) != len(tt.want) || (len(got) > 0 && !reflect.DeepEqual(got, tt.want)) {
				t.Errorf("Entries(%+v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
	// Entries carry their full state.
	entries, err := l.Entries(ctx(t), wallet.EntryQuery{Agent: a.ID, Limit: 1, Since: at(10)})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 1 {
		want, _ := l.Entry(ctx(t), hashOf(5))
		sameEntry(t, "an entry as listed", entries[0], want)
	}
	settled, err := l.Entries(ctx(t), wallet.EntryQuery{Agent: a.ID})
	if err != nil || len(settled) != 3 || settled[2].Status != wallet.EntrySettled || settled[2].Preimage != preimageOf(1) {
		t.Errorf("the settled entry as listed: %+v, err = %v", settled, err)
	}
}

func testUsed(t *testing.T, open Open) {
	l := open(t)
	a := mustAgent(t, l, 1, "a", at(0))
	day := wallet.Budget{Key: "day", Limit: money.Sats(100_000), Since: at(20)}
	all := wallet.Budget{Key: "day", Limit: money.Sats(100_000)}
	host := wallet.Budget{Key: "host", Limit: money.Sats(100_000), Since: at(0)}
	empty := wallet.Budget{Key: "nothing here", Limit: money.Sats(1)}

	if u := mustUsed(t, l); len(u) != 0 {
		t.Fatalf("Used of no budgets = %v", u)
	}
	// 1: before the day's window, settled. 2: released, the oldest in the
	// window. 3: reserved. 4: settled below its reservation.
	mustReserve(t, l, pay(a.ID, 1, money.Sats(1000), money.Sats(10), at(10), day, host))
	mustSettle(t, l, 1, money.Sats(1000), money.Sats(5), at(11))
	mustReserve(t, l, pay(a.ID, 2, money.Sats(2000), money.Sats(20), at(20), day, host))
	mustRelease(t, l, 2, at(21))
	mustReserve(t, l, pay(a.ID, 3, money.Sats(300), money.Sats(3), at(30), day))
	mustReserve(t, l, pay(a.ID, 4, money.Sats(400), money.Sats(4), at(40), day, host))
	mustSettle(t, l, 4, money.Sats(400), money.MilliSat(1), at(41))

	got := mustUsed(t, l, host, day, empty, all)
	want := []wallet.Usage{
		{Used: money.Sats(1005) + money.Sats(400) + 1, Oldest: at(10)},
		{Used: money.Sats(303) + money.Sats(400) + 1, Oldest: at(30)},
		{},
		{Used: money.Sats(1005) + money.Sats(303) + money.Sats(400) + 1, Oldest: at(10)},
	}
	for i := range got {
		got[i].Oldest = utc(got[i].Oldest)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Used(host, day, empty, all) =\n %+v\nwant\n %+v", got, want)
	}
}

func testInvoices(t *testing.T, open Open) {
	l, c := open(t), ctx(t)
	a := mustAgent(t, l, 1, "a", at(0))
	b := mustAgent(t, l, 2, "b", at(0))
	if invs, err := l.Invoices(c, wallet.AgentID{}, 0); err != nil || len(invs) != 0 {
		t.Fatalf("Invoices of an empty ledger = %v, err = %v", invs, err)
	}
	invoice := func(n int, agent wallet.AgentID, created int) wallet.ReceivedInvoice {
		return wallet.ReceivedInvoice{
			Hash: hashOf(n), AgentID: agent, PaymentRequest: fmt.Sprintf("lnbcrt%dn1sold%04d", n, n),
			Amount: money.Sats(int64(n)), Memo: fmt.Sprintf("report #%d, ünïcödé", n),
			CreatedAt: at(created), ExpiresAt: at(created + 3600),
		}
	}
	stored := map[l402.PaymentHash]wallet.ReceivedInvoice{}
	for _, inv := range []wallet.ReceivedInvoice{invoice(3, a.ID, 30), invoice(1, a.ID, 10), invoice(2, b.ID, 20), invoice(4, b.ID, 40)} {
		if err := l.RecordInvoice(c, inv); err != nil {
			t.Fatal(err)
		}
		stored[inv.Hash] = inv
	}
	tests := []struct {
		name  string
		agent wallet.AgentID
		limit int
		want  []l402.PaymentHash
	}{
		{"all, newest first", wallet.AgentID{}, 0, hashList(4, 3, 2, 1)},
		{"negative limit is no cap", wallet.AgentID{}, -5, hashList(4, 3, 2, 1)},
		{"limit", wallet.AgentID{}, 3, hashList(4, 3, 2)},
		{"one agent", a.ID, 0, hashList(3, 1)},
		{"one agent, limit", b.ID, 1, hashList(4)},
		{"an agent with none", agentID(9), 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			invs, err := l.Invoices(c, tt.agent, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []l402.PaymentHash
			for _, inv := range invs {
				got = append(got, inv.Hash)
				want := stored[inv.Hash]
				inv.CreatedAt, inv.ExpiresAt = utc(inv.CreatedAt), utc(inv.ExpiresAt)
				if !reflect.DeepEqual(inv, want) {
					t.Errorf("invoice as listed:\n got %+v\nwant %+v", inv, want)
				}
			}
			if len(got) != len(tt.want) || (len(got) > 0 && !reflect.DeepEqual(got, tt.want)) {
				t.Errorf("Invoices = %v, want %v", got, tt.want)
			}
		})
	}
}

// testHostileText: names, URLs, invoices, memos, reasons and budget keys
// come from agents and from the web; any spelling of them is stored and
// read back as given, and matches only itself.
func testHostileText(t *testing.T, open Open) {
	l, c := open(t), ctx(t)
	texts := []string{
		"'; DROP TABLE wallet_entries; --",
		`" OR 1=1 --`,
		"nul\x00byte",
		"%_*?[]",
		"ünïcödé ✓ \u2028",
		"  spaced  ",
	}
	for i, text := range texts {
		a := wallet.Agent{ID: agentID(100 + i), Name: text, RootKey: rootKey(100 + i), Caveats: []string{text}, CreatedAt: at(i)}
		if err := l.CreateAgent(c, a); err != nil {
			t.Fatalf("CreateAgent %q: %v", text, err)
		}
		got, err := l.AgentByName(c, text)
		if err != nil {
			t.Fatalf("AgentByName %q: %v", text, err)
		}
		sameAgent(t, "agent with a hostile name", got, a)

		budget := wallet.Budget{Key: text, Limit: money.Sats(100), Since: at(0)}
		r := pay(a.ID, 100+i, money.Sats(60), 0, at(10+i), budget)
		r.Kind, r.Invoice, r.URL, r.Host = wallet.KindFetch, text, "https://h.test/"+text, text
		e := mustReserve(t, l, r)
		if e.Invoice != text || e.URL != r.URL || e.Host != text {
			t.Errorf("entry read back as invoice %q url %q host %q", e.Invoice, e.URL, e.Host)
		}
		// The key is exact: a second 60 sat on it is over, and no other
		// key (some of which a LIKE or a glob would match) has anything.
		if _, err := l.Reserve(c, pay(a.ID, 200+i, money.Sats(60), 0, at(20+i), budget)); !errors.Is(err, wallet.ErrOverBudget) {
			t.Errorf("key %q: second reservation err = %v, want ErrOverBudget", text, err)
		}
		if err := l.RecordInvoice(c, wallet.ReceivedInvoice{Hash: hashOf(300 + i), AgentID: a.ID, PaymentRequest: text,
			Amount: 1, Memo: text, CreatedAt: at(i), ExpiresAt: at(i + 60)}); err != nil {
			t.Fatalf("RecordInvoice with %q: %v", text, err)
		}
		if invs, err := l.Invoices(c, a.ID, 0); err != nil || len(invs) != 1 || invs[0].Memo != text || invs[0].PaymentRequest != text {
			t.Errorf("invoice with %q read back as %+v, err = %v", text, invs, err)
		}
	}
	// Each key holds exactly its own entry, then nothing once released.
	var budgets []wallet.Budget
	for _, text := range texts {
		budgets = append(budgets, wallet.Budget{Key: text, Limit: money.Sats(100)})
	}
	for i, u := range mustUsed(t, l, budgets...) {
		if u.Used != money.Sats(60) {
			t.Errorf("key %q used %s, want its own 60 sat", texts[i], u.Used)
		}
	}
	for i, text := range texts {
		released, err := l.Release(c, hashOf(100+i), text, at(30+i))
		if err != nil || released.Error != text {
			t.Errorf("Release with reason %q: %q, %v", text, released.Error, err)
		}
	}
	for i, u := range mustUsed(t, l, budgets...) {
		if u.Used != 0 {
			t.Errorf("key %q used %s after its only reservation was released", texts[i], u.Used)
		}
	}
	if agents, err := l.Agents(c); err != nil || len(agents) != len(texts) {
		t.Errorf("Agents = %d, err = %v; want %d", len(agents), err, len(texts))
	}
}

// testSecretsStayOutOfErrors: preimages and root keys are bearer secrets;
// no error a ledger returns may carry one, whatever went wrong, and what
// it returns stays redacted when logged.
func testSecretsStayOutOfErrors(t *testing.T, open Open) {
	l, c := open(t), ctx(t)
	a := mustAgent(t, l, 1, "a", at(0))
	mustReserve(t, l, pay(a.ID, 1, money.Sats(10), 0, at(1)))
	mustSettle(t, l, 1, money.Sats(10), 0, at(2))
	var errs []error
	_, err := l.Settle(c, hashOf(1), money.Sats(10), 0, preimageOf(1), at(3))
	errs = append(errs, err)
	_, err = l.Settle(c, hashOf(2), money.Sats(10), 0, preimageOf(2), at(3))
	errs = append(errs, err)
	errs = append(errs, l.CreateAgent(c, wallet.Agent{ID: agentID(2), Name: "a", RootKey: rootKey(2), CreatedAt: at(4)}))
	errs = append(errs, l.CreateAgent(c, wallet.Agent{ID: a.ID, Name: "fresh", RootKey: rootKey(3), CreatedAt: at(4)}))
	raw1, raw2 := preimageOf(1), preimageOf(2)
	secrets := [][]byte{raw1[:], raw2[:], rootKey(1), rootKey(2), rootKey(3)}
	// shows reports whether text shows a secret as hex (either case),
	// base64, raw bytes or quoted bytes.
	shows := func(text string) bool {
		for _, secret := range secrets {
			if strings.Contains(strings.ToLower(text), hex.EncodeToString(secret)) ||
				strings.Contains(text, base64.StdEncoding.EncodeToString(secret)) ||
				strings.Contains(text, string(secret)) ||
				strings.Contains(text, strings.Trim(strconv.Quote(string(secret)), `"`)) {
				return true
			}
		}
		return false
	}
	for i, err := range errs {
		if err == nil {
			t.Errorf("error %d: nil, want a refusal", i)
		} else if shows(err.Error()) {
			t.Errorf("error %d carries a secret: %v", i, err)
		}
	}

	agent, err := l.Agent(c, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := l.Entry(c, hashOf(1))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(agent.RootKey, rootKey(1)) || entry.Preimage != preimageOf(1) {
		t.Fatal("the ledger did not return the secrets it keeps")
	}
	var logged bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&logged, nil), slog.NewJSONHandler(&logged, nil)} {
		slog.New(h).Info("ledger", "agent", agent, "root_key", agent.RootKey, "entry", entry, "preimage", entry.Preimage)
	}
	fmt.Fprintf(&logged, "%v %+v %#v %s %x", agent, agent, entry, agent.RootKey, entry.Preimage)
	if shows(logged.String()) {
		t.Errorf("a logged agent or entry shows a secret:\n%s", logged.String())
	}
}

// race runs call n times at once, the i-th on handles[i%len(handles)],
// all released together, and returns their errors in order: the shape of
// every "two daemons at the same moment" case.
func race(n int, handles []wallet.Ledger, call func(l wallet.Ledger, i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = call(handles[i%len(handles)], i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}
