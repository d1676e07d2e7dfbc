package gate

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
)

// Defaults applied by Config.WithDefaults to zero fields.
const (
	DefaultListen            = "127.0.0.1:8402"
	DefaultAdminListen       = "127.0.0.1:8403"
	DefaultInvoiceExpiry     = 10 * time.Minute
	DefaultTokenIDHeader     = "X-L402-Token-Id"
	DefaultRevocationRefresh = 2 * time.Second
	DefaultMaxHeaderBytes    = 16 << 10
	DefaultChallengeRate     = 1.0
	DefaultChallengeBurst    = 10
	DefaultNodeTimeout       = 10 * time.Second
	DefaultProviderName      = "satloop gate"
)

// TLS modes of the public listener.
const (
	// TLSSelfSigned generates a certificate on first run and keeps it in
	// the data directory. It is the default.
	TLSSelfSigned = "self-signed"
	// TLSFiles serves the certificate and key named in the config.
	TLSFiles = "files"
	// TLSOff serves plain HTTP; allowed only on a loopback address, where a
	// TLS-terminating proxy in front is expected.
	TLSOff = "off"
)

// Store drivers.
const (
	StoreSQLite   = "sqlite"
	StorePostgres = "postgres"
)

// Config is the whole gateway configuration, as read from a TOML file (see
// docs/gate.example.toml). Every zero value has a documented meaning; call
// WithDefaults to fill them in, then Validate.
type Config struct {
	// Listen is the public address (default 127.0.0.1:8402). Use
	// "0.0.0.0:8402" or ":8402" to serve every interface.
	Listen string `toml:"listen"`
	// DataDir holds the root-key secret, the admin token, the self-signed
	// certificate and the SQLite store. Empty means the command line's
	// data directory (satloop's, $SATLOOP_DATA_DIR).
	DataDir string `toml:"data_dir"`
	// InvoiceExpiry is how long a challenge's invoice can be paid
	// (default 10m). Always sent to the node, never lnd's 24 h default.
	InvoiceExpiry time.Duration `toml:"invoice_expiry"`
	// TokenIDHeader carries the verified token id to the upstream
	// (default X-L402-Token-Id). Any value a client sends is removed.
	TokenIDHeader string `toml:"token_id_header"`
	// LSATChallenge adds an "LSAT macaroon=..., invoice=..." line before
	// the L402 one, as Aperture does, for clients older than the L402 name.
	// Off by default: a client that reads only the first WWW-Authenticate
	// line then sees LSAT.
	LSATChallenge bool `toml:"lsat_challenge"`
	// ClientIPHeader names a header holding the client's address, set by a
	// trusted proxy in front (e.g. "X-Forwarded-For": its first entry is
	// used). Empty means the connection's address. Never set it when
	// clients reach the gateway directly: they could pick their own
	// rate-limit bucket.
	ClientIPHeader string `toml:"client_ip_header"`
	// RevocationRefresh is how often the local copy of the revocation list
	// is refreshed from the store (default 2s). Routes with a quota see a
	// revocation at once regardless.
	RevocationRefresh time.Duration `toml:"revocation_refresh"`
	// MaxHeaderBytes bounds a request's headers (default 16 KiB); larger
	// requests get 431.
	MaxHeaderBytes int `toml:"max_header_bytes"`

	Provider  ProviderConfig  `toml:"provider"`
	TLS       TLSConfig       `toml:"tls"`
	Node      NodeConfig      `toml:"node"`
	Store     StoreConfig     `toml:"store"`
	Secrets   SecretsConfig   `toml:"secrets"`
	Admin     AdminConfig     `toml:"admin"`
	RateLimit RateLimitConfig `toml:"rate_limit"`
	Routes    []RouteConfig   `toml:"routes"`
}

// ProviderConfig describes the seller in the discovery manifest.
type ProviderConfig struct {
	// Name is shown to buyers (default "satloop gate").
	Name string `toml:"name"`
	// URL is the public base URL, e.g. https://api.example.com; optional.
	URL string `toml:"url"`
	// NodePubkey is the node's public key, so that buyers can check whose
	// invoices they pay; optional.
	NodePubkey string `toml:"node_pubkey"`
}

