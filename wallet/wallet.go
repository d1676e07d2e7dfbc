// Package wallet is satloop's allowance daemon: the one process that holds
// the node connection, paying and invoicing for agents that hold only
// credentials minted by its bakery (package bakery), within limits kept in
// a durable ledger.
//
// Every payment is reserved in the Ledger before the node sees it, at its
// amount plus the fee limit, in one atomic step that checks every budget of
// the credential; it is settled at what the node actually paid, or
// released when nothing was spent. A payment whose outcome is not known (a
// crash, a node that stopped answering) stays reserved, counting against
// its budgets, until the node says by hash what became of it (Reconcile,
// and a tracker started for every such payment). So neither concurrency
// nor a crash can spend past a budget or pay an invoice twice.
package wallet

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"gopkg.in/macaroon.v2"

	"github.com/satloop/satloop/bakery"
	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/money"
)

// Node is what the wallet needs from a Lightning node. *lnd.Node
// satisfies it.
type Node interface {
	Info(ctx context.Context) (lightning.NodeInfo, error)
	DecodeInvoice(payreq string) (lightning.Invoice, error)
	Pay(ctx context.Context, req lightning.PayRequest) (lightning.Payment, error)
	TrackPayment(ctx context.Context, hash l402.PaymentHash) (lightning.Payment, error)
	CreateInvoice(ctx context.Context, req lightning.InvoiceRequest) (lightning.CreatedInvoice, error)
}

// Defaults for zero Options.
const (
	// DefaultMaxFee caps routing fees per payment: what is reserved
	// against budgets on top of the amount.
	DefaultMaxFee = money.MilliSat(10_000)
	// DefaultPayTimeout bounds the node's route search.
	DefaultPayTimeout = 60 * time.Second
	// DefaultMaxPerCall caps a call whose credential has no per-call cap.
	DefaultMaxPerCall = money.MilliSat(1_000_000)
	// DefaultMaxInvoiceExpiry caps the expiry of invoices agents create.
	DefaultMaxInvoiceExpiry = 24 * time.Hour
)

// Step is a point in a payment's life, reported to Options.OnStep.
type Step string

// Steps of a payment.
const (
	// StepReserved: the ledger holds the reservation; the node has not
	// been asked to pay.
	StepReserved Step = "reserved"
	// StepPaid: the node reports the payment succeeded; the ledger has
	// not recorded it yet.
	StepPaid Step = "paid"
)

// Options configure a Wallet.
type Options struct {
	Node   Node
	Ledger Ledger
	// Tokens opens the L402 token store of an agent, for fetches made on
	// its behalf: every agent has its own, so that what one paid for is
	// never spent by another. Required for Fetch.
	Tokens func(ctx context.Context, agent AgentID) (client.Store, error)
	// Base sends fetches to sellers; nil means a transport with sane
	// timeouts.
	Base http.RoundTripper
	// MaxFee caps the routing fee of one payment; zero means DefaultMaxFee.
	MaxFee money.MilliSat
	// PayTimeout bounds the node's route search; zero means
	// DefaultPayTimeout.
	PayTimeout time.Duration
	// Logger receives payment events, never secrets; nil means silent.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnStep, when set, is called at each Step of each payment, in the
	// paying goroutine. It exists for fault injection: the crash tests
	// kill the daemon here.
	OnStep func(Step, l402.PaymentHash)
}

// Wallet enforces agent credentials and pays through the node.
type Wallet struct {
	opts    Options
	network lightning.Network

	mu         sync.Mutex
	transports map[AgentID]*client.Transport
	tracking   map[l402.PaymentHash]bool
	// closed is set by Close: no tracker starts after it, so that none is
	// added to wg while Close waits (a handler still paying when the
	// server's shutdown gave up on it would).
	closed bool

	// background bounds the trackers of in-flight payments.
	background context.Context
	stop       context.CancelFunc
	wg         sync.WaitGroup
}

// New checks the node and returns a Wallet. Close stops its trackers.
func New(ctx context.Context, opts Options) (*Wallet, error) {
	if opts.Node == nil || opts.Ledger == nil {
		return nil, errors.New("wallet: Options needs a Node and a Ledger")
	}
	info, err := opts.Node.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("wallet: ask the node who it is: %w", err)
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	return &Wallet{
		opts: opts, network: info.Network,
		transports: make(map[AgentID]*client.Transport),
		tracking:   make(map[l402.PaymentHash]bool),
		background: bg, stop: stop,
	}, nil
}

