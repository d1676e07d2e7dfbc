package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/macaroon.v2"

	"github.com/satloop/satloop/bakery"
	"github.com/satloop/satloop/store/sqlite"
	"github.com/satloop/satloop/wallet"
)

// Files the wallet keeps in the data directory.
const (
	walletLedgerFile = "wallet.db"
	walletSocketFile = "wallet.sock"
	walletTokensDir  = "wallet-tokens"
	walletCertFile   = "wallet-tls.cert"
	walletKeyFile    = "wallet-tls.key"
)

// limitFlags are the limit flags 'bake agent' and 'bake attenuate' share.
type limitFlags struct {
	maxPerCall uint64
	budgets    []string
	hosts      []string
	denyHosts  []string
	expires    string
	ops        []string
}

func (f *limitFlags) add(cmd *cobra.Command, expiresDefault string) {
	fl := cmd.Flags()
	fl.Uint64Var(&f.maxPerCall, "max-sats-per-call", 0, "the most one call may pay, in sats (invoice amount)")
	fl.StringArrayVar(&f.budgets, "budget", nil, "SATS/WINDOW, repeatable: 5000/day, 20000/month (calendar, UTC) or 5000/24h, 20000/30d (rolling); fees count")
	fl.StringSliceVar(&f.hosts, "hosts", nil, "hosts it may fetch from: api.example.com,*.example.org (subdomains); bare invoices are then refused")
	fl.StringSliceVar(&f.denyHosts, "deny-hosts", nil, "hosts it may never fetch from")
	fl.StringVar(&f.expires, "expires", expiresDefault, "lifetime (30d, 12h) or date (2026-12-31); \"never\" for none")
	fl.StringSliceVar(&f.ops, "ops", nil, "operations allowed: fetch, pay, receive")
}

// limits turns the flags into bakery limits; zero flags add nothing.
func (f *limitFlags) limits(now time.Time) (bakery.Limits, error) {
	var l bakery.Limits
	if f.maxPerCall > 0 {
		perCall, err := sats("--max-sats-per-call", f.maxPerCall)
		if err != nil {
			return l, err
		}
		l.MaxPerCall = perCall
	}
	for _, b := range f.budgets {
		budget, err := bakery.ParseBudget(b)
		if err != nil {
			return l, fmt.Errorf("--budget: %w", err)
		}
		l.Budgets = append(l.Budgets, budget)
	}
	l.Hosts, l.DenyHosts = f.hosts, f.denyHosts
	switch f.expires {
	case "", "never":
	default:
		at, err := parseExpiry(f.expires, now)
		if err != nil {
			return l, err
		}
		l.ExpiresAt = at
	}
	for _, op := range f.ops {
		l.Ops = append(l.Ops, bakery.Op(strings.TrimSpace(op)))
	}
	if f.ops != nil && l.Ops == nil {
		l.Ops = []bakery.Op{}
	}
	// Caveats checks hosts, ops and budgets and says what is wrong.
	if _, err := l.Caveats(); err != nil {
		return l, err
	}
	return l, nil
}

// parseExpiry reads a lifetime from now ("30d", "12h") or a date.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if w, err := bakery.ParseWindow(s); err == nil && w.Rolling > 0 {
		return now.Add(w.Rolling), nil
	}
	for _, layout := range []string{time.RFC3339, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			if !t.After(now) {
				return time.Time{}, fmt.Errorf("--expires %s is in the past", s)
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--expires %q: give a lifetime (30d, 12h), a date (2026-12-31) or \"never\"", s)
}

type bakeAgentOptions struct {
	IO         *IO
	Name       string
	CanReceive bool
	Out        string
	Force      bool
	DataDir    string
	WalletURL  string
	limits     limitFlags
}

