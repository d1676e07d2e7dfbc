package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/satloop/satloop/lab"
)

func newCmdLabDown(opts *labOptions, runF func(*labOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Stop every process the lab started",
		Long: `Stop btcd and the lnd nodes of the lab in --dir: only the processes the
lab recorded, and only while they still are the lab's. Running it again,
or on a directory with no lab, does nothing and succeeds. The state
directory is kept (node logs are in it); 'lab up' starts afresh.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			if err := lab.Down(cmd.Context(), opts.Dir); err != nil {
				return err
			}
			if opts.wantJSON() {
				return printJSON(opts.IO, map[string]any{"dir": opts.Dir, "running": false})
			}
			fmt.Fprintf(opts.IO.Out, "lab: nothing running in %s\n", opts.Dir)
			return nil
		},
	}
}
