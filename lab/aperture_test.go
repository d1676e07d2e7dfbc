package lab

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/satloop/satloop/money"
)

func validApertureConfig() ApertureConfig {
	return ApertureConfig{
		Dir:      "/tmp/aperture",
		Seller:   Node{Name: Seller, RPCAddr: "127.0.0.1:10009", TLSCertPath: "/lab/seller/tls.cert", Dir: "/lab/seller"},
		Upstream: "http://127.0.0.1:8000",
		Price:    money.Sats(10),
	}
}

func TestApertureConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*ApertureConfig)
		ok     bool
	}{
		{"valid", func(*ApertureConfig) {}, true},
		{"https upstream", func(c *ApertureConfig) { c.Upstream = "https://localhost:8443" }, true},
		{"upstream with a slash", func(c *ApertureConfig) { c.Upstream = "http://127.0.0.1:8000/" }, true},
		{"relative dir", func(c *ApertureConfig) { c.Dir = "aperture" }, false},
		{"no dir", func(c *ApertureConfig) { c.Dir = "" }, false},
		{"no seller", func(c *ApertureConfig) { c.Seller = Node{} }, false},
		{"no upstream", func(c *ApertureConfig) { c.Upstream = "" }, false},
		{"upstream without port", func(c *ApertureConfig) { c.Upstream = "http://127.0.0.1" }, false},
		{"upstream with path", func(c *ApertureConfig) { c.Upstream = "http://127.0.0.1:8000/api" }, false},
		{"upstream with query", func(c *ApertureConfig) { c.Upstream = "http://127.0.0.1:8000?a=b" }, false},
		{"upstream with user", func(c *ApertureConfig) { c.Upstream = "http://u:p@127.0.0.1:8000" }, false},
		{"upstream not http", func(c *ApertureConfig) { c.Upstream = "ftp://127.0.0.1:21" }, false},
		{"upstream garbage", func(c *ApertureConfig) { c.Upstream = "://" }, false},
		{"zero price", func(c *ApertureConfig) { c.Price = 0 }, false},
		{"negative price", func(c *ApertureConfig) { c.Price = -1000 }, false},
		{"fraction of a sat", func(c *ApertureConfig) { c.Price = 10_500 }, false},
		{"price above all bitcoin", func(c *ApertureConfig) { c.Price = money.MaxMilliSat + 1000 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validApertureConfig()
			tt.change(&cfg)
			err := cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// The file uses the keys Aperture's YAML decoder reads (lowercased Go
// field names), not the go-flags names of its sample config.
func TestApertureConfigFile(t *testing.T) {
	cfg := validApertureConfig()
	raw, err := apertureConfigFile(cfg, "127.0.0.1:4242")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("config is not JSON (so not YAML either): %v\n%s", err, raw)
	}
	sqlite, _ := got["sqlite"].(map[string]any)
	auth, _ := got["authenticator"].(map[string]any)
	services, _ := got["services"].([]any)
	if len(services) != 1 {
		t.Fatalf("services = %v, want one", got["services"])
	}
	service, _ := services[0].(map[string]any)
	checks := []struct {
		what      string
		got, want any
	}{
		{"listenaddr", got["listenaddr"], "127.0.0.1:4242"},
		{"insecure", got["insecure"], true},
		{"dbbackend", got["dbbackend"], "sqlite"},
		{"sqlite.databasefilename", sqlite["databasefilename"], filepath.Join(cfg.Dir, "aperture.db")},
		{"sqlite.dbfile (ignored by Aperture)", sqlite["dbfile"], nil},
		{"authenticator.network", auth["network"], "regtest"},
		{"authenticator.lndhost", auth["lndhost"], cfg.Seller.RPCAddr},
		{"authenticator.tlspath", auth["tlspath"], cfg.Seller.TLSCertPath},
		{"authenticator.macdir", auth["macdir"], filepath.Dir(cfg.Seller.MacaroonPath("invoice"))},
		{"service address", service["address"], "127.0.0.1:8000"},
		{"service protocol", service["protocol"], "http"},
		{"service price (sats)", service["price"], 10.0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}