func newCmdBakeAgent(io *IO) *cobra.Command {
	opts := &bakeAgentOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "agent --name NAME --budget SATS/WINDOW [flags]",
		Short: "Mint an agent credential: an allowance with hard limits, never the node's keys",
		Long: `Mint a credential for an agent to spend through 'satloop wallet serve'.
The agent holds only this credential; the wallet daemon holds the node.

Every limit is a caveat of the credential (a macaroon) and the daemon
enforces each: an expiry, a cap per call, one or more budgets over time, the
hosts it may fetch from, and what it may do (fetch, pay bare invoices,
receive). Budgets count invoice amounts plus routing fees; a calendar
window (day, week, month) resets at 00:00 UTC (weeks on Monday, months on
the 1st); a rolling one (24h, 30d) counts the spending of the last span.

The holder can narrow its credential offline with 'satloop bake
attenuate' (to hand a sub-agent less), never widen it. 'satloop wallet
revoke NAME' ends every credential of the agent at once.

The credential file (wallet address plus credential) goes to --out with
mode 0600, or to stdout. Give it to the agent as --credential FILE or
SATLOOP_CREDENTIAL. It contains nothing that reaches the node.`,
		Example: `  satloop bake agent --name research-bot --max-sats-per-call 200 \
    --budget 5000/day --budget 20000/month \
    --hosts api.example.com,*.example.org --expires 30d --out research-bot.cred`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Name == "" {
				return &usageError{err: errors.New("--name is required: the name the operator revokes it by"), cmdPath: cmd.CommandPath()}
			}
			if len(opts.limits.budgets) == 0 {
				return &usageError{err: errors.New("at least one --budget is required: a credential without a budget is a blank cheque (try --budget 5000/day)"), cmdPath: cmd.CommandPath()}
			}
			return runBakeAgent(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Name, "name", "", "the agent's name (letters, digits, - _ .)")
	f.BoolVar(&opts.CanReceive, "can-receive", false, "allow creating invoices (selling)")
	f.StringVar(&opts.Out, "out", "", "write the credential file here (0600) instead of stdout")
	f.BoolVar(&opts.Force, "force", false, "replace --out if it exists")
	f.StringVar(&opts.DataDir, "data-dir", "", "the wallet's data directory (default $SATLOOP_DATA_DIR or ~/.local/share/satloop)")
	f.StringVar(&opts.WalletURL, "wallet-url", "", "the address agents reach the daemon at (default the unix socket in the data directory; https://127.0.0.1:PORT for 'wallet serve --tls-listen')")
	opts.limits.add(cmd, "30d")
	return cmd
}

func runBakeAgent(ctx context.Context, o *bakeAgentOptions) error {
	dir, err := resolveDataDir(o.DataDir)
	if err != nil {
		return err
	}
	now := time.Now()
	limits, err := o.limits.limits(now)
	if err != nil {
		return &usageError{err: err, cmdPath: "satloop bake agent"}
	}
	if limits.MaxPerCall == 0 {
		limits.MaxPerCall = wallet.DefaultMaxPerCall
	}
	if limits.Ops == nil {
		limits.Ops = []bakery.Op{bakery.OpFetch, bakery.OpPay}
		if o.CanReceive {
			limits.Ops = append(limits.Ops, bakery.OpReceive)
		}
	} else if o.CanReceive {
		limits.Ops = append(limits.Ops, bakery.OpReceive)
	}
	file := bakery.File{Name: o.Name}
	if file.Wallet, file.WalletCert, err = walletAddress(dir, o.WalletURL); err != nil {
		return err
	}
	ledger, err := sqlite.OpenLedger(ctx, filepath.Join(dir, walletLedgerFile))
	if err != nil {
		return err
	}
	defer ledger.Close()
	agent, mac, err := wallet.MintAgent(ctx, ledger, o.Name, limits, now)
	if errors.Is(err, wallet.ErrAgentExists) {
		return fmt.Errorf("an agent named %s exists; revoke it first ('satloop wallet revoke %s') or choose another name", o.Name, o.Name)
	}
	if err != nil {
		return err
	}
	if file.Credential, err = bakery.Encode(mac); err != nil {
		return err
	}
	if err := writeCredential(o.IO, o.Out, o.Force, file); err != nil {
		return err
	}
	fmt.Fprintf(o.IO.ErrOut, "minted %s (agent %s): %s\n", agent.Name, agent.ID, describeLimits(mac))
	return nil
}

