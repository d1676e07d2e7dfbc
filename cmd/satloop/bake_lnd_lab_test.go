//go:build lab

package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/satloop/satloop/lab"
	"github.com/satloop/satloop/lab/labtest"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/lightning/lnd"
	"github.com/satloop/satloop/money"
)

// bakeLND runs `satloop bake lnd` against the lab's agent node and returns
// stdout and stderr, failing the test on a non-zero exit.
func bakeLND(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	full := append([]string{"bake", "lnd", "--lab-dir", labtest.Network(t).Dir()}, args...)
	cmd := exec.Command(sharedBinary(t), full...)
	// The lab is the node: no SATLOOP_LND_* from the caller's shell.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "SATLOOP_LND") || strings.HasPrefix(kv, "SATLOOP_LAB_DIR=")
	})
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("satloop %s: %v\nstderr:\n%s", strings.Join(full, " "), err, errOut.String())
	}
	return out.String(), errOut.String()
}

// dialAgentWith connects to the agent node with the macaroon file.
func dialAgentWith(t *testing.T, macaroonPath string) *lnd.Node {
	t.Helper()
	cfg := labtest.Network(t).Node(lab.Agent).LNDConfig()
	cfg.MacaroonPath, cfg.Macaroon = macaroonPath, nil
	n, err := lnd.Dial(labtest.Context(t), cfg)
	if err != nil {
		t.Fatalf("dial with the baked macaroon: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// A pay-only macaroon baked by the CLI into a file: 0600, and a daemon
// dialing with it can pay and cannot create invoices.
func TestBakeLNDPayOnly(t *testing.T) {
	ctx := labtest.Context(t)
	path := filepath.Join(t.TempDir(), "pay-only.macaroon")

	stdout, stderr := bakeLND(t, "--preset", "pay-only", "--out", path)
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing: the macaroon went to --out", stdout)
	}
	for _, want := range []string{"offchain:write", "invoices:write", "onchain:write"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say whether the macaroon has %s:\n%s", want, stderr)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("macaroon file mode %v, want 0600", fi.Mode().Perm())
	}

	payOnly := dialAgentWith(t, path)
	inv, err := labtest.Conn(t, lab.Seller).CreateInvoice(ctx, lightning.InvoiceRequest{Amount: money.Sats(7), Memo: t.Name(), Expiry: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p, err := payOnly.Pay(ctx, lightning.PayRequest{Invoice: inv.PaymentRequest, MaxFee: money.Sats(50), Timeout: 30 * time.Second})
	if err != nil || p.Status != lightning.PaymentSucceeded {
		t.Fatalf("pay with the baked pay-only macaroon: %+v, %v", p, err)
	}
	_, err = payOnly.CreateInvoice(ctx, lightning.InvoiceRequest{Amount: money.Sats(1), Expiry: time.Minute})
	var pe *lightning.PermissionError
	if !errors.As(err, &pe) || pe.Call != "AddInvoice" {
		t.Fatalf("CreateInvoice with a pay-only macaroon: %v, want a PermissionError for AddInvoice", err)
	}

	// A second bake to the same file is refused and leaves it intact;
	// --force replaces it.
	before, _ := os.ReadFile(path)
	cmd := exec.Command(sharedBinary(t), "bake", "lnd", "--preset", "invoice-only", "--out", path, "--lab-dir", labtest.Network(t).Dir())
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("bake over an existing file succeeded: %s", out)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("a refused bake changed the existing file")
	}
	bakeLND(t, "--preset", "invoice-only", "--out", path, "--force")
	if after, _ := os.ReadFile(path); bytes.Equal(before, after) {
		t.Fatal("--force did not replace the file")
	}
	invoiceOnly := dialAgentWith(t, path)
	if _, err := invoiceOnly.CreateInvoice(ctx, lightning.InvoiceRequest{Amount: money.Sats(1), Expiry: time.Minute}); err != nil {
		t.Fatalf("CreateInvoice with the forced invoice-only macaroon: %v", err)
	}
}

// Without --out the macaroon is hex on stdout; with --json, inside an
// object that also lists its permissions. Combined presets give one
// macaroon that both pays and creates invoices.
func TestBakeLNDHexAndCombined(t *testing.T) {
	ctx := labtest.Context(t)
	stdout, _ := bakeLND(t, "--preset", "pay-only,invoice-only")
	mac, err := hex.DecodeString(strings.TrimSpace(stdout))
	if err != nil || len(mac) == 0 {
		t.Fatalf("stdout %q is not a hex macaroon", stdout)
	}
	path := filepath.Join(t.TempDir(), "both.macaroon")
	if err := os.WriteFile(path, mac, 0o600); err != nil {
		t.Fatal(err)
	}
	both := dialAgentWith(t, path)
	created, err := both.CreateInvoice(ctx, lightning.InvoiceRequest{Amount: money.Sats(1), Expiry: time.Minute})
	if err != nil {
		t.Fatalf("CreateInvoice with pay-only,invoice-only: %v", err)
	}
	if _, err := both.LookupInvoice(ctx, created.Hash); err != nil {
		t.Fatalf("LookupInvoice with pay-only,invoice-only: %v", err)
	}
	inv, err := labtest.Conn(t, lab.Seller).CreateInvoice(ctx, lightning.InvoiceRequest{Amount: money.Sats(3), Memo: t.Name(), Expiry: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := both.Pay(ctx, lightning.PayRequest{Invoice: inv.PaymentRequest, MaxFee: money.Sats(50), Timeout: 30 * time.Second}); err != nil {
		t.Fatalf("Pay with pay-only,invoice-only: %v", err)
	}

	stdout, _ = bakeLND(t, "--preset", "channel-admin", "--json")
	var baked struct {
		Presets     []lightning.Preset     `json:"presets"`
		Permissions []lightning.Permission `json:"permissions"`
		Cannot      []lightning.Permission `json:"cannot"`
		MacaroonHex string                 `json:"macaroon_hex"`
	}
	if err := json.Unmarshal([]byte(stdout), &baked); err != nil {
		t.Fatalf("--json output %q: %v", stdout, err)
	}
	want, _ := lightning.PresetChannelAdmin.Permissions()
	if !slices.Equal(baked.Presets, []lightning.Preset{lightning.PresetChannelAdmin}) || !slices.Equal(baked.Permissions, want) ||
		!slices.Contains(baked.Cannot, lightning.Permission{Entity: "offchain", Action: "write"}) {
		t.Fatalf("--json = %+v", baked)
	}
	if _, err := hex.DecodeString(baked.MacaroonHex); err != nil || baked.MacaroonHex == "" {
		t.Fatalf("--json macaroon_hex %q is not hex", baked.MacaroonHex)
	}
}
