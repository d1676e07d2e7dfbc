package gate_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/satloop/satloop/gate"
)

// TestExampleConfig keeps docs/gate.example.toml valid: it must load, hold
// no unknown key and validate.
func TestExampleConfig(t *testing.T) {
	cfg, err := gate.LoadConfig(filepath.Join("..", "docs", "gate.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = t.TempDir()
	if err := cfg.WithDefaults().Validate(); err != nil {
		t.Fatalf("the example config does not validate:\n%v", err)
	}
	if len(cfg.Routes) < 2 {
		t.Error("the example should show a paid and a free route")
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := gate.ParseConfig([]byte(`
[[routes]]
name = "api"
upstream = "http://127.0.0.1:8000"
price_sats = 10
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = "/data"
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", cfg.Listen, gate.DefaultListen},
		{"invoice_expiry", cfg.InvoiceExpiry, 10 * time.Minute},
		{"tls", cfg.TLS.Mode, gate.TLSSelfSigned},
		{"tls cert", cfg.TLS.CertFile, "/data/gate-tls.cert"},
		{"store", cfg.Store.Driver, gate.StoreSQLite},
		{"store path", cfg.Store.Path, "/data/gate.db"},
		{"root key", cfg.Secrets.RootKeyFile, "/data/gate-root-key"},
		{"admin token", cfg.Admin.TokenFile, "/data/gate-admin-token"},
		{"admin listen", cfg.Admin.Listen, gate.DefaultAdminListen},
		{"route service", cfg.Routes[0].Service, "api"},
		{"route path", cfg.Routes[0].Path, "/"},
		{"token header", cfg.TokenIDHeader, "X-L402-Token-Id"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestConfigRejects(t *testing.T) {
	const route = "\n[[routes]]\nname = \"api\"\nupstream = \"http://127.0.0.1:8000\"\nprice_sats = 10\n"
	tests := []struct {
		name string
		toml string
		// want is a fragment of the message, to show it names the setting;
		// the test relies on errors.Is for the kind.
		want string
	}{
		{"unknown key", "sqlite_path = \"x\"" + route, "unknown setting(s) sqlite_path"},
		{"unknown nested key", "[store]\nfile = \"x\"" + route, "store.file"},
		{"no routes", "", "no routes"},
		{"integer duration", "invoice_expiry = 600" + route, "invoice_expiry"},
		{"24h invoice", "invoice_expiry = \"25h\"" + route, "invoice_expiry"},
		{"tls off on public address", "listen = \"0.0.0.0:8402\"\n[tls]\nmode = \"off\"" + route, "loopback"},
		{"tls files without files", "[tls]\nmode = \"files\"" + route, "cert_file"},
		{"bad tls mode", "[tls]\nmode = \"maybe\"" + route, "tls.mode"},
		{"node half configured", "[node]\nhost = \"127.0.0.1:10009\"" + route, "node"},
		{"node both forms", "[node]\nlndconnect = \"lndconnect://x\"\nhost = \"h:1\"" + route, "lndconnect"},
		{"postgres without dsn", "[store]\ndriver = \"postgres\"" + route, "dsn"},
		{"bad driver", "[store]\ndriver = \"mysql\"" + route, "store.driver"},
		{"admin on public address", "[admin]\nlisten = \"0.0.0.0:8403\"" + route, "admin.listen"},
		{"zero burst is default, negative refused", "[rate_limit]\nburst = -1" + route, "burst"},
		{"route without price", "[[routes]]\nname = \"a\"\nupstream = \"http://h\"", "price_sats"},
		{"free with price", "[[routes]]\nname = \"a\"\nupstream = \"http://h\"\nfree = true\nprice_sats = 1", "free"},
		{"free with quota", "[[routes]]\nname = \"a\"\nupstream = \"http://h\"\nfree = true\nquota = 1", "free"},
		{"bad upstream", "[[routes]]\nname = \"a\"\nupstream = \"ftp://h\"\nprice_sats = 1", "upstream"},
		{"relative path", "[[routes]]\nname = \"a\"\nupstream = \"http://h\"\nprice_sats = 1\npath = \"api\"", "path"},
		{"bad glob", "[[routes]]\nname = \"a\"\nupstream = \"http://h\"\nprice_sats = 1\npath = \"/[\"", "glob"},
		{"bad name", "[[routes]]\nname = \"a b\"\nupstream = \"http://h\"\nprice_sats = 1", "name"},
		{"duplicate name", route + route, "used by another route"},
		{"lower-case method", "[[routes]]\nname = \"a\"\nupstream = \"http://h\"\nprice_sats = 1\nmethods = [\"get\"]", "method"},
		{"host with port", "[[routes]]\nname = \"a\"\nupstream = \"http://h\"\nprice_sats = 1\nhost = \"h:80\"", "host"},
		{"capabilities miss own", "[[routes]]\nname = \"a\"\nupstream = \"http://h\"\nprice_sats = 1\ncapability = \"w\"\ncapabilities = [\"r\"]", "capabilities"},
		{"reserved constraint", "[[routes]]\nname = \"a\"\nupstream = \"http://h\"\nprice_sats = 1\n[[routes.constraints]]\ncondition = \"a_valid_until\"\nmax = 1\nquery = \"q\"", "mints itself"},
		{"constraint without source", "[[routes]]\nname = \"a\"\nupstream = \"http://h\"\nprice_sats = 1\n[[routes.constraints]]\ncondition = \"n\"\nmax = 1", "query or header"},
		{"short lifetime", "[[routes]]\nname = \"a\"\nupstream = \"http://h\"\nprice_sats = 1\ntoken_lifetime = 60", "token_lifetime"},
		{"price above supply", "[[routes]]\nname = \"a\"\nupstream = \"http://h\"\nprice_sats = 2100000000000001", "bitcoins"},
		{"not toml", "[[routes", "config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := gate.ParseConfig([]byte(tt.toml))
			if err == nil {
				cfg.DataDir = t.TempDir()
				err = cfg.WithDefaults().Validate()
				if err != nil && !errors.Is(err, gate.ErrConfig) {
					t.Errorf("Validate error %v does not wrap ErrConfig", err)
				}
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	_, err := gate.LoadConfig(filepath.Join(t.TempDir(), "none.toml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotExist", err)
	}
}

// FuzzParseConfig: any text either fails to parse or validate with an
// error, or builds a gateway: a validated config never fails New.
func FuzzParseConfig(f *testing.F) {
	if example, err := os.ReadFile(filepath.Join("..", "docs", "gate.example.toml")); err == nil {
		f.Add(string(example))
	}
	f.Add("[[routes]]\nname = \"a\"\nupstream = \"http://h/x\"\nprice_sats = 1\nhost = \"*.example.com\"\npath = \"/a/*\"\nmethods = [\"GET\"]\n")
	f.Add("listen = \":1\"\n[tls]\nmode = \"off\"\n")
	node := newFakeNode(f)
	f.Fuzz(func(t *testing.T, text string) {
		cfg, err := gate.ParseConfig([]byte(text))
		if err != nil {
			return
		}
		cfg.DataDir = "/nonexistent"
		cfg = cfg.WithDefaults()
		if cfg.Validate() != nil {
			return
		}
		keys := testKeys(t)
		if _, err := gate.New(gate.Options{Config: cfg, Invoices: node, Store: gate.NewMemoryStore(), Keys: keys}); err != nil {
			t.Fatalf("valid config refused by New: %v", err)
		}
	})
}
