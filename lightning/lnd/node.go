// Package lnd adapts a running lnd node, over its gRPC API, to
// lightning.Node.
//
// It speaks to lnd through lnd's own generated stubs (lnrpc, routerrpc,
// invoicesrpc), authenticated by lnd's TLS certificate and a macaroon. Every
// error it returns starts with "lnd: " and wraps a lightning error where
// one applies; lnd's own error texts are read in one place (mapError) and
// never passed on unredacted.
package lnd

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/invoicesrpc"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/money"
)

var _ lightning.Node = (*Node)(nil)

// Node is a connection to one lnd node. It is safe for concurrent use.
type Node struct {
	addr     string
	network  lightning.Network
	log      *slog.Logger
	conn     *grpc.ClientConn
	ln       lnrpc.LightningClient
	router   routerrpc.RouterClient
	invoices invoicesrpc.InvoicesClient
}

// Dial connects to the node and asks it which network it is on. A node that
// does not answer, or whose certificate does not match, gives an error
// wrapping *lightning.UnreachableError; a locked wallet, one wrapping
// lightning.ErrWalletLocked; a macaroon the node rejects, one wrapping
// *lightning.PermissionError.
//
// A macaroon the node accepts but that lacks info:read, such as lnd's own
// invoice.macaroon, still connects: that is all a seller needs to create
// invoices. The network then stays unknown, and DecodeInvoice and Pay
// refuse every invoice, saying the macaroon needs info:read.
func Dial(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pool, err := cfg.certPool()
	if err != nil {
		return nil, err
	}
	mac, err := cfg.macaroon()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, err := grpc.NewClient(cfg.Host,
		grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(pool, "")),
		grpc.WithPerRPCCredentials(macaroonCredential(hex.EncodeToString(mac))),
		// As lncli: some replies (ListChannels, ListPayments on a
		// busy node) exceed gRPC's 4 MB default.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(lnrpc.MaxGrpcMsgSize)),
	)
	if err != nil {
		return nil, fmt.Errorf("lnd: connecting to %s: %w", cfg.Host, err)
	}
	n := &Node{
		addr:     cfg.Host,
		log:      log,
		conn:     conn,
		ln:       lnrpc.NewLightningClient(conn),
		router:   routerrpc.NewRouterClient(conn),
		invoices: invoicesrpc.NewInvoicesClient(conn),
	}
	info, err := n.getInfo(ctx)
	var lacks *lacksPermissionError
	if errors.As(err, &lacks) {
		log.Info("lnd: connected; the macaroon may not read the node's info, so this connection cannot decode or pay invoices",
			"host", cfg.Host)
		return n, nil
	}
	if err != nil {
		conn.Close()
		// grpc.NewClient connects lazily, so GetInfo is the dial: a
		// node that does not answer it in time is unreachable.
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("lnd: %w", &lightning.UnreachableError{Addr: cfg.Host, Err: err})
		}
		return nil, err
	}
	n.network = info.Network
	log.Info("lnd: connected", "host", cfg.Host, "network", info.Network, "pubkey", info.Pubkey, "version", info.Version)
	return n, nil
}

// Close closes the connection.
func (n *Node) Close() error { return n.conn.Close() }

// Network returns the network the node said it is on when dialed.
func (n *Node) Network() lightning.Network { return n.network }

// rpcError maps an error from the named call; see mapError.
func (n *Node) rpcError(call string, err error) error {
	return mapError(errContext{addr: n.addr, call: call, network: n.network}, err)
}

// macaroonCredential sends the hex macaroon with every call, as lnd
// expects it.
type macaroonCredential string

func (m macaroonCredential) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"macaroon": string(m)}, nil
}

// RequireTransportSecurity keeps the macaroon off unencrypted connections.
func (macaroonCredential) RequireTransportSecurity() bool { return true }

// Info describes the node.
func (n *Node) Info(ctx context.Context) (lightning.NodeInfo, error) {
	return n.getInfo(ctx)
}

func (n *Node) getInfo(ctx context.Context) (lightning.NodeInfo, error) {
	resp, err := n.ln.GetInfo(ctx, &lnrpc.GetInfoRequest{})
	if err != nil {
		return lightning.NodeInfo{}, n.rpcError("GetInfo", err)
	}
	if len(resp.Chains) == 0 {
		return lightning.NodeInfo{}, errors.New("lnd: GetInfo: the node names no chain")
	}
	network, err := parseNetwork(resp.Chains[0].Network)
	if err != nil {
		return lightning.NodeInfo{}, err
	}
	info := lightning.NodeInfo{
		Pubkey:         resp.IdentityPubkey,
		Alias:          resp.Alias,
		Network:        network,
		Version:        resp.Version,
		BlockHeight:    resp.BlockHeight,
		SyncedToChain:  resp.SyncedToChain,
		SyncedToGraph:  resp.SyncedToGraph,
		ActiveChannels: int(resp.NumActiveChannels),
		Peers:          int(resp.NumPeers),
		URIs:           resp.Uris,
	}
	if resp.BestHeaderTimestamp > 0 {
		info.BestHeaderTime = time.Unix(resp.BestHeaderTimestamp, 0)
	}
	return info, nil
}

