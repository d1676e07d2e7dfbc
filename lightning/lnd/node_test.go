package lnd

import (
	"context"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/invoicesrpc"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/money"
)

func TestDialLearnsNetwork(t *testing.T) {
	for lndName, want := range map[string]lightning.Network{
		"regtest":  lightning.Regtest,
		"mainnet":  lightning.Mainnet,
		"testnet":  lightning.Testnet,
		"testnet4": lightning.Testnet,
		"signet":   lightning.Signet,
		"simnet":   lightning.Simnet,
	} {
		t.Run(lndName, func(t *testing.T) {
			n := startFakeLND(t, lndName).dial(t)
			if got := n.Network(); got != want {
				t.Errorf("Network() = %q, want %q", got, want)
			}
		})
	}
}

func TestDialUnknownNetwork(t *testing.T) {
	f := startFakeLND(t, "litecoin-mainnet")
	if _, err := Dial(t.Context(), f.config()); err == nil {
		t.Fatal("Dial accepted a node on an unknown network")
	}
}

func TestDialFromFiles(t *testing.T) {
	f := startFakeLND(t, "regtest")
	dir := t.TempDir()
	cfg := Config{Host: f.addr, TLSCertPath: filepath.Join(dir, "tls.cert"), MacaroonPath: filepath.Join(dir, "admin.macaroon")}
	if err := os.WriteFile(cfg.TLSCertPath, f.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.MacaroonPath, f.macaroon, 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := Dial(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	n.Close()

	missing := cfg
	missing.MacaroonPath = filepath.Join(dir, "nope.macaroon")
	_, err = Dial(t.Context(), missing)
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, lightning.ErrUnreachable) {
		t.Errorf("missing macaroon file: err = %v, want fs.ErrNotExist and not unreachable", err)
	}
	if err != nil && !strings.Contains(err.Error(), missing.MacaroonPath) {
		t.Errorf("missing macaroon file: error %q does not name the file", err)
	}
	missing = cfg
	missing.TLSCertPath = filepath.Join(dir, "nope.cert")
	if _, err := Dial(t.Context(), missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing cert file: err = %v, want fs.ErrNotExist", err)
	}
}

func TestDialUnreachable(t *testing.T) {
	f := startFakeLND(t, "regtest")
	f.server.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := Dial(ctx, f.config())
	var unreachable *lightning.UnreachableError
	if !errors.As(err, &unreachable) || unreachable.Addr != f.addr {
		t.Fatalf("Dial to a stopped node: err = %v, want *lightning.UnreachableError for %s", err, f.addr)
	}
}

func TestDialWrongCertificate(t *testing.T) {
	f := startFakeLND(t, "regtest")
	other, _ := selfSignedCert(t)
	cfg := f.config()
	cfg.TLSCert = other
	if _, err := Dial(t.Context(), cfg); !errors.Is(err, lightning.ErrUnreachable) {
		t.Fatalf("Dial with another certificate: err = %v, want lightning.ErrUnreachable", err)
	}
	if n := f.callCount("GetInfo"); n != 0 {
		t.Errorf("the node saw %d GetInfo calls over an untrusted connection", n)
	}
}

func TestDialWalletLocked(t *testing.T) {
	for _, text := range []string{textWalletLocked, textNoWallet, textWaitingStart, textRPCStarting} {
		f := startFakeLND(t, "regtest")
		f.refuse = func(string) error { return errors.New(text) }
		_, err := Dial(t.Context(), f.config())
		if !errors.Is(err, lightning.ErrWalletLocked) {
			t.Errorf("lnd says %q: err = %v, want lightning.ErrWalletLocked", text, err)
		}
	}
}

func TestDialWrongMacaroon(t *testing.T) {
	f := startFakeLND(t, "regtest")
	cfg := f.config()
	cfg.Macaroon = []byte("another node's macaroon")
	_, err := Dial(t.Context(), cfg)
	var perm *lightning.PermissionError
	if !errors.As(err, &perm) || perm.Call != "GetInfo" {
		t.Fatalf("err = %v, want *lightning.PermissionError for GetInfo", err)
	}
}

// payNode is a regtest node whose SendPaymentV2 the test scripts.
func payNode(t *testing.T) (*fakeLND, *Node) {
	f := startFakeLND(t, "regtest")
	return f, f.dial(t)
}

func TestPaySucceeds(t *testing.T) {
	f, n := payNode(t)
	inv := newInvoice(t, &chaincfg.RegressionNetParams, 10_000, time.Now(), time.Hour)
	var sent *routerrpc.SendPaymentRequest
	f.sendPayment = func(req *routerrpc.SendPaymentRequest, stream routerrpc.Router_SendPaymentV2Server) error {
		sent = req
		return stream.Send(lndPayment(inv, 10_000, lnrpc.Payment_SUCCEEDED))
	}
	p, err := n.Pay(t.Context(), lightning.PayRequest{Invoice: inv.payreq, MaxFee: 2_000, Timeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatalf("Pay: %v", err)
	}
	want := lightning.Payment{Hash: inv.hash, Status: lightning.PaymentSucceeded, Preimage: inv.preimage, Amount: 10_000, Fee: 1_500, Hops: 3}
	p.CreatedAt = time.Time{}
	if p != want {
		t.Errorf("Pay = %+v, want %+v", p, want)
	}
	if sent.FeeLimitMsat != 2_000 || sent.FeeLimitSat != 0 || sent.TimeoutSeconds != 2 || !sent.NoInflightUpdates || sent.Cancelable || sent.PaymentRequest != inv.payreq {
		t.Errorf("SendPaymentV2 request = %v", sent)
	}
}

// A node that reports paying another hash than the invoice's has not
// paid the invoice; its preimage would buy nothing.
func TestPayRefusesAnotherHash(t *testing.T) {
	f, n := payNode(t)
	inv := newInvoice(t, &chaincfg.RegressionNetParams, 10_000, time.Now(), time.Hour)
	other := newInvoice(t, &chaincfg.RegressionNetParams, 10_000, time.Now(), time.Hour)
	f.sendPayment = func(_ *routerrpc.SendPaymentRequest, stream routerrpc.Router_SendPaymentV2Server) error {
		return stream.Send(lndPayment(other, 10_000, lnrpc.Payment_SUCCEEDED))
	}
	p, err := n.Pay(t.Context(), lightning.PayRequest{Invoice: inv.payreq, MaxFee: 2_000, Timeout: time.Second})
	if err == nil || p.Status == lightning.PaymentSucceeded {
		t.Fatalf("Pay = %+v, %v; want an error for a payment of another hash", p, err)
	}
}

func TestPayZeroMaxFeeSendsZero(t *testing.T) {
	f, n := payNode(t)
	inv := newInvoice(t, &chaincfg.RegressionNetParams, 10_000, time.Now(), time.Hour)
	f.sendPayment = func(req *routerrpc.SendPaymentRequest, stream routerrpc.Router_SendPaymentV2Server) error {
		if req.FeeLimitMsat != 0 || req.FeeLimitSat != 0 {
			t.Errorf("fee limit sent: %d msat, %d sat; want 0 (lnd: zero-fee routes only)", req.FeeLimitMsat, req.FeeLimitSat)
		}
		return stream.Send(lndPayment(inv, 10_000, lnrpc.Payment_SUCCEEDED))
	}
	if _, err := n.Pay(t.Context(), lightning.PayRequest{Invoice: inv.payreq, Timeout: time.Second}); err != nil {
		t.Fatalf("Pay: %v", err)
	}
}

func TestPayAlreadyPaid(t *testing.T) {
	for _, text := range []string{"invoice is already paid", "payment is in transition"} {
		t.Run(text, func(t *testing.T) {
			f, n := payNode(t)
			inv := newInvoice(t, &chaincfg.RegressionNetParams, 10_000, time.Now(), time.Hour)
			f.sendPayment = func(*routerrpc.SendPaymentRequest, routerrpc.Router_SendPaymentV2Server) error {
				return status.Error(codes.AlreadyExists, text)
			}
			f.trackPayment = func(req *routerrpc.TrackPaymentRequest, stream routerrpc.Router_TrackPaymentV2Server) error {
				if string(req.PaymentHash) != string(inv.hash[:]) {
					t.Errorf("tracked hash %x, want %s", req.PaymentHash, inv.hash)
				}
				if err := stream.Send(lndPayment(inv, 10_000, lnrpc.Payment_IN_FLIGHT)); err != nil {
					return err
				}
				return stream.Send(lndPayment(inv, 10_000, lnrpc.Payment_SUCCEEDED))
			}
			p, err := n.Pay(t.Context(), lightning.PayRequest{Invoice: inv.payreq, MaxFee: 2_000, Timeout: time.Second})
			if err != nil {
				t.Fatalf("Pay: %v", err)
			}
			if !p.AlreadyPaid || p.Status != lightning.PaymentSucceeded || p.Preimage != inv.preimage {
				t.Errorf("Pay = %+v, want the earlier payment, succeeded, AlreadyPaid", p)
			}
			if got := f.callCount("SendPaymentV2"); got != 1 {
				t.Errorf("SendPaymentV2 called %d times, want 1", got)
			}
		})
	}
}

func TestPayRefusedOffline(t *testing.T) {
	now := time.Now()
	for name, tc := range map[string]struct {
		payreq string
		want   error
	}{
		"no amount":     {newInvoice(t, &chaincfg.RegressionNetParams, 0, now, time.Hour).payreq, lightning.ErrNoAmount},
		"expired":       {newInvoice(t, &chaincfg.RegressionNetParams, 10_000, now.Add(-2*time.Hour), time.Hour).payreq, lightning.ErrInvoiceExpired},
		"wrong network": {newInvoice(t, &chaincfg.MainNetParams, 10_000, now, time.Hour).payreq, lightning.ErrWrongNetwork},
		"malformed":     {"lnbcrt1garbage", lightning.ErrMalformedInvoice},
	} {
		t.Run(name, func(t *testing.T) {
			f, n := payNode(t)
			_, err := n.Pay(t.Context(), lightning.PayRequest{Invoice: tc.payreq, MaxFee: 1_000, Timeout: time.Second})
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if got := f.callCount("SendPaymentV2"); got != 0 {
				t.Errorf("the node saw %d SendPaymentV2 calls, want 0", got)
			}
		})
	}
}

func TestPayRefusesBadRequest(t *testing.T) {
	inv := newInvoice(t, &chaincfg.RegressionNetParams, 10_000, time.Now(), time.Hour)
	for name, req := range map[string]lightning.PayRequest{
		"no timeout":       {Invoice: inv.payreq, MaxFee: 1},
		"negative fee":     {Invoice: inv.payreq, MaxFee: -1, Timeout: time.Second},
		"huge timeout":     {Invoice: inv.payreq, Timeout: 1 << 62},
		"negative timeout": {Invoice: inv.payreq, Timeout: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			f, n := payNode(t)
			if _, err := n.Pay(t.Context(), req); !errors.Is(err, lightning.ErrInvalidRequest) {
				t.Errorf("err = %v, want lightning.ErrInvalidRequest", err)
			}
			if got := f.callCount("SendPaymentV2"); got != 0 {
				t.Errorf("the node saw %d SendPaymentV2 calls, want 0", got)
			}
		})
	}
}

func TestPayFails(t *testing.T) {
	for reason, want := range map[lnrpc.PaymentFailureReason]error{
		lnrpc.PaymentFailureReason_FAILURE_REASON_NO_ROUTE:                  lightning.ErrNoRoute,
		lnrpc.PaymentFailureReason_FAILURE_REASON_INSUFFICIENT_BALANCE:      lightning.ErrInsufficientBalance,
		lnrpc.PaymentFailureReason_FAILURE_REASON_TIMEOUT:                   lightning.ErrPaymentFailed,
		lnrpc.PaymentFailureReason_FAILURE_REASON_INCORRECT_PAYMENT_DETAILS: lightning.ErrPaymentFailed,
	} {
		t.Run(reason.String(), func(t *testing.T) {
			f, n := payNode(t)
			inv := newInvoice(t, &chaincfg.RegressionNetParams, 10_000, time.Now(), time.Hour)
			f.sendPayment = func(_ *routerrpc.SendPaymentRequest, stream routerrpc.Router_SendPaymentV2Server) error {
				p := lndPayment(inv, 10_000, lnrpc.Payment_FAILED)
				p.FailureReason = reason
				return stream.Send(p)
			}
			p, err := n.Pay(t.Context(), lightning.PayRequest{Invoice: inv.payreq, Timeout: time.Second})
			var payErr *lightning.PaymentError
			if !errors.Is(err, want) || !errors.As(err, &payErr) || payErr.Payment.Hash != inv.hash {
				t.Fatalf("err = %v, want a *lightning.PaymentError wrapping %v", err, want)
			}
			if p.Status != lightning.PaymentFailed || p.Preimage != (l402.Preimage{}) {
				t.Errorf("payment = %+v", p)
			}
		})
	}
}

func TestPaySucceededWithWrongPreimage(t *testing.T) {
	f, n := payNode(t)
	inv := newInvoice(t, &chaincfg.RegressionNetParams, 10_000, time.Now(), time.Hour)
	f.sendPayment = func(_ *routerrpc.SendPaymentRequest, stream routerrpc.Router_SendPaymentV2Server) error {
		p := lndPayment(inv, 10_000, lnrpc.Payment_SUCCEEDED)
		p.PaymentPreimage = strings.Repeat("11", 32)
		return stream.Send(p)
	}
	if _, err := n.Pay(t.Context(), lightning.PayRequest{Invoice: inv.payreq, Timeout: time.Second}); err == nil {
		t.Fatal("Pay accepted a preimage that does not match the hash")
	}
}

func TestPayInFlightWhenContextEnds(t *testing.T) {
	f, n := payNode(t)
	inv := newInvoice(t, &chaincfg.RegressionNetParams, 10_000, time.Now(), time.Hour)
	f.sendPayment = func(_ *routerrpc.SendPaymentRequest, stream routerrpc.Router_SendPaymentV2Server) error {
		<-stream.Context().Done()
		return stream.Context().Err()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	p, err := n.Pay(ctx, lightning.PayRequest{Invoice: inv.payreq, Timeout: time.Second})
	if !errors.Is(err, lightning.ErrPaymentInFlight) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want lightning.ErrPaymentInFlight and context.DeadlineExceeded", err)
	}
	if p.Status != lightning.PaymentInFlight || p.Hash != inv.hash {
		t.Errorf("payment = %+v, want in flight for %s", p, inv.hash)
	}
}

func TestPayPermissionDenied(t *testing.T) {
	f, n := payNode(t)
	inv := newInvoice(t, &chaincfg.RegressionNetParams, 10_000, time.Now(), time.Hour)
	f.refuse = func(method string) error {
		if method == "SendPaymentV2" {
			return errors.New(textPermission)
		}
		return nil
	}
	_, err := n.Pay(t.Context(), lightning.PayRequest{Invoice: inv.payreq, Timeout: time.Second})
	var perm *lightning.PermissionError
	if !errors.As(err, &perm) {
		t.Fatalf("err = %v, want *lightning.PermissionError", err)
	}
	if perm.Call != "SendPaymentV2" || !slices.Equal(perm.Need, []lightning.Permission{{Entity: "offchain", Action: "write"}}) {
		t.Errorf("PermissionError = %+v, want SendPaymentV2 needing offchain:write", perm)
	}
}

func TestPayUnreachable(t *testing.T) {
	f, n := payNode(t)
	inv := newInvoice(t, &chaincfg.RegressionNetParams, 10_000, time.Now(), time.Hour)
	f.server.Stop()
	if _, err := n.Pay(t.Context(), lightning.PayRequest{Invoice: inv.payreq, Timeout: time.Second}); !errors.Is(err, lightning.ErrUnreachable) {
		t.Fatalf("err = %v, want lightning.ErrUnreachable", err)
	}
}

func TestTrackPayment(t *testing.T) {
	inv := newInvoice(t, &chaincfg.RegressionNetParams, 10_000, time.Now(), time.Hour)

	t.Run("not found", func(t *testing.T) {
		f, n := payNode(t)
		f.trackPayment = func(*routerrpc.TrackPaymentRequest, routerrpc.Router_TrackPaymentV2Server) error {
			return status.Error(codes.NotFound, "payment isn't initiated")
		}
		if _, err := n.TrackPayment(t.Context(), inv.hash); !errors.Is(err, lightning.ErrPaymentNotFound) {
			t.Fatalf("err = %v, want lightning.ErrPaymentNotFound", err)
		}
	})
	t.Run("succeeded", func(t *testing.T) {
		f, n := payNode(t)
		f.trackPayment = func(_ *routerrpc.TrackPaymentRequest, stream routerrpc.Router_TrackPaymentV2Server) error {
			return stream.Send(lndPayment(inv, 10_000, lnrpc.Payment_SUCCEEDED))
		}
		p, err := n.TrackPayment(t.Context(), inv.hash)
		if err != nil || p.Preimage != inv.preimage || p.AlreadyPaid {
			t.Fatalf("TrackPayment = %+v, %v", p, err)
		}
	})
	t.Run("in flight until ctx ends", func(t *testing.T) {
		f, n := payNode(t)
		f.trackPayment = func(_ *routerrpc.TrackPaymentRequest, stream routerrpc.Router_TrackPaymentV2Server) error {
			if err := stream.Send(lndPayment(inv, 10_000, lnrpc.Payment_IN_FLIGHT)); err != nil {
				return err
			}
			// As lnd's trackPaymentStream does.
			<-stream.Context().Done()
			return stream.Context().Err()
		}
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		p, err := n.TrackPayment(ctx, inv.hash)
		if !errors.Is(err, lightning.ErrPaymentInFlight) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want lightning.ErrPaymentInFlight and context.DeadlineExceeded", err)
		}
		if p.Status != lightning.PaymentInFlight || p.Amount != 10_000 {
			t.Errorf("payment = %+v, want in flight", p)
		}
	})
}

