package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/satloop/satloop/bakery"
	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/gate"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lab"
	"github.com/satloop/satloop/lightning/lnd"
	"github.com/satloop/satloop/store/sqlite"
	"github.com/satloop/satloop/wallet"
)

// crashAtStepEnv is a test-only hook: when it names a wallet.Step, the
// daemon SIGKILLs itself at that step of its first payment, as a crash
// would, so that the tests can show the ledger recovers.
const crashAtStepEnv = "SATLOOP_TEST_WALLET_CRASH"

func newCmdWallet(io *IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "wallet",
		Short: "The allowance daemon: agents spend through it, within limits, never holding the node's keys",
		Long: `The wallet daemon alone holds the node connection. Agents hold credentials
minted by 'satloop bake agent' and ask the daemon to fetch L402 resources,
pay invoices or create invoices; it checks every limit of the credential
and reserves the money in its ledger before the node sees the invoice.

Operator commands: serve, agents, revoke, freeze, unfreeze.
Agent commands (with --credential or SATLOOP_CREDENTIAL): allowance, pay,
invoice, history. An agent fetches with 'satloop get --credential ...'.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newCmdWalletServe(io), newCmdWalletAgents(io), newCmdWalletRevoke(io),
		newCmdWalletFreeze(io, true), newCmdWalletFreeze(io, false),
		newCmdWalletAllowance(io), newCmdWalletPay(io), newCmdWalletInvoice(io), newCmdWalletHistory(io))
	return cmd
}

type walletServeOptions struct {
	IO        *IO
	DataDir   string
	Socket    string
	TLSListen string
	MaxFee    uint64
	CACert    string
	LogLevel  string
	JSON      bool
	JSONSet   bool
	node      nodeOptions
}

func newCmdWalletServe(io *IO) *cobra.Command {
	opts := &walletServeOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the allowance daemon",
		Long: `Run the allowance daemon on a unix socket (mode 0600) in the data
directory, and with --tls-listen also on 127.0.0.1 over TLS (a self-signed
certificate kept in the data directory, pinned by credential files).

The node is --lndconnect or --lnd-* (or their environment variables), else
the local lab's agent node. Give the daemon the least power it needs: a
macaroon from 'satloop bake lnd --preset pay-only' (plus invoice-only if
agents may receive).

At start, payments a crash left reserved are resolved with the node by
payment hash before anything is served.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.JSONSet = cmd.Flags().Changed("json")
			return runWalletServe(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.DataDir, "data-dir", "", "where the ledger, socket and token stores live (default $SATLOOP_DATA_DIR or ~/.local/share/satloop)")
	f.StringVar(&opts.Socket, "socket", "", "unix socket path (default wallet.sock in the data directory)")
	f.StringVar(&opts.TLSListen, "tls-listen", "", "also listen here with TLS, loopback only (127.0.0.1:8404)")
	f.Uint64Var(&opts.MaxFee, "max-fee-sats", 10, "routing fee cap per payment, reserved against budgets with the amount")
	f.StringVar(&opts.CACert, "cacert", "", "trust the certificates in this PEM file for sellers' https instead of the system's (e.g. a gateway's self-signed gate-tls.cert)")
	f.StringVar(&opts.LogLevel, "log-level", "info", "debug, info, warn or error; logs go to stderr")
	f.BoolVar(&opts.JSON, "json", false, "print the ready line as JSON (the default when stdout is not a terminal)")
	addNodeFlags(cmd, &opts.node, lab.Agent)
	return cmd
}

type walletReady struct {
	Wallet  string `json:"wallet"`
	TLS     string `json:"tls_url,omitempty"`
	Network string `json:"network"`
	DataDir string `json:"data_dir"`
	Ledger  string `json:"ledger"`
}

