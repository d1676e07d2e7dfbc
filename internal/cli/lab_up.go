package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/satloop/satloop/lab"
)

type labUpOptions struct {
	*labOptions
	CacheDir string
}

func newCmdLabUp(lopts *labOptions, runF func(*labUpOptions) error) *cobra.Command {
	opts := &labUpOptions{labOptions: lopts}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the lab network and wait until agent can pay seller",
		Long: `Start btcd and the agent, router and seller lnd nodes, fund them, open
channels agent -> router -> seller, and return once a first payment from
agent to seller has gone through. Progress goes to stderr; the nodes'
connection details (as 'satloop lab env' prints them) to stdout.

If anything fails or the command is interrupted, everything it started is
stopped. A lab already running in --dir is left alone.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runLabUp(cmd, opts)
		},
	}
	cmd.Flags().StringVar(&opts.CacheDir, "cache-dir", "", "where built lnd/btcd binaries are kept (default $SATLOOP_LAB_CACHE or the user cache directory)")
	return cmd
}

func runLabUp(cmd *cobra.Command, opts *labUpOptions) error {
	start := time.Now()
	net, err := lab.Up(cmd.Context(), lab.Config{
		Dir:      opts.Dir,
		CacheDir: opts.CacheDir,
		Progress: opts.IO.ErrOut,
		Detach:   true,
	})
	if errors.Is(err, lab.ErrAlreadyUp) {
		fmt.Fprintf(opts.IO.ErrOut, "lab: already up in %s; 'satloop lab status' shows it\n", opts.Dir)
		net, err = lab.Open(opts.Dir)
	}
	if err != nil {
		return err
	}
	defer net.Close()
	env, err := net.Env()
	if err != nil {
		return err
	}
	if opts.wantJSON() {
		return printJSON(opts.IO, env)
	}
	fmt.Fprintf(opts.IO.Out, "lab up in %s (%s)\n\n", time.Since(start).Round(100*time.Millisecond), opts.Dir)
	for _, n := range env.Nodes {
		fmt.Fprintf(opts.IO.Out, "  %-7s %s  grpc %s\n", n.Name, n.Pubkey, n.RPCAddr)
	}
	fmt.Fprintf(opts.IO.Out, "\nNext:\n  satloop lab pay 1000          # agent pays seller through router\n  eval \"$(satloop lab env --shell)\"  # connection details as shell variables\n  satloop lab down              # stop everything\n")
	return nil
}