func TestCreateInvoice(t *testing.T) {
	f := startFakeLND(t, "regtest")
	n := f.dial(t)
	var preimage l402.Preimage
	preimage[0] = 7
	created := time.Now().Truncate(time.Second)
	var added *lnrpc.Invoice
	f.addInvoice = func(req *lnrpc.Invoice) (*lnrpc.AddInvoiceResponse, error) {
		added = req
		inv := signInvoice(t, &chaincfg.RegressionNetParams, l402.Preimage(req.RPreimage), money.MilliSat(req.ValueMsat), created, time.Duration(req.Expiry)*time.Second)
		return &lnrpc.AddInvoiceResponse{RHash: inv.hash[:], PaymentRequest: inv.payreq, AddIndex: 9}, nil
	}
	got, err := n.CreateInvoice(t.Context(), lightning.InvoiceRequest{Amount: 21_000, Memo: "api call", Expiry: 90*time.Second + time.Millisecond, Preimage: &preimage})
	if err != nil {
		t.Fatalf("CreateInvoice: %v", err)
	}
	if added.Expiry != 91 || added.ValueMsat != 21_000 || added.Memo != "api call" || string(added.RPreimage) != string(preimage[:]) {
		t.Errorf("AddInvoice request = %v", added)
	}
	if got.Hash != preimage.Hash() || got.Amount != 21_000 || got.AddIndex != 9 || !got.ExpiresAt.Equal(created.Add(91*time.Second)) {
		t.Errorf("CreateInvoice = %+v", got)
	}

	for name, req := range map[string]lightning.InvoiceRequest{
		"zero amount":     {Amount: 0, Expiry: time.Minute},
		"negative amount": {Amount: -1, Expiry: time.Minute},
		"zero expiry":     {Amount: 1000},
	} {
		if _, err := n.CreateInvoice(t.Context(), req); !errors.Is(err, lightning.ErrInvalidRequest) {
			t.Errorf("%s: err = %v, want lightning.ErrInvalidRequest", name, err)
		}
	}
	if got := f.callCount("AddInvoice"); got != 1 {
		t.Errorf("AddInvoice called %d times, want 1", got)
	}
}

