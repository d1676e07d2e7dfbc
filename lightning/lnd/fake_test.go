package lnd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/invoicesrpc"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/zpay32"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lightning/lightningtest"
	"github.com/satloop/satloop/money"
)

// fakeLND is a real gRPC server with lnd's services, on 127.0.0.1 behind a
// self-signed certificate, that checks the macaroon like lnd and answers
// what a test scripts. Unscripted calls answer Unimplemented.
type fakeLND struct {
	lnrpc.UnimplementedLightningServer
	routerrpc.UnimplementedRouterServer
	invoicesrpc.UnimplementedInvoicesServer

	addr     string
	certPEM  []byte
	macaroon []byte
	server   *grpc.Server

	mu    sync.Mutex
	calls map[string]int
	// refuse, when set, answers every call with this error before the
	// handler runs, as lnd's interceptors do.
	refuse func(method string) error
	// network is what GetInfo reports.
	network string

	sendPayment    func(*routerrpc.SendPaymentRequest, routerrpc.Router_SendPaymentV2Server) error
	trackPayment   func(*routerrpc.TrackPaymentRequest, routerrpc.Router_TrackPaymentV2Server) error
	addInvoice     func(*lnrpc.Invoice) (*lnrpc.AddInvoiceResponse, error)
	lookupInvoice  func(*lnrpc.PaymentHash) (*lnrpc.Invoice, error)
	subscribe      func(*invoicesrpc.SubscribeSingleInvoiceRequest, invoicesrpc.Invoices_SubscribeSingleInvoiceServer) error
	connectPeer    func(*lnrpc.ConnectPeerRequest) (*lnrpc.ConnectPeerResponse, error)
	openChannel    func(*lnrpc.OpenChannelRequest) (*lnrpc.ChannelPoint, error)
	bakeMacaroon   func(*lnrpc.BakeMacaroonRequest) (*lnrpc.BakeMacaroonResponse, error)
	walletBalance  *lnrpc.WalletBalanceResponse
	channelBalance *lnrpc.ChannelBalanceResponse
	channels       []*lnrpc.Channel
}

func startFakeLND(t *testing.T, network string) *fakeLND {
	t.Helper()
	certPEM, tlsCert := selfSignedCert(t)
	f := &fakeLND{
		certPEM:  certPEM,
		macaroon: []byte("\x02fake macaroon bytes\x00\xff"),
		calls:    map[string]int{},
		network:  network,
	}
	f.server = grpc.NewServer(
		grpc.Creds(credentials.NewServerTLSFromCert(&tlsCert)),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			if err := f.check(ctx, info.FullMethod); err != nil {
				return nil, err
			}
			return handler(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			if err := f.check(ss.Context(), info.FullMethod); err != nil {
				return err
			}
			return handler(srv, ss)
		}),
	)
	lnrpc.RegisterLightningServer(f.server, f)
	routerrpc.RegisterRouterServer(f.server, f)
	invoicesrpc.RegisterInvoicesServer(f.server, f)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = lis.Addr().String()
	go f.server.Serve(lis)
	t.Cleanup(f.server.Stop)
	return f
}

// check counts the call and refuses it as lnd would: a missing or wrong
// macaroon, or whatever the test scripted.
func (f *fakeLND) check(ctx context.Context, fullMethod string) error {
	method := fullMethod[strings.LastIndexByte(fullMethod, '/')+1:]
	f.mu.Lock()
	f.calls[method]++
	refuse := f.refuse
	f.mu.Unlock()
	md, _ := metadata.FromIncomingContext(ctx)
	if got := md.Get("macaroon"); len(got) != 1 || got[0] != hex.EncodeToString(f.macaroon) {
		return errors.New("verification failed: signature mismatch after caveat verification")
	}
	if refuse != nil {
		return refuse(method)
	}
	return nil
}

