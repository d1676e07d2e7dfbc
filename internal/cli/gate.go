package cli

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/satloop/satloop/gate"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lab"
	"github.com/satloop/satloop/lightning/lnd"
	"github.com/satloop/satloop/money"
	"github.com/satloop/satloop/store/postgres"
	"github.com/satloop/satloop/store/sqlite"
)

// gateAdminURLFile is written in the data directory while the gateway
// runs, so that `satloop gate revoke` and `sales` find the admin listener.
const gateAdminURLFile = "gate-admin-url"

// gateOptions is `satloop gate` once its flags are parsed.
type gateOptions struct {
	IO *IO

	ConfigFile string
	// The one-line form: one catch-all route.
	Upstream      string
	Price         string
	Quota         int64
	TokenLifetime time.Duration

	// Overrides of the config file's settings, applied when given.
	Listen        string
	AdminListen   string
	DataDir       string
	TLSMode       string
	TLSCert       string
	TLSKey        string
	StoreDriver   string
	StorePath     string
	PostgresDSN   string
	InvoiceExpiry time.Duration
	LogLevel      string
	JSON          bool
	JSONSet       bool

	changed func(name string) bool
	node    nodeOptions
}

func newCmdGate(io *IO) *cobra.Command {
	opts := &gateOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "gate",
		Short: "Sell an HTTP API over L402: a paywalled reverse proxy",
		Long: `Put an L402 paywall in front of an HTTP API. Requests to paid routes get
402 Payment Required with a Lightning invoice and a token; once the invoice
is paid, requests carrying the token are proxied to the upstream with an
X-L402-Token-Id header and without the credential.

One catch-all route:

  satloop gate --upstream http://127.0.0.1:8000 --price 10

Several routes, prices, quotas, capabilities: see docs/gate.example.toml.

  satloop gate --config gate.toml

The node is the one in the config file, else --lndconnect or --lnd-*
(or their environment variables), else the local lab's seller node. An
invoice macaroon is enough: lnd's own invoice.macaroon, or one baked with
invoices:read and invoices:write only. The admin API (revocations, sales,
/metrics) listens on 127.0.0.1:8403 with the token in the data directory's
gate-admin-token file; 'satloop gate revoke' and 'satloop gate sales' use it.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.changed = cmd.Flags().Changed
			opts.JSONSet = cmd.Flags().Changed("json")
			return runGate(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.ConfigFile, "config", "", "TOML config file (see docs/gate.example.toml)")
	f.StringVar(&opts.Upstream, "upstream", "", "one-line form: the URL every request is proxied to")
	f.StringVar(&opts.Price, "price", "", "one-line form: price of a token, in sats")
	f.Int64Var(&opts.Quota, "quota", 0, "one-line form: requests per token (0: unlimited)")
	f.DurationVar(&opts.TokenLifetime, "token-lifetime", 0, "one-line form: how long a token is valid (0: no expiry)")
	f.StringVar(&opts.Listen, "listen", "", "public address (default "+gate.DefaultListen+")")
	f.StringVar(&opts.AdminListen, "admin-listen", "", "admin address, loopback only (default "+gate.DefaultAdminListen+")")
	f.StringVar(&opts.DataDir, "data-dir", "", "where secrets, certificate and store live (default $SATLOOP_DATA_DIR or ~/.local/share/satloop)")
	f.StringVar(&opts.TLSMode, "tls", "", `TLS of the public listener: "self-signed" (default), "files" or "off" (loopback only)`)
	f.StringVar(&opts.TLSCert, "tls-cert", "", "certificate file for --tls files")
	f.StringVar(&opts.TLSKey, "tls-key", "", "key file for --tls files")
	f.StringVar(&opts.StoreDriver, "store", "", `"sqlite" (default) or "postgres" (several instances)`)
	f.StringVar(&opts.StorePath, "store-path", "", "SQLite file (default gate.db in the data directory)")
	// The environment is read at run time, not as the flag's default, so
	// that --help never prints a DSN's password.
	f.StringVar(&opts.PostgresDSN, "postgres-dsn", "", "PostgreSQL DSN for --store postgres (env SATLOOP_GATE_POSTGRES_DSN)")
	f.DurationVar(&opts.InvoiceExpiry, "invoice-expiry", 0, "how long a challenge's invoice can be paid (default 10m)")
	f.StringVar(&opts.LogLevel, "log-level", "info", "debug, info, warn or error; logs go to stderr")
	f.BoolVar(&opts.JSON, "json", false, "print the ready line as JSON (the default when stdout is not a terminal)")
	addNodeFlags(cmd, &opts.node, lab.Seller)
	cmd.AddCommand(newCmdGateRevoke(io, nil), newCmdGateSales(io, nil))
	return cmd
}

// config builds the gateway configuration from the file or the one-line
// flags, then the overriding flags. Flag mistakes are usage errors.
func (o *gateOptions) config() (gate.Config, error) {
	usage := func(format string, args ...any) error {
		return &usageError{err: fmt.Errorf(format, args...), cmdPath: "satloop gate"}
	}
	var cfg gate.Config
	switch {
	case o.ConfigFile != "" && (o.Upstream != "" || o.Price != ""):
		return cfg, usage("give either --config or --upstream with --price, not both")
	case o.ConfigFile != "":
		var err error
		if cfg, err = gate.LoadConfig(o.ConfigFile); err != nil {
			return cfg, err
		}
	case o.Upstream == "" || o.Price == "":
		return cfg, usage("give --upstream URL and --price SATS (one route for everything), or --config FILE")
	default:
		price, err := money.ParseSats(o.Price)
		if err != nil {
			return cfg, usage("--price: %w", err)
		}
		cfg.Routes = []gate.RouteConfig{{
			Name: "default", Path: "/", Upstream: o.Upstream, PriceSats: price.Sats(),
			Quota: o.Quota, TokenLifetime: o.TokenLifetime,
		}}
	}
	set := func(flag string, dst *string, v string) {
		if o.changed != nil && o.changed(flag) {
			*dst = v
		}
	}
	set("listen", &cfg.Listen, o.Listen)
	set("admin-listen", &cfg.Admin.Listen, o.AdminListen)
	set("data-dir", &cfg.DataDir, o.DataDir)
	set("tls", &cfg.TLS.Mode, o.TLSMode)
	set("tls-cert", &cfg.TLS.CertFile, o.TLSCert)
	set("tls-key", &cfg.TLS.KeyFile, o.TLSKey)
	set("store", &cfg.Store.Driver, o.StoreDriver)
	set("store-path", &cfg.Store.Path, o.StorePath)
	// --postgres-dsn wins over the file; the environment only fills in
	// a DSN the file lacks.
	if cfg.Store.Driver == gate.StorePostgres {
		switch {
		case o.PostgresDSN != "":
			cfg.Store.DSN = o.PostgresDSN
		case cfg.Store.DSN == "":
			cfg.Store.DSN = os.Getenv("SATLOOP_GATE_POSTGRES_DSN")
		}
	}
	if o.InvoiceExpiry != 0 {
		cfg.InvoiceExpiry = o.InvoiceExpiry
	}
	if cfg.DataDir == "" {
		dir, err := dataDir()
		if err != nil {
			return cfg, err
		}
		cfg.DataDir = dir
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		if o.ConfigFile == "" {
			return cfg, &usageError{err: err, cmdPath: "satloop gate"}
		}
		return cfg, fmt.Errorf("%w\n(in %s)", err, o.ConfigFile)
	}
	return cfg, nil
}

// nodeConfig prefers the config file's [node], then the node flags, then
// the lab's seller.
func (o *gateOptions) nodeConfig(cfg gate.Config) (lnd.Config, error) {
	n := cfg.Node
	flagsGiven := o.node.lndconnect != "" || o.node.host != "" || o.node.tlsCertPath != "" || o.node.macaroonPath != ""
	switch {
	case flagsGiven:
		return o.node.config()
	case n.LNDConnect != "":
		return lnd.ParseLNDConnect(n.LNDConnect)
	case n.Host != "":
		c := lnd.Config{Host: n.Host, TLSCertPath: n.TLSCert, MacaroonPath: n.Macaroon}
		return c, c.Validate()
	default:
		return o.node.config()
	}
}

func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, &usageError{err: fmt.Errorf("--log-level %q: want debug, info, warn or error", s), cmdPath: "satloop gate"}
	}
	return l, nil
}

// gateReady is what `satloop gate` prints once it serves.
type gateReady struct {
	URL      string `json:"url"`
	AdminURL string `json:"admin_url"`
	TLS      string `json:"tls"`
	Store    string `json:"store"`
	DataDir  string `json:"data_dir"`
	Routes   int    `json:"routes"`
}

func runGate(ctx context.Context, o *gateOptions) error {
	level, err := parseLogLevel(o.LogLevel)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(o.IO.ErrOut, &slog.HandlerOptions{Level: level}))
	cfg, err := o.config()
	if err != nil {
		return err
	}
	master, err := gate.LoadOrCreateSecret(cfg.Secrets.RootKeyFile)
	if err != nil {
		return err
	}
	keys, err := l402.NewDerivedRootKeys(master)
	if err != nil {
		return err
	}
	adminSecret, err := gate.LoadOrCreateSecret(cfg.Admin.TokenFile)
	if err != nil {
		return err
	}
	adminToken := hex.EncodeToString(adminSecret)

	store, err := openGateStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer store.Close()

	nodeCfg, err := o.nodeConfig(cfg)
	if err != nil {
		return err
	}
	nodeCfg.Logger = logger
	node, err := lnd.Dial(ctx, nodeCfg)
	if err != nil {
		return fmt.Errorf("gate: node: %w", err)
	}
	defer node.Close()

	gw, err := gate.New(gate.Options{Config: cfg, Invoices: node, Store: store, Keys: keys, Logger: logger})
	if err != nil {
		return err
	}
	defer gw.Close()

	var cert *tls.Certificate
	scheme := "http"
	switch cfg.TLS.Mode {
	case gate.TLSSelfSigned:
		c, err := gate.LoadOrCreateCertificate(cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.Hosts, time.Now())
		if err != nil {
			return err
		}
		cert, scheme = &c, "https"
	case gate.TLSFiles:
		c, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return fmt.Errorf("gate: TLS certificate: %w", err)
		}
		cert, scheme = &c, "https"
	}
	public, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("gate: listen: %w", err)
	}
	admin, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		public.Close()
		return fmt.Errorf("gate: admin listen: %w", err)
	}
	adminURL := "http://" + admin.Addr().String()
	urlFile := filepath.Join(cfg.DataDir, gateAdminURLFile)
	if err := os.WriteFile(urlFile, []byte(adminURL+"\n"), 0o600); err != nil {
		logger.Warn("gate: cannot record the admin address for 'satloop gate revoke'", "file", urlFile, "err", err)
	}
	defer os.Remove(urlFile)

	ready := gateReady{
		URL: scheme + "://" + public.Addr().String(), AdminURL: adminURL, TLS: cfg.TLS.Mode,
		Store: cfg.Store.Driver, DataDir: cfg.DataDir, Routes: len(cfg.Routes),
	}
	if wantJSON(o.IO, o.JSON, o.JSONSet) {
		if err := printJSON(o.IO, ready); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(o.IO.Out, "serving %s (%d routes, TLS %s, store %s)\nadmin   %s (token in %s)\n",
			ready.URL, ready.Routes, ready.TLS, ready.Store, ready.AdminURL, cfg.Admin.TokenFile)
	}
	logger.Info("gate: serving", "url", ready.URL, "admin_url", adminURL, "routes", len(cfg.Routes), "node", nodeCfg.Host)
	return gw.Serve(ctx, gate.Listeners{Public: public, Certificate: cert, Admin: admin, AdminToken: adminToken})
}

func openGateStore(ctx context.Context, cfg gate.Config, logger *slog.Logger) (gate.Store, error) {
	switch cfg.Store.Driver {
	case gate.StorePostgres:
		return postgres.OpenGateStore(ctx, cfg.Store.DSN, logger)
	default:
		if err := os.MkdirAll(filepath.Dir(cfg.Store.Path), 0o700); err != nil {
			return nil, fmt.Errorf("gate: store directory: %w", err)
		}
		return sqlite.OpenGateStore(ctx, cfg.Store.Path)
	}
}

// adminClientOptions locate a running gateway's admin API.
type adminClientOptions struct {
	URL       string
	TokenFile string
	DataDir   string
	JSON      bool
	JSONSet   bool
}

func addAdminClientFlags(cmd *cobra.Command, o *adminClientOptions) {
	f := cmd.Flags()
	f.StringVar(&o.URL, "admin-url", "", "the gateway's admin API (default: the address the running gateway recorded in the data directory)")
	f.StringVar(&o.TokenFile, "admin-token-file", "", "the admin token file (default gate-admin-token in the data directory)")
	f.StringVar(&o.DataDir, "data-dir", "", "the gateway's data directory (default $SATLOOP_DATA_DIR or ~/.local/share/satloop)")
	f.BoolVar(&o.JSON, "json", false, "print JSON (the default when stdout is not a terminal)")
}

// client resolves the flags to an admin client.
func (o *adminClientOptions) client() (gate.AdminClient, error) {
	dir := o.DataDir
	if dir == "" {
		var err error
		if dir, err = dataDir(); err != nil {
			return gate.AdminClient{}, err
		}
	}
	url := o.URL
	if url == "" {
		data, err := os.ReadFile(filepath.Join(dir, gateAdminURLFile))
		switch {
		case err == nil:
			url = strings.TrimSpace(string(data))
		case errors.Is(err, os.ErrNotExist):
			url = "http://" + gate.DefaultAdminListen
		default:
			return gate.AdminClient{}, err
		}
	}
	tokenFile := o.TokenFile
	if tokenFile == "" {
		tokenFile = filepath.Join(dir, "gate-admin-token")
	}
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		return gate.AdminClient{}, fmt.Errorf("read the admin token (%w): pass --admin-token-file or --data-dir of the running gateway", err)
	}
	// The gateway sends the secret as lowercase hex, whatever case the
	// file was edited into.
	secret, err := hex.DecodeString(strings.TrimSpace(string(token)))
	if err != nil {
		return gate.AdminClient{}, fmt.Errorf("%s does not hold a hex admin token", tokenFile)
	}
	return gate.AdminClient{BaseURL: url, Token: hex.EncodeToString(secret)}, nil
}