func TestLookupInvoice(t *testing.T) {
	f := startFakeLND(t, "regtest")
	n := f.dial(t)
	var hash l402.PaymentHash
	hash[0] = 1
	f.lookupInvoice = func(req *lnrpc.PaymentHash) (*lnrpc.Invoice, error) {
		if string(req.RHash) != string(hash[:]) {
			return nil, status.Error(codes.NotFound, "unable to locate invoice")
		}
		return &lnrpc.Invoice{RHash: hash[:], State: lnrpc.Invoice_SETTLED, ValueMsat: 5_000, AmtPaidMsat: 5_000, CreationDate: 1_700_000_000, Expiry: 600, SettleDate: 1_700_000_100}, nil
	}
	got, err := n.LookupInvoice(t.Context(), hash)
	if err != nil {
		t.Fatalf("LookupInvoice: %v", err)
	}
	want := lightning.InvoiceStatus{Hash: hash, State: lightning.InvoiceSettled, Amount: 5_000, AmountPaid: 5_000,
		CreatedAt: time.Unix(1_700_000_000, 0), ExpiresAt: time.Unix(1_700_000_600, 0), SettledAt: time.Unix(1_700_000_100, 0)}
	if got != want {
		t.Errorf("LookupInvoice = %+v, want %+v", got, want)
	}
	if _, err := n.LookupInvoice(t.Context(), l402.PaymentHash{}); !errors.Is(err, lightning.ErrInvoiceNotFound) {
		t.Errorf("unknown hash: err = %v, want lightning.ErrInvoiceNotFound", err)
	}
}