// Close stops tracking in-flight payments; they stay reserved in the
// ledger and are resolved at the next start.
func (w *Wallet) Close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.stop()
	w.wg.Wait()
}

// Network is the node's network.
func (w *Wallet) Network() lightning.Network { return w.network }

func (w *Wallet) now() time.Time {
	if w.opts.Now != nil {
		return w.opts.Now()
	}
	return time.Now()
}

func (w *Wallet) log() *slog.Logger {
	if w.opts.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.opts.Logger
}

func (w *Wallet) maxFee() money.MilliSat {
	if w.opts.MaxFee > 0 {
		return w.opts.MaxFee
	}
	return DefaultMaxFee
}

func (w *Wallet) payTimeout() time.Duration {
	if w.opts.PayTimeout > 0 {
		return w.opts.PayTimeout
	}
	return DefaultPayTimeout
}

func (w *Wallet) step(s Step, hash l402.PaymentHash) {
	if w.opts.OnStep != nil {
		w.opts.OnStep(s, hash)
	}
}

// Session is a verified credential: who is asking and what it may do.
type Session struct {
	Agent Agent
	Grant bakery.Grant
}

// Authenticate verifies an encoded credential against the ledger's root
// keys and returns its session. A revoked agent is refused here and again
// when money is reserved.
func (w *Wallet) Authenticate(ctx context.Context, encoded string) (Session, error) {
	mac, err := bakery.Decode(encoded)
	if err != nil {
		return Session{}, asError(err)
	}
	return w.authenticate(ctx, mac)
}

func (w *Wallet) authenticate(ctx context.Context, mac *macaroon.Macaroon) (Session, error) {
	var agent Agent
	grant, err := bakery.Verify(mac, func(id [16]byte) ([]byte, error) {
		a, err := w.opts.Ledger.Agent(ctx, AgentID(id))
		if errors.Is(err, ErrNotFound) {
			return nil, bakery.ErrUnknownAgent
		}
		if err != nil {
			return nil, err
		}
		agent = a
		return a.RootKey, nil
	}, w.now())
	if err != nil {
		return Session{}, asError(err)
	}
	if agent.Revoked() {
		return Session{}, asError(ErrRevoked)
	}
	return Session{Agent: agent, Grant: grant}, nil
}

// MintAgent creates an agent named name in ledger and returns its root
// credential, limited by limits.
func MintAgent(ctx context.Context, ledger Ledger, name string, limits bakery.Limits, now time.Time) (Agent, *macaroon.Macaroon, error) {
	if err := checkAgentName(name); err != nil {
		return Agent{}, nil, err
	}
	caveats, err := limits.Caveats()
	if err != nil {
		return Agent{}, nil, err
	}
	a := Agent{Name: name, RootKey: make(RootKey, 32), CreatedAt: now}
	for _, c := range caveats {
		a.Caveats = append(a.Caveats, c.String())
	}
	if _, err := rand.Read(a.ID[:]); err != nil {
		return Agent{}, nil, fmt.Errorf("wallet: %w", err)
	}
	if _, err := rand.Read(a.RootKey); err != nil {
		return Agent{}, nil, fmt.Errorf("wallet: %w", err)
	}
	mac, err := bakery.Mint(a.ID, a.RootKey, limits)
	if err != nil {
		return Agent{}, nil, err
	}
	if err := ledger.CreateAgent(ctx, a); err != nil {
		return Agent{}, nil, err
	}
	return a, mac, nil
}

func checkAgentName(name string) error {
	ok := name != "" && len(name) <= 64
	for _, r := range name {
		ok = ok && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}
	if !ok {
		return fmt.Errorf("wallet: agent name %q: use 1 to 64 letters, digits, '-', '_' or '.'", name)
	}
	return nil
}

// budgetsOf turns a grant's budgets into ledger budgets at now.
func budgetsOf(g bakery.Grant, now time.Time) []Budget {
	out := make([]Budget, len(g.Budgets))
	for i, b := range g.Budgets {
		out[i] = Budget{Key: b.Key, Limit: b.Limit, Since: b.Window.Start(now)}
	}
	return out
}

