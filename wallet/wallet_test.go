package wallet_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/satloop/satloop/bakery"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/money"
	"github.com/satloop/satloop/store/sqlite"
	"github.com/satloop/satloop/wallet"
)

var day = bakery.Window{Period: bakery.Day}

func budget(sats int64) []bakery.Budget {
	return []bakery.Budget{{Limit: money.Sats(sats), Window: day}}
}

// allowanceUsed returns the first budget's used and left amounts.
func allowanceUsed(t *testing.T, c *wallet.Client) (used, left money.MilliSat) {
	t.Helper()
	a, err := c.Allowance(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Budgets) == 0 {
		t.Fatal("allowance lists no budget")
	}
	return a.Budgets[0].Used, a.Budgets[0].Left
}

// TestReservationIsAmountPlusFeeLimit: a payment holds its amount plus
// the fee limit while in progress, and once settled only what was paid.
func TestReservationIsAmountPlusFeeLimit(t *testing.T) {
	h := newHarness(t)
	_, _, cred := h.mint(t, "bot", bakery.Limits{Budgets: budget(300)})
	c := h.client(t, cred)
	ctx := t.Context()

	h.node.setMode(payBlock)
	inv1, pre1 := h.node.newInvoice(t, money.Sats(190))
	h.secretPreimage(pre1)
	type result struct {
		res wallet.PayResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := c.PayInvoice(ctx, wallet.PayRequest{Invoice: inv1})
		done <- result{res, err}
	}()
	h.waitStatus(t, hashOf(t, inv1), wallet.EntryReserved)
	// 190 sat + the default 10-sat fee limit.
	if used, left := allowanceUsed(t, c); used != money.Sats(200) || left != money.Sats(100) {
		t.Fatalf("while paying: used %s left %s, want 200 sat and 100 sat", used, left)
	}
	// 95 sat needs 105 with its fee limit: it does not fit the 100 left.
	inv2, pre2 := h.node.newInvoice(t, money.Sats(95))
	h.secretPreimage(pre2)
	_, err := c.PayInvoice(ctx, wallet.PayRequest{Invoice: inv2})
	we := wantCode(t, err, wallet.ErrOverBudget, wallet.CodeBudgetExhausted)
	if we.Left != money.Sats(100) {
		t.Errorf("refusal says %s left, want 100 sat", we.Left)
	}
	h.checkError(t, err)

	close(h.node.unblock)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.res.Preimage != pre1 || r.res.Amount != money.Sats(190) || r.res.Fee != 1000 || r.res.Hash != pre1.Hash() {
		t.Errorf("pay result %+v", r.res)
	}
	e := h.entry(t, pre1.Hash())
	if e.Status != wallet.EntrySettled || e.Amount != money.Sats(190) || e.Fee != 1000 || e.FeeLimit != wallet.DefaultMaxFee || e.Preimage != pre1 || e.Kind != wallet.KindPay {
		t.Errorf("settled entry %+v", e)
	}
	// Settled at the real 1-sat fee: 109 sat left, and 95 sat fits now.
	if used, left := allowanceUsed(t, c); used != money.Sats(191) || left != money.Sats(109) {
		t.Fatalf("after settling: used %s left %s, want 191 sat and 109 sat", used, left)
	}
	if _, err := c.PayInvoice(ctx, wallet.PayRequest{Invoice: inv2}); err != nil {
		t.Fatalf("paying after the fee freed room: %v", err)
	}
	if n := h.node.pays.Load(); n != 2 {
		t.Errorf("node paid %d times, want 2", n)
	}
}