func TestSubscribeInvoice(t *testing.T) {
	f := startFakeLND(t, "regtest")
	n := f.dial(t)
	var hash l402.PaymentHash
	hash[0] = 2
	states := []lnrpc.Invoice_InvoiceState{lnrpc.Invoice_OPEN, lnrpc.Invoice_ACCEPTED, lnrpc.Invoice_SETTLED, lnrpc.Invoice_OPEN}
	f.subscribe = func(_ *invoicesrpc.SubscribeSingleInvoiceRequest, stream invoicesrpc.Invoices_SubscribeSingleInvoiceServer) error {
		for _, st := range states {
			if err := stream.Send(&lnrpc.Invoice{RHash: hash[:], State: st, ValueMsat: 1000}); err != nil {
				return err
			}
		}
		<-stream.Context().Done()
		return nil
	}
	var got []lightning.InvoiceState
	for st, err := range n.SubscribeInvoice(t.Context(), hash) {
		if err != nil {
			t.Fatalf("SubscribeInvoice: %v", err)
		}
		got = append(got, st.State)
	}
	if want := []lightning.InvoiceState{lightning.InvoiceOpen, lightning.InvoiceAccepted, lightning.InvoiceSettled}; !slices.Equal(got, want) {
		t.Errorf("states = %v, want %v (ending at the final one)", got, want)
	}

	// A consumer that stops early ends the stream.
	for range n.SubscribeInvoice(t.Context(), hash) {
		break
	}

	f.refuse = func(string) error { return errors.New(textPermission) }
	for _, err := range n.SubscribeInvoice(t.Context(), hash) {
		var perm *lightning.PermissionError
		if !errors.As(err, &perm) || perm.Call != "SubscribeSingleInvoice" {
			t.Errorf("err = %v, want *lightning.PermissionError for SubscribeSingleInvoice", err)
		}
	}
}