// spend is one payment request in progress: the caveats it answers to.
type spend struct {
	session Session
	kind    EntryKind
	url     string
	host    string
	// maxPrice is the caller's own cap for this call, zero for none.
	maxPrice money.MilliSat
}

// reserve checks a decoded invoice against the session's limits and
// reserves it in the ledger.
func (w *Wallet) reserve(ctx context.Context, s spend, inv lightning.Invoice) (Entry, error) {
	switch {
	case !inv.HasAmount || inv.Amount <= 0 || !inv.Amount.Valid():
		return Entry{}, newError(CodeInvoiceRefused, lightning.ErrNoAmount, "the invoice carries no amount, so what it would cost cannot be known; it is never paid")
	case inv.Expired(w.now()):
		return Entry{}, newError(CodeInvoiceRefused, lightning.ErrInvoiceExpired, "the invoice expired at %s; ask the seller for a new one", inv.ExpiresAt.UTC().Format(time.RFC3339))
	}
	capName, limit := "the wallet's default per-call cap", DefaultMaxPerCall
	if c := s.session.Grant.MaxPerCall; c > 0 {
		capName, limit = "the credential's per-call cap", c
	}
	if s.maxPrice > 0 && s.maxPrice < limit {
		capName, limit = "this call's max price", s.maxPrice
	}
	if inv.Amount > limit {
		e := newError(CodeOverCallCap, nil, "the invoice asks %s, above %s of %s; nothing was paid", inv.Amount, capName, limit)
		e.Limit, e.Left = fmt.Sprintf("%s %s", capName, limit), limit
		return Entry{}, e
	}
	now := w.now()
	budgets := budgetsOf(s.session.Grant, now)
	r := Reservation{
		Hash: inv.Hash, AgentID: s.session.Agent.ID, Kind: s.kind, Invoice: inv.PaymentRequest,
		URL: s.url, Host: s.host, Amount: inv.Amount, FeeLimit: w.maxFee(), Budgets: budgets, At: now,
	}
	entry, err := w.opts.Ledger.Reserve(ctx, r)
	var over *OverBudgetError
	if errors.As(err, &over) {
		return Entry{}, w.budgetRefusal(s.session.Grant, over, now)
	}
	if err != nil {
		return Entry{}, err
	}
	w.log().Info("wallet: reserved", "agent", s.session.Agent.Name, "host", s.host, "amount", inv.Amount, "fee_limit", r.FeeLimit, "payment_hash", inv.Hash)
	w.step(StepReserved, inv.Hash)
	return entry, nil
}

// budgetRefusal explains an OverBudgetError: which budget, what is left,
// when it frees room.
func (w *Wallet) budgetRefusal(g bakery.Grant, over *OverBudgetError, now time.Time) *Error {
	var window bakery.Window
	for _, b := range g.Budgets {
		if b.Key == over.Budget.Key {
			window = b.Window
		}
	}
	left := max(over.Budget.Limit-over.Usage.Used, 0)
	resets := window.ResetsAt(now, over.Usage.Oldest)
	e := newError(CodeBudgetExhausted, over,
		"budget %s/%s: %s left, this payment needs %s (amount plus a %s fee limit); it frees room at %s",
		over.Budget.Limit, window, left, over.Cost, w.maxFee(), resets.UTC().Format(time.RFC3339))
	e.Limit = fmt.Sprintf("budget %s/%s", over.Budget.Limit, window)
	e.Left, e.ResetsAt = left, resets
	return e
}