func runWalletServe(ctx context.Context, o *walletServeOptions) error {
	level, err := parseLogLevel(o.LogLevel)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(o.IO.ErrOut, &slog.HandlerOptions{Level: level}))
	dir, err := resolveDataDir(o.DataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("wallet: data directory: %w", err)
	}
	maxFee, err := sats("--max-fee-sats", o.MaxFee)
	if err != nil {
		return &usageError{err: err, cmdPath: "satloop wallet serve"}
	}
	socket := o.Socket
	if socket == "" {
		socket = filepath.Join(dir, walletSocketFile)
	}
	ledger, err := sqlite.OpenLedger(ctx, filepath.Join(dir, walletLedgerFile))
	if err != nil {
		return err
	}
	defer ledger.Close()
	nodeCfg, err := o.node.config()
	if err != nil {
		return err
	}
	nodeCfg.Logger = logger
	node, err := lnd.Dial(ctx, nodeCfg)
	if err != nil {
		return err
	}
	defer node.Close()

	tokens := &tokenStores{dir: filepath.Join(dir, walletTokensDir)}
	defer tokens.close()
	opts := wallet.Options{Node: node, Ledger: ledger, Tokens: tokens.open, MaxFee: maxFee, Logger: logger}
	if o.CACert != "" {
		base := newBaseTransport()
		if base.TLSClientConfig, err = tlsConfigTrusting(o.CACert); err != nil {
			return err
		}
		opts.Base = base
	}
	if step := os.Getenv(crashAtStepEnv); step != "" {
		opts.OnStep = func(s wallet.Step, _ l402.PaymentHash) {
			if string(s) == step {
				// Process.Kill is SIGKILL on Unix: nothing deferred runs.
				if self, err := os.FindProcess(os.Getpid()); err == nil {
					self.Kill()
				}
			}
		}
	}
	w, err := wallet.New(ctx, opts)
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Reconcile(ctx); err != nil {
		logger.Warn("wallet: some reserved payments could not be resolved yet; they stay reserved and are tracked", "err", err)
	}

	cfg := wallet.ServeConfig{Socket: socket, Logger: logger}
	if o.TLSListen != "" {
		cfg.TLSAddr = o.TLSListen
		cfg.TLSCert, cfg.TLSKey = filepath.Join(dir, walletCertFile), filepath.Join(dir, walletKeyFile)
		if _, err := gate.LoadOrCreateCertificate(cfg.TLSCert, cfg.TLSKey, []string{"127.0.0.1", "localhost", "::1"}, time.Now()); err != nil {
			return err
		}
	}
	ready := walletReady{Wallet: "unix://" + socket, Network: string(w.Network()), DataDir: dir, Ledger: ledger.Path()}
	cfg.Ready = func(tlsAddr string) {
		if tlsAddr != "" {
			ready.TLS = "https://" + tlsAddr
		}
		if wantJSON(o.IO, o.JSON, o.JSONSet) {
			printJSON(o.IO, ready)
		} else {
			fmt.Fprintf(o.IO.Out, "wallet serving %s", ready.Wallet)
			if ready.TLS != "" {
				fmt.Fprintf(o.IO.Out, " and %s", ready.TLS)
			}
			fmt.Fprintf(o.IO.Out, " (network %s, ledger %s)\n", ready.Network, ready.Ledger)
		}
		logger.Info("wallet: serving", "socket", socket, "tls", ready.TLS, "network", ready.Network)
	}
	return wallet.Serve(ctx, cfg, w.Handler())
}

// tokenStores opens each agent's L402 token store once.
type tokenStores struct {
	dir    string
	mu     sync.Mutex
	stores []*sqlite.BuyerStore
}

func (t *tokenStores) open(ctx context.Context, id wallet.AgentID) (client.Store, error) {
	s, err := sqlite.OpenBuyerStore(ctx, filepath.Join(t.dir, id.String()+".db"))
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.stores = append(t.stores, s)
	t.mu.Unlock()
	return s, nil
}

func (t *tokenStores) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.stores {
		s.Close()
	}
}

// ledgerOptions locate the wallet's ledger for the operator commands.
type ledgerOptions struct {
	IO      *IO
	DataDir string
	JSON    bool
	JSONSet bool
}

func (o *ledgerOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.DataDir, "data-dir", "", "the wallet's data directory (default $SATLOOP_DATA_DIR or ~/.local/share/satloop)")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON (the default when stdout is not a terminal)")
}

// open opens the ledger; it must exist (bake an agent first).
func (o *ledgerOptions) open(ctx context.Context, cmd *cobra.Command) (*sqlite.Ledger, error) {
	o.JSONSet = cmd.Flags().Changed("json")
	dir, err := resolveDataDir(o.DataDir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, walletLedgerFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no wallet ledger in %s: mint an agent first ('satloop bake agent')", dir)
	}
	return sqlite.OpenLedger(ctx, path)
}