func TestBalancesAndChannels(t *testing.T) {
	f := startFakeLND(t, "regtest")
	n := f.dial(t)
	f.walletBalance = &lnrpc.WalletBalanceResponse{ConfirmedBalance: 100, UnconfirmedBalance: 2}
	f.channelBalance = &lnrpc.ChannelBalanceResponse{
		LocalBalance:            &lnrpc.Amount{Msat: 5_500},
		RemoteBalance:           &lnrpc.Amount{Msat: 700},
		PendingOpenLocalBalance: &lnrpc.Amount{Msat: 3_000},
	}
	b, err := n.Balances(t.Context())
	if err != nil {
		t.Fatalf("Balances: %v", err)
	}
	if want := (lightning.Balances{OnChainConfirmed: 100_000, OnChainUnconfirmed: 2_000, ChannelLocal: 5_500, ChannelRemote: 700, ChannelPending: 3_000}); b != want {
		t.Errorf("Balances = %+v, want %+v", b, want)
	}

	txid := strings.Repeat("0a", 32)
	f.channels = []*lnrpc.Channel{{ChannelPoint: txid + ":1", ChanId: 42, Capacity: 1_000_000, LocalBalance: 900_000, RemoteBalance: 90_000, Active: true}}
	chans, err := n.Channels(t.Context())
	if err != nil {
		t.Fatalf("Channels: %v", err)
	}
	want := []lightning.Channel{{Point: lightning.ChannelPoint{TxID: txid, OutputIndex: 1}, ChanID: 42, Capacity: money.Sats(1_000_000), Local: money.Sats(900_000), Remote: money.Sats(90_000), Active: true}}
	if !slices.Equal(chans, want) {
		t.Errorf("Channels = %+v, want %+v", chans, want)
	}

	f.walletBalance = &lnrpc.WalletBalanceResponse{ConfirmedBalance: -1}
	if _, err := n.Balances(t.Context()); err == nil {
		t.Error("Balances accepted a negative balance")
	}
}

