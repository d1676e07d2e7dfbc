package cli

import "github.com/spf13/cobra"

// newBakeCmd is `satloop bake`, the parent of the commands that mint
// credentials.
func newBakeCmd(io *IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bake",
		Short: "Mint credentials: agent credentials for the wallet, lnd macaroons of a preset",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newBakeLNDCmd(io, nil), newCmdBakeAgent(io), newCmdBakeAttenuate(io))
	return cmd
}