// TLSConfig configures the public listener's TLS.
type TLSConfig struct {
	// Mode is "self-signed" (the default), "files" or "off".
	Mode string `toml:"mode"`
	// CertFile and KeyFile are PEM files, required with mode "files". With
	// "self-signed" they name where the generated pair is kept (default
	// gate-tls.cert and gate-tls.key in the data directory).
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// Hosts are the names and addresses the self-signed certificate is
	// valid for (default localhost, 127.0.0.1, ::1).
	Hosts []string `toml:"hosts"`
}

// NodeConfig says which lnd creates the invoices. An invoice-only
// macaroon is enough. All empty means the command line's node flags, and
// without those the local lab's seller node.
type NodeConfig struct {
	// LNDConnect is an lndconnect:// URI; exclusive with the three below.
	LNDConnect string `toml:"lndconnect"`
	// Host is lnd's gRPC host:port.
	Host string `toml:"host"`
	// TLSCert is lnd's tls.cert file.
	TLSCert string `toml:"tls_cert"`
	// Macaroon is a macaroon file (invoice-only is enough).
	Macaroon string `toml:"macaroon"`
	// Timeout bounds each invoice creation (default 10s); a node slower
	// than that is answered 503.
	Timeout time.Duration `toml:"timeout"`
}

// StoreConfig chooses the shared state's backend.
type StoreConfig struct {
	// Driver is "sqlite" (the default) or "postgres" (several instances).
	Driver string `toml:"driver"`
	// Path is the SQLite file (default gate.db in the data directory).
	Path string `toml:"path"`
	// DSN is the PostgreSQL connection string, required with "postgres".
	DSN string `toml:"dsn"`
}

// SecretsConfig locates the root-key master secret.
type SecretsConfig struct {
	// RootKeyFile holds 32 random bytes from which every token's root key
	// is derived (default gate-root-key in the data directory, created
	// 0600 on first run). Instances sharing a store must share this file.
	RootKeyFile string `toml:"root_key_file"`
}

// AdminConfig configures the admin listener.
type AdminConfig struct {
	// Listen is the admin address (default 127.0.0.1:8403). It must be a
	// loopback address: the admin API is plain HTTP.
	Listen string `toml:"listen"`
	// TokenFile holds the admin bearer token (default gate-admin-token in
	// the data directory, created 0600 on first run).
	TokenFile string `toml:"token_file"`
	// OpenMetrics serves /metrics without the admin token. Off by
	// default: the metrics show revenue.
	OpenMetrics bool `toml:"open_metrics"`
}

// RateLimitConfig bounds unpaid challenges per client address: each one
// costs the node an invoice.
type RateLimitConfig struct {
	// ChallengesPerSecond is the bucket's refill rate (default 1).
	ChallengesPerSecond float64 `toml:"challenges_per_second"`
	// Burst is the bucket's size (default 10).
	Burst int `toml:"burst"`
}

// RouteConfig is one route. Routes are tried in order; the first whose
// host, path and method match serves the request. A request no route
// matches gets 404.
type RouteConfig struct {
	// Name identifies the route in metrics, sales and logs; letters,
	// digits, '-' and '_'. Required.
	Name string `toml:"name"`
	// Service is the L402 service tokens are minted for (default: Name).
	// Routes sharing a service accept each other's tokens, subject to
	// capabilities.
	Service string `toml:"service"`
	// Host matches the request's host (port ignored), exactly or as
	// "*.example.com". Empty matches any host.
	Host string `toml:"host"`
	// Path is a prefix matched at a segment boundary ("/api" matches /api
	// and /api/x, not /apix), or a path.Match glob when it holds * ? or [.
	// Empty means "/".
	Path string `toml:"path"`
	// Methods lists the methods matched; empty matches all.
	Methods []string `toml:"methods"`
	// Upstream is the URL requests are proxied to; its path is prefixed
	// to the request's.
	Upstream string `toml:"upstream"`
	// PriceSats is the price of a token, in satoshis. Either it is
	// positive or Free is true.
	PriceSats int64 `toml:"price_sats"`
	// Free proxies without payment.
	Free bool `toml:"free"`
	// Description is the invoice memo and the manifest's description.
	Description string `toml:"description"`
	// TokenLifetime bounds a token's validity (a valid_until caveat).
	// Zero means tokens do not expire, as in Aperture.
	TokenLifetime time.Duration `toml:"token_lifetime"`
	// Quota is the number of requests a token buys (a max_requests caveat,
	// counted atomically in the store). Zero means unlimited.
	Quota int64 `toml:"quota"`
	// Capability is what a request to this route needs; a token whose
	// capabilities caveat lacks it is refused. Empty needs none.
	Capability string `toml:"capability"`
	// Capabilities are granted to tokens minted here. Empty means
	// Capability alone when set, else no caveat (every capability).
	Capabilities []string `toml:"capabilities"`
	// Constraints are numeric limits minted into tokens and enforced on
	// every request.
	Constraints []ConstraintConfig `toml:"constraints"`
}