func TestOpenChannel(t *testing.T) {
	f := startFakeLND(t, "regtest")
	n := f.dial(t)
	peer := "03" + strings.Repeat("cd", 32)
	// Internal byte order: the txid prints reversed.
	txid := make([]byte, 32)
	txid[0] = 0xaa
	var opened *lnrpc.OpenChannelRequest
	f.connectPeer = func(*lnrpc.ConnectPeerRequest) (*lnrpc.ConnectPeerResponse, error) {
		return nil, errors.New("already connected to peer: " + peer + "@127.0.0.1:9735")
	}
	f.openChannel = func(req *lnrpc.OpenChannelRequest) (*lnrpc.ChannelPoint, error) {
		opened = req
		return &lnrpc.ChannelPoint{FundingTxid: &lnrpc.ChannelPoint_FundingTxidBytes{FundingTxidBytes: txid}, OutputIndex: 0}, nil
	}
	point, err := n.OpenChannel(t.Context(), lightning.OpenChannelRequest{PeerPubkey: peer, PeerHost: "127.0.0.1:9735", Capacity: money.Sats(1_000_000), Push: money.Sats(10_000), Private: true})
	if err != nil {
		t.Fatalf("OpenChannel: %v", err)
	}
	if want := strings.Repeat("00", 31) + "aa:0"; point.String() != want {
		t.Errorf("channel point = %s, want %s", point, want)
	}
	if opened.LocalFundingAmount != 1_000_000 || opened.PushSat != 10_000 || !opened.Private || hex.EncodeToString(opened.NodePubkey) != peer {
		t.Errorf("OpenChannelSync request = %v", opened)
	}

	for name, req := range map[string]lightning.OpenChannelRequest{
		"fractional capacity": {PeerPubkey: peer, Capacity: 1_000_500},
		"push above capacity": {PeerPubkey: peer, Capacity: money.Sats(10), Push: money.Sats(11)},
		"bad pubkey":          {PeerPubkey: "02ab", Capacity: money.Sats(10)},
	} {
		if _, err := n.OpenChannel(t.Context(), req); !errors.Is(err, lightning.ErrInvalidRequest) {
			t.Errorf("%s: err = %v, want lightning.ErrInvalidRequest", name, err)
		}
	}
	if got := f.callCount("OpenChannelSync"); got != 1 {
		t.Errorf("OpenChannelSync called %d times, want 1", got)
	}
}

