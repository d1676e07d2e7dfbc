package wallet

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
)

// Ledger keeps the wallet's durable state: the agents it has minted
// credentials for (with their root keys), the freeze switch, every payment
// an agent asked for (reserved before the node sees it, then settled or
// released), and the invoices agents created. SQLite (store/sqlite.Ledger)
// is the default; wallet/wallettest holds the conformance suite every
// implementation must pass.
//
// Budgets are enforced inside Reserve, atomically: two reservations, in
// this process or another sharing the ledger, can never both fit into the
// last sats of a budget.
type Ledger interface {
	// CreateAgent records a new agent. A name already held by an agent
	// that is not revoked returns an error wrapping ErrAgentExists.
	CreateAgent(ctx context.Context, a Agent) error
	// Agent returns the agent with id, or an error wrapping ErrNotFound.
	Agent(ctx context.Context, id AgentID) (Agent, error)
	// AgentByName returns the agent named name that is not revoked, or,
	// when all of that name are revoked, the one revoked last; an error
	// wrapping ErrNotFound when none has the name.
	AgentByName(ctx context.Context, name string) (Agent, error)
	// Agents lists every agent, revoked ones too, oldest first.
	Agents(ctx context.Context) ([]Agent, error)
	// RevokeAgent revokes the unrevoked agent named name at at and returns
	// it. Every credential minted for it, attenuated ones included, is
	// refused from then on. No such agent: an error wrapping ErrNotFound.
	RevokeAgent(ctx context.Context, name string, at time.Time) (Agent, error)

	// SetFrozen turns the wallet-wide freeze on or off. While frozen,
	// Reserve refuses every reservation (ErrFrozen).
	SetFrozen(ctx context.Context, frozen bool, at time.Time) error
	// Frozen reports whether the wallet is frozen, and since when.
	Frozen(ctx context.Context) (frozen bool, since time.Time, err error)

	// Reserve records r as a reserved payment, in one atomic step that
	// first checks, in this order:
	//   - the agent exists (ErrNotFound) and is not revoked (ErrRevoked);
	//   - the wallet is not frozen (ErrFrozen);
	//   - no entry for r.Hash is reserved (ErrInFlight) or settled
	//     (ErrAlreadyPaid); a released one is replaced, since paying that
	//     hash again is safe;
	//   - every budget in r.Budgets has room for r.Cost(): the sum of
	//     Cost() over the entries charged to the budget's Key, reserved
	//     or settled, created at or after the budget's Since, plus
	//     r.Cost(), must not exceed its Limit. The first that does not
	//     returns an *OverBudgetError.
	// The entry is charged to every budget's Key. It returns the entry
	// as stored.
	Reserve(ctx context.Context, r Reservation) (Entry, error)
	// Settle marks the reserved entry for hash settled, with what the
	// node actually paid and the preimage, and returns it. An entry that
	// is not reserved returns an error wrapping ErrNotReserved
	// (ErrNotFound when there is none).
	Settle(ctx context.Context, hash l402.PaymentHash, amount, fee money.MilliSat, preimage l402.Preimage, at time.Time) (Entry, error)
	// Release marks the reserved entry for hash released: nothing was
	// spent, and its reservation no longer counts against any budget.
	// reason says why (never a secret). Errors as Settle.
	Release(ctx context.Context, hash l402.PaymentHash, reason string, at time.Time) (Entry, error)
	// Entry returns the entry for hash, or an error wrapping ErrNotFound.
	Entry(ctx context.Context, hash l402.PaymentHash) (Entry, error)
	// Reserved lists the entries still reserved, oldest first: after a
	// crash, each is resolved with the node by hash.
	Reserved(ctx context.Context) ([]Entry, error)
	// Entries lists entries, newest first.
	Entries(ctx context.Context, q EntryQuery) ([]Entry, error)
	// Used returns, for each budget, what is charged to its Key since its
	// Since (reserved entries at their Cost, settled ones at Amount+Fee),
	// in the same order.
	Used(ctx context.Context, budgets []Budget) ([]Usage, error)

	// RecordInvoice keeps an invoice an agent created, so that the
	// agent's history shows what it sold.
	RecordInvoice(ctx context.Context, inv ReceivedInvoice) error
	// Invoices lists the invoices created by agent (all agents when
	// agent is zero), newest first, at most limit (no cap when limit <= 0).
	Invoices(ctx context.Context, agent AgentID, limit int) ([]ReceivedInvoice, error)
}

