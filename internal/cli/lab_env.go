package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/satloop/satloop/lab"
)

type labEnvOptions struct {
	*labOptions
	Shell bool
}

func newCmdLabEnv(lopts *labOptions, runF func(*labEnvOptions) error) *cobra.Command {
	opts := &labEnvOptions{labOptions: lopts}
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Print each node's connection details as shell exports or JSON",
		Long: `Print how to reach each lab node: gRPC address, TLS certificate and
macaroon paths, an lndconnect URI, and an lncli command line.

With --shell, or on a terminal without --json, the output is shell code:

    eval "$(satloop lab env --shell)"
    lncli-agent getinfo
    echo "$SELLER_LND_HOST"

Otherwise it is JSON. The lndconnect URIs hold each node's admin macaroon.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// --json lives on the parent command, so cobra's
			// mutually-exclusive groups cannot see it.
			if opts.Shell && opts.JSONSet && opts.JSON {
				return &usageError{err: fmt.Errorf("%s: --shell and --json ask for different formats; give one", cmd.CommandPath()), cmdPath: cmd.CommandPath()}
			}
			if runF != nil {
				return runF(opts)
			}
			return runLabEnv(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Shell, "shell", false, "print shell exports and aliases")
	return cmd
}

func runLabEnv(opts *labEnvOptions) error {
	net, err := lab.Open(opts.Dir)
	if err != nil {
		return err
	}
	defer net.Close()
	env, err := net.Env()
	if err != nil {
		return err
	}
	if !opts.Shell && opts.wantJSON() {
		return printJSON(opts.IO, env)
	}
	return writeShellEnv(opts.IO.Out, env)
}

// writeShellEnv renders env as POSIX shell: exports per node and an
// lncli-NAME alias.
func writeShellEnv(w io.Writer, env lab.Env) error {
	var b strings.Builder
	fmt.Fprintf(&b, "export SATLOOP_LAB_DIR=%s\n", shellQuote(env.Dir))
	for _, n := range env.Nodes {
		prefix := strings.ToUpper(n.Name) + "_LND_"
		for _, kv := range [][2]string{
			{"HOST", n.RPCAddr},
			{"PUBKEY", n.Pubkey},
			{"P2P", n.P2PAddr},
			{"REST", n.RESTAddr},
			{"TLSCERT", n.TLSCertPath},
			{"MACAROON", n.MacaroonPath},
			{"READONLY_MACAROON", n.ReadOnlyMacaroonPath},
			{"INVOICE_MACAROON", n.InvoiceMacaroonPath},
			{"CONNECT", n.LNDConnect},
		} {
			fmt.Fprintf(&b, "export %s%s=%s\n", prefix, kv[0], shellQuote(kv[1]))
		}
		quoted := make([]string, len(n.LNCLI))
		for i, a := range n.LNCLI {
			quoted[i] = shellQuote(a)
		}
		fmt.Fprintf(&b, "alias lncli-%s=%s\n", n.Name, shellQuote(strings.Join(quoted, " ")))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("cli: write output: %w", err)
	}
	return nil
}

// shellQuote single-quotes s for POSIX shells.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