// agentView is one agent as 'wallet agents' shows it.
type agentView struct {
	wallet.Agent
	Status     string               `json:"status"`
	ExpiresAt  time.Time            `json:"expires_at,omitzero"`
	MaxPerCall string               `json:"max_per_call"`
	Budgets    []wallet.BudgetState `json:"budgets"`
	Hosts      [][]string           `json:"hosts,omitempty"`
	Ops        []bakery.Op          `json:"ops"`
}

func newCmdWalletAgents(io *IO) *cobra.Command {
	opts := &ledgerOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "agents",
		Short: "List agent credentials with what is left of every budget",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			ledger, err := opts.open(ctx, cmd)
			if err != nil {
				return err
			}
			defer ledger.Close()
			agents, err := ledger.Agents(ctx)
			if err != nil {
				return err
			}
			now := time.Now()
			views := []agentView{}
			for _, a := range agents {
				g, err := rootGrant(a)
				if err != nil {
					return err
				}
				states, err := wallet.BudgetStates(ctx, ledger, g, now)
				if err != nil {
					return err
				}
				v := agentView{Agent: a, Status: "active", ExpiresAt: g.ExpiresAt, MaxPerCall: g.MaxPerCall.String(), Budgets: states, Hosts: g.Hosts, Ops: g.Ops()}
				switch {
				case a.Revoked():
					v.Status = "revoked"
				case !g.ExpiresAt.IsZero() && !now.Before(g.ExpiresAt):
					v.Status = "expired"
				}
				views = append(views, v)
			}
			frozen, since, err := ledger.Frozen(ctx)
			if err != nil {
				return err
			}
			if wantJSON(opts.IO, opts.JSON, opts.JSONSet) {
				return printJSON(opts.IO, struct {
					Frozen bool        `json:"frozen"`
					Since  time.Time   `json:"frozen_since,omitzero"`
					Agents []agentView `json:"agents"`
				}{frozen, since, views})
			}
			if frozen {
				fmt.Fprintf(opts.IO.Out, "FROZEN since %s: no payment is made ('satloop wallet unfreeze')\n", since.UTC().Format(time.RFC3339))
			}
			w := tabwriter.NewWriter(opts.IO.Out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tSTATUS\tPER CALL\tBUDGETS (left of limit, resets)\tHOSTS\tEXPIRES")
			for _, v := range views {
				var budgets []string
				for _, b := range v.Budgets {
					budgets = append(budgets, fmt.Sprintf("%s of %s/%s, %s", b.Left, b.Limit, b.Window, b.ResetsAt.UTC().Format("2006-01-02 15:04")))
				}
				hosts := "any"
				if len(v.Hosts) > 0 {
					var lists []string
					for _, l := range v.Hosts {
						lists = append(lists, strings.Join(l, ","))
					}
					hosts = strings.Join(lists, " & ")
				}
				expires := "never"
				if !v.ExpiresAt.IsZero() {
					expires = v.ExpiresAt.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, v.Status, v.MaxPerCall, strings.Join(budgets, "; "), hosts, expires)
			}
			return w.Flush()
		},
	}
	opts.addFlags(cmd)
	return cmd
}

// rootGrant reads the limits an agent's root credential was minted with.
func rootGrant(a wallet.Agent) (bakery.Grant, error) {
	mac, err := bakery.Mint(a.ID, a.RootKey, bakery.Limits{})
	if err != nil {
		return bakery.Grant{}, err
	}
	for _, raw := range a.Caveats {
		if err := mac.AddFirstPartyCaveat([]byte(raw)); err != nil {
			return bakery.Grant{}, err
		}
	}
	return bakery.Inspect(mac)
}

func newCmdWalletRevoke(io *IO) *cobra.Command {
	opts := &ledgerOptions{IO: io}
	return withLedgerFlags(opts, &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke every credential of an agent, attenuated ones included, at once",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ledger, err := opts.open(cmd.Context(), cmd)
			if err != nil {
				return err
			}
			defer ledger.Close()
			a, err := ledger.RevokeAgent(cmd.Context(), args[0], time.Now())
			if errors.Is(err, wallet.ErrNotFound) {
				return fmt.Errorf("no agent named %s that is not revoked ('satloop wallet agents' lists them)", args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(opts.IO.ErrOut, "revoked %s (agent %s); its credentials are refused from now on\n", a.Name, a.ID)
			return nil
		},
	})
}