// ConstraintConfig is a numeric caveat, "<condition>=<max>", checked against
// a number the request carries in a query parameter or a header. Holders
// may lower it when attenuating, never raise it.
type ConstraintConfig struct {
	// Condition is the caveat name, e.g. "search_max_results".
	Condition string `toml:"condition"`
	// Max is the value minted.
	Max int64 `toml:"max"`
	// Query or Header names where the request states its number (one of
	// them).
	Query  string `toml:"query"`
	Header string `toml:"header"`
	// Default is the number assumed when the request states none.
	Default int64 `toml:"default"`
}

// LoadConfig reads a TOML config file. Unknown keys are an error, so that a
// misspelt setting is never silently ignored. The result is not validated.
func LoadConfig(file string) (Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return Config{}, fmt.Errorf("gate: read config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%w (in %s)", err, file)
	}
	return cfg, nil
}

// ParseConfig decodes TOML config text; see LoadConfig.
func ParseConfig(data []byte) (Config, error) {
	var cfg Config
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&cfg)
	if err != nil {
		return Config{}, fmt.Errorf("gate: config: %w", err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		return Config{}, fmt.Errorf("gate: config: unknown setting(s) %s; see docs/gate.example.toml for the valid ones", strings.Join(keys, ", "))
	}
	return cfg, nil
}