// walletAddress is the address put in credential files: the given URL
// (with the daemon's certificate for https), else the data directory's
// socket.
func walletAddress(dir, walletURL string) (address, certPEM string, err error) {
	if walletURL == "" {
		return "unix://" + filepath.Join(dir, walletSocketFile), "", nil
	}
	if !strings.HasPrefix(walletURL, "https://") {
		return "", "", fmt.Errorf("--wallet-url %q: give https://127.0.0.1:PORT, as 'wallet serve --tls-listen' listens", walletURL)
	}
	cert, err := os.ReadFile(filepath.Join(dir, walletCertFile))
	if err != nil {
		return "", "", fmt.Errorf("--wallet-url needs the daemon's certificate, made by 'satloop wallet serve --tls-listen' in %s: %w", dir, err)
	}
	return walletURL, string(cert), nil
}

func writeCredential(io *IO, out string, force bool, f bakery.File) error {
	if out == "" {
		return printJSON(io, f)
	}
	return bakery.WriteFile(out, f, force)
}

// describeLimits says in one line what a credential allows.
func describeLimits(mac *macaroon.Macaroon) string {
	g, err := bakery.Inspect(mac)
	if err != nil {
		return err.Error()
	}
	var parts []string
	if g.MaxPerCall > 0 {
		parts = append(parts, "at most "+g.MaxPerCall.String()+" per call")
	}
	for _, b := range g.Budgets {
		parts = append(parts, "budget "+b.Budget.String())
	}
	for _, hosts := range g.Hosts {
		parts = append(parts, "hosts "+strings.Join(hosts, ","))
	}
	if len(g.DenyHosts) > 0 {
		parts = append(parts, "never "+strings.Join(g.DenyHosts, ","))
	}
	ops := make([]string, 0, len(g.Ops()))
	for _, op := range g.Ops() {
		ops = append(ops, string(op))
	}
	parts = append(parts, "may "+strings.Join(ops, ","))
	if !g.ExpiresAt.IsZero() {
		parts = append(parts, "expires "+g.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return strings.Join(parts, "; ")
}

type bakeAttenuateOptions struct {
	IO         *IO
	Credential string
	Out        string
	Force      bool
	limits     limitFlags
}

func newCmdBakeAttenuate(io *IO) *cobra.Command {
	opts := &bakeAttenuateOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "attenuate --credential FILE [limits] [--out FILE]",
		Short: "Narrow an agent credential offline, to hand on less than you hold",
		Long: `Add limits to an agent credential, offline: no daemon, no root key. The new
credential keeps every limit of the old one and adds these, so it can only
do less: a lower cap per call, its own budgets (which count against the
old one's too), fewer hosts, fewer operations, an earlier expiry. A limit
no narrower than the credential's own is refused, since it would have no
effect.`,
		Example: `  satloop bake attenuate --credential research-bot.cred \
    --max-sats-per-call 50 --budget 500/day --hosts api.example.com --out sub-agent.cred`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBakeAttenuate(opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Credential, "credential", "", "the credential file to narrow (env SATLOOP_CREDENTIAL)")
	f.StringVar(&opts.Out, "out", "", "write the narrowed credential file here (0600) instead of stdout")
	f.BoolVar(&opts.Force, "force", false, "replace --out if it exists")
	opts.limits.add(cmd, "")
	return cmd
}

func runBakeAttenuate(o *bakeAttenuateOptions) error {
	cred := o.Credential
	if cred == "" {
		cred = os.Getenv("SATLOOP_CREDENTIAL")
	}
	f, err := bakery.ReadCredential(cred)
	if err != nil {
		return err
	}
	mac, err := f.Macaroon()
	if err != nil {
		return err
	}
	limits, err := o.limits.limits(time.Now())
	if err != nil {
		return &usageError{err: err, cmdPath: "satloop bake attenuate"}
	}
	narrowed, err := bakery.Attenuate(mac, limits)
	if err != nil {
		return &usageError{err: err, cmdPath: "satloop bake attenuate"}
	}
	if f.Credential, err = bakery.Encode(narrowed); err != nil {
		return err
	}
	if err := writeCredential(o.IO, o.Out, o.Force, f); err != nil {
		return err
	}
	fmt.Fprintf(o.IO.ErrOut, "narrowed: %s\n", describeLimits(narrowed))
	return nil
}

// resolveDataDir returns dir, or the default data directory.
func resolveDataDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	return dataDir()
}