func TestBakeMacaroon(t *testing.T) {
	f := startFakeLND(t, "regtest")
	n := f.dial(t)
	perms, err := lightning.PresetPayOnly.Permissions()
	if err != nil {
		t.Fatal(err)
	}
	f.bakeMacaroon = func(req *lnrpc.BakeMacaroonRequest) (*lnrpc.BakeMacaroonResponse, error) {
		if len(req.Permissions) != len(perms) || req.Permissions[2].Entity != "offchain" || req.Permissions[2].Action != "write" {
			t.Errorf("BakeMacaroon permissions = %v", req.Permissions)
		}
		return &lnrpc.BakeMacaroonResponse{Macaroon: "0201abff"}, nil
	}
	mac, err := n.BakeMacaroon(t.Context(), perms)
	if err != nil || string(mac) != "\x02\x01\xab\xff" {
		t.Fatalf("BakeMacaroon = %x, %v", []byte(mac), err)
	}
	if _, err := n.BakeMacaroon(t.Context(), nil); !errors.Is(err, lightning.ErrInvalidRequest) {
		t.Errorf("no permissions: err = %v, want lightning.ErrInvalidRequest", err)
	}
}

func TestInfoAndNewAddress(t *testing.T) {
	f := startFakeLND(t, "regtest")
	n := f.dial(t)
	info, err := n.Info(t.Context())
	if err != nil || info.Network != lightning.Regtest || info.Alias != "fake" || info.Peers != 2 || info.BestHeaderTime.Unix() != 1_700_000_000 {
		t.Errorf("Info = %+v, %v", info, err)
	}
	if addr, err := n.NewAddress(t.Context()); err != nil || addr != "bcrt1qfake" {
		t.Errorf("NewAddress = %q, %v", addr, err)
	}
}

