package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/macaroon.v2"

	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/store/sqlite"
)

// buyerOptions are the flags the buyer's bookkeeping commands (tokens,
// history) share.
type buyerOptions struct {
	IO      *IO
	DataDir string
	JSON    bool
	JSONSet bool
}

func (o *buyerOptions) addFlags(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&o.DataDir, "data-dir", "", "where tokens and the spend log are kept (default $SATLOOP_DATA_DIR or ~/.local/share/satloop)")
	cmd.PersistentFlags().BoolVar(&o.JSON, "json", false, "print JSON (the default when stdout is not a terminal)")
}

// resolve fills the defaults once flags are parsed.
func (o *buyerOptions) resolve(cmd *cobra.Command) error {
	o.JSONSet = cmd.Flags().Changed("json")
	if o.DataDir != "" {
		return nil
	}
	dir, err := dataDir()
	o.DataDir = dir
	return err
}

func (o *buyerOptions) wantJSON() bool { return wantJSON(o.IO, o.JSON, o.JSONSet) }

// errNoBuyerData means the data directory has no buyer's store yet:
// nothing was ever bought there.
var errNoBuyerData = errors.New("nothing bought yet")

// open opens the buyer's store for reading or editing. It does not create
// one: looking at tokens or history must not leave files behind.
func (o *buyerOptions) open(ctx context.Context) (*sqlite.BuyerStore, error) {
	path := filepath.Join(o.DataDir, buyerStoreFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cli: no tokens or payments in %s: %w", o.DataDir, errNoBuyerData)
	}
	return sqlite.OpenBuyerStore(ctx, path)
}

