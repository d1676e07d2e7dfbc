package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/satloop/satloop/lab"
	"github.com/satloop/satloop/lightning/lnd"
)

// nodeOptions says which lnd a command talks to. With no flag and no
// environment variable set, it is a node of the local lab (the embedded
// default), so that the quick start needs no configuration.
type nodeOptions struct {
	// labNode is the lab node used by default: the agent buys, the
	// seller sells.
	labNode string

	lndconnect   string
	host         string
	tlsCertPath  string
	macaroonPath string
	labDir       string
}

// addNodeFlags registers the node flags on cmd. Each flag falls back on an
// environment variable, so that agents configure a node once. The
// environment is read when the command runs, not as the flag's default:
// --help prints defaults, and an lndconnect URI holds the node macaroon.
func addNodeFlags(cmd *cobra.Command, o *nodeOptions, labNode string) {
	o.labNode = labNode
	f := cmd.Flags()
	f.StringVar(&o.lndconnect, "lndconnect", "", "lndconnect:// URI of the node (env SATLOOP_LNDCONNECT)")
	f.StringVar(&o.host, "lnd-host", "", "lnd gRPC host:port (env SATLOOP_LND_HOST)")
	f.StringVar(&o.tlsCertPath, "lnd-tlscert", "", "lnd's tls.cert (env SATLOOP_LND_TLSCERT)")
	f.StringVar(&o.macaroonPath, "lnd-macaroon", "", "lnd macaroon file (env SATLOOP_LND_MACAROON)")
	f.StringVar(&o.labDir, "lab-dir", "", "lab state directory used when no node is given (default $SATLOOP_LAB_DIR or the user's state dir)")
}

// config resolves the flags, then the environment, to an lnd
// configuration.
func (o *nodeOptions) config() (lnd.Config, error) {
	if o.lndconnect == "" && o.host == "" && o.tlsCertPath == "" && o.macaroonPath == "" {
		o.lndconnect = os.Getenv("SATLOOP_LNDCONNECT")
		o.host = os.Getenv("SATLOOP_LND_HOST")
		o.tlsCertPath = os.Getenv("SATLOOP_LND_TLSCERT")
		o.macaroonPath = os.Getenv("SATLOOP_LND_MACAROON")
	}
	switch {
	case o.lndconnect != "":
		if o.host != "" || o.tlsCertPath != "" || o.macaroonPath != "" {
			return lnd.Config{}, &usageError{err: errors.New("give either --lndconnect or --lnd-host/--lnd-tlscert/--lnd-macaroon, not both")}
		}
		return lnd.ParseLNDConnect(o.lndconnect)
	case o.host != "" || o.tlsCertPath != "" || o.macaroonPath != "":
		cfg := lnd.Config{Host: o.host, TLSCertPath: o.tlsCertPath, MacaroonPath: o.macaroonPath}
		if err := cfg.Validate(); err != nil {
			return lnd.Config{}, &usageError{err: fmt.Errorf("%w (set all of --lnd-host, --lnd-tlscert and --lnd-macaroon, or --lndconnect)", err)}
		}
		return cfg, nil
	}
	dir := o.labDir
	if dir == "" {
		var err error
		if dir, err = lab.DefaultDir(); err != nil {
			return lnd.Config{}, err
		}
	}
	net, err := lab.Open(dir)
	if err != nil {
		return lnd.Config{}, fmt.Errorf("no node given and no lab running (%w): start one with 'satloop lab up', or pass --lndconnect or --lnd-host/--lnd-tlscert/--lnd-macaroon", err)
	}
	defer net.Close()
	return net.Node(o.labNode).LNDConfig(), nil
}

// dial connects to the node.
func (o *nodeOptions) dial(ctx context.Context) (*lnd.Node, error) {
	cfg, err := o.config()
	if err != nil {
		return nil, err
	}
	return lnd.Dial(ctx, cfg)
}