// TestDialWithoutInfoRead: a macaroon the node accepts but that may not
// call GetInfo (lnd's own invoice.macaroon) connects and creates invoices,
// and refuses to decode or pay any, since the network is unknown.
func TestDialWithoutInfoRead(t *testing.T) {
	f := startFakeLND(t, "regtest")
	f.refuse = func(method string) error {
		if method == "GetInfo" {
			return errors.New(textPermission)
		}
		return nil
	}
	n := f.dial(t)
	if n.Network() != "" {
		t.Fatalf("Network() = %q, want unknown", n.Network())
	}
	preimage := l402.Preimage{7}
	f.addInvoice = func(req *lnrpc.Invoice) (*lnrpc.AddInvoiceResponse, error) {
		inv := signInvoice(t, &chaincfg.RegressionNetParams, l402.Preimage(req.RPreimage), money.MilliSat(req.ValueMsat), time.Now(), time.Duration(req.Expiry)*time.Second)
		return &lnrpc.AddInvoiceResponse{RHash: inv.hash[:], PaymentRequest: inv.payreq, AddIndex: 1}, nil
	}
	created, err := n.CreateInvoice(t.Context(), lightning.InvoiceRequest{Amount: 10_000, Memo: "sale", Expiry: time.Minute, Preimage: &preimage})
	if err != nil {
		t.Fatalf("CreateInvoice: %v", err)
	}
	if created.Hash != preimage.Hash() || created.Amount != 10_000 {
		t.Errorf("CreateInvoice = %+v", created)
	}

	inv := newInvoice(t, &chaincfg.RegressionNetParams, 10_000, time.Now(), time.Hour)
	_, err = n.DecodeInvoice(inv.payreq)
	var perm *lightning.PermissionError
	if !errors.As(err, &perm) || perm.Call != "GetInfo" || !slices.Contains(perm.Need, lightning.Permission{Entity: "info", Action: "read"}) {
		t.Fatalf("DecodeInvoice err = %v, want a PermissionError naming info:read", err)
	}
	_, err = n.Pay(t.Context(), lightning.PayRequest{Invoice: inv.payreq, MaxFee: 1000, Timeout: time.Second})
	if !errors.As(err, &perm) {
		t.Fatalf("Pay err = %v, want a PermissionError", err)
	}
	if c := f.callCount("SendPaymentV2"); c != 0 {
		t.Errorf("SendPaymentV2 called %d times with the network unknown", c)
	}
}