func newCmdWalletFreeze(io *IO, freeze bool) *cobra.Command {
	opts := &ledgerOptions{IO: io}
	use, short := "freeze", "Stop all spending at once, for every agent, until unfreeze"
	if !freeze {
		use, short = "unfreeze", "Allow spending again after a freeze"
	}
	return withLedgerFlags(opts, &cobra.Command{
		Use:   use,
		Short: short,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ledger, err := opts.open(cmd.Context(), cmd)
			if err != nil {
				return err
			}
			defer ledger.Close()
			if err := ledger.SetFrozen(cmd.Context(), freeze, time.Now()); err != nil {
				return err
			}
			if freeze {
				fmt.Fprintln(opts.IO.ErrOut, "frozen: no payment is made until 'satloop wallet unfreeze' (payments already in flight finish)")
			} else {
				fmt.Fprintln(opts.IO.ErrOut, "unfrozen: agents may spend within their limits again")
			}
			return nil
		},
	})
}

func withLedgerFlags(o *ledgerOptions, cmd *cobra.Command) *cobra.Command {
	o.addFlags(cmd)
	return cmd
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return &usageError{err: fmt.Errorf("%s takes %d argument(s), got %d", cmd.CommandPath(), n, len(args)), cmdPath: cmd.CommandPath()}
		}
		return nil
	}
}

// agentOptions are an agent's flags: where the wallet is and its
// credential.
type agentOptions struct {
	IO         *IO
	Wallet     string
	Credential string
	JSON       bool
	JSONSet    bool
}

func (o *agentOptions) addFlags(cmd *cobra.Command) {
	addAgentFlags(cmd, &o.Wallet, &o.Credential)
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON (the default when stdout is not a terminal)")
}

func addAgentFlags(cmd *cobra.Command, walletAddr, credential *string) {
	// The environment is read at run time: --help never prints a
	// credential.
	cmd.Flags().StringVar(walletAddr, "wallet", "", "the wallet daemon's address, unix:///path or https://127.0.0.1:PORT (env SATLOOP_WALLET; default the credential file's)")
	cmd.Flags().StringVar(credential, "credential", "", "the agent credential file (env SATLOOP_CREDENTIAL)")
}

// agentCredentialGiven reports whether a credential is set by flag or
// environment.
func agentCredentialGiven(credential string) bool {
	return credential != "" || os.Getenv("SATLOOP_CREDENTIAL") != ""
}

// dialWallet reads the credential and returns a wallet client.
func dialWallet(walletAddr, credential string) (*wallet.Client, error) {
	if credential == "" {
		credential = os.Getenv("SATLOOP_CREDENTIAL")
	}
	if walletAddr == "" {
		walletAddr = os.Getenv("SATLOOP_WALLET")
	}
	f, err := bakery.ReadCredential(credential)
	if err != nil {
		return nil, err
	}
	return wallet.Dial(f, walletAddr)
}

func (o *agentOptions) client(cmd *cobra.Command) (*wallet.Client, error) {
	o.JSONSet = cmd.Flags().Changed("json")
	return dialWallet(o.Wallet, o.Credential)
}

func newCmdWalletAllowance(io *IO) *cobra.Command {
	opts := &agentOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "allowance",
		Short: "Show what the agent's credential may still spend",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := opts.client(cmd)
			if err != nil {
				return err
			}
			a, err := c.Allowance(cmd.Context())
			if err != nil {
				return err
			}
			if wantJSON(opts.IO, opts.JSON, opts.JSONSet) {
				return printJSON(opts.IO, a)
			}
			fmt.Fprintf(opts.IO.Out, "agent %s on %s: at most %s per call (fees up to %s on top)\n", a.Agent, a.Network, a.MaxPerCall, a.MaxFee)
			for _, b := range a.Budgets {
				fmt.Fprintf(opts.IO.Out, "budget %s/%s: %s left (%s used), frees room %s\n", b.Limit, b.Window, b.Left, b.Used, b.ResetsAt.UTC().Format(time.RFC3339))
			}
			if a.Frozen {
				fmt.Fprintln(opts.IO.Out, "the wallet is FROZEN: nothing is paid until the operator unfreezes it")
			}
			return nil
		},
	}
	opts.addFlags(cmd)
	return cmd
}

