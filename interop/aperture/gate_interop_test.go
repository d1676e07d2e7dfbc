package aperture

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/lightninglabs/aperture/auth"
	apl402 "github.com/lightninglabs/aperture/l402"
	"github.com/lightninglabs/aperture/mint"
	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/zpay32"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"gopkg.in/macaroon.v2"

	"github.com/satloop/satloop/gate"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lightning"
)

// These tests put satloop's gateway (gate.Gateway, its real HTTP answers)
// in front of Aperture v0.4.2's own client and mint code.

// gateNode is the gateway's node: it issues real signed regtest invoices
// and remembers each preimage, which paying would reveal.
type gateNode struct {
	t         *testing.T
	mu        sync.Mutex
	preimages map[lntypes.Hash]lntypes.Preimage
}

func (n *gateNode) CreateInvoice(_ context.Context, req lightning.InvoiceRequest) (lightning.CreatedInvoice, error) {
	var p lntypes.Preimage
	if _, err := rand.Read(p[:]); err != nil {
		return lightning.CreatedInvoice{}, err
	}
	payreq := newInvoice(n.t, p, lnwire.MilliSatoshi(req.Amount))
	n.mu.Lock()
	n.preimages[p.Hash()] = p
	n.mu.Unlock()
	return lightning.CreatedInvoice{PaymentRequest: payreq, Hash: l402.PaymentHash(p.Hash()), Amount: req.Amount, ExpiresAt: time.Now().Add(req.Expiry)}, nil
}