// TestFailedPaymentReleases: a final failure spends nothing and frees its
// reservation; the same invoice can then be paid.
func TestFailedPaymentReleases(t *testing.T) {
	h := newHarness(t)
	_, _, cred := h.mint(t, "bot", bakery.Limits{Budgets: budget(1000)})
	c := h.client(t, cred)

	h.node.setMode(payFail)
	inv, pre := h.node.newInvoice(t, money.Sats(500))
	h.secretPreimage(pre)
	_, err := c.PayInvoice(t.Context(), wallet.PayRequest{Invoice: inv})
	wantCode(t, err, wallet.ErrPaymentFailed, wallet.CodePaymentFailed)
	h.checkError(t, err)
	if e := h.entry(t, pre.Hash()); e.Status != wallet.EntryReleased || e.Error == "" {
		t.Errorf("entry after a failure: %+v", e)
	}
	if used, _ := allowanceUsed(t, c); used != 0 {
		t.Errorf("a failed payment still uses %s", used)
	}

	h.node.setMode(paySucceed)
	res, err := c.PayInvoice(t.Context(), wallet.PayRequest{Invoice: inv})
	if err != nil || res.Preimage != pre {
		t.Fatalf("paying again after a failure: %v", err)
	}
	if e := h.entry(t, pre.Hash()); e.Status != wallet.EntrySettled {
		t.Errorf("entry after paying again: %+v", e)
	}
	if used, _ := allowanceUsed(t, c); used != money.Sats(501) {
		t.Errorf("used %s, want 501 sat", used)
	}
}

// TestInFlightStaysReservedUntilTracked: a payment whose outcome the node
// does not know yet counts against the budget, is never paid again, and is
// settled (or released) by the tracker once the node knows.
func TestInFlightStaysReservedUntilTracked(t *testing.T) {
	for _, succeeds := range []bool{true, false} {
		name := map[bool]string{true: "then succeeds", false: "then fails"}[succeeds]
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			_, _, cred := h.mint(t, "bot", bakery.Limits{Budgets: budget(1000)})
			c := h.client(t, cred)
			ctx := t.Context()

			h.node.setMode(payInFlight)
			inv, pre := h.node.newInvoice(t, money.Sats(300))
			h.secretPreimage(pre)
			_, err := c.PayInvoice(ctx, wallet.PayRequest{Invoice: inv})
			wantCode(t, err, wallet.ErrInFlight, wallet.CodeInFlight)
			h.checkError(t, err)
			if e := h.entry(t, pre.Hash()); e.Status != wallet.EntryReserved {
				t.Fatalf("in-flight entry is %s", e.Status)
			}
			if used, _ := allowanceUsed(t, c); used != money.Sats(310) {
				t.Errorf("an in-flight payment uses %s, want 310 sat", used)
			}
			// Asked again: refused by the ledger, never sent to the node.
			_, err = c.PayInvoice(ctx, wallet.PayRequest{Invoice: inv})
			wantCode(t, err, wallet.ErrInFlight, wallet.CodeInFlight)
			if n := h.node.pays.Load(); n != 1 {
				t.Errorf("node asked to pay %d times, want 1", n)
			}
			p, err := c.TrackPayment(ctx, pre.Hash())
			if err != nil || p.Status != lightning.PaymentInFlight {
				t.Errorf("client track while in flight: %+v %v", p, err)
			}

			h.node.complete(pre.Hash(), succeeds)
			if succeeds {
				e := h.waitStatus(t, pre.Hash(), wallet.EntrySettled)
				if e.Fee != 1000 || e.Preimage != pre {
					t.Errorf("tracked entry %+v", e)
				}
				if used, _ := allowanceUsed(t, c); used != money.Sats(301) {
					t.Errorf("used %s after tracking, want 301 sat", used)
				}
				p, err := c.TrackPayment(ctx, pre.Hash())
				if err != nil || p.Status != lightning.PaymentSucceeded || p.Preimage != pre {
					t.Errorf("client track once paid: %+v %v", p, err)
				}
				// Asked again once paid: the earlier payment, not a new one.
				res, err := c.PayInvoice(ctx, wallet.PayRequest{Invoice: inv})
				if err != nil || res.Preimage != pre {
					t.Errorf("paying a paid invoice again: %+v %v", res, err)
				}
			} else {
				h.waitStatus(t, pre.Hash(), wallet.EntryReleased)
				if used, _ := allowanceUsed(t, c); used != 0 {
					t.Errorf("used %s after a tracked failure", used)
				}
				p, err := c.TrackPayment(ctx, pre.Hash())
				if err != nil || p.Status != lightning.PaymentFailed {
					t.Errorf("client track once failed: %+v %v", p, err)
				}
			}
			if n := h.node.pays.Load(); n != 1 {
				t.Errorf("node asked to pay %d times, want 1", n)
			}
		})
	}
}