// parseNetwork maps lnd's network names (lncfg's chain parameters) to
// satloop's. testnet3 and testnet4 share the "tb" invoice prefix, so both
// are Testnet.
func parseNetwork(name string) (lightning.Network, error) {
	switch name {
	case "mainnet":
		return lightning.Mainnet, nil
	case "testnet", "testnet3", "testnet4":
		return lightning.Testnet, nil
	case "signet":
		return lightning.Signet, nil
	case "regtest":
		return lightning.Regtest, nil
	case "simnet":
		return lightning.Simnet, nil
	}
	return "", fmt.Errorf("lnd: the node is on network %q, which satloop does not know", name)
}

// Balances returns on-chain and channel balances.
func (n *Node) Balances(ctx context.Context) (lightning.Balances, error) {
	wallet, err := n.ln.WalletBalance(ctx, &lnrpc.WalletBalanceRequest{})
	if err != nil {
		return lightning.Balances{}, n.rpcError("WalletBalance", err)
	}
	channels, err := n.ln.ChannelBalance(ctx, &lnrpc.ChannelBalanceRequest{})
	if err != nil {
		return lightning.Balances{}, n.rpcError("ChannelBalance", err)
	}
	var conv amounts
	b := lightning.Balances{
		OnChainConfirmed:   conv.sats(wallet.ConfirmedBalance),
		OnChainUnconfirmed: conv.sats(wallet.UnconfirmedBalance),
		ChannelLocal:       conv.umsat(channels.GetLocalBalance().GetMsat()),
		ChannelRemote:      conv.umsat(channels.GetRemoteBalance().GetMsat()),
		ChannelPending:     conv.umsat(channels.GetPendingOpenLocalBalance().GetMsat()),
	}
	if conv.err != nil {
		return lightning.Balances{}, conv.err
	}
	return b, nil
}

// amounts converts the amounts lnd reports to money, remembering the first
// that no valid amount could be: lnd is trusted to report its own funds,
// not to keep them within 21 million bitcoin.
type amounts struct{ err error }

func (a *amounts) umsat(msat uint64) money.MilliSat {
	if msat > uint64(money.MaxMilliSat) {
		if a.err == nil {
			a.err = fmt.Errorf("lnd: the node reported %d msat, not a valid amount", msat)
		}
		return 0
	}
	return money.MilliSat(msat)
}

func (a *amounts) msat(msat int64) money.MilliSat {
	if msat < 0 {
		if a.err == nil {
			a.err = fmt.Errorf("lnd: the node reported %d msat, not a valid amount", msat)
		}
		return 0
	}
	return a.umsat(uint64(msat))
}

func (a *amounts) sats(sat int64) money.MilliSat {
	if sat < 0 || sat > int64(money.MaxMilliSat/1000) {
		if a.err == nil {
			a.err = fmt.Errorf("lnd: the node reported %d sat, not a valid amount", sat)
		}
		return 0
	}
	return money.Sats(sat)
}

// Channels lists the node's open channels, active or not.
func (n *Node) Channels(ctx context.Context) ([]lightning.Channel, error) {
	resp, err := n.ln.ListChannels(ctx, &lnrpc.ListChannelsRequest{})
	if err != nil {
		return nil, n.rpcError("ListChannels", err)
	}
	channels := make([]lightning.Channel, 0, len(resp.Channels))
	for _, c := range resp.Channels {
		point, err := parseChannelPoint(c.ChannelPoint)
		if err != nil {
			return nil, err
		}
		var conv amounts
		ch := lightning.Channel{
			Point:        point,
			ChanID:       c.ChanId,
			RemotePubkey: c.RemotePubkey,
			Capacity:     conv.sats(c.Capacity),
			Local:        conv.sats(c.LocalBalance),
			Remote:       conv.sats(c.RemoteBalance),
			Active:       c.Active,
			Private:      c.Private,
			Initiator:    c.Initiator,
		}
		if conv.err != nil {
			return nil, conv.err
		}
		channels = append(channels, ch)
	}
	return channels, nil
}

// parseChannelPoint reads lnd's "txid:index".
func parseChannelPoint(s string) (lightning.ChannelPoint, error) {
	txid, index, ok := strings.Cut(s, ":")
	i, err := strconv.ParseUint(index, 10, 32)
	if !ok || err != nil {
		return lightning.ChannelPoint{}, fmt.Errorf("lnd: the node reported channel point %q, not txid:index", s)
	}
	if _, err := chainhash.NewHashFromStr(txid); err != nil {
		return lightning.ChannelPoint{}, fmt.Errorf("lnd: the node reported channel point %q, not txid:index", s)
	}
	return lightning.ChannelPoint{TxID: txid, OutputIndex: uint32(i)}, nil
}