func newCmdWalletPay(io *IO) *cobra.Command {
	opts := &agentOptions{IO: io}
	var maxSats uint64
	cmd := &cobra.Command{
		Use:   "pay INVOICE",
		Short: "Pay a BOLT 11 invoice through the wallet, within the credential's limits",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := opts.client(cmd)
			if err != nil {
				return err
			}
			req := wallet.PayRequest{Invoice: args[0]}
			if maxSats > 0 {
				if req.MaxPrice, err = sats("--max-sats", maxSats); err != nil {
					return &usageError{err: err, cmdPath: cmd.CommandPath()}
				}
			}
			res, err := c.PayInvoice(cmd.Context(), req)
			if err != nil {
				return err
			}
			out := wallet.PayResponse{PayResult: res, Preimage: fmt.Sprintf("%x", res.Preimage[:])}
			if wantJSON(opts.IO, opts.JSON, opts.JSONSet) {
				return printJSON(opts.IO, out)
			}
			fmt.Fprintf(opts.IO.Out, "paid %s plus %s fee; payment hash %s\npreimage %s\n", res.Amount, res.Fee, res.Hash, out.Preimage)
			return nil
		},
	}
	cmd.Flags().Uint64Var(&maxSats, "max-sats", 0, "refuse if the invoice asks more than this (the credential's cap applies anyway)")
	opts.addFlags(cmd)
	return cmd
}

func newCmdWalletInvoice(io *IO) *cobra.Command {
	opts := &agentOptions{IO: io}
	var amount uint64
	var memo string
	var expiry time.Duration
	cmd := &cobra.Command{
		Use:   "invoice --amount SATS [--memo TEXT]",
		Short: "Create an invoice through the wallet (the credential must allow receiving)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if amount == 0 {
				return &usageError{err: errors.New("--amount is required and must be positive"), cmdPath: cmd.CommandPath()}
			}
			c, err := opts.client(cmd)
			if err != nil {
				return err
			}
			msat, err := sats("--amount", amount)
			if err != nil {
				return &usageError{err: err, cmdPath: cmd.CommandPath()}
			}
			inv, err := c.CreateInvoice(cmd.Context(), wallet.InvoiceRequest{Amount: msat, Memo: memo, ExpirySeconds: int64(expiry / time.Second)})
			if err != nil {
				return err
			}
			if wantJSON(opts.IO, opts.JSON, opts.JSONSet) {
				return printJSON(opts.IO, inv)
			}
			fmt.Fprintln(opts.IO.Out, inv.PaymentRequest)
			return nil
		},
	}
	cmd.Flags().Uint64Var(&amount, "amount", 0, "amount in sats")
	cmd.Flags().StringVar(&memo, "memo", "", "description shown to the payer")
	cmd.Flags().DurationVar(&expiry, "expiry", time.Hour, "how long the invoice can be paid")
	opts.addFlags(cmd)
	return cmd
}

func newCmdWalletHistory(io *IO) *cobra.Command {
	opts := &agentOptions{IO: io}
	var limit int
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List the agent's payments through the wallet, newest first",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit <= 0 {
				return &usageError{err: errors.New("--limit must be positive"), cmdPath: cmd.CommandPath()}
			}
			c, err := opts.client(cmd)
			if err != nil {
				return err
			}
			entries, err := c.History(cmd.Context(), limit)
			if err != nil {
				return err
			}
			if wantJSON(opts.IO, opts.JSON, opts.JSONSet) {
				return printJSON(opts.IO, entries)
			}
			if len(entries) == 0 {
				fmt.Fprintln(opts.IO.Out, "no payments")
				return nil
			}
			w := tabwriter.NewWriter(opts.IO.Out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "TIME\tSTATUS\tAMOUNT\tFEE\tHOST\tPAYMENT HASH")
			for _, e := range entries {
				fee := e.Fee
				if e.Status == wallet.EntryReserved {
					fee = e.FeeLimit
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", e.CreatedAt.UTC().Format(time.RFC3339), e.Status, e.Amount, fee, e.Host, e.Hash)
			}
			return w.Flush()
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 50, "show at most this many payments")
	opts.addFlags(cmd)
	return cmd
}