func (n *gateNode) preimageOf(t *testing.T, payreq string) lntypes.Preimage {
	t.Helper()
	inv, err := zpay32.Decode(payreq, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	p, ok := n.preimages[*inv.PaymentHash]
	if !ok {
		t.Fatal("invoice not issued by the gateway's node")
	}
	return p
}

// startGate serves a gateway with one route per entry of routes, all to a
// trivial upstream, and returns its URL.
func startGate(t *testing.T, keys l402.RootKeyStore, node gate.InvoiceSource, lsatLine bool, routes ...gate.RouteConfig) string {
	t.Helper()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "upstream "+r.Header.Get("X-L402-Token-Id"))
	}))
	t.Cleanup(upstream.Close)
	for i := range routes {
		routes[i].Upstream = upstream.URL
	}
	gw, err := gate.New(gate.Options{
		Config:   gate.Config{DataDir: t.TempDir(), TLS: gate.TLSConfig{Mode: gate.TLSOff}, LSATChallenge: lsatLine, Routes: routes},
		Invoices: node, Store: gate.NewMemoryStore(), Keys: keys,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return srv.URL
}

func gateGet(t *testing.T, url string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// gatePayer is the one lnd call Aperture's client makes; it "pays" by
// handing back the preimage of the gateway's invoice.
type gatePayer struct {
	lndclient.LightningClient
	t    *testing.T
	node *gateNode
	paid []string
}

func (p *gatePayer) PayInvoice(_ context.Context, invoice string, _ btcutil.Amount, _ *uint64) chan lndclient.PaymentResult {
	p.paid = append(p.paid, invoice)
	ch := make(chan lndclient.PaymentResult, 1)
	ch <- lndclient.PaymentResult{Preimage: p.node.preimageOf(p.t, invoice), PaidAmt: 10}
	return ch
}

func TestApertureClientPaysGate(t *testing.T) {
	ctx := context.Background()
	keys, err := l402.NewDerivedRootKeys(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	node := &gateNode{t: t, preimages: map[lntypes.Hash]lntypes.Preimage{}}
	for _, lsatLine := range []bool{false, true} {
		name := "one L402 line"
		if lsatLine {
			name = "LSAT line first"
		}
		t.Run(name, func(t *testing.T) {
			// With lsat_challenge the gateway answers as Aperture does.
			url := startGate(t, keys, node, lsatLine, gate.RouteConfig{Name: service, Path: "/", PriceSats: 10, Capability: "read"})

			// The gateway's real 402, as Aperture's client receives it.
			resp := gateGet(t, url+"/v1/x", nil)
			if resp.StatusCode != http.StatusPaymentRequired {
				t.Fatalf("unpaid: %d", resp.StatusCode)
			}
			challenge := resp.Header.Values("WWW-Authenticate")

			// Aperture's gRPC client interceptor: on "payment required" it
			// reads the challenge from the trailer (its regex), pays, and
			// retries with the token; the retry goes to the gateway as the
			// Grpc-Metadata-Macaroon header REST clients send.
			var gateStatus []int
			invoker := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
				for _, o := range opts {
					if creds, ok := o.(grpc.PerRPCCredsCallOption); ok {
						md, err := creds.Creds.GetRequestMetadata(ctx)
						if err != nil {
							return err
						}
						resp := gateGet(t, url+"/v1/x", http.Header{"Grpc-Metadata-Macaroon": {md["macaroon"]}})
						gateStatus = append(gateStatus, resp.StatusCode)
						if resp.StatusCode != http.StatusOK {
							return status.Errorf(apl402.GRPCErrCode, "gate answered %d", resp.StatusCode)
						}
						return nil
					}
				}
				for _, o := range opts {
					if trailer, ok := o.(grpc.TrailerCallOption); ok {
						*trailer.TrailerAddr = metadata.MD{"www-authenticate": challenge}
					}
				}
				return status.Error(apl402.GRPCErrCode, apl402.GRPCErrMessage)
			}
			store, err := apl402.NewFileStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			payer := &gatePayer{t: t, node: node}
			lnd := &lndclient.LndServices{Client: payer, ChainParams: &chaincfg.RegressionNetParams}
			interceptor := apl402.NewInterceptor(lnd, store, 5*time.Second, 100, 10, true)
			if err := interceptor.UnaryInterceptor(ctx, "/demo.Service/Read", nil, nil, nil, invoker); err != nil {
				t.Fatalf("Aperture's client could not use the gateway's 402: %v (gateway answered %v)", err, gateStatus)
			}
			if len(payer.paid) != 1 || len(gateStatus) != 1 || gateStatus[0] != 200 {
				t.Fatalf("paid %d invoices, gateway answered %v; want one payment and a 200", len(payer.paid), gateStatus)
			}

			// Aperture's client code builds the Authorization header (LSAT
			// then L402 lines) for the same token: the gateway accepts it.
			tok, err := store.CurrentToken()
			if err != nil {
				t.Fatal(err)
			}
			header := http.Header{}
			if err := apl402.SetHeader(&header, tok.BaseMacaroon(), tok.Preimage); err != nil {
				t.Fatal(err)
			}
			if resp := gateGet(t, url+"/v1/x", header); resp.StatusCode != http.StatusOK {
				t.Fatalf("Authorization built by Aperture's SetHeader: %d, want 200", resp.StatusCode)
			}
		})
	}
}

// TestGateTokensVerifyWithAperturesMint: a token the gateway sold verifies
// with Aperture's mint given the same root key; Aperture's own header
// parser reads the credential a satloop buyer sends.
func TestGateTokensVerifyWithAperturesMint(t *testing.T) {
	ctx := context.Background()
	keys, err := l402.NewDerivedRootKeys(bytes.Repeat([]byte{4}, 32))
	if err != nil {
		t.Fatal(err)
	}
	node := &gateNode{t: t, preimages: map[lntypes.Hash]lntypes.Preimage{}}
	url := startGate(t, keys, node, false, gate.RouteConfig{Name: service, Path: "/", PriceSats: 10, Capability: "read", Quota: 5, TokenLifetime: time.Hour})
	resp := gateGet(t, url+"/", nil)
	cs, err := l402.ParseChallenges(resp.Header.Values("WWW-Authenticate")...)
	if err != nil {
		t.Fatal(err)
	}
	preimage := node.preimageOf(t, cs[0].Invoice)
	value, err := l402.FormatAuthorization(l402.Credential{Macaroons: []*macaroon.Macaroon{cs[0].Macaroon}, Preimage: l402.Preimage(preimage)})
	if err != nil {
		t.Fatal(err)
	}
	header := http.Header{"Authorization": {value}}
	if resp := gateGet(t, url+"/", header); resp.StatusCode != 200 {
		t.Fatalf("gateway refused its own token: %d", resp.StatusCode)
	}
	gotMac, gotPreimage, err := apl402.FromHeader(&header)
	if err != nil {
		t.Fatalf("Aperture cannot read the credential: %v", err)
	}
	raw, err := cs[0].ID.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	apMint := mint.New(&mint.Config{
		Secrets: satloopKeys{keys: keys, ids: map[[32]byte]l402.Identifier{sha256.Sum256(raw): cs[0].ID}},
		Now:     time.Now,
	})
	params := &mint.VerificationParams{Macaroon: gotMac, Preimage: gotPreimage, TargetService: service}
	if err := apMint.VerifyL402(ctx, params); err != nil {
		t.Fatalf("Aperture's mint refused the gateway's token: %v", err)
	}
	params.TargetService = "other"
	if err := apMint.VerifyL402(ctx, params); err == nil {
		t.Fatal("Aperture's mint accepted the gateway's token for another service")
	}
}

// TestApertureTokensAtTheGate: a token Aperture minted (with its random
// root key per token) is accepted by the gateway given the same root key,
// and the gateway enforces the capabilities Aperture minted but never
// checks.
func TestApertureTokensAtTheGate(t *testing.T) {
	preimage := newPreimage(t, 11)
	secrets := &secretStore{secrets: map[[32]byte][apl402.SecretSize]byte{}}
	apMint := mint.New(&mint.Config{
		Secrets:        secrets,
		Challenger:     challenger{t: t, preimage: preimage},
		ServiceLimiter: limiter{expiry: time.Now().Add(time.Hour)}, // demo_capabilities=read,write
		Now:            time.Now,
	})
	authenticator := auth.NewL402Authenticator(apMint, settled{})
	header, err := authenticator.FreshChallengeHeader(service, 10)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := l402.ParseChallenges(header.Values("WWW-Authenticate")...)
	if err != nil {
		t.Fatal(err)
	}
	value, err := l402.FormatAuthorization(l402.Credential{Macaroons: []*macaroon.Macaroon{cs[0].Macaroon}, Preimage: l402.Preimage(preimage)})
	if err != nil {
		t.Fatal(err)
	}
	node := &gateNode{t: t, preimages: map[lntypes.Hash]lntypes.Preimage{}}
	url := startGate(t, gateWithApertureKeys{apertureKeys{secrets}}, node, false,
		gate.RouteConfig{Name: "read", Service: service, Path: "/read", PriceSats: 10, Capability: "read"},
		gate.RouteConfig{Name: "admin", Service: service, Path: "/admin", PriceSats: 10, Capability: "admin"},
		gate.RouteConfig{Name: "other", Path: "/other", PriceSats: 10})
	tests := []struct {
		path string
		want int
	}{
		{"/read", http.StatusOK},
		{"/admin", http.StatusPaymentRequired}, // capability Aperture minted and never enforced
		{"/other", http.StatusPaymentRequired}, // another service
	}
	for _, tt := range tests {
		if resp := gateGet(t, url+tt.path, http.Header{"Authorization": {value}}); resp.StatusCode != tt.want {
			t.Errorf("Aperture's token on %s: %d, want %d", tt.path, resp.StatusCode, tt.want)
		}
	}
}

// gateWithApertureKeys verifies with the root keys in Aperture's store and
// mints the gateway's fresh challenges with random keys of its own.
type gateWithApertureKeys struct{ apertureKeys }

func (gateWithApertureKeys) NewRootKey(context.Context, l402.Identifier) ([]byte, error) {
	key := make([]byte, l402.RootKeyLen)
	_, err := rand.Read(key)
	return key, err
}
