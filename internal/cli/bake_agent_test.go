package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/satloop/satloop/bakery"
	"github.com/satloop/satloop/money"
)

// Minting and narrowing credentials needs no node and no daemon: only the
// ledger in the data directory.
func TestBakeAgentAndAttenuate(t *testing.T) {
	dir := t.TempDir()
	cred := filepath.Join(dir, "bot.cred")
	_, stderr, code := run(t, false, "bake", "agent", "--data-dir", dir, "--name", "bot",
		"--max-sats-per-call", "200", "--budget", "5000/day", "--budget", "20000/month",
		"--hosts", "api.example.com,*.example.org", "--expires", "30d", "--out", cred)
	if code != ExitOK {
		t.Fatalf("bake agent: exit %d: %s", code, stderr)
	}
	fi, err := os.Stat(cred)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credential file: %v, mode %v", err, fi.Mode())
	}
	f, err := bakery.ReadCredential(cred)
	if err != nil {
		t.Fatal(err)
	}
	if f.Wallet != "unix://"+filepath.Join(dir, walletSocketFile) {
		t.Fatalf("wallet address %q", f.Wallet)
	}
	if strings.Contains(stderr, f.Credential) {
		t.Fatal("the credential was printed to stderr")
	}
	mac, _ := f.Macaroon()
	g, err := bakery.Inspect(mac)
	if err != nil {
		t.Fatal(err)
	}
	if g.MaxPerCall != money.Sats(200) || len(g.Budgets) != 2 || len(g.Hosts) != 1 || g.ExpiresAt.IsZero() || g.Allows(bakery.OpReceive) {
		t.Fatalf("grant = %+v", g)
	}

	// The same name again is refused while the first is not revoked.
	if _, stderr, code := run(t, false, "bake", "agent", "--data-dir", dir, "--name", "bot", "--budget", "1/day", "--out", filepath.Join(dir, "again.cred")); code != ExitError || !strings.Contains(stderr, "revoke it first") {
		t.Fatalf("duplicate name: exit %d: %s", code, stderr)
	}

	narrow := filepath.Join(dir, "sub.cred")
	if _, stderr, code := run(t, false, "bake", "attenuate", "--credential", cred, "--max-sats-per-call", "50", "--budget", "500/24h", "--ops", "fetch", "--out", narrow); code != ExitOK {
		t.Fatalf("attenuate: exit %d: %s", code, stderr)
	}
	sub, err := bakery.ReadCredential(narrow)
	if err != nil {
		t.Fatal(err)
	}
	subMac, _ := sub.Macaroon()
	sg, _ := bakery.Inspect(subMac)
	if sg.MaxPerCall != money.Sats(50) || len(sg.Budgets) != 3 || sg.Allows(bakery.OpPay) || sub.Wallet != f.Wallet {
		t.Fatalf("narrowed grant = %+v, wallet %q", sg, sub.Wallet)
	}
	// The parent's budgets keep their keys in the child: spending by the
	// child counts against them.
	if sg.Budgets[0].Key != g.Budgets[0].Key || sg.Budgets[1].Key != g.Budgets[1].Key {
		t.Fatal("attenuation changed the parent's budget keys")
	}

	// Widening is refused, and nothing is written.
	wide := filepath.Join(dir, "wide.cred")
	if _, stderr, code := run(t, false, "bake", "attenuate", "--credential", narrow, "--max-sats-per-call", "500", "--out", wide); code != ExitUsage || !strings.Contains(stderr, "only narrow") {
		t.Fatalf("widening: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(wide); !os.IsNotExist(err) {
		t.Fatal("a widening attenuation wrote a file")
	}

	// The operator's list shows the agent and its budgets, nothing spent.
	out, stderr, code := run(t, false, "wallet", "agents", "--data-dir", dir)
	if code != ExitOK {
		t.Fatalf("wallet agents: exit %d: %s", code, stderr)
	}
	var list struct {
		Agents []agentView `json:"agents"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Agents) != 1 || len(list.Agents[0].Budgets) != 2 || list.Agents[0].Budgets[0].Left != money.Sats(5000) {
		t.Fatalf("wallet agents: %v %s", err, out)
	}
	if strings.Contains(out, "root_key") {
		t.Fatal("wallet agents printed a root key")
	}
}

func TestBakeAgentUsage(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no name", []string{"--budget", "5/day"}, "--name is required"},
		{"no budget", []string{"--name", "x"}, "blank cheque"},
		{"bad budget", []string{"--name", "x", "--budget", "5000/fortnight"}, "budget window"},
		{"zero budget", []string{"--name", "x", "--budget", "0/day"}, "positive number"},
		{"bad host", []string{"--name", "x", "--budget", "5/day", "--hosts", "https://a.example"}, "host pattern"},
		{"bad op", []string{"--name", "x", "--budget", "5/day", "--ops", "steal"}, "unknown operation"},
		{"past expiry", []string{"--name", "x", "--budget", "5/day", "--expires", "2020-01-01"}, "in the past"},
		{"bad name", []string{"--name", "a b", "--budget", "5/day"}, "agent name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"bake", "agent", "--data-dir", dir, "--out", filepath.Join(t.TempDir(), "c")}, tt.args...)
			_, stderr, code := run(t, false, args...)
			if code == ExitOK || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q, want it to mention %q", code, stderr, tt.want)
			}
		})
	}
}

// An agent command without a credential says how to give one; the node
// flags are refused with one.
func TestAgentCredentialFlags(t *testing.T) {
	t.Setenv("SATLOOP_CREDENTIAL", "")
	if _, stderr, code := run(t, false, "wallet", "allowance"); code != ExitError || !strings.Contains(stderr, "SATLOOP_CREDENTIAL") {
		t.Fatalf("no credential: exit %d: %s", code, stderr)
	}
	dir := t.TempDir()
	cred := filepath.Join(dir, "bot.cred")
	if _, stderr, code := run(t, false, "bake", "agent", "--data-dir", dir, "--name", "bot", "--budget", "5/day", "--out", cred); code != ExitOK {
		t.Fatal(stderr)
	}
	_, stderr, code := run(t, false, "get", "--credential", cred, "--lnd-host", "127.0.0.1:1", "http://127.0.0.1:1/")
	if code != ExitUsage || !strings.Contains(stderr, "--lnd-host does not apply") {
		t.Fatalf("node flag with a credential: exit %d: %s", code, stderr)
	}
	// No daemon on the socket: a network error (5), nothing paid.
	_, stderr, code = run(t, false, "get", "--credential", cred, "http://127.0.0.1:1/")
	if code != ExitNetwork || !strings.Contains(stderr, "wallet serve") {
		t.Fatalf("daemon down: exit %d: %s", code, stderr)
	}
}