// NewAddress returns a fresh native segwit (p2wkh) address: the type every
// wallet and faucet can pay.
func (n *Node) NewAddress(ctx context.Context) (string, error) {
	resp, err := n.ln.NewAddress(ctx, &lnrpc.NewAddressRequest{Type: lnrpc.AddressType_WITNESS_PUBKEY_HASH})
	if err != nil {
		return "", n.rpcError("NewAddress", err)
	}
	return resp.Address, nil
}

// OpenChannel connects to the peer when PeerHost is set, then opens a
// channel and returns once the funding transaction is published. lnd funds
// channels in whole satoshis, so Capacity and Push must be whole sats.
func (n *Node) OpenChannel(ctx context.Context, req lightning.OpenChannelRequest) (lightning.ChannelPoint, error) {
	pubkey, err := hex.DecodeString(req.PeerPubkey)
	if err != nil || len(pubkey) != 33 {
		return lightning.ChannelPoint{}, fmt.Errorf("lnd: peer public key %q is not 33 bytes of hex: %w", req.PeerPubkey, lightning.ErrInvalidRequest)
	}
	if req.Capacity <= 0 || !req.Capacity.Valid() || req.Capacity%1000 != 0 {
		return lightning.ChannelPoint{}, fmt.Errorf("lnd: channel capacity %s is not a positive whole number of sats: %w", req.Capacity, lightning.ErrInvalidRequest)
	}
	if req.Push < 0 || req.Push >= req.Capacity || req.Push%1000 != 0 {
		return lightning.ChannelPoint{}, fmt.Errorf("lnd: push amount %s is not a whole number of sats below the capacity: %w", req.Push, lightning.ErrInvalidRequest)
	}
	if req.PeerHost != "" {
		_, err := n.ln.ConnectPeer(ctx, &lnrpc.ConnectPeerRequest{
			Addr: &lnrpc.LightningAddress{Pubkey: req.PeerPubkey, Host: req.PeerHost},
		})
		// lnd refuses a second connection with this text (server.go
		// errPeerAlreadyConnected); being connected is the goal.
		if err != nil && !strings.Contains(err.Error(), "already connected to peer") {
			return lightning.ChannelPoint{}, n.rpcError("ConnectPeer", err)
		}
	}
	resp, err := n.ln.OpenChannelSync(ctx, &lnrpc.OpenChannelRequest{
		NodePubkey:         pubkey,
		LocalFundingAmount: req.Capacity.Sats(),
		PushSat:            req.Push.Sats(),
		Private:            req.Private,
	})
	if err != nil {
		return lightning.ChannelPoint{}, n.rpcError("OpenChannelSync", err)
	}
	point := lightning.ChannelPoint{OutputIndex: resp.OutputIndex}
	if txid := resp.GetFundingTxidBytes(); txid != nil {
		// Internal byte order; chainhash prints it reversed, as
		// block explorers and lncli do.
		h, err := chainhash.NewHash(txid)
		if err != nil {
			return lightning.ChannelPoint{}, fmt.Errorf("lnd: OpenChannelSync returned a %d-byte txid", len(txid))
		}
		point.TxID = h.String()
	} else {
		point.TxID = resp.GetFundingTxidStr()
	}
	n.log.Info("lnd: channel opening", "channel_point", point.String(), "peer", req.PeerPubkey, "capacity", req.Capacity)
	return point, nil
}

// BakeMacaroon asks the node for a macaroon holding only perms.
func (n *Node) BakeMacaroon(ctx context.Context, perms []lightning.Permission) (lightning.NodeMacaroon, error) {
	if len(perms) == 0 {
		return nil, fmt.Errorf("lnd: a macaroon needs at least one permission: %w", lightning.ErrInvalidRequest)
	}
	req := &lnrpc.BakeMacaroonRequest{}
	for _, p := range perms {
		if p.Entity == "" || p.Action == "" {
			return nil, fmt.Errorf("lnd: permission %q needs an entity and an action: %w", p.String(), lightning.ErrInvalidRequest)
		}
		req.Permissions = append(req.Permissions, &lnrpc.MacaroonPermission{Entity: p.Entity, Action: p.Action})
	}
	resp, err := n.ln.BakeMacaroon(ctx, req)
	if err != nil {
		return nil, n.rpcError("BakeMacaroon", err)
	}
	mac, err := hex.DecodeString(resp.Macaroon)
	if err != nil {
		// hex's error quotes a character of the macaroon.
		return nil, errors.New("lnd: BakeMacaroon returned a macaroon that is not hex")
	}
	return mac, nil
}