// WithDefaults returns the config with documented defaults in place of zero
// values. Paths default to files in DataDir, so set DataDir first.
func (c Config) WithDefaults() Config {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	inData := func(name string) string {
		if c.DataDir == "" {
			return ""
		}
		return filepath.Join(c.DataDir, name)
	}
	def(&c.Listen, DefaultListen)
	def(&c.TokenIDHeader, DefaultTokenIDHeader)
	def(&c.Provider.Name, DefaultProviderName)
	def(&c.TLS.Mode, TLSSelfSigned)
	def(&c.Store.Driver, StoreSQLite)
	def(&c.Admin.Listen, DefaultAdminListen)
	if c.TLS.Mode == TLSSelfSigned {
		def(&c.TLS.CertFile, inData("gate-tls.cert"))
		def(&c.TLS.KeyFile, inData("gate-tls.key"))
		if len(c.TLS.Hosts) == 0 {
			c.TLS.Hosts = []string{"localhost", "127.0.0.1", "::1"}
		}
	}
	if c.Store.Driver == StoreSQLite {
		def(&c.Store.Path, inData("gate.db"))
	}
	def(&c.Secrets.RootKeyFile, inData("gate-root-key"))
	def(&c.Admin.TokenFile, inData("gate-admin-token"))
	if c.InvoiceExpiry == 0 {
		c.InvoiceExpiry = DefaultInvoiceExpiry
	}
	if c.RevocationRefresh == 0 {
		c.RevocationRefresh = DefaultRevocationRefresh
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.Node.Timeout == 0 {
		c.Node.Timeout = DefaultNodeTimeout
	}
	if c.RateLimit.ChallengesPerSecond == 0 {
		c.RateLimit.ChallengesPerSecond = DefaultChallengeRate
	}
	if c.RateLimit.Burst == 0 {
		c.RateLimit.Burst = DefaultChallengeBurst
	}
	c.Routes = slices.Clone(c.Routes)
	for i := range c.Routes {
		r := &c.Routes[i]
		def(&r.Service, r.Name)
		def(&r.Path, "/")
		if len(r.Capabilities) == 0 && r.Capability != "" {
			r.Capabilities = []string{r.Capability}
		}
	}
	return c
}

// ErrConfig is wrapped by every error Validate returns.
var ErrConfig = errors.New("gate: invalid config")

// Validate checks a config after WithDefaults. Its errors name the setting
// and say what would be accepted.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen %q is not host:port (e.g. 127.0.0.1:8402 or :8402)", c.Listen)
	}
	if c.InvoiceExpiry < time.Minute || c.InvoiceExpiry > 24*time.Hour {
		bad("invoice_expiry %s must be between 1m and 24h; write it as a string such as \"10m\"", c.InvoiceExpiry)
	}
	if !validHeaderName(c.TokenIDHeader) {
		bad("token_id_header %q is not a header name", c.TokenIDHeader)
	}
	if c.ClientIPHeader != "" && !validHeaderName(c.ClientIPHeader) {
		bad("client_ip_header %q is not a header name", c.ClientIPHeader)
	}
	if c.RevocationRefresh < 100*time.Millisecond || c.RevocationRefresh > time.Hour {
		bad("revocation_refresh %s must be between 100ms and 1h; write it as a string such as \"2s\"", c.RevocationRefresh)
	}
	if c.MaxHeaderBytes < 4<<10 || c.MaxHeaderBytes > 1<<20 {
		bad("max_header_bytes %d must be between 4096 and 1048576", c.MaxHeaderBytes)
	}
	if c.Provider.URL != "" {
		if u, err := url.Parse(c.Provider.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("provider.url %q is not an http(s) URL", c.Provider.URL)
		}
	}
	switch c.TLS.Mode {
	case TLSSelfSigned:
		if c.TLS.CertFile == "" || c.TLS.KeyFile == "" {
			bad("tls: self-signed needs a data_dir (or tls.cert_file and tls.key_file) to keep the certificate in")
		}
	case TLSFiles:
		if c.TLS.CertFile == "" || c.TLS.KeyFile == "" {
			bad("tls.mode \"files\" needs tls.cert_file and tls.key_file")
		}
	case TLSOff:
		if !loopback(c.Listen) {
			bad("tls.mode \"off\" is allowed only on a loopback listen address (got %q): put a TLS proxy in front, or use \"self-signed\" or \"files\"", c.Listen)
		}
	default:
		bad("tls.mode %q must be \"self-signed\", \"files\" or \"off\"", c.TLS.Mode)
	}
	if c.Node.LNDConnect != "" && (c.Node.Host != "" || c.Node.TLSCert != "" || c.Node.Macaroon != "") {
		bad("node: give either lndconnect or host/tls_cert/macaroon, not both")
	}
	if c.Node.LNDConnect == "" && (c.Node.Host != "" || c.Node.TLSCert != "" || c.Node.Macaroon != "") &&
		(c.Node.Host == "" || c.Node.TLSCert == "" || c.Node.Macaroon == "") {
		bad("node: host, tls_cert and macaroon go together; set all three, or lndconnect")
	}
	if c.Node.Timeout < time.Second {
		bad("node.timeout %s must be at least 1s; write it as a string such as \"10s\"", c.Node.Timeout)
	}
	switch c.Store.Driver {
	case StoreSQLite:
		if c.Store.Path == "" {
			bad("store: sqlite needs store.path or a data_dir")
		}
		if c.Store.DSN != "" {
			bad("store.dsn is for the postgres driver; sqlite uses store.path")
		}
	case StorePostgres:
		if c.Store.DSN == "" {
			bad("store: postgres needs store.dsn, e.g. \"postgres://user:pass@host/db\"")
		}
		if c.Store.Path != "" {
			bad("store.path is for the sqlite driver; postgres uses store.dsn")
		}
	default:
		bad("store.driver %q must be \"sqlite\" or \"postgres\"", c.Store.Driver)
	}
	if c.Secrets.RootKeyFile == "" {
		bad("secrets.root_key_file is required when there is no data_dir")
	}
	if !loopback(c.Admin.Listen) {
		bad("admin.listen %q must be a loopback address such as 127.0.0.1:8403: the admin API is plain HTTP (reach it over SSH from elsewhere)", c.Admin.Listen)
	}
	if c.Admin.TokenFile == "" {
		bad("admin.token_file is required when there is no data_dir")
	}
	if c.RateLimit.ChallengesPerSecond <= 0 || c.RateLimit.ChallengesPerSecond > 1e6 {
		bad("rate_limit.challenges_per_second %g must be above 0 and at most 1000000", c.RateLimit.ChallengesPerSecond)
	}
	if c.RateLimit.Burst < 1 || c.RateLimit.Burst > 1e6 {
		bad("rate_limit.burst %d must be between 1 and 1000000", c.RateLimit.Burst)
	}
	if len(c.Routes) == 0 {
		bad("no routes: add at least one [[routes]] with an upstream")
	}
	names := map[string]bool{}
	for i, r := range c.Routes {
		errs = append(errs, r.validate(i, names)...)
	}
	return errors.Join(errs...)
}