func (f *fakeLND) callCount(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func (f *fakeLND) config() Config {
	return Config{Host: f.addr, TLSCert: f.certPEM, Macaroon: f.macaroon}
}

// dial connects a Node to the fake.
func (f *fakeLND) dial(t *testing.T) *Node {
	t.Helper()
	n, err := Dial(t.Context(), f.config())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func (f *fakeLND) GetInfo(context.Context, *lnrpc.GetInfoRequest) (*lnrpc.GetInfoResponse, error) {
	return &lnrpc.GetInfoResponse{
		IdentityPubkey:      "02" + strings.Repeat("ab", 32),
		Alias:               "fake",
		Version:             "0.21.2-beta",
		BlockHeight:         150,
		SyncedToChain:       true,
		NumActiveChannels:   1,
		NumPeers:            2,
		BestHeaderTimestamp: 1_700_000_000,
		Chains:              []*lnrpc.Chain{{Chain: "bitcoin", Network: f.network}},
	}, nil
}

func (f *fakeLND) SendPaymentV2(req *routerrpc.SendPaymentRequest, stream routerrpc.Router_SendPaymentV2Server) error {
	return f.sendPayment(req, stream)
}

func (f *fakeLND) TrackPaymentV2(req *routerrpc.TrackPaymentRequest, stream routerrpc.Router_TrackPaymentV2Server) error {
	return f.trackPayment(req, stream)
}

func (f *fakeLND) AddInvoice(_ context.Context, req *lnrpc.Invoice) (*lnrpc.AddInvoiceResponse, error) {
	return f.addInvoice(req)
}

func (f *fakeLND) LookupInvoice(_ context.Context, req *lnrpc.PaymentHash) (*lnrpc.Invoice, error) {
	return f.lookupInvoice(req)
}

func (f *fakeLND) SubscribeSingleInvoice(req *invoicesrpc.SubscribeSingleInvoiceRequest, stream invoicesrpc.Invoices_SubscribeSingleInvoiceServer) error {
	return f.subscribe(req, stream)
}

func (f *fakeLND) WalletBalance(context.Context, *lnrpc.WalletBalanceRequest) (*lnrpc.WalletBalanceResponse, error) {
	return f.walletBalance, nil
}

func (f *fakeLND) ChannelBalance(context.Context, *lnrpc.ChannelBalanceRequest) (*lnrpc.ChannelBalanceResponse, error) {
	return f.channelBalance, nil
}

func (f *fakeLND) ListChannels(context.Context, *lnrpc.ListChannelsRequest) (*lnrpc.ListChannelsResponse, error) {
	return &lnrpc.ListChannelsResponse{Channels: f.channels}, nil
}

func (f *fakeLND) ConnectPeer(_ context.Context, req *lnrpc.ConnectPeerRequest) (*lnrpc.ConnectPeerResponse, error) {
	return f.connectPeer(req)
}

func (f *fakeLND) OpenChannelSync(_ context.Context, req *lnrpc.OpenChannelRequest) (*lnrpc.ChannelPoint, error) {
	return f.openChannel(req)
}

func (f *fakeLND) BakeMacaroon(_ context.Context, req *lnrpc.BakeMacaroonRequest) (*lnrpc.BakeMacaroonResponse, error) {
	return f.bakeMacaroon(req)
}

func (f *fakeLND) NewAddress(context.Context, *lnrpc.NewAddressRequest) (*lnrpc.NewAddressResponse, error) {
	return &lnrpc.NewAddressResponse{Address: "bcrt1qfake"}, nil
}

// selfSignedCert makes a certificate for 127.0.0.1, as lnd makes its own.
func selfSignedCert(t *testing.T) ([]byte, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{Organization: []string{"lnd autogenerated cert"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true,

		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	tlsCert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, tlsCert
}

// testInvoice is a signed BOLT 11 invoice and its preimage.
type testInvoice struct {
	payreq   string
	preimage l402.Preimage
	hash     l402.PaymentHash
}

// newInvoice signs an invoice for amount (none when 0) on net with a random
// key and preimage, created at created and valid for expiry.
func newInvoice(t *testing.T, net *chaincfg.Params, amount money.MilliSat, created time.Time, expiry time.Duration) testInvoice {
	t.Helper()
	var preimage l402.Preimage
	if _, err := rand.Read(preimage[:]); err != nil {
		t.Fatal(err)
	}
	return signInvoice(t, net, preimage, amount, created, expiry)
}

// signInvoice is newInvoice for a given preimage.
func signInvoice(t *testing.T, net *chaincfg.Params, preimage l402.Preimage, amount money.MilliSat, created time.Time, expiry time.Duration) testInvoice {
	t.Helper()
	inv := testInvoice{preimage: preimage, hash: preimage.Hash()}
	// A payment address, as every invoice lnd makes carries: lnd refuses
	// to pay an invoice without one before looking for a route.
	var addr [32]byte
	if _, err := rand.Read(addr[:]); err != nil {
		t.Fatal(err)
	}
	features := lnwire.NewFeatureVector(lnwire.NewRawFeatureVector(lnwire.TLVOnionPayloadRequired, lnwire.PaymentAddrRequired), lnwire.Features)
	opts := []func(*zpay32.Invoice){zpay32.Description("test"), zpay32.Expiry(expiry), zpay32.PaymentAddr(addr), zpay32.Features(features)}
	if amount > 0 {
		opts = append(opts, zpay32.Amount(lnwire.MilliSatoshi(amount)))
	}
	var err error
	if inv.payreq, err = lightningtest.SignInvoice(nil, net, inv.hash, created, opts...); err != nil {
		t.Fatal(err)
	}
	return inv
}

// lndPayment is the lnrpc.Payment lnd reports for inv in status st.
func lndPayment(inv testInvoice, amount money.MilliSat, st lnrpc.Payment_PaymentStatus) *lnrpc.Payment {
	p := &lnrpc.Payment{
		PaymentHash:     hex.EncodeToString(inv.hash[:]),
		ValueMsat:       int64(amount),
		Status:          st,
		CreationTimeNs:  time.Now().UnixNano(),
		PaymentPreimage: strings.Repeat("0", 64),
	}
	if st == lnrpc.Payment_SUCCEEDED {
		p.PaymentPreimage = inv.preimage.Hex()
		p.FeeMsat = 1_500
		p.Htlcs = []*lnrpc.HTLCAttempt{
			{Status: lnrpc.HTLCAttempt_FAILED, Route: &lnrpc.Route{Hops: make([]*lnrpc.Hop, 5)}},
			{Status: lnrpc.HTLCAttempt_SUCCEEDED, Route: &lnrpc.Route{Hops: make([]*lnrpc.Hop, 3)}},
		}
	}
	return p
}