func newCmdTokens(io *IO) *cobra.Command {
	opts := &buyerOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "List, show and delete the L402 tokens 'satloop get' bought",
		Long: `List, show and delete the L402 tokens 'satloop get' bought and reuses.

A token is kept per origin (scheme://host:port) and path directory, and
sent only there, never after its expiry. Deleting one makes the next
request to that scope pay again.

A token the seller refused right after being paid for it is kept and
shown as REFUSED: satloop pays nothing more for its scope (exit 6) until
'satloop tokens rm' deletes it, so a seller that takes the money and gives
nothing is paid once, not once per run. If the seller serves the token
later, the mark goes away by itself.

A token is a bearer credential: whoever holds its macaroon and preimage can
use what it paid for. Neither is printed unless 'tokens show --secret' asks.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	opts.addFlags(cmd)
	cmd.AddCommand(newCmdTokensList(opts), newCmdTokensShow(opts), newCmdTokensRm(opts))
	return cmd
}

// tokenView is a token as the CLI shows it: everything but the secrets.
type tokenView struct {
	client.Token
	// Expired is true when the token will not be sent any more.
	Expired bool `json:"expired"`
	// Refused is true when the seller refused the token after it was
	// paid for: its scope is not bought again until the token is deleted.
	Refused bool `json:"refused"`
}

func viewToken(t client.Token, now time.Time) tokenView {
	return tokenView{Token: t, Expired: !t.ValidUntil.IsZero() && !now.Before(t.ValidUntil), Refused: t.Refused()}
}

// state says in a word or two whether the seller has honoured the token.
func (v tokenView) state() string {
	switch {
	case v.Refused:
		return "REFUSED " + v.RefusedAt.UTC().Format(time.RFC3339)
	case v.AcceptedAt.IsZero():
		return "not used yet"
	}
	return "served"
}

func newCmdTokensList(opts *buyerOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the tokens held, newest first (never their secrets)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.resolve(cmd); err != nil {
				return err
			}
			var toks []client.Token
			store, err := opts.open(cmd.Context())
			switch {
			case errors.Is(err, errNoBuyerData):
			case err != nil:
				return err
			default:
				defer store.Close()
				if toks, err = store.Tokens(cmd.Context()); err != nil {
					return err
				}
			}
			views := make([]tokenView, len(toks))
			now := time.Now()
			for i, t := range toks {
				views[i] = viewToken(t, now)
			}
			if opts.wantJSON() {
				return printJSON(opts.IO, views)
			}
			return printTokens(opts.IO, views)
		},
	}
}

// printTokens renders tokens as a table for a terminal.
func printTokens(io *IO, views []tokenView) error {
	if len(views) == 0 {
		fmt.Fprintln(io.Out, "no tokens; 'satloop get URL' buys one when a server asks")
		return nil
	}
	w := tabwriter.NewWriter(io.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "TOKEN ID\tORIGIN\tSCOPE\tPRICE\tFEE\tBOUGHT\tVALID UNTIL\tSTATE")
	for _, v := range views {
		until := "no expiry"
		switch {
		case v.Expired:
			until = "expired " + v.ValidUntil.UTC().Format(time.RFC3339)
		case !v.ValidUntil.IsZero():
			until = v.ValidUntil.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.Origin, v.Scope, v.Price, v.Fee,
			v.CreatedAt.UTC().Format(time.RFC3339), until, v.state())
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, v := range views {
		if v.Refused {
			fmt.Fprintf(io.Out, "\ntoken %s was paid for and refused by the seller: nothing more is bought for %s%s until 'satloop tokens rm %s'\n",
				v.ID, v.Origin, v.Scope, v.ID)
		}
	}
	return nil
}

// tokenSecrets is what `tokens show --secret` adds: the credential itself.
type tokenSecrets struct {
	tokenView
	// MacaroonBase64 is the token, standard base64 of its binary form.
	MacaroonBase64 string `json:"macaroon_base64"`
	PreimageHex    string `json:"preimage_hex"`
	// Authorization is the header value that presents the token.
	Authorization string `json:"authorization"`
}

type tokensShowOptions struct {
	*buyerOptions
	ID     l402.TokenID
	Secret bool
}

func newCmdTokensShow(bopts *buyerOptions) *cobra.Command {
	opts := &tokensShowOptions{buyerOptions: bopts}
	cmd := &cobra.Command{
		Use:   "show TOKEN-ID",
		Short: "Show one token; --secret adds its macaroon and preimage",
		Args: func(cmd *cobra.Command, args []string) error {
			id, err := tokenIDArg(cmd, args)
			opts.ID = id
			return err
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.resolve(cmd); err != nil {
				return err
			}
			store, err := opts.open(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			tok, err := store.TokenByID(cmd.Context(), opts.ID)
			if err != nil {
				return err
			}
			view := viewToken(tok, time.Now())
			if !opts.Secret {
				if opts.wantJSON() {
					return printJSON(opts.IO, view)
				}
				return printTokens(opts.IO, []tokenView{view})
			}
			sec, err := revealToken(view)
			if err != nil {
				return err
			}
			if opts.wantJSON() {
				return printJSON(opts.IO, sec)
			}
			if err := printTokens(opts.IO, []tokenView{view}); err != nil {
				return err
			}
			fmt.Fprintf(opts.IO.Out, "\nmacaroon (base64)  %s\npreimage (hex)     %s\nAuthorization: %s\n",
				sec.MacaroonBase64, sec.PreimageHex, sec.Authorization)
			return nil
		},
	}
	cmd.Flags().BoolVar(&opts.Secret, "secret", false, "also print the macaroon, preimage and Authorization header (a bearer secret)")
	return cmd
}

// revealToken builds the secret view of a token, for --secret only.
func revealToken(view tokenView) (tokenSecrets, error) {
	var mac macaroon.Macaroon
	if err := mac.UnmarshalBinary(view.Macaroon); err != nil {
		return tokenSecrets{}, fmt.Errorf("cli: token %s: %w", view.ID, err)
	}
	auth, err := l402.FormatAuthorization(l402.Credential{Macaroons: []*macaroon.Macaroon{&mac}, Preimage: view.Preimage})
	if err != nil {
		return tokenSecrets{}, fmt.Errorf("cli: token %s: %w", view.ID, err)
	}
	return tokenSecrets{
		tokenView:      view,
		MacaroonBase64: base64.StdEncoding.EncodeToString(view.Macaroon),
		PreimageHex:    view.Preimage.Hex(),
		Authorization:  auth,
	}, nil
}

func newCmdTokensRm(opts *buyerOptions) *cobra.Command {
	var ids []l402.TokenID
	return &cobra.Command{
		Use:   "rm TOKEN-ID...",
		Short: "Delete tokens; the next request to their scope pays again",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &usageError{err: fmt.Errorf("%s takes one or more token ids ('satloop tokens list' shows them)", cmd.CommandPath()), cmdPath: cmd.CommandPath()}
			}
			ids = ids[:0]
			for _, a := range args {
				id, err := tokenIDArg(cmd, []string{a})
				if err != nil {
					return err
				}
				ids = append(ids, id)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.resolve(cmd); err != nil {
				return err
			}
			store, err := opts.open(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			var deleted []l402.TokenID
			var errs []error
			for _, id := range ids {
				if err := store.DeleteToken(cmd.Context(), id); err != nil {
					errs = append(errs, err)
					continue
				}
				deleted = append(deleted, id)
			}
			if opts.wantJSON() {
				if err := printJSON(opts.IO, map[string]any{"deleted": deleted}); err != nil {
					return err
				}
			} else {
				for _, id := range deleted {
					fmt.Fprintf(opts.IO.Out, "deleted token %s\n", id)
				}
			}
			return errors.Join(errs...)
		},
	}
}

// tokenIDArg reads the one token id argument.
func tokenIDArg(cmd *cobra.Command, args []string) (l402.TokenID, error) {
	if len(args) != 1 {
		return l402.TokenID{}, &usageError{err: fmt.Errorf("%s takes one token id ('satloop tokens list' shows them)", cmd.CommandPath()), cmdPath: cmd.CommandPath()}
	}
	id, err := l402.ParseTokenID(args[0])
	if err != nil {
		return l402.TokenID{}, &usageError{err: fmt.Errorf("%s: %q is not a token id (64 hex characters, as 'satloop tokens list' shows)", cmd.CommandPath(), args[0]), cmdPath: cmd.CommandPath()}
	}
	return id, nil
}