// TestReconcileAfterCrash: entries left reserved by a crash are resolved
// with the node by hash.
func TestReconcileAfterCrash(t *testing.T) {
	h := newHarness(t)
	agent, _, _ := h.mint(t, "bot", bakery.Limits{Budgets: budget(10_000)})
	ctx := t.Context()
	b := []wallet.Budget{{Key: "k", Limit: money.Sats(10_000), Since: time.Now().Add(-time.Hour)}}
	reserve := func(status lightning.PaymentStatus, known bool) l402.PaymentHash {
		inv, pre := h.node.newInvoice(t, money.Sats(100))
		h.secretPreimage(pre)
		if _, err := h.ledger.Reserve(ctx, wallet.Reservation{
			Hash: pre.Hash(), AgentID: agent.ID, Kind: wallet.KindPay, Invoice: inv,
			Amount: money.Sats(100), FeeLimit: wallet.DefaultMaxFee, Budgets: b, At: time.Now(),
		}); err != nil {
			t.Fatal(err)
		}
		if known {
			h.node.setPayment(pre.Hash(), status, money.Sats(100))
		}
		return pre.Hash()
	}
	paid := reserve(lightning.PaymentSucceeded, true)
	neverSent := reserve("", false)
	failed := reserve(lightning.PaymentFailed, true)
	inFlight := reserve(lightning.PaymentInFlight, true)
	// More in flight: asked about at once, they do not add up their waits.
	var moreInFlight []l402.PaymentHash
	for range 5 {
		moreInFlight = append(moreInFlight, reserve(lightning.PaymentInFlight, true))
	}

	start := time.Now()
	if err := h.wallet.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("Reconcile took %s (six payments in flight)", took.Round(time.Millisecond))
	if took > 15*time.Second {
		t.Errorf("Reconcile took %s: in-flight payments waited one after the other", took)
	}
	if e := h.entry(t, paid); e.Status != wallet.EntrySettled || e.Fee != 1000 || e.Preimage.Hash() != paid {
		t.Errorf("paid: %+v", e)
	}
	for name, hash := range map[string]l402.PaymentHash{"never sent": neverSent, "failed": failed} {
		if e := h.entry(t, hash); e.Status != wallet.EntryReleased {
			t.Errorf("%s: %s", name, e.Status)
		}
	}
	if e := h.entry(t, inFlight); e.Status != wallet.EntryReserved {
		t.Fatalf("in flight: %s, want still reserved", e.Status)
	}
	used, err := h.ledger.Used(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if want := money.Sats(101) + 6*money.Sats(110); used[0].Used != want {
		t.Errorf("used %s, want %s (one settled, six in flight)", used[0].Used, want)
	}
	h.node.complete(inFlight, true)
	h.waitStatus(t, inFlight, wallet.EntrySettled)
	for _, hash := range moreInFlight {
		h.node.complete(hash, false)
		h.waitStatus(t, hash, wallet.EntryReleased)
	}
	if n := h.node.pays.Load(); n != 0 {
		t.Errorf("reconciling paid %d times", n)
	}
}

// TestPaySameInvoice: an invoice is paid once, whoever asks and however
// often; another agent learns nothing of the earlier payment.
func TestPaySameInvoice(t *testing.T) {
	h := newHarness(t)
	_, _, cred := h.mint(t, "bot", bakery.Limits{Budgets: budget(5000)})
	_, _, other := h.mint(t, "other", bakery.Limits{Budgets: budget(5000)})
	c, oc := h.client(t, cred), h.client(t, other)
	ctx := t.Context()

	h.node.setMode(payBlock)
	h.node.delay = 0
	inv, pre := h.node.newInvoice(t, money.Sats(100))
	h.secretPreimage(pre)
	const n = 20
	var wg sync.WaitGroup
	var ok, inFlight atomic.Int32
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.PayInvoice(ctx, wallet.PayRequest{Invoice: inv})
			switch {
			case err == nil && res.Preimage == pre:
				ok.Add(1)
			case errors.Is(err, wallet.ErrInFlight):
				inFlight.Add(1)
			default:
				t.Errorf("concurrent pay: %+v %v", res, err)
			}
		}()
	}
	h.waitStatus(t, pre.Hash(), wallet.EntryReserved)
	time.Sleep(100 * time.Millisecond)
	close(h.node.unblock)
	wg.Wait()
	if ok.Load() < 1 || ok.Load()+inFlight.Load() != n {
		t.Errorf("%d paid, %d in flight, of %d", ok.Load(), inFlight.Load(), n)
	}
	if got := h.node.pays.Load(); got != 1 {
		t.Errorf("node asked to pay %d times, want 1", got)
	}
	res, err := c.PayInvoice(ctx, wallet.PayRequest{Invoice: inv})
	if err != nil || res.Preimage != pre || res.Fee != 1000 {
		t.Errorf("paying again: %+v %v", res, err)
	}
	_, err = oc.PayInvoice(ctx, wallet.PayRequest{Invoice: inv})
	wantCode(t, err, wallet.ErrAlreadyPaid, wallet.CodeAlreadyPaid)
	h.checkError(t, err)
	if _, err := oc.TrackPayment(ctx, pre.Hash()); !errors.Is(err, lightning.ErrPaymentNotFound) {
		t.Errorf("another agent tracks the payment: %v", err)
	}
	if got := h.node.pays.Load(); got != 1 {
		t.Errorf("node asked to pay %d times, want 1", got)
	}
	if used, _ := allowanceUsed(t, oc); used != 0 {
		t.Errorf("the other agent is charged %s", used)
	}
}

