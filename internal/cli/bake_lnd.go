package cli

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/satloop/satloop/lab"
	"github.com/satloop/satloop/lightning"
)

// bakeTimeout bounds dialing the node and baking: both are one quick call
// to a node that answers.
const bakeTimeout = 30 * time.Second

// bakeLNDOptions is `satloop bake lnd` once its flags are parsed.
type bakeLNDOptions struct {
	IO *IO

	// Presets are the presets whose permissions the macaroon holds.
	Presets []lightning.Preset
	// Out is the file to write the binary macaroon to; empty means hex
	// on stdout.
	Out   string
	Force bool
	// List prints the presets instead of baking.
	List    bool
	JSON    bool
	JSONSet bool

	node nodeOptions
}

func newBakeLNDCmd(io *IO, runF func(context.Context, *bakeLNDOptions) error) *cobra.Command {
	opts := &bakeLNDOptions{IO: io}
	var presetList string
	cmd := &cobra.Command{
		Use:   "lnd --preset PRESET[,PRESET...] [--out FILE]",
		Short: "Bake an lnd macaroon holding only the permissions of a preset",
		Long: `Ask lnd (BakeMacaroon) for a macaroon holding only the permissions of a
preset, so that a program runs with the least power it needs instead of
the admin macaroon:

  pay-only       pay invoices and see payments (the buying wallet daemon)
  invoice-only   create and look up invoices (a seller's gateway)
  read-only      read everything, change nothing (monitoring)
  channel-admin  connect peers, open, close and set fees of channels, new
                 addresses; cannot pay or create invoices, nor SendCoins

Presets combine: --preset pay-only,invoice-only bakes one macaroon that can
do both. 'satloop bake lnd --list' prints each preset's permissions.

With --out the macaroon is written in binary, as lnd writes .macaroon files,
with mode 0600; an existing file is kept unless --force. Without --out its
hex goes to stdout (wrapped in JSON with --json). What the macaroon can and
cannot do is printed to stderr.

The node must hold a macaroon that may bake (macaroon:generate; lnd's
admin.macaroon does): --lndconnect or --lnd-* (or their environment
variables), else the local lab's agent node.`,
		Example: `  satloop bake lnd --preset pay-only --out ~/.satloop/pay-only.macaroon
  satloop bake lnd --preset pay-only,invoice-only --out wallet.macaroon
  satloop bake lnd --list`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.JSONSet = cmd.Flags().Changed("json")
			if err := opts.parse(cmd.CommandPath(), presetList, cmd.Flags().Changed("preset")); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runBakeLND(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&presetList, "preset", "", "preset, or comma-separated presets to combine: pay-only, invoice-only, read-only, channel-admin")
	f.StringVar(&opts.Out, "out", "", "write the binary macaroon to this file (mode 0600) instead of hex to stdout")
	f.BoolVar(&opts.Force, "force", false, "replace the --out file if it exists")
	f.BoolVar(&opts.List, "list", false, "print the presets and their permissions, bake nothing")
	f.BoolVar(&opts.JSON, "json", false, "print JSON (the default for --list when stdout is not a terminal)")
	addNodeFlags(cmd, &opts.node, lab.Agent)
	return cmd
}

// parse checks the flags that do not need the node.
func (o *bakeLNDOptions) parse(cmdPath, presetList string, presetSet bool) error {
	usage := func(format string, args ...any) error {
		return &usageError{err: fmt.Errorf(format, args...), cmdPath: cmdPath}
	}
	if o.List {
		if presetSet || o.Out != "" || o.Force {
			return usage("--list prints the presets; it takes no --preset, --out or --force")
		}
		return nil
	}
	if !presetSet {
		return usage("give --preset, one of %s (or several, comma-separated), or --list to see what each allows", presetNameList())
	}
	presets, err := lightning.ParsePresets(presetList)
	if err != nil {
		return usage("--preset: %w", err)
	}
	o.Presets = presets
	if o.Force && o.Out == "" {
		return usage("--force replaces the --out file; give --out FILE")
	}
	return nil
}

func presetNameList() string {
	names := make([]string, len(lightning.Presets))
	for i, p := range lightning.Presets {
		names[i] = string(p)
	}
	return strings.Join(names, ", ")
}

// bakedMacaroon is what --json prints after baking. The macaroon itself is
// there only when it goes to stdout.
type bakedMacaroon struct {
	Presets     []lightning.Preset     `json:"presets"`
	Permissions []lightning.Permission `json:"permissions"`
	Cannot      []lightning.Permission `json:"cannot"`
	Path        string                 `json:"path,omitempty"`
	MacaroonHex string                 `json:"macaroon_hex,omitempty"`
}

func runBakeLND(ctx context.Context, o *bakeLNDOptions) error {
	if o.List {
		return printPresets(o.IO, wantJSON(o.IO, o.JSON, o.JSONSet))
	}
	perms, err := lightning.PermissionsOf(o.Presets...)
	if err != nil {
		return err
	}
	// Refuse before baking: a macaroon baked for nothing is still a
	// credential the node issued.
	if o.Out != "" {
		if err := checkOut(o.Out, o.Force); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, bakeTimeout)
	defer cancel()
	node, err := o.node.dial(ctx)
	if err != nil {
		return err
	}
	defer node.Close()
	mac, err := node.BakeMacaroon(ctx, perms)
	if err != nil {
		return err
	}

	res := bakedMacaroon{Presets: o.Presets, Permissions: perms, Cannot: cannot(perms)}
	if o.Out != "" {
		if err := writeMacaroon(o.Out, mac, o.Force); err != nil {
			return err
		}
		res.Path = o.Out
	}
	describeMacaroon(o.IO, res)
	switch {
	case o.JSONSet && o.JSON:
		if o.Out == "" {
			res.MacaroonHex = hex.EncodeToString(mac)
		}
		return printJSON(o.IO, res)
	case o.Out == "":
		// The data itself, so that MAC=$(satloop bake lnd ...) works
		// whether or not stdout is a terminal.
		if _, err := fmt.Fprintln(o.IO.Out, hex.EncodeToString(mac)); err != nil {
			return fmt.Errorf("cli: write output: %w", err)
		}
	}
	return nil
}

// cannot lists lnd's entity-wide permissions that perms lack.
func cannot(perms []lightning.Permission) []lightning.Permission {
	var out []lightning.Permission
	for _, p := range lightning.EntityPermissions {
		if !slices.Contains(perms, p) {
			out = append(out, p)
		}
	}
	return out
}

// describeMacaroon tells the user, on stderr, what the macaroon allows.
func describeMacaroon(io *IO, m bakedMacaroon) {
	names := make([]string, len(m.Presets))
	for i, p := range m.Presets {
		names[i] = string(p)
	}
	where := "printed as hex"
	if m.Path != "" {
		where = "written to " + m.Path + " (mode 0600)"
	}
	fmt.Fprintf(io.ErrOut, "baked a %s macaroon, %s\n", strings.Join(names, " + "), where)
	var can, methods []string
	for _, p := range m.Permissions {
		if p.Entity == lightning.PermissionEntityURI {
			methods = append(methods, p.Action[strings.LastIndexByte(p.Action, '/')+1:])
		} else {
			can = append(can, p.String())
		}
	}
	if len(can) > 0 {
		fmt.Fprintf(io.ErrOut, "  can:        %s\n", strings.Join(can, ", "))
	}
	if len(methods) > 0 {
		fmt.Fprintf(io.ErrOut, "  can call:   %s\n", strings.Join(methods, ", "))
	}
	no := make([]string, len(m.Cannot))
	for i, p := range m.Cannot {
		no[i] = p.String()
	}
	fmt.Fprintf(io.ErrOut, "  cannot:     %s\n", strings.Join(no, ", "))
}

// presetListing is one preset as --list prints it.
type presetListing struct {
	Preset      lightning.Preset       `json:"preset"`
	Description string                 `json:"description"`
	Permissions []lightning.Permission `json:"permissions"`
}

func printPresets(io *IO, asJSON bool) error {
	var list []presetListing
	for _, p := range lightning.Presets {
		perms, err := p.Permissions()
		if err != nil {
			return err
		}
		list = append(list, presetListing{Preset: p, Description: p.Description(), Permissions: perms})
	}
	if asJSON {
		return printJSON(io, list)
	}
	for _, l := range list {
		fmt.Fprintf(io.Out, "%s\n  %s\n", l.Preset, l.Description)
		for _, p := range l.Permissions {
			fmt.Fprintf(io.Out, "    %s\n", p)
		}
	}
	return nil
}

// checkOut reports, before anything is baked, whether a macaroon could be
// written to path: its directory exists, and the path is free or, with
// force, a file that may be replaced.
func checkOut(path string, force bool) error {
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("cli: --out %s: directory %s does not exist; create it first", path, dir)
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("cli: --out %s: %w", path, err)
	case fi.IsDir():
		return fmt.Errorf("cli: --out %s is a directory; give a file name, such as %s", path, filepath.Join(path, "satloop.macaroon"))
	case !force:
		return fmt.Errorf("cli: %s: %w; pass --force to replace it, or choose another --out", path, fs.ErrExist)
	}
	return nil
}

// writeMacaroon writes mac to path with mode 0600. Without force an
// existing file is an error wrapping fs.ErrExist; with it, the file is
// replaced whole, by a rename, so that no reader sees half a macaroon and
// the old file's mode does not carry over.
func writeMacaroon(path string, mac lightning.NodeMacaroon, force bool) error {
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("cli: %s: %w; pass --force to replace it, or choose another --out", path, err)
		}
		if err != nil {
			return fmt.Errorf("cli: write macaroon: %w", err)
		}
		if err := writeClose(f, mac); err != nil {
			os.Remove(path)
			return err
		}
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".macaroon-*")
	if err != nil {
		return fmt.Errorf("cli: write macaroon: %w", err)
	}
	if err := writeClose(f, mac); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("cli: write macaroon: %w", err)
	}
	return nil
}

func writeClose(f *os.File, mac []byte) error {
	_, err := f.Write(mac)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cli: write macaroon to %s: %w", f.Name(), err)
	}
	return nil
}
