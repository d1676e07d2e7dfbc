package cli

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/satloop/satloop/lab"
)

// labOptions are the flags every `satloop lab` command shares.
type labOptions struct {
	IO  *IO
	Dir string
	// JSON is --json; JSONSet whether it was given (see wantJSON).
	JSON    bool
	JSONSet bool
}

func newCmdLab(io *IO) *cobra.Command {
	opts := &labOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Run a local Lightning network (btcd + three lnd nodes on regtest)",
		Long: `Run a local Lightning network for development and tests: btcd on regtest
and three lnd nodes, agent -> router -> seller, with funded channels both
ways. A payment from agent to seller goes through router and pays it a
routing fee. Everything listens on 127.0.0.1 on free ports.

The first 'lab up' builds lnd and btcd from their Go modules (about four
minutes; it needs the go command); later runs reuse the binaries.

State lives in --dir (default $SATLOOP_LAB_DIR, else
~/.local/state/satloop/lab); binaries in $SATLOOP_LAB_CACHE, else the user
cache directory.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.PersistentFlags().StringVar(&opts.Dir, "dir", "", "lab state directory (default $SATLOOP_LAB_DIR or ~/.local/state/satloop/lab)")
	cmd.PersistentFlags().BoolVar(&opts.JSON, "json", false, "print JSON (the default when stdout is not a terminal)")
	cmd.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		opts.JSONSet = cmd.Flags().Changed("json")
		if opts.Dir == "" {
			dir, err := lab.DefaultDir()
			if err != nil {
				return err
			}
			opts.Dir = dir
		}
		dir, err := filepath.Abs(opts.Dir)
		if err != nil {
			return fmt.Errorf("cli: lab directory: %w", err)
		}
		opts.Dir = dir
		return nil
	}
	cmd.AddCommand(
		newCmdLabUp(opts, nil),
		newCmdLabDown(opts, nil),
		newCmdLabStatus(opts, nil),
		newCmdLabEnv(opts, nil),
		newCmdLabMine(opts, nil),
		newCmdLabPay(opts, nil),
	)
	return cmd
}

// wantJSON applies the shared output rule to the lab flags.
func (o *labOptions) wantJSON() bool { return wantJSON(o.IO, o.JSON, o.JSONSet) }

// printJSON writes v as one JSON document to stdout.
func printJSON(io *IO, v any) error {
	enc := json.NewEncoder(io.Out)
	enc.SetIndent("", "  ")
	// URIs (lndconnect) keep their & readable.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("cli: write output: %w", err)
	}
	return nil
}