// TestConcurrentPaymentsNeverExceedBudget: 200 agents' goroutines pay
// distinct 100-sat invoices against a 5,000-sat day: what is settled plus
// reserved never exceeds it, fee limits included, and every payment the
// node made is settled in the ledger.
func TestConcurrentPaymentsNeverExceedBudget(t *testing.T) {
	h := newHarness(t)
	h.node.delay = 20 * time.Millisecond
	_, _, cred := h.mint(t, "bot", bakery.Limits{Budgets: budget(5000)})
	c := h.client(t, cred)
	ctx := t.Context()
	limit := money.Sats(5000)

	const n = 200
	invoices := make([]string, n)
	for i := range invoices {
		inv, pre := h.node.newInvoice(t, money.Sats(100))
		h.secretPreimage(pre)
		invoices[i] = inv
	}
	stop := make(chan struct{})
	var watched sync.WaitGroup
	watched.Add(1)
	go func() {
		defer watched.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			a, err := c.Allowance(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			if a.Budgets[0].Used > limit {
				t.Errorf("budget used %s > %s while paying", a.Budgets[0].Used, limit)
			}
		}
	}()
	var wg sync.WaitGroup
	var paid, refused atomic.Int32
	start := time.Now()
	for _, inv := range invoices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.PayInvoice(ctx, wallet.PayRequest{Invoice: inv})
			var we *wallet.Error
			switch {
			case err == nil:
				paid.Add(1)
			case errors.Is(err, wallet.ErrOverBudget) && errors.As(err, &we) && we.Limit != "" && !we.ResetsAt.IsZero():
				refused.Add(1)
			default:
				t.Errorf("pay: %v", err)
			}
		}()
	}
	wg.Wait()
	close(stop)
	watched.Wait()
	t.Logf("%d paid, %d refused over budget, in %s; at most %d payments at once at the node",
		paid.Load(), refused.Load(), time.Since(start).Round(time.Millisecond), h.node.maxPar.Load())

	byStatus := h.entries(t)
	if len(byStatus[wallet.EntryReserved]) != 0 {
		t.Errorf("%d entries still reserved", len(byStatus[wallet.EntryReserved]))
	}
	var spent money.MilliSat
	for _, e := range byStatus[wallet.EntrySettled] {
		spent += e.Amount + e.Fee
		p, ok := h.node.payment(e.Hash)
		if !ok || p.Status != lightning.PaymentSucceeded || p.Fee != e.Fee || p.Amount != e.Amount {
			t.Errorf("ledger %s %s+%s, node %+v", e.Hash, e.Amount, e.Fee, p)
		}
	}
	if spent > limit {
		t.Errorf("spent %s of a %s budget", spent, limit)
	}
	settled := int32(len(byStatus[wallet.EntrySettled]))
	if settled != paid.Load() || h.node.pays.Load() != settled || h.node.paidOut.Load() != settled {
		t.Errorf("%d settled entries, %d paid answers, %d node Pay calls, %d node payments", settled, paid.Load(), h.node.pays.Load(), h.node.paidOut.Load())
	}
	// 45 reservations of 110 sat fit at once; as they settle at 101 sat,
	// up to 49 can: anything outside that is a budget that leaks or
	// refuses too much.
	if settled < 45 || settled > 49 || paid.Load()+refused.Load() != n {
		t.Errorf("%d paid, %d refused of %d", paid.Load(), refused.Load(), n)
	}
	if used, _ := allowanceUsed(t, c); used != spent {
		t.Errorf("allowance says %s used, the ledger's entries %s", used, spent)
	}
}

