package aperture

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/lightninglabs/aperture/auth"
	apl402 "github.com/lightninglabs/aperture/l402"
	"github.com/lightninglabs/aperture/mint"
	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/zpay32"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"gopkg.in/macaroon.v2"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lightning/lightningtest"
)

const service = "demo"

// newInvoice returns a real, signed regtest BOLT 11 invoice for amount with
// the payment hash of preimage, as the seller's node would.
func newInvoice(t *testing.T, preimage lntypes.Preimage, amount lnwire.MilliSatoshi) string {
	t.Helper()
	encoded, err := lightningtest.SignInvoice(nil, &chaincfg.RegressionNetParams, l402.PaymentHash(preimage.Hash()), time.Now(),
		zpay32.Amount(amount), zpay32.Description("interop"))
	if err != nil {
		t.Fatal(err)
	}
	return encoded
}

func newPreimage(t *testing.T, fill byte) lntypes.Preimage {
	t.Helper()
	var p lntypes.Preimage
	copy(p[:], bytes.Repeat([]byte{fill}, 32))
	return p
}

// ---- Aperture mints, satloop reads and pays, Aperture and satloop verify ----

// challenger stands in for Aperture's lnd-backed invoice source.
type challenger struct {
	t        *testing.T
	preimage lntypes.Preimage
}

func (c challenger) NewChallenge(price int64) (string, lntypes.Hash, error) {
	return newInvoice(c.t, c.preimage, lnwire.NewMSatFromSatoshis(btcutil.Amount(price))), c.preimage.Hash(), nil
}
func (challenger) Stop() {}

// secretStore is Aperture's secret store contract: a random root key per
// token, keyed by sha256(identifier).
type secretStore struct {
	mu      sync.Mutex
	secrets map[[32]byte][apl402.SecretSize]byte
}

func (s *secretStore) NewSecret(_ context.Context, id [32]byte) ([apl402.SecretSize]byte, error) {
	var secret [apl402.SecretSize]byte
	copy(secret[:], bytes.Repeat([]byte{byte(len(s.secrets) + 1)}, apl402.SecretSize))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets[id] = secret
	return secret, nil
}

func (s *secretStore) GetSecret(_ context.Context, id [32]byte) ([apl402.SecretSize]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	secret, ok := s.secrets[id]
	if !ok {
		return secret, mint.ErrSecretNotFound
	}
	return secret, nil
}

func (s *secretStore) RevokeSecret(_ context.Context, id [32]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.secrets, id)
	return nil
}

// apertureKeys lets satloop's Verifier read root keys from Aperture's store.
type apertureKeys struct{ store *secretStore }

func (a apertureKeys) key(ctx context.Context, id l402.Identifier) ([]byte, error) {
	raw, err := id.MarshalBinary()
	if err != nil {
		return nil, err
	}
	secret, err := a.store.GetSecret(ctx, sha256.Sum256(raw))
	if errors.Is(err, mint.ErrSecretNotFound) {
		return nil, fmt.Errorf("%w: %v", l402.ErrUnknownToken, err)
	}
	return secret[:], err
}
func (a apertureKeys) NewRootKey(ctx context.Context, id l402.Identifier) ([]byte, error) {
	return nil, errors.New("satloop does not mint into Aperture's store in this test")
}
func (a apertureKeys) RootKey(ctx context.Context, id l402.Identifier) ([]byte, error) {
	return a.key(ctx, id)
}

// limiter gives Aperture's tokens a capability and an expiry, as a
// configured Aperture service would.
type limiter struct{ expiry time.Time }

func (limiter) ServiceCapabilities(_ context.Context, s ...apl402.Service) ([]apl402.Caveat, error) {
	return []apl402.Caveat{apl402.NewCaveat(s[0].Name+apl402.CondCapabilitiesSuffix, "read,write")}, nil
}
func (limiter) ServiceConstraints(context.Context, ...apl402.Service) ([]apl402.Caveat, error) {
	return nil, nil
}
func (l limiter) ServiceTimeouts(_ context.Context, s ...apl402.Service) ([]apl402.Caveat, error) {
	return []apl402.Caveat{apl402.NewCaveat(s[0].Name+apl402.CondTimeoutSuffix, fmt.Sprint(l.expiry.Unix()))}, nil
}

// settled is Aperture's invoice checker with every invoice settled.
type settled struct{}

func (settled) VerifyInvoiceStatus(lntypes.Hash, lnrpc.Invoice_InvoiceState, time.Duration) error {
	return nil
}

