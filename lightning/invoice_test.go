package lightning

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/zpay32"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lightning/lightningtest"
	"github.com/satloop/satloop/money"
)

// signInvoice encodes an invoice for hash on params, signed by a random key.
func signInvoice(t testing.TB, params *chaincfg.Params, hash l402.PaymentHash, created time.Time, opts ...func(*zpay32.Invoice)) string {
	t.Helper()
	payreq, err := lightningtest.SignInvoice(nil, params, hash, created, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return payreq
}

func randomHash(t testing.TB) l402.PaymentHash {
	var h l402.PaymentHash
	if _, err := rand.Read(h[:]); err != nil {
		t.Fatal(err)
	}
	return h
}

var testNetworks = map[Network]*chaincfg.Params{
	Mainnet: &chaincfg.MainNetParams,
	Testnet: &chaincfg.TestNet3Params,
	Signet:  &chaincfg.SigNetParams,
	Regtest: &chaincfg.RegressionNetParams,
	Simnet:  &chaincfg.SimNetParams,
}

func TestDecodeInvoiceNetworks(t *testing.T) {
	created := time.Unix(1_700_000_000, 0)
	for network, params := range testNetworks {
		t.Run(string(network), func(t *testing.T) {
			hash := randomHash(t)
			payreq := signInvoice(t, params, hash, created, zpay32.Amount(12_345), zpay32.Description("a coffee"), zpay32.Expiry(10*time.Minute))
			inv, err := DecodeInvoice(payreq, network)
			if err != nil {
				t.Fatalf("DecodeInvoice: %v", err)
			}
			if inv.Network != network || inv.Hash != hash || !inv.HasAmount || inv.Amount != 12_345 || inv.Description != "a coffee" ||
				!inv.CreatedAt.Equal(created) || !inv.ExpiresAt.Equal(created.Add(10*time.Minute)) || len(inv.Destination) != 66 {
				t.Errorf("DecodeInvoice = %+v", inv)
			}

			if got, err := InvoiceNetwork(payreq); err != nil || got != network {
				t.Errorf("InvoiceNetwork = %q, %v; want %q", got, err, network)
			}
			if got, err := InvoiceNetwork(strings.ToUpper(payreq)); err != nil || got != network {
				t.Errorf("InvoiceNetwork of the upper-case form = %q, %v; want %q", got, err, network)
			}

			// Every other network refuses it, naming both.
			for other := range testNetworks {
				if other == network {
					continue
				}
				_, err := DecodeInvoice(payreq, other)
				var wrong *WrongNetworkError
				if !errors.As(err, &wrong) || wrong.Invoice != network || wrong.Node != other {
					t.Errorf("decoded as %s: err = %v, want *WrongNetworkError{%s, %s}", other, err, network, other)
				}
				if errors.Is(err, ErrMalformedInvoice) {
					t.Errorf("decoded as %s: a wrong network is not malformed: %v", other, err)
				}
			}
		})
	}
}

func TestInvoiceNetworkMalformed(t *testing.T) {
	for _, payreq := range []string{"", "lnxx1qqqq", "bc1qqqq", "lnbc", strings.Repeat("lnbc1", 2000)} {
		if _, err := InvoiceNetwork(payreq); !errors.Is(err, ErrMalformedInvoice) {
			t.Errorf("InvoiceNetwork(%.20q) err = %v, want ErrMalformedInvoice", payreq, err)
		}
	}
}

func TestDecodeInvoiceForms(t *testing.T) {
	hash := randomHash(t)
	now := time.Now()
	withAmount := signInvoice(t, &chaincfg.RegressionNetParams, hash, now, zpay32.Amount(1_000), zpay32.Description("x"))
	descHash := chainhash.HashH([]byte("long description"))

	t.Run("upper case", func(t *testing.T) {
		inv, err := DecodeInvoice(strings.ToUpper(withAmount), Regtest)
		if err != nil || inv.Hash != hash || inv.PaymentRequest != withAmount {
			t.Fatalf("DecodeInvoice(upper) = %+v, %v", inv, err)
		}
	})
	t.Run("no amount", func(t *testing.T) {
		inv, err := DecodeInvoice(signInvoice(t, &chaincfg.RegressionNetParams, hash, now, zpay32.Description("x")), Regtest)
		if err != nil || inv.HasAmount || inv.Amount != 0 {
			t.Fatalf("DecodeInvoice = %+v, %v; want HasAmount false", inv, err)
		}
	})
	t.Run("description hash", func(t *testing.T) {
		inv, err := DecodeInvoice(signInvoice(t, &chaincfg.RegressionNetParams, hash, now, zpay32.DescriptionHash(descHash)), Regtest)
		if err != nil || inv.DescriptionHash != hex.EncodeToString(descHash[:]) || inv.Description != "" {
			t.Fatalf("DecodeInvoice = %+v, %v", inv, err)
		}
	})
	t.Run("default expiry", func(t *testing.T) {
		inv, err := DecodeInvoice(withAmount, Regtest)
		if err != nil || inv.ExpiresAt.Sub(inv.CreatedAt) != time.Hour {
			t.Fatalf("DecodeInvoice = %+v, %v; want BOLT 11's one-hour default", inv, err)
		}
	})
	t.Run("zero hash", func(t *testing.T) {
		// Anyone can sign an invoice for the all-zero hash; it matches no
		// preimage anyone knows and must not pass for a hash.
		payreq := signInvoice(t, &chaincfg.RegressionNetParams, l402.PaymentHash{}, now, zpay32.Amount(1_000), zpay32.Description("x"))
		if _, err := DecodeInvoice(payreq, Regtest); !errors.Is(err, ErrMalformedInvoice) {
			t.Fatalf("err = %v, want ErrMalformedInvoice", err)
		}
	})
	t.Run("huge amount", func(t *testing.T) {
		// More than 21 million bitcoin: encodable, never valid.
		payreq := signInvoice(t, &chaincfg.MainNetParams, hash, now, zpay32.Amount(lnwire.MilliSatoshi(money.MaxMilliSat)+1), zpay32.Description("x"))
		if _, err := DecodeInvoice(payreq, Mainnet); !errors.Is(err, ErrMalformedInvoice) {
			t.Fatalf("err = %v, want ErrMalformedInvoice", err)
		}
	})
}

func TestDecodeInvoiceMalformed(t *testing.T) {
	valid := signInvoice(t, &chaincfg.RegressionNetParams, randomHash(t), time.Now(), zpay32.Amount(1_000), zpay32.Description("x"))
	for name, payreq := range map[string]string{
		"empty":           "",
		"not an invoice":  "hello",
		"no separator":    "lnbcrt",
		"bitcoin address": "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
		"unknown prefix":  "lnxy1" + valid[strings.LastIndexByte(valid, '1')+1:],
		"mixed case":      valid[:10] + strings.ToUpper(valid[10:]),
		"bad checksum":    flipLast(valid),
		"truncated":       valid[:len(valid)-10],
		"too long":        "lnbcrt1" + strings.Repeat("q", maxInvoiceLength),
		"only prefix":     "lnbcrt1",
		"nul bytes":       "lnbcrt1\x00\x00",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeInvoice(payreq, Regtest); !errors.Is(err, ErrMalformedInvoice) {
				t.Errorf("err = %v, want ErrMalformedInvoice", err)
			}
		})
	}
}

