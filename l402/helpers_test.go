package l402

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"testing"

	"gopkg.in/macaroon.v2"
)

// testInvoice is a syntactically plausible regtest BOLT 11 string; l402
// treats invoices as opaque, so it need not decode.
const testInvoice = "lnbcrt100n1pjtestinvoiceqqqsyqcyq5rqwzqfqypqsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs"

type fixture struct {
	keys     RootKeyStore
	minter   Minter
	verifier Verifier
	preimage Preimage
}

func newFixture(t testing.TB, keys RootKeyStore) fixture {
	t.Helper()
	var p Preimage
	copy(p[:], bytes.Repeat([]byte{7}, 32))
	return fixture{keys: keys, minter: Minter{Keys: keys}, verifier: Verifier{Keys: keys}, preimage: p}
}

func derivedKeys(t testing.TB) *DerivedRootKeys {
	t.Helper()
	k, err := NewDerivedRootKeys(bytes.Repeat([]byte{42}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// mint returns a credential for a fresh token with caveats.
func (f fixture) mint(t testing.TB, caveats ...Caveat) (Credential, Identifier) {
	t.Helper()
	mac, id, err := f.minter.Mint(context.Background(), f.preimage.Hash(), caveats...)
	if err != nil {
		t.Fatal(err)
	}
	return Credential{Macaroons: []*macaroon.Macaroon{mac}, Preimage: f.preimage}, id
}

func macB64(t testing.TB, m *macaroon.Macaroon, enc *base64.Encoding) string {
	t.Helper()
	raw, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeToString(raw)
}

// expectErr fails the test unless err matches want (nil meaning success),
// and reports whether an error was expected, so the case can stop there.
func expectErr(t *testing.T, err, want error) bool {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatal(err)
		}
		return false
	}
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	return true
}