func TestApertureChallengeSatloopCredential(t *testing.T) {
	preimage := newPreimage(t, 9)
	secrets := &secretStore{secrets: map[[32]byte][apl402.SecretSize]byte{}}
	apMint := mint.New(&mint.Config{
		Secrets:        secrets,
		Challenger:     challenger{t: t, preimage: preimage},
		ServiceLimiter: limiter{expiry: time.Now().Add(time.Hour)},
		Now:            time.Now,
	})
	authenticator := auth.NewL402Authenticator(apMint, settled{})

	// Aperture's 402: an LSAT line, then an L402 line, same token.
	header, err := authenticator.FreshChallengeHeader(service, 10)
	if err != nil {
		t.Fatal(err)
	}
	challenges, err := l402.ParseChallenges(header.Values("WWW-Authenticate")...)
	if err != nil {
		t.Fatalf("satloop cannot read Aperture's challenge: %v", err)
	}
	if len(challenges) != 1 || challenges[0].Scheme != "L402" {
		t.Fatalf("want the one token once, under L402; got %d challenges", len(challenges))
	}
	c := challenges[0]
	inv, err := zpay32.Decode(c.Invoice, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	if *inv.PaymentHash != [32]byte(c.ID.PaymentHash) {
		t.Fatal("identifier's payment hash differs from the invoice's")
	}
	if *inv.MilliSat != 10_000 {
		t.Fatalf("invoice amount %d msat", *inv.MilliSat)
	}

	// satloop pays (the preimage stands for the payment) and presents it.
	cred := l402.Credential{Macaroons: []*macaroon.Macaroon{c.Macaroon}, Preimage: l402.Preimage(preimage)}
	value, err := l402.FormatAuthorization(cred)
	if err != nil {
		t.Fatal(err)
	}
	if !authenticator.Accept(&http.Header{"Authorization": {value}}, service) {
		t.Fatal("Aperture refused satloop's Authorization header")
	}
	hexForm, err := l402.FormatMacaroonHeader(cred)
	if err != nil {
		t.Fatal(err)
	}
	if !authenticator.Accept(&http.Header{"Grpc-Metadata-Macaroon": {hexForm}}, service) {
		t.Fatal("Aperture refused satloop's Grpc-Metadata-Macaroon header")
	}
	if authenticator.Accept(&http.Header{"Authorization": {value}}, "other") {
		t.Fatal("Aperture accepted the token for another service")
	}

	// A token Aperture minted verifies with satloop given the same root key,
	// and satloop enforces the capabilities Aperture minted.
	verifier := l402.Verifier{Keys: apertureKeys{secrets}}
	if _, err := verifier.Verify(context.Background(), cred, l402.RequestSatisfiers(service, "read", time.Now())...); err != nil {
		t.Fatalf("satloop refused Aperture's token: %v", err)
	}
	_, err = verifier.Verify(context.Background(), cred, l402.RequestSatisfiers(service, "admin", time.Now())...)
	if !errors.Is(err, l402.ErrCapability) {
		t.Fatalf("capability not granted by Aperture: err = %v, want ErrCapability", err)
	}
	_, err = verifier.Verify(context.Background(), cred, l402.RequestSatisfiers(service, "read", time.Now().Add(2*time.Hour))...)
	if !errors.Is(err, l402.ErrExpired) {
		t.Fatalf("after Aperture's expiry: err = %v, want ErrExpired", err)
	}
	// Revoking in Aperture's store makes the token unknown to satloop.
	if err := secrets.RevokeSecret(context.Background(), sha256.Sum256(c.Macaroon.Id())); err != nil {
		t.Fatal(err)
	}
	if _, err := verifier.Verify(context.Background(), cred, l402.ServiceSatisfier(service)); !errors.Is(err, l402.ErrUnknownToken) {
		t.Fatalf("revoked: err = %v, want ErrUnknownToken", err)
	}
}

// ---- satloop mints, Aperture's client pays, satloop and Aperture verify ----

// satloopKeys lets Aperture's mint read satloop's root keys: Aperture asks
// by sha256(identifier), so the test remembers the identifiers it minted.
type satloopKeys struct {
	keys l402.RootKeyStore
	ids  map[[32]byte]l402.Identifier
}

func (s satloopKeys) GetSecret(ctx context.Context, idHash [32]byte) ([apl402.SecretSize]byte, error) {
	var secret [apl402.SecretSize]byte
	id, ok := s.ids[idHash]
	if !ok {
		return secret, mint.ErrSecretNotFound
	}
	key, err := s.keys.RootKey(ctx, id)
	copy(secret[:], key)
	return secret, err
}
func (satloopKeys) NewSecret(context.Context, [32]byte) ([apl402.SecretSize]byte, error) {
	return [apl402.SecretSize]byte{}, errors.New("Aperture does not mint in this test")
}
func (satloopKeys) RevokeSecret(context.Context, [32]byte) error { return nil }

// payingClient is the one lnd call Aperture's client makes: it "pays" by
// handing back the preimage the seller's node would reveal.
type payingClient struct {
	lndclient.LightningClient
	preimage lntypes.Preimage
	paid     []string
}

func (p *payingClient) PayInvoice(_ context.Context, invoice string, _ btcutil.Amount, _ *uint64) chan lndclient.PaymentResult {
	p.paid = append(p.paid, invoice)
	ch := make(chan lndclient.PaymentResult, 1)
	ch <- lndclient.PaymentResult{Preimage: p.preimage, PaidAmt: 10}
	return ch
}

func TestSatloopChallengeApertureClient(t *testing.T) {
	ctx := context.Background()
	keys, err := l402.NewDerivedRootKeys(bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	preimage := newPreimage(t, 3)
	mac, id, err := l402.Minter{Keys: keys}.Mint(ctx, l402.PaymentHash(preimage.Hash()),
		l402.ServicesCaveat(l402.Service{Name: service}),
		l402.CapabilitiesCaveat(service, "read"),
		l402.ValidUntilCaveat(service, time.Now().Add(time.Hour).Unix()))
	if err != nil {
		t.Fatal(err)
	}
	invoice := newInvoice(t, preimage, 10_000)
	challenge, err := l402.FormatChallenge(mac, invoice)
	if err != nil {
		t.Fatal(err)
	}

	// A gRPC server answering like Aperture: "payment required" with our
	// challenge in the trailer, until a valid credential arrives.
	verifier := l402.Verifier{Keys: keys}
	var verified []l402.Identifier
	invoker := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
		for _, o := range opts {
			creds, ok := o.(grpc.PerRPCCredsCallOption)
			if !ok {
				continue
			}
			md, err := creds.Creds.GetRequestMetadata(ctx)
			if err != nil {
				return err
			}
			cred, err := l402.ParseMacaroonHeader(md["macaroon"])
			if err != nil {
				return status.Error(codes.Unauthenticated, err.Error())
			}
			tok, err := verifier.Verify(ctx, cred, l402.RequestSatisfiers(service, "read", time.Now())...)
			if err != nil {
				return status.Error(codes.Unauthenticated, err.Error())
			}
			verified = append(verified, tok.ID)
			return nil
		}
		for _, o := range opts {
			if trailer, ok := o.(grpc.TrailerCallOption); ok {
				*trailer.TrailerAddr = metadata.Pairs("WWW-Authenticate", challenge)
			}
		}
		return status.Error(apl402.GRPCErrCode, apl402.GRPCErrMessage)
	}

	store, err := apl402.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	client := &payingClient{preimage: preimage}
	lnd := &lndclient.LndServices{Client: client, ChainParams: &chaincfg.RegressionNetParams}
	interceptor := apl402.NewInterceptor(lnd, store, 5*time.Second, 100, 10, true)
	if err := interceptor.UnaryInterceptor(ctx, "/demo.Service/Read", nil, nil, nil, invoker); err != nil {
		t.Fatalf("Aperture's client did not complete the call with satloop's challenge: %v", err)
	}
	if len(client.paid) != 1 || client.paid[0] != invoice {
		t.Fatalf("Aperture's client paid %v, want the challenge's invoice once", client.paid)
	}
	if len(verified) != 1 || verified[0] != id {
		t.Fatalf("satloop verified %v, want token %v", verified, id.TokenID)
	}
	// A second call reuses the stored token: no payment.
	if err := interceptor.UnaryInterceptor(ctx, "/demo.Service/Read", nil, nil, nil, invoker); err != nil {
		t.Fatal(err)
	}
	if len(client.paid) != 1 || len(verified) != 2 {
		t.Fatalf("second call: %d payments, %d verifications", len(client.paid), len(verified))
	}

	// Aperture's server side reads satloop's Authorization header, and
	// Aperture's mint verifies satloop's token given the same root key.
	cred := l402.Credential{Macaroons: []*macaroon.Macaroon{mac}, Preimage: l402.Preimage(preimage)}
	value, err := l402.FormatAuthorization(cred)
	if err != nil {
		t.Fatal(err)
	}
	header := http.Header{"Authorization": {value}}
	gotMac, gotPreimage, err := apl402.FromHeader(&header)
	if err != nil {
		t.Fatalf("Aperture cannot read satloop's Authorization: %v", err)
	}
	if gotPreimage != preimage || !gotMac.Equal(mac) {
		t.Fatal("Aperture read a different credential")
	}
	raw, err := id.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	apMint := mint.New(&mint.Config{
		Secrets: satloopKeys{keys: keys, ids: map[[32]byte]l402.Identifier{sha256.Sum256(raw): id}},
		Now:     time.Now,
	})
	params := &mint.VerificationParams{Macaroon: gotMac, Preimage: gotPreimage, TargetService: service}
	if err := apMint.VerifyL402(ctx, params); err != nil {
		t.Fatalf("Aperture's mint refused satloop's token: %v", err)
	}
	params.TargetService = "other"
	if err := apMint.VerifyL402(ctx, params); err == nil {
		t.Fatal("Aperture's mint accepted satloop's token for another service")
	}
}

var _ credentials.PerRPCCredentials = apl402.MacaroonCredential{}
