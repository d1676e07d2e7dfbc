package cli

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/money"
)

// boughtToken fills a data directory with one token bought from a fake
// seller and returns the directory and the seller.
func boughtToken(t *testing.T) (string, *fakePayer) {
	t.Helper()
	payer := &fakePayer{s: newSeller(t, money.Sats(10))}
	dir := t.TempDir()
	if _, stderr, code := runGetWith(t, payer, dir, "", payer.s.srv.URL+"/v1/thing"); code != ExitOK {
		t.Fatalf("get: exit %d: %s", code, stderr)
	}
	return dir, payer
}

func TestTokensListShowRm(t *testing.T) {
	dir, payer := boughtToken(t)
	s, preimage := payer.s, payer.last()

	stdout, stderr, code := run(t, false, "tokens", "list", "--data-dir", dir)
	if code != ExitOK {
		t.Fatalf("tokens list: exit %d: %s", code, stderr)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatalf("tokens list on a pipe printed %q: %v", stdout, err)
	}
	if len(list) != 1 || list[0]["scope"] != "/v1/" || list[0]["price_msat"] != float64(10_000) || list[0]["expired"] != false {
		t.Fatalf("tokens list = %v", list)
	}
	for _, secret := range []string{"macaroon", "preimage", "authorization"} {
		if strings.Contains(strings.ToLower(stdout), secret) {
			t.Fatalf("tokens list shows %s: %s", secret, stdout)
		}
	}
	if strings.Contains(stdout, preimage.Hex()) {
		t.Fatal("tokens list shows the preimage")
	}
	id := list[0]["token_id"].(string)

	table, _, code := run(t, true, "tokens", "list", "--data-dir", dir)
	if code != ExitOK || !strings.Contains(table, "TOKEN ID") || !strings.Contains(table, id) || !strings.Contains(table, "no expiry") {
		t.Fatalf("tokens list on a terminal:\n%s", table)
	}

	shown, _, code := run(t, false, "tokens", "show", id, "--data-dir", dir)
	if code != ExitOK || strings.Contains(shown, preimage.Hex()) || strings.Contains(shown, "macaroon") {
		t.Fatalf("tokens show without --secret (exit %d):\n%s", code, shown)
	}

	secret, _, code := run(t, false, "tokens", "show", "--secret", id, "--data-dir", dir)
	var sec struct {
		Preimage      string `json:"preimage_hex"`
		Macaroon      string `json:"macaroon_base64"`
		Authorization string `json:"authorization"`
	}
	if err := json.Unmarshal([]byte(secret), &sec); err != nil || code != ExitOK {
		t.Fatalf("tokens show --secret: exit %d, %v\n%s", code, err, secret)
	}
	if sec.Preimage != preimage.Hex() || sec.Macaroon == "" || !strings.HasPrefix(sec.Authorization, "L402 ") || !strings.HasSuffix(sec.Authorization, ":"+sec.Preimage) {
		t.Fatalf("tokens show --secret = %+v", sec)
	}

	if _, stderr, code := run(t, false, "tokens", "rm", id, "--data-dir", dir); code != ExitOK {
		t.Fatalf("tokens rm: exit %d: %s", code, stderr)
	}
	if stdout, _, _ := run(t, false, "tokens", "list", "--data-dir", dir); strings.TrimSpace(stdout) != "[]" {
		t.Fatalf("after rm, tokens list = %s", stdout)
	}
	if _, _, code := run(t, false, "tokens", "rm", id, "--data-dir", dir); code != ExitError {
		t.Fatalf("removing a token twice: exit %d, want %d", code, ExitError)
	}

	// With the token gone, the next fetch pays again.
	_, stderr, code = runGetWith(t, payer, dir, "", s.srv.URL+"/v1/thing")
	if code != ExitOK || !strings.Contains(stderr, "paid 10 sat") {
		t.Fatalf("after rm: exit %d stderr %q", code, stderr)
	}
}

