package labtest

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lab"
	"github.com/satloop/satloop/money"
)

// LNCLI runs lncli against the named lab node with its admin macaroon and
// returns its output, failing the test on an error.
func LNCLI(t testing.TB, node string, args ...string) []byte {
	t.Helper()
	env, err := Network(t).Env()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(env.Nodes, func(n lab.NodeEnv) bool { return n.Name == node })
	if i < 0 {
		t.Fatalf("labtest: no lab node named %s", node)
	}
	cmdline := env.Nodes[i].LNCLI
	out, err := exec.Command(cmdline[0], append(slices.Clone(cmdline[1:]), args...)...).Output()
	if err != nil {
		t.Fatalf("labtest: lncli %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// Payment is an outgoing payment as the node itself lists it.
type Payment struct {
	// Status is lnd's: SUCCEEDED, IN_FLIGHT, FAILED.
	Status string
	Amount money.MilliSat
	Fee    money.MilliSat
}

// Payments lists every payment the named node knows, in flight and failed
// ones included, by hash: the ground truth a spend log or a ledger must
// agree with. It asks lncli listpayments, since nothing in satloop but
// these checks needs lnd's ListPayments.
func Payments(t testing.TB, node string) map[l402.PaymentHash]Payment {
	t.Helper()
	out := LNCLI(t, node, "listpayments", "--include_incomplete", "--max_payments", "100000")
	var list struct {
		Payments []struct {
			Hash   string `json:"payment_hash"`
			Status string `json:"status"`
			Value  string `json:"value_msat"`
			Fee    string `json:"fee_msat"`
		} `json:"payments"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("labtest: lncli listpayments: %v", err)
	}
	payments := make(map[l402.PaymentHash]Payment, len(list.Payments))
	for _, p := range list.Payments {
		hash, err := l402.ParsePaymentHash(p.Hash)
		if err != nil {
			t.Fatalf("labtest: lncli listpayments: %v", err)
		}
		value, err1 := strconv.ParseInt(p.Value, 10, 64)
		fee, err2 := strconv.ParseInt(p.Fee, 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("labtest: lncli listpayments: amounts %q and %q", p.Value, p.Fee)
		}
		payments[hash] = Payment{Status: p.Status, Amount: money.MilliSat(value), Fee: money.MilliSat(fee)}
	}
	return payments
}

// NewPayments returns the node's payments whose hash is not in before.
func NewPayments(t testing.TB, node string, before map[l402.PaymentHash]Payment) map[l402.PaymentHash]Payment {
	t.Helper()
	added := Payments(t, node)
	for hash := range before {
		delete(added, hash)
	}
	return added
}