// flipLast changes the last character of a bech32 string, which breaks its
// checksum.
func flipLast(s string) string {
	last := byte('q')
	if s[len(s)-1] == last {
		last = 'p'
	}
	return s[:len(s)-1] + string(last)
}

func TestCheckPayable(t *testing.T) {
	now := time.Now()
	for name, tc := range map[string]struct {
		inv  Invoice
		want error
	}{
		"payable":       {Invoice{HasAmount: true, Amount: 1, ExpiresAt: now.Add(time.Minute)}, nil},
		"no amount":     {Invoice{ExpiresAt: now.Add(time.Minute)}, ErrNoAmount},
		"expired":       {Invoice{HasAmount: true, Amount: 1, ExpiresAt: now.Add(-time.Second)}, ErrInvoiceExpired},
		"expiring now":  {Invoice{HasAmount: true, Amount: 1, ExpiresAt: now}, ErrInvoiceExpired},
		"both, amount!": {Invoice{ExpiresAt: now.Add(-time.Second)}, ErrNoAmount},
	} {
		t.Run(name, func(t *testing.T) {
			err := CheckPayable(tc.inv, now)
			if tc.want == nil && err != nil || !errors.Is(err, tc.want) {
				t.Fatalf("CheckPayable = %v, want %v", err, tc.want)
			}
			var expired *ExpiredError
			if errors.As(err, &expired) && !expired.ExpiredAt.Equal(tc.inv.ExpiresAt) {
				t.Errorf("ExpiredAt = %s, want %s", expired.ExpiredAt, tc.inv.ExpiresAt)
			}
		})
	}
}

func FuzzDecodeInvoice(f *testing.F) {
	hash := l402.PaymentHash{1, 2, 3}
	now := time.Unix(1_700_000_000, 0)
	for network, params := range testNetworks {
		f.Add(signInvoice(f, params, hash, now, zpay32.Amount(1_000), zpay32.Description("seed")), string(network))
		f.Add(signInvoice(f, params, hash, now, zpay32.Description("no amount")), string(network))
	}
	f.Add("", "mainnet")
	f.Add("lnbc1", "mainnet")
	f.Add("LNBCRT1", "regtest")
	f.Fuzz(func(t *testing.T, payreq, network string) {
		inv, err := DecodeInvoice(payreq, Network(network))
		if err != nil {
			return
		}
		if inv.Hash == (l402.PaymentHash{}) {
			t.Errorf("accepted an invoice with a zero hash: %q", payreq)
		}
		if inv.HasAmount && (inv.Amount <= 0 || !inv.Amount.Valid()) {
			t.Errorf("accepted an invoice with amount %d: %q", inv.Amount, payreq)
		}
		if !inv.HasAmount && inv.Amount != 0 {
			t.Errorf("amount %d set without HasAmount: %q", inv.Amount, payreq)
		}
		if inv.Network != Network(network) {
			t.Errorf("invoice for %s accepted as %s", inv.Network, network)
		}
	})
}
