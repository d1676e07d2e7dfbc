package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/satloop/satloop/gate"
)

func TestGateConfigFromFlags(t *testing.T) {
	dir := t.TempDir()
	changed := func(names ...string) func(string) bool {
		return func(n string) bool {
			for _, m := range names {
				if m == n {
					return true
				}
			}
			return false
		}
	}
	o := &gateOptions{Upstream: "http://127.0.0.1:8000", Price: "10", Quota: 5, TokenLifetime: time.Hour,
		Listen: "127.0.0.1:0", DataDir: dir, TLSMode: "off", changed: changed("listen", "data-dir", "tls")}
	cfg, err := o.config()
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Routes[0]
	if len(cfg.Routes) != 1 || r.Path != "/" || r.PriceSats != 10 || r.Quota != 5 || r.TokenLifetime != time.Hour || r.Upstream != "http://127.0.0.1:8000" {
		t.Fatalf("route %+v", r)
	}
	if cfg.Listen != "127.0.0.1:0" || cfg.TLS.Mode != gate.TLSOff || cfg.Store.Path != filepath.Join(dir, "gate.db") {
		t.Fatalf("config %+v", cfg)
	}
}

func TestGateUsageErrors(t *testing.T) {
	t.Setenv("SATLOOP_DATA_DIR", t.TempDir())
	for _, args := range [][]string{
		{"gate"},
		{"gate", "--upstream", "http://127.0.0.1:8000"},
		{"gate", "--upstream", "http://127.0.0.1:8000", "--price", "ten"},
		{"gate", "--upstream", "ftp://x", "--price", "10"},
		{"gate", "--config", "x.toml", "--upstream", "http://h", "--price", "1"},
		{"gate", "--upstream", "http://h", "--price", "1", "--log-level", "loud"},
		{"gate", "revoke"},
		{"gate", "revoke", "not-hex"},
		{"gate", "sales", "--since", "yesterday"},
		{"gate", "sales", "--limit", "0"},
	} {
		_, stderr, code := run(t, false, args...)
		if code != ExitUsage {
			t.Errorf("%q: exit %d (%s), want %d", args, code, strings.TrimSpace(stderr), ExitUsage)
		}
	}
}

func TestGateConfigFileErrorNamesFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "gate.toml")
	if err := os.WriteFile(f, []byte("sqlite_path = \"x\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := run(t, false, "gate", "--config", f)
	if code != ExitError || !strings.Contains(stderr, "sqlite_path") || !strings.Contains(stderr, f) {
		t.Fatalf("exit %d, stderr %q: want the unknown key and the file named", code, stderr)
	}
}

func TestGateAdminClientFromDataDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, gateAdminURLFile), []byte("http://127.0.0.1:9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gate-admin-token"), []byte(strings.Repeat("AB", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := (&adminClientOptions{DataDir: dir}).client()
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseURL != "http://127.0.0.1:9" || c.Token != strings.Repeat("ab", 32) {
		t.Fatalf("client %+v", c)
	}
	_, err = (&adminClientOptions{DataDir: t.TempDir()}).client()
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no token file: %v, want ErrNotExist", err)
	}
}