func TestTokensUsage(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		wantMsg string
	}{
		{"show without id", []string{"tokens", "show"}, "takes one token id"},
		{"show bad id", []string{"tokens", "show", "xyz"}, "is not a token id"},
		{"rm without id", []string{"tokens", "rm"}, "one or more token ids"},
		{"rm bad id", []string{"tokens", "rm", strings.Repeat("a", 64), "nope"}, `"nope" is not a token id`},
		{"history negative since", []string{"history", "--since", "-1h"}, "cannot be negative"},
		{"history bad since", []string{"history", "--since", "yesterday"}, "neither a duration"},
		{"history negative limit", []string{"history", "--limit", "-1"}, "cannot be negative"},
		{"history stray arg", []string{"history", "now"}, "takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := run(t, false, append(tt.args, "--data-dir", dir)...)
			if code != ExitUsage || !strings.Contains(stderr, tt.wantMsg) {
				t.Fatalf("exit %d stderr %q, want usage error saying %q", code, stderr, tt.wantMsg)
			}
		})
	}
}

func TestHistory(t *testing.T) {
	dir, payer := boughtToken(t)
	s := payer.s
	// A second scope, a second payment.
	if _, stderr, code := runGetWith(t, payer, dir, "", s.srv.URL+"/v2/thing"); code != ExitOK {
		t.Fatalf("get: exit %d: %s", code, stderr)
	}
	preimage := payer.last()

	stdout, stderr, code := run(t, false, "history", "--data-dir", dir)
	if code != ExitOK {
		t.Fatalf("history: exit %d: %s", code, stderr)
	}
	var log []client.Payment
	if err := json.Unmarshal([]byte(stdout), &log); err != nil {
		t.Fatalf("history on a pipe printed %q: %v", stdout, err)
	}
	if len(log) != 2 || log[0].URL != s.srv.URL+"/v2/thing" || log[0].Status != client.PaymentSucceeded ||
		log[0].Amount != money.Sats(10) || log[0].Fee != money.Sats(1) || log[0].Hash != preimage.Hash() {
		t.Fatalf("history = %+v", log)
	}
	if strings.Contains(stdout, preimage.Hex()) || strings.Contains(stdout, "macaroon") {
		t.Fatal("history shows a secret")
	}

	limited, _, _ := run(t, false, "history", "--limit", "1", "--data-dir", dir)
	if err := json.Unmarshal([]byte(limited), &log); err != nil || len(log) != 1 {
		t.Fatalf("history --limit 1 = %s (%v)", limited, err)
	}
	recent, _, _ := run(t, false, "history", "--since", "1h", "--host", "elsewhere.test", "--data-dir", dir)
	if strings.TrimSpace(recent) != "[]" {
		t.Fatalf("history for another host = %s", recent)
	}
	for since, want := range map[string]int{"1h": 2, time.Now().UTC().Format(time.DateOnly): 2, "2999-01-01T00:00:00Z": 0} {
		out, stderr, code := run(t, false, "history", "--since", since, "--data-dir", dir)
		if err := json.Unmarshal([]byte(out), &log); err != nil || code != ExitOK || len(log) != want {
			t.Fatalf("history --since %s: exit %d, %d entries (want %d), %v %s", since, code, len(log), want, err, stderr)
		}
	}

	table, _, code := run(t, true, "history", "--data-dir", dir)
	if code != ExitOK || !strings.Contains(table, "PAYMENT HASH") || !strings.Contains(table, "succeeded") ||
		!strings.Contains(table, "spent 20 sat plus 2 sat in fees over 2 payments shown") {
		t.Fatalf("history on a terminal:\n%s", table)
	}
	// Looking at an empty data directory shows nothing and creates nothing.
	emptyDir := t.TempDir()
	for _, args := range [][]string{{"history"}, {"tokens", "list"}} {
		out, stderr, code := run(t, false, append(args, "--data-dir", emptyDir)...)
		if code != ExitOK || strings.TrimSpace(out) != "[]" {
			t.Fatalf("%v on an empty directory: exit %d, %q %q", args, code, out, stderr)
		}
	}
	empty, _, _ := run(t, true, "history", "--data-dir", emptyDir)
	if empty != "no payments\n" {
		t.Fatalf("empty history = %q", empty)
	}
	if _, stderr, code := run(t, false, "tokens", "show", strings.Repeat("ab", 32), "--data-dir", emptyDir); code != ExitError || !strings.Contains(stderr, "nothing bought yet") {
		t.Fatalf("tokens show in an empty directory: exit %d, %q", code, stderr)
	}
	if entries, _ := os.ReadDir(emptyDir); len(entries) != 0 {
		t.Fatalf("reading left %d files in the data directory", len(entries))
	}
}