// Errors a Ledger returns. A caller branches with errors.Is.
var (
	ErrNotFound    = errors.New("wallet: not found")
	ErrAgentExists = errors.New("wallet: an agent with this name exists and is not revoked")
	ErrRevoked     = errors.New("wallet: the agent's credential is revoked")
	ErrFrozen      = errors.New("wallet: the wallet is frozen; no payment is made until it is unfrozen")
	ErrInFlight    = errors.New("wallet: a payment for this invoice is in flight")
	ErrAlreadyPaid = errors.New("wallet: this invoice is already paid")
	ErrNotReserved = errors.New("wallet: the payment is not reserved")
	ErrOverBudget  = errors.New("wallet: over budget")
)

// AgentID names an agent's credential family: the identifier its root
// credential and every attenuation of it carry. 16 random bytes.
type AgentID [16]byte

// String returns the id as lowercase hex.
func (id AgentID) String() string { return fmt.Sprintf("%x", id[:]) }

// IsZero reports whether id is unset.
func (id AgentID) IsZero() bool { return id == AgentID{} }

// MarshalText writes the id as hex.
func (id AgentID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText reads an id written by MarshalText.
func (id *AgentID) UnmarshalText(b []byte) error {
	parsed, err := ParseAgentID(string(b))
	if err != nil {
		return err
	}
	*id = parsed
	return nil
}

// ParseAgentID reads an agent id from its 32 hex digits.
func ParseAgentID(s string) (AgentID, error) {
	var id AgentID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return AgentID{}, fmt.Errorf("wallet: agent id %q is not %d hex digits", s, 2*len(id))
	}
	copy(id[:], b)
	return id, nil
}