func (r RouteConfig) validate(i int, names map[string]bool) []error {
	var errs []error
	label := fmt.Sprintf("routes[%d]", i)
	if r.Name != "" {
		label = fmt.Sprintf("route %q", r.Name)
	}
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: "+format, append([]any{ErrConfig, label}, args...)...))
	}
	switch {
	case !validName(r.Name):
		bad("name must be 1-64 letters, digits, '-' or '_'")
	case names[r.Name]:
		bad("name is used by another route")
	}
	names[r.Name] = true
	if !validName(r.Service) {
		bad("service %q must be 1-64 letters, digits, '-' or '_'", r.Service)
	}
	if r.Host != "" && (strings.ContainsAny(r.Host, "/:@ ") || strings.Contains(strings.TrimPrefix(r.Host, "*."), "*")) {
		bad("host %q must be a host name, optionally \"*.\" followed by a domain, without a port", r.Host)
	}
	if !strings.HasPrefix(r.Path, "/") {
		bad("path %q must start with /", r.Path)
	} else if _, err := path.Match(r.Path, "/"); err != nil {
		bad("path %q is not a valid glob: %v", r.Path, err)
	}
	for _, m := range r.Methods {
		if !validHeaderName(m) || strings.ToUpper(m) != m {
			bad("method %q must be an upper-case HTTP method such as GET", m)
		}
	}
	u, err := url.Parse(r.Upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		bad("upstream %q must be an http(s) URL without query, e.g. http://127.0.0.1:8000", r.Upstream)
	}
	switch {
	case r.Free && r.PriceSats != 0:
		bad("a free route has no price_sats")
	case !r.Free && r.PriceSats <= 0:
		bad("price_sats must be positive, or set free = true")
	case r.PriceSats > money.MaxMilliSat.Sats():
		bad("price_sats %d is more than there are bitcoins", r.PriceSats)
	}
	if r.Free && (r.TokenLifetime != 0 || r.Quota != 0 || r.Capability != "" || len(r.Capabilities) != 0 || len(r.Constraints) != 0) {
		bad("a free route sells no tokens: token_lifetime, quota, capability, capabilities and constraints do not apply")
	}
	if r.TokenLifetime != 0 && r.TokenLifetime < time.Second {
		bad("token_lifetime %s must be at least 1s; write it as a string such as \"1h\"", r.TokenLifetime)
	}
	if r.TokenLifetime < 0 {
		bad("token_lifetime must not be negative")
	}
	if r.Quota < 0 {
		bad("quota must not be negative (0 means unlimited)")
	}
	for _, c := range append([]string{r.Capability}, r.Capabilities...) {
		if c != "" && !validName(c) {
			bad("capability %q must be letters, digits, '-' or '_'", c)
		}
	}
	if r.Capability != "" && len(r.Capabilities) > 0 && !slices.Contains(r.Capabilities, r.Capability) {
		bad("capabilities %v must include the route's own capability %q, or its tokens could never be used here", r.Capabilities, r.Capability)
	}
	seen := map[string]bool{}
	for _, c := range r.Constraints {
		switch {
		case !validName(c.Condition):
			bad("constraint %q must be letters, digits, '-' or '_'", c.Condition)
		case reservedCondition(c.Condition, r.Service):
			bad("constraint %q is a condition the gateway mints itself", c.Condition)
		case seen[c.Condition]:
			bad("constraint %q appears twice", c.Condition)
		}
		seen[c.Condition] = true
		if c.Max < 0 || c.Default < 0 {
			bad("constraint %q: max and default must not be negative", c.Condition)
		}
		if (c.Query == "") == (c.Header == "") {
			bad("constraint %q needs exactly one of query or header: where the request states its number", c.Condition)
		}
		if c.Header != "" && !validHeaderName(c.Header) {
			bad("constraint %q: header %q is not a header name", c.Condition, c.Header)
		}
	}
	return errs
}

// reservedCondition reports whether a constraint would collide with a
// caveat the gateway mints or reads itself.
func reservedCondition(cond, service string) bool {
	switch cond {
	case l402.ConditionServices, l402.ConditionPreimage, conditionRoute, conditionPrice,
		service + l402.SuffixCapabilities, service + l402.SuffixValidUntil, service + suffixMaxRequests:
		return true
	}
	return false
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return http.CanonicalHeaderKey(s) != ""
}

// loopback reports whether a host:port address is on a loopback interface.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