// payReserved pays the reserved entry and settles or releases it. A
// payment whose outcome is unknown stays reserved and is tracked.
func (w *Wallet) payReserved(ctx context.Context, e Entry) (lightning.Payment, error) {
	// The agent hanging up does not end the node call: cut short, it
	// would leave the outcome to a tracker that could ask the node before
	// the node has registered the payment, hear "not found" and release
	// what is being paid. The call is bounded by the route search and a
	// margin for the answer instead. What the node did is recorded even
	// if the caller has gone.
	ctx = context.WithoutCancel(ctx)
	payCtx, cancel := context.WithTimeout(ctx, w.payTimeout()+30*time.Second)
	paid, err := w.opts.Node.Pay(payCtx, lightning.PayRequest{Invoice: e.Invoice, MaxFee: e.FeeLimit, Timeout: w.payTimeout()})
	cancel()
	var final *lightning.PaymentError
	switch {
	case err == nil && paid.Status == lightning.PaymentSucceeded && paid.Preimage.Hash() == e.Hash:
		if paid.AlreadyPaid {
			w.log().Warn("wallet: the node had paid this invoice before; charging it to the agent that asked", "payment_hash", e.Hash)
		}
		w.step(StepPaid, e.Hash)
		if _, err := w.settle(ctx, e, paid); err != nil {
			w.log().Error("wallet: paid but could not record it; it stays reserved and is settled from the node later", "payment_hash", e.Hash, "err", err)
			w.track(e.Hash)
		}
		return paid, nil
	case errors.Is(err, lightning.ErrPermission), errors.Is(err, lightning.ErrWalletLocked):
		// lnd refuses these before the call reaches its payment code:
		// nothing was sent. Left reserved, the payment could never be
		// resolved either (the node answers TrackPayment the same way),
		// and would hold its budget for good.
		if _, rerr := w.opts.Ledger.Release(ctx, e.Hash, "not sent: "+err.Error(), w.now()); rerr != nil {
			w.log().Error("wallet: could not release a payment the node refused", "payment_hash", e.Hash, "err", rerr)
		}
		w.log().Warn("wallet: the node refused to pay; nothing was sent", "payment_hash", e.Hash, "err", err)
		return lightning.Payment{}, asError(err)
	case errors.As(err, &final):
		if _, rerr := w.opts.Ledger.Release(ctx, e.Hash, err.Error(), w.now()); rerr != nil {
			w.log().Error("wallet: could not release a failed payment", "payment_hash", e.Hash, "err", rerr)
		}
		w.log().Info("wallet: payment failed", "payment_hash", e.Hash, "err", err)
		return lightning.Payment{}, newError(CodePaymentFailed, err, "payment failed, nothing was spent: %v", err)
	}
	if err == nil {
		err = fmt.Errorf("wallet: the node reported payment %s %s", e.Hash, paid.Status)
	}
	w.log().Warn("wallet: payment outcome unknown; it stays reserved and is tracked", "payment_hash", e.Hash, "err", err)
	w.track(e.Hash)
	return lightning.Payment{}, newError(CodeInFlight, err, "payment %s is in flight or its outcome is unknown; it stays reserved and is not paid again. Ask again later", e.Hash)
}

func (w *Wallet) settle(ctx context.Context, e Entry, paid lightning.Payment) (Entry, error) {
	settled, err := w.opts.Ledger.Settle(ctx, e.Hash, e.Amount, paid.Fee, paid.Preimage, w.now())
	if err != nil {
		return Entry{}, err
	}
	w.log().Info("wallet: paid", "agent_id", e.AgentID, "host", e.Host, "amount", e.Amount, "fee", paid.Fee, "payment_hash", e.Hash)
	return settled, nil
}