// Agent is a holder of credentials minted by the wallet.
type Agent struct {
	ID   AgentID `json:"id"`
	Name string  `json:"name"`
	// RootKey signs the agent's credentials. It never leaves the ledger
	// except to mint and verify, and is left out of JSON.
	RootKey RootKey `json:"-"`
	// Caveats are the caveats the root credential was minted with, in
	// order ("condition=value"), so that its budgets can be listed with
	// what is left of each.
	Caveats   []string  `json:"caveats"`
	CreatedAt time.Time `json:"created_at"`
	// RevokedAt is zero while the agent is not revoked.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Revoked reports whether the agent is revoked.
func (a Agent) Revoked() bool { return !a.RevokedAt.IsZero() }

// RootKey is a 32-byte macaroon root key. It redacts itself when printed.
type RootKey []byte

// String redacts the key.
func (RootKey) String() string { return "[redacted root key]" }

// GoString redacts the key under %#v too.
func (RootKey) GoString() string { return "[redacted root key]" }

// LogValue redacts the key in structured logs, which would otherwise print
// its bytes (text) or base64 (JSON) without calling String.
func (RootKey) LogValue() slog.Value { return slog.StringValue("[redacted root key]") }

// Budget is one limit a reservation must fit: at most Limit charged to
// Key since Since. The wallet derives Key from the credential caveat that
// set the budget, and Since from its window and the time now.
type Budget struct {
	Key   string
	Limit money.MilliSat
	Since time.Time
}

// Usage is what a Budget has used, and when the oldest entry still
// counted was created (zero when none): a rolling window frees room when
// that entry leaves it.
type Usage struct {
	Used   money.MilliSat
	Oldest time.Time
}

// OverBudgetError is a reservation that does not fit a budget.
type OverBudgetError struct {
	Budget Budget
	// Usage is what the budget had used before this reservation.
	Usage Usage
	// Cost is what the reservation would have added.
	Cost money.MilliSat
}

func (e *OverBudgetError) Error() string {
	return fmt.Sprintf("wallet: over budget: %s used of %s, this payment needs %s", e.Usage.Used, e.Budget.Limit, e.Cost)
}

// Unwrap makes errors.Is(err, ErrOverBudget) true.
func (e *OverBudgetError) Unwrap() error { return ErrOverBudget }

// Reservation asks the ledger to set money aside for one payment.
type Reservation struct {
	Hash    l402.PaymentHash
	AgentID AgentID
	// Kind is how the agent spent: KindPay (an invoice it brought) or
	// KindFetch (an L402 fetch the wallet made for it).
	Kind EntryKind
	// Invoice is the BOLT 11 request to pay (public).
	Invoice string
	// URL and Host are the resource paid for, for a fetch; empty for a
	// bare invoice. URL carries no user info, query or fragment.
	URL  string
	Host string
	// Amount is the invoice amount; FeeLimit the most routing may cost.
	Amount   money.MilliSat
	FeeLimit money.MilliSat
	// Budgets are the limits the reservation must fit.
	Budgets []Budget
	At      time.Time
}

// Cost is what the reservation holds against budgets: the amount plus the
// fee limit.
func (r Reservation) Cost() money.MilliSat { return r.Amount + r.FeeLimit }

// EntryKind says how an agent spent.
type EntryKind string

// Entry kinds.
const (
	KindPay   EntryKind = "pay"
	KindFetch EntryKind = "fetch"
)

// EntryStatus is where a ledger entry is in its life.
type EntryStatus string

// Entry statuses. Only EntryReserved can change.
const (
	// EntryReserved: money set aside, the payment not known to be final.
	EntryReserved EntryStatus = "reserved"
	// EntrySettled: paid; Amount and Fee are what the node spent.
	EntrySettled EntryStatus = "settled"
	// EntryReleased: nothing was spent; the reservation is void.
	EntryReleased EntryStatus = "released"
)

// Entry is one payment in the ledger.
type Entry struct {
	Hash    l402.PaymentHash `json:"payment_hash"`
	AgentID AgentID          `json:"agent_id"`
	Kind    EntryKind        `json:"kind"`
	Invoice string           `json:"invoice"`
	URL     string           `json:"url,omitempty"`
	Host    string           `json:"host,omitempty"`
	Amount  money.MilliSat   `json:"amount_msat"`
	// FeeLimit is what was reserved for routing; Fee what it cost once
	// settled.
	FeeLimit money.MilliSat `json:"fee_limit_msat"`
	Fee      money.MilliSat `json:"fee_msat"`
	Status   EntryStatus    `json:"status"`
	// Preimage is set once settled. It redacts itself and is left out of
	// JSON.
	Preimage   l402.Preimage `json:"-"`
	CreatedAt  time.Time     `json:"created_at"`
	FinishedAt time.Time     `json:"finished_at,omitzero"`
	// Error says why an entry was released.
	Error string `json:"error,omitempty"`
}

// Charged is what the entry counts against its budgets now: its
// reservation while reserved, what was paid once settled, nothing once
// released.
func (e Entry) Charged() money.MilliSat {
	switch e.Status {
	case EntryReserved:
		return e.Amount + e.FeeLimit
	case EntrySettled:
		return e.Amount + e.Fee
	}
	return 0
}

// EntryQuery selects ledger entries.
type EntryQuery struct {
	// Agent keeps one agent's entries; zero keeps all.
	Agent AgentID
	// Since keeps entries created at or after it; zero keeps all.
	Since time.Time
	// Limit caps the number returned; zero or less means no cap.
	Limit int
}

// ReceivedInvoice is an invoice an agent allowed to receive created.
type ReceivedInvoice struct {
	Hash           l402.PaymentHash `json:"payment_hash"`
	AgentID        AgentID          `json:"agent_id"`
	PaymentRequest string           `json:"payment_request"`
	Amount         money.MilliSat   `json:"amount_msat"`
	Memo           string           `json:"memo,omitempty"`
	CreatedAt      time.Time        `json:"created_at"`
	ExpiresAt      time.Time        `json:"expires_at"`
}