// TestAgentLeavingDoesNotCutPaymentShort: an agent that hangs up while
// its payment is on its way does not end the node call: the wallet waits
// for the outcome and records it, instead of leaving the node's answer to
// a tracker that could ask before the node has registered the payment.
func TestAgentLeavingDoesNotCutPaymentShort(t *testing.T) {
	h := newHarness(t)
	_, _, cred := h.mint(t, "impatient", bakery.Limits{Budgets: budget(1000)})
	c := h.client(t, cred)
	h.node.setMode(payBlock)
	inv, pre := h.node.newInvoice(t, money.Sats(100))
	h.secretPreimage(pre)

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := c.PayInvoice(ctx, wallet.PayRequest{Invoice: inv}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the agent's call: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	close(h.node.unblock)
	e := h.waitStatus(t, pre.Hash(), wallet.EntrySettled)
	if e.Fee != 1000 || e.Preimage != pre {
		t.Errorf("entry %+v", e)
	}
	if n := h.node.cutShort.Load(); n != 0 {
		t.Errorf("the node's Pay was cut short %d times when the agent left", n)
	}
	if n := h.node.pays.Load(); n != 1 {
		t.Errorf("node asked to pay %d times", n)
	}
}

// clock is a settable time source for the wallet.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// TestBudgetWindows: a calendar day empties at midnight UTC, a rolling
// window when its oldest payment leaves it, and refusals say when.
func TestBudgetWindows(t *testing.T) {
	now := time.Now().UTC()
	midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	clk := &clock{now: midnight.Add(-30 * time.Minute)}
	h := newHarness(t, func(o *wallet.Options) { o.Now = clk.Now })
	invoice := func(sats int64) string {
		// Valid for two days of real time: the wallet's clock runs ahead.
		inv, _ := h.node.newInvoiceAt(t, money.Sats(sats), time.Now(), 48*time.Hour, &chaincfg.RegressionNetParams)
		return inv
	}
	pay := func(c *wallet.Client, sats int64) error {
		_, err := c.PayInvoice(t.Context(), wallet.PayRequest{Invoice: invoice(sats)})
		return err
	}

	t.Run("calendar day", func(t *testing.T) {
		clk.set(midnight.Add(-30 * time.Minute))
		_, _, cred := h.mint(t, "daily", bakery.Limits{Budgets: budget(300)})
		c := h.client(t, cred)
		if err := pay(c, 200); err != nil {
			t.Fatal(err)
		}
		we := wantCode(t, pay(c, 100), wallet.ErrOverBudget, wallet.CodeBudgetExhausted)
		if !we.ResetsAt.Equal(midnight) || we.Left != money.Sats(99) {
			t.Errorf("refusal: left %s, resets %s, want 99 sat until %s", we.Left, we.ResetsAt, midnight)
		}
		clk.set(midnight.Add(time.Minute))
		if err := pay(c, 100); err != nil {
			t.Fatalf("after midnight: %v", err)
		}
		if used, _ := allowanceUsed(t, c); used != money.Sats(101) {
			t.Errorf("used %s in the new day, want 101 sat", used)
		}
	})
	t.Run("rolling hour", func(t *testing.T) {
		start := midnight.Add(2 * time.Hour)
		clk.set(start)
		_, _, cred := h.mint(t, "rolling", bakery.Limits{Budgets: []bakery.Budget{{Limit: money.Sats(300), Window: bakery.Window{Rolling: time.Hour}}}})
		c := h.client(t, cred)
		if err := pay(c, 200); err != nil {
			t.Fatal(err)
		}
		clk.set(start.Add(30 * time.Minute))
		we := wantCode(t, pay(c, 100), wallet.ErrOverBudget, wallet.CodeBudgetExhausted)
		if !we.ResetsAt.Equal(start.Add(time.Hour)) {
			t.Errorf("resets at %s, want %s (the first payment leaves the window)", we.ResetsAt, start.Add(time.Hour))
		}
		clk.set(start.Add(61 * time.Minute))
		if err := pay(c, 100); err != nil {
			t.Fatalf("once the first payment left the window: %v", err)
		}
	})
}

// TestAttenuatedBudgets: a credential narrowed by its holder spends
// within its own budget and its parent's, and siblings share the parent's.
func TestAttenuatedBudgets(t *testing.T) {
	h := newHarness(t)
	_, parentMac, parent := h.mint(t, "parent", bakery.Limits{Budgets: budget(500)})
	child := func(sats int64) *wallet.Client {
		m, err := bakery.Attenuate(parentMac, bakery.Limits{Budgets: budget(sats)})
		if err != nil {
			t.Fatal(err)
		}
		enc := encode(t, m)
		h.secret(enc)
		return h.client(t, enc)
	}
	// Two holders adding the very same caveat make the very same
	// credential (macaroons are deterministic), so b's budget differs.
	pc, a, b := h.client(t, parent), child(300), child(350)
	pay := func(c *wallet.Client, sats int64) error {
		inv, _ := h.node.newInvoice(t, money.Sats(sats))
		_, err := c.PayInvoice(t.Context(), wallet.PayRequest{Invoice: inv})
		return err
	}
	if err := pay(a, 250); err != nil {
		t.Fatal(err)
	}
	// a's own 300: 251 used, 100+10 does not fit.
	wantCode(t, pay(a, 100), wallet.ErrOverBudget, wallet.CodeBudgetExhausted)
	// b has its own 350, and the parent's 500 has 249 left.
	if err := pay(b, 200); err != nil {
		t.Fatal(err)
	}
	we := wantCode(t, pay(b, 50), wallet.ErrOverBudget, wallet.CodeBudgetExhausted)
	if !strings.Contains(we.Limit, "500 sat") || we.Left != money.Sats(500-251-201) {
		t.Errorf("b's refusal should name the parent's budget: %q, left %s", we.Limit, we.Left)
	}
	if used, _ := allowanceUsed(t, pc); used != money.Sats(452) {
		t.Errorf("the parent's budget counts %s, want both children's 452 sat", used)
	}
	a2, err := b.Allowance(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(a2.Budgets) != 2 || a2.Budgets[0].Used != money.Sats(452) || a2.Budgets[1].Used != money.Sats(201) {
		t.Errorf("b's allowance: %+v", a2.Budgets)
	}
}

// TestTwoDaemonsShareOneLedger: two daemons on one ledger file (two
// processes' worth of handles and sockets), paying against the same
// credential at once, never exceed its budget between them.
func TestTwoDaemonsShareOneLedger(t *testing.T) {
	h := newHarness(t)
	h.node.delay = 10 * time.Millisecond
	ledger2, err := sqlite.OpenLedger(t.Context(), filepath.Join(h.dir, "wallet.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer ledger2.Close()
	w2, err := wallet.New(t.Context(), wallet.Options{Node: h.node, Ledger: ledger2})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	socket2 := filepath.Join(h.dir, "w2.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- wallet.Serve(ctx, wallet.ServeConfig{Socket: socket2}, w2.Handler()) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	waitForSocket(t, socket2)

	_, _, cred := h.mint(t, "shared", bakery.Limits{Budgets: budget(2000)})
	c1 := h.client(t, cred)
	c2, err := wallet.Dial(bakery.File{Credential: cred}, "unix://"+socket2)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var paid atomic.Int32
	for i := range 100 {
		c := c1
		if i%2 == 1 {
			c = c2
		}
		inv, _ := h.node.newInvoice(t, money.Sats(50))
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.PayInvoice(t.Context(), wallet.PayRequest{Invoice: inv})
			switch {
			case err == nil:
				paid.Add(1)
			case !errors.Is(err, wallet.ErrOverBudget):
				t.Errorf("pay: %v", err)
			}
		}()
	}
	wg.Wait()
	var spent money.MilliSat
	for _, e := range h.entries(t)[wallet.EntrySettled] {
		spent += e.Amount + e.Fee
	}
	// 60 sat reserved per payment, 51 once settled: 33 fit at once, 39 at most.
	if spent > money.Sats(2000) || paid.Load() < 33 || h.node.pays.Load() != paid.Load() {
		t.Errorf("%d paid, %s spent of 2000 sat, %d node payments", paid.Load(), spent, h.node.pays.Load())
	}
	t.Logf("two daemons: %d paid, %s spent of 2000 sat", paid.Load(), spent)
}

// TestNodeRefusesToPay: a node whose macaroon cannot pay (or whose wallet
// is locked) sent nothing: the reservation is released at once and the
// agent told to ask the operator, instead of a payment "in flight" that
// could never be resolved and would hold its budget for good.
func TestNodeRefusesToPay(t *testing.T) {
	h := newHarness(t)
	seller := newSeller(t, h.node, money.Sats(10))
	_, _, cred := h.mint(t, "denied", bakery.Limits{Budgets: budget(100)})
	c := h.client(t, cred)
	h.node.setMode(payDenied)

	inv, _ := h.node.newInvoice(t, money.Sats(20))
	_, err := c.PayInvoice(t.Context(), wallet.PayRequest{Invoice: inv})
	wantCode(t, err, wallet.ErrNodeDown, wallet.CodeNodeUnavailable)
	_, err = fetch(t, c, 0, http.MethodGet, seller.url("/v1/x"), "", true)
	wantCode(t, err, wallet.ErrNodeDown, wallet.CodeNodeUnavailable)
	if got := h.entries(t); len(got[wallet.EntryReserved]) != 0 || len(got[wallet.EntryReleased]) != 2 {
		t.Errorf("entries: %d reserved, %d released", len(got[wallet.EntryReserved]), len(got[wallet.EntryReleased]))
	}
	if used, _ := allowanceUsed(t, c); used != 0 {
		t.Errorf("refused payments use %s", used)
	}

	// Once the operator fixes the node, both go through.
	h.node.setMode(paySucceed)
	if _, err := c.PayInvoice(t.Context(), wallet.PayRequest{Invoice: inv}); err != nil {
		t.Fatal(err)
	}
	r, err := fetch(t, c, 0, http.MethodGet, seller.url("/v1/x"), "", true)
	if err != nil || r.status != http.StatusOK || !r.rec.Paid {
		t.Fatalf("fetch after the fix: %+v %v", r, err)
	}
}