// Reconcile resolves every reserved entry with the node by hash, as after
// a crash: settled if the node paid it, released if the node never sent
// it or it failed; one still in flight is tracked in the background until
// it ends. Call it once at start, before serving.
func (w *Wallet) Reconcile(ctx context.Context) error {
	reserved, err := w.opts.Ledger.Reserved(ctx)
	if err != nil {
		return fmt.Errorf("wallet: list reserved payments: %w", err)
	}
	// Each in-flight payment takes the whole wait: asked one after the
	// other, a crash that left 45 in flight would keep the daemon from
	// serving for minutes.
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, reconcileParallel)
	)
	for _, e := range reserved {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			done, err := w.resolve(ctx, e, 5*time.Second)
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			if !done {
				w.track(e.Hash)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// reconcileParallel is how many reserved payments Reconcile asks the node
// about at once.
const reconcileParallel = 16

// resolve asks the node what became of the reserved entry e, waiting at
// most wait, and records a final outcome. done is false while it is still
// in flight or the node cannot say.
func (w *Wallet) resolve(ctx context.Context, e Entry, wait time.Duration) (done bool, err error) {
	tctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	paid, err := w.opts.Node.TrackPayment(tctx, e.Hash)
	switch {
	case errors.Is(err, lightning.ErrPaymentNotFound):
		_, err := w.opts.Ledger.Release(ctx, e.Hash, "the node never sent it", w.now())
		w.log().Info("wallet: reconciled: never sent, released", "payment_hash", e.Hash)
		return err == nil || errors.Is(err, ErrNotReserved), err
	case err != nil:
		return false, nil
	case paid.Status == lightning.PaymentSucceeded && paid.Preimage.Hash() == e.Hash:
		_, err := w.settle(ctx, e, paid)
		w.log().Info("wallet: reconciled: paid, settled", "payment_hash", e.Hash, "fee", paid.Fee)
		return err == nil || errors.Is(err, ErrNotReserved), err
	case paid.Status == lightning.PaymentFailed:
		_, err := w.opts.Ledger.Release(ctx, e.Hash, "failed: "+string(paid.Failure), w.now())
		w.log().Info("wallet: reconciled: failed, released", "payment_hash", e.Hash)
		return err == nil || errors.Is(err, ErrNotReserved), err
	}
	return false, nil
}

// track resolves hash in the background until it is final or the wallet
// closes.
func (w *Wallet) track(hash l402.PaymentHash) {
	w.mu.Lock()
	if w.closed || w.tracking[hash] {
		// Closed: the payment stays reserved and is resolved at the
		// next start.
		w.mu.Unlock()
		return
	}
	w.tracking[hash] = true
	w.wg.Add(1)
	w.mu.Unlock()
	go func() {
		defer w.wg.Done()
		defer func() {
			w.mu.Lock()
			delete(w.tracking, hash)
			w.mu.Unlock()
		}()
		// The first look waits too: a node that has just failed to
		// answer Pay may not have registered the payment yet, and "not
		// found" then would release a payment still being made.
		for delay := time.Second; ; delay = min(2*delay, time.Minute) {
			select {
			case <-w.background.Done():
				return
			case <-time.After(delay):
			}
			e, err := w.opts.Ledger.Entry(w.background, hash)
			if err == nil && e.Status != EntryReserved {
				return
			}
			if err == nil {
				if done, _ := w.resolve(w.background, e, time.Minute); done {
					return
				}
			}
		}
	}()
}

// PayResult is a paid invoice as the agent sees it.
type PayResult struct {
	Hash     l402.PaymentHash `json:"payment_hash"`
	Preimage l402.Preimage    `json:"-"`
	Amount   money.MilliSat   `json:"amount_msat"`
	Fee      money.MilliSat   `json:"fee_msat"`
}

// Pay pays an invoice the agent brings. A credential limited to hosts, or
// denied some, may not: the wallet cannot see what a bare invoice buys.
// Paying an invoice this agent already paid returns the earlier payment;
// one in flight is not paid again.
func (w *Wallet) Pay(ctx context.Context, s Session, invoice string, maxPrice money.MilliSat) (PayResult, error) {
	if !s.Grant.Allows(bakery.OpPay) {
		return PayResult{}, newError(CodeOpNotAllowed, nil, "this credential may not pay invoices (it allows %s)", opsList(s.Grant))
	}
	// A deny list binds as much as an allow list: a bare invoice could be
	// from a denied host. HostLimited counts both.
	if s.Grant.HostLimited() {
		return PayResult{}, newError(CodeOpNotAllowed, nil, "this credential is limited in the hosts it may pay, and the wallet cannot see where a bare invoice goes; fetch the resource through the wallet instead")
	}
	inv, err := w.decode(invoice)
	if err != nil {
		return PayResult{}, err
	}
	entry, err := w.reserve(ctx, spend{session: s, kind: KindPay, maxPrice: maxPrice}, inv)
	if errors.Is(err, ErrAlreadyPaid) {
		return w.earlier(ctx, s, inv.Hash)
	}
	if err != nil {
		return PayResult{}, asError(err)
	}
	paid, err := w.payReserved(ctx, entry)
	if err != nil {
		return PayResult{}, err
	}
	return PayResult{Hash: inv.Hash, Preimage: paid.Preimage, Amount: inv.Amount, Fee: paid.Fee}, nil
}

// earlier returns the settled payment for hash if this agent made it.
func (w *Wallet) earlier(ctx context.Context, s Session, hash l402.PaymentHash) (PayResult, error) {
	e, err := w.opts.Ledger.Entry(ctx, hash)
	if err != nil {
		return PayResult{}, asError(err)
	}
	if e.AgentID != s.Agent.ID || e.Status != EntrySettled {
		return PayResult{}, asError(ErrAlreadyPaid)
	}
	return PayResult{Hash: e.Hash, Preimage: e.Preimage, Amount: e.Amount, Fee: e.Fee}, nil
}

func (w *Wallet) decode(invoice string) (lightning.Invoice, error) {
	inv, err := w.opts.Node.DecodeInvoice(strings.TrimSpace(invoice))
	if err != nil {
		return lightning.Invoice{}, newError(CodeInvoiceRefused, err, "%v; nothing was paid", err)
	}
	return inv, nil
}

// Payment returns the agent's ledger entry for hash, to learn the outcome
// of a payment that was in flight.
func (w *Wallet) Payment(ctx context.Context, s Session, hash l402.PaymentHash) (Entry, error) {
	e, err := w.opts.Ledger.Entry(ctx, hash)
	if err == nil && e.AgentID != s.Agent.ID {
		err = ErrNotFound
	}
	if err != nil {
		return Entry{}, asError(err)
	}
	return e, nil
}

// Fetch makes an L402 request for the agent, paying within its limits,
// and returns the seller's response and what was paid. It does not follow
// redirects: each hop is its own Fetch, checked against the hosts.
func (w *Wallet) Fetch(ctx context.Context, s Session, req *http.Request, maxPrice money.MilliSat) (*http.Response, *client.Receipt, error) {
	if !s.Grant.Allows(bakery.OpFetch) {
		return nil, nil, newError(CodeOpNotAllowed, nil, "this credential may not fetch (it allows %s)", opsList(s.Grant))
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" || req.URL.Host == "" {
		return nil, nil, newError(CodeBadRequest, nil, "fetch an absolute http or https URL, not %q", redactURL(req.URL))
	}
	host := req.URL.Hostname()
	if err := s.Grant.CheckHost(host); err != nil {
		return nil, nil, newError(CodeHostNotAllowed, nil, "%v; nothing was sent", err)
	}
	t, err := w.transport(ctx, s.Agent.ID)
	if err != nil {
		return nil, nil, err
	}
	sp := &fetchSpend{spend: spend{session: s, kind: KindFetch, url: redactURL(req.URL), host: host, maxPrice: maxPrice}}
	ctx, rec := client.WithReceipt(context.WithValue(ctx, fetchKey{}, sp))
	resp, err := t.RoundTrip(req.WithContext(ctx))
	if sp.reserved != nil && !sp.payCalled {
		// Reserved, then the Transport stopped before paying.
		if _, rerr := w.opts.Ledger.Release(context.WithoutCancel(ctx), sp.reserved.Hash, "not sent: the fetch stopped before paying", w.now()); rerr != nil && !errors.Is(rerr, ErrNotReserved) {
			w.log().Error("wallet: could not release an unused reservation", "payment_hash", sp.reserved.Hash, "err", rerr)
		}
	}
	if err != nil {
		// A payment's own outcome comes first: an in-flight payment whose
		// error wraps a deadline is in flight, not an unreachable seller.
		e := asError(err)
		if e.Code == CodeInternal && isNetError(err) {
			return nil, rec, newError(CodeUpstream, err, "could not reach %s: %v", host, err)
		}
		return nil, rec, e
	}
	return resp, rec, nil
}

// fetchSpend carries one fetch's limits from Fetch to the Transport's
// Approve hook and Payer, through the request context.
type fetchSpend struct {
	spend
	reserved  *Entry
	payCalled bool
}

type fetchKey struct{}

// transport returns the agent's L402 Transport, opening its token store
// the first time.
func (w *Wallet) transport(ctx context.Context, id AgentID) (*client.Transport, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if t, ok := w.transports[id]; ok {
		return t, nil
	}
	if w.opts.Tokens == nil {
		return nil, newError(CodeInternal, nil, "this wallet cannot fetch: it has no token store")
	}
	store, err := w.opts.Tokens(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("wallet: open the token store of agent %s: %w", id, err)
	}
	base := w.opts.Base
	if base == nil {
		base = defaultBase()
	}
	t := &client.Transport{
		Base: base, Payer: fetchPayer{w}, Store: store, Logger: w.opts.Logger, Now: w.opts.Now,
		Policy: client.Policy{
			// The caps are the credential's, checked in approve with
			// refusals that name them.
			MaxPrice: money.MaxMilliSat, MaxFee: w.maxFee(), PayTimeout: w.payTimeout(),
			MaxBodyBuffer: 8 << 20, Approve: w.approve,
		},
	}
	w.transports[id] = t
	return t, nil
}

// approve reserves the quoted payment: the Transport calls it under the
// scope's purchase lock, after its own checks, just before paying.
func (w *Wallet) approve(ctx context.Context, q client.Quote) error {
	sp, ok := ctx.Value(fetchKey{}).(*fetchSpend)
	if !ok {
		return errors.New("wallet: a payment outside a fetch")
	}
	// The Quote's Host keeps the port; caveats name hosts without one.
	host := q.Host
	if u, err := url.Parse(q.URL); err == nil {
		host = u.Hostname()
	}
	if err := sp.session.Grant.CheckHost(host); err != nil {
		return newError(CodeHostNotAllowed, nil, "%v; nothing was paid", err)
	}
	inv, err := w.decode(q.Invoice)
	if err != nil {
		return err
	}
	sp.url, sp.host = q.URL, host
	entry, err := w.reserve(ctx, sp.spend, inv)
	if err != nil {
		return asError(err)
	}
	sp.reserved = &entry
	return nil
}

// fetchPayer is the Payer of the agents' Transports: it pays only what
// approve reserved for the same request.
type fetchPayer struct{ w *Wallet }

func (p fetchPayer) DecodeInvoice(payreq string) (lightning.Invoice, error) {
	return p.w.opts.Node.DecodeInvoice(payreq)
}

func (p fetchPayer) Pay(ctx context.Context, req lightning.PayRequest) (lightning.Payment, error) {
	sp, ok := ctx.Value(fetchKey{}).(*fetchSpend)
	// Compared by hash: decoding normalizes the invoice's text (an upper
	// case one is lowered), so the reserved text may differ.
	inv, err := p.w.opts.Node.DecodeInvoice(req.Invoice)
	if !ok || sp.reserved == nil || err != nil || inv.Hash != sp.reserved.Hash {
		// Never pay what was not reserved. A final failure: nothing spent.
		return lightning.Payment{}, &lightning.PaymentError{Payment: lightning.Payment{Hash: inv.Hash, Status: lightning.PaymentFailed, Failure: "not reserved by the wallet"}}
	}
	sp.payCalled = true
	paid, err := p.w.payReserved(ctx, *sp.reserved)
	var we *Error
	if errors.As(err, &we) && we.Code == CodeInFlight {
		return lightning.Payment{}, fmt.Errorf("%w: %w", lightning.ErrPaymentInFlight, err)
	}
	if errors.As(err, &we) && we.Code == CodeNodeUnavailable {
		// The node refused before sending anything: final for the
		// Transport, with the wallet's reason kept.
		return lightning.Payment{}, &walletRefusal{err: we}
	}
	if errors.As(err, &we) && we.Code == CodePaymentFailed {
		var final *lightning.PaymentError
		if errors.As(err, &final) {
			return lightning.Payment{}, final
		}
	}
	return paid, err
}

func (p fetchPayer) TrackPayment(ctx context.Context, hash l402.PaymentHash) (lightning.Payment, error) {
	return p.w.opts.Node.TrackPayment(ctx, hash)
}

// CreateInvoice makes an invoice for an agent allowed to receive.
func (w *Wallet) CreateInvoice(ctx context.Context, s Session, amount money.MilliSat, memo string, expiry time.Duration) (ReceivedInvoice, error) {
	if !s.Grant.Allows(bakery.OpReceive) {
		return ReceivedInvoice{}, newError(CodeOpNotAllowed, nil, "this credential may not create invoices; the operator grants that with 'satloop bake agent --can-receive'")
	}
	if amount <= 0 || !amount.Valid() {
		return ReceivedInvoice{}, newError(CodeBadRequest, nil, "an invoice needs a positive amount")
	}
	if expiry <= 0 || expiry > DefaultMaxInvoiceExpiry {
		return ReceivedInvoice{}, newError(CodeBadRequest, nil, "invoice expiry must be between 1s and %s", DefaultMaxInvoiceExpiry)
	}
	if len(memo) > 639 {
		return ReceivedInvoice{}, newError(CodeBadRequest, nil, "the memo is longer than the 639 bytes an invoice can carry")
	}
	created, err := w.opts.Node.CreateInvoice(ctx, lightning.InvoiceRequest{Amount: amount, Memo: memo, Expiry: expiry})
	if err != nil {
		return ReceivedInvoice{}, asError(err)
	}
	inv := ReceivedInvoice{
		Hash: created.Hash, AgentID: s.Agent.ID, PaymentRequest: created.PaymentRequest,
		Amount: amount, Memo: memo, CreatedAt: w.now(), ExpiresAt: w.now().Add(expiry),
	}
	if err := w.opts.Ledger.RecordInvoice(ctx, inv); err != nil {
		return ReceivedInvoice{}, asError(err)
	}
	w.log().Info("wallet: invoice created", "agent", s.Agent.Name, "amount", amount, "payment_hash", created.Hash)
	return inv, nil
}

// BudgetState is one budget of a credential with what is left of it.
type BudgetState struct {
	Limit    money.MilliSat `json:"limit_msat"`
	Window   string         `json:"window"`
	Used     money.MilliSat `json:"used_msat"`
	Left     money.MilliSat `json:"left_msat"`
	ResetsAt time.Time      `json:"resets_at"`
}

// Allowance is what a credential may still spend.
type Allowance struct {
	Agent      string            `json:"agent"`
	AgentID    AgentID           `json:"agent_id"`
	Network    lightning.Network `json:"network"`
	ExpiresAt  time.Time         `json:"expires_at,omitzero"`
	MaxPerCall money.MilliSat    `json:"max_per_call_msat"`
	MaxFee     money.MilliSat    `json:"max_fee_msat"`
	Budgets    []BudgetState     `json:"budgets"`
	Hosts      [][]string        `json:"hosts,omitempty"`
	DenyHosts  []string          `json:"deny_hosts,omitempty"`
	Ops        []bakery.Op       `json:"ops"`
	Frozen     bool              `json:"frozen"`
}

// Allowance reports what the session's credential may still spend.
func (w *Wallet) Allowance(ctx context.Context, s Session) (Allowance, error) {
	states, err := BudgetStates(ctx, w.opts.Ledger, s.Grant, w.now())
	if err != nil {
		return Allowance{}, asError(err)
	}
	frozen, _, err := w.opts.Ledger.Frozen(ctx)
	if err != nil {
		return Allowance{}, asError(err)
	}
	perCall := s.Grant.MaxPerCall
	if perCall == 0 {
		perCall = DefaultMaxPerCall
	}
	return Allowance{
		Agent: s.Agent.Name, AgentID: s.Agent.ID, Network: w.network, ExpiresAt: s.Grant.ExpiresAt,
		MaxPerCall: perCall, MaxFee: w.maxFee(), Budgets: states,
		Hosts: s.Grant.Hosts, DenyHosts: s.Grant.DenyHosts, Ops: s.Grant.Ops(), Frozen: frozen,
	}, nil
}

// BudgetStates reports each budget of g with what it has used and has
// left at now.
func BudgetStates(ctx context.Context, ledger Ledger, g bakery.Grant, now time.Time) ([]BudgetState, error) {
	used, err := ledger.Used(ctx, budgetsOf(g, now))
	if err != nil {
		return nil, err
	}
	states := make([]BudgetState, len(g.Budgets))
	for i, b := range g.Budgets {
		states[i] = BudgetState{
			Limit: b.Limit, Window: b.Window.String(), Used: used[i].Used,
			Left: max(b.Limit-used[i].Used, 0), ResetsAt: b.Window.ResetsAt(now, used[i].Oldest),
		}
	}
	return states, nil
}

// History lists the session's agent's payments, newest first.
func (w *Wallet) History(ctx context.Context, s Session, limit int) ([]Entry, error) {
	entries, err := w.opts.Ledger.Entries(ctx, EntryQuery{Agent: s.Agent.ID, Limit: limit})
	if err != nil {
		return nil, asError(err)
	}
	return entries, nil
}

func opsList(g bakery.Grant) string {
	ops := g.Ops()
	if len(ops) == 0 {
		return "nothing"
	}
	names := make([]string, len(ops))
	for i, op := range ops {
		names[i] = string(op)
	}
	return strings.Join(names, ", ")
}

// redactURL drops user info, query and fragment, which may hold secrets.
func redactURL(u *url.URL) string {
	c := *u
	c.User, c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = nil, "", false, "", ""
	return c.String()
}
