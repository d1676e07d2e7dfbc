package l402

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
	"time"

	"gopkg.in/macaroon.v2"
)

// vector is testdata/l402-v0.json, copied from shared/vectors.
type vector struct {
	RootKeyHex       string `json:"root_key_hex"`
	PreimageHex      string `json:"preimage_hex"`
	PaymentHashHex   string `json:"payment_hash_hex"`
	TokenIDHex       string `json:"token_id_hex"`
	Location         string `json:"location"`
	IdentifierHex    string `json:"identifier_hex"`
	IdentifierSHA256 string `json:"identifier_sha256_hex"`
	MacaroonV2Hex    string `json:"macaroon_v2_hex"`
	MacaroonB64      string `json:"macaroon_b64"`
	Authorization    string `json:"authorization"`
	NaiveSpecSig0    string `json:"naive_spec_sig0_hex_WRONG"`
	Signatures       []struct {
		After  string `json:"after"`
		SigHex string `json:"sig_hex"`
	} `json:"signatures"`
}

func loadVector(t *testing.T) vector {
	t.Helper()
	raw, err := os.ReadFile("testdata/l402-v0.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixedRootKeys hands out one root key for every token, as the vector needs.
type fixedRootKeys struct{ key []byte }

func (f fixedRootKeys) NewRootKey(context.Context, Identifier) ([]byte, error) { return f.key, nil }
func (f fixedRootKeys) RootKey(context.Context, Identifier) ([]byte, error)    { return f.key, nil }

// TestVectorV0 reproduces shared/vectors/l402-v0.json byte for byte through
// the package's own Mint, caveat helpers and header formatting.
func TestVectorV0(t *testing.T) {
	v := loadVector(t)
	preimage, err := ParsePreimage(v.PreimageHex)
	if err != nil {
		t.Fatal(err)
	}
	if got := preimage.Hash().String(); got != v.PaymentHashHex {
		t.Fatalf("sha256(preimage) = %s, want %s", got, v.PaymentHashHex)
	}
	minter := Minter{
		Keys:     fixedRootKeys{mustHex(t, v.RootKeyHex)},
		Location: v.Location,
		Rand:     bytes.NewReader(mustHex(t, v.TokenIDHex)),
	}
	mac, id, err := minter.Mint(context.Background(), preimage.Hash())
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(id.TokenID[:]); got != v.TokenIDHex {
		t.Fatalf("token id = %s, want %s", got, v.TokenIDHex)
	}
	if got := hex.EncodeToString(mac.Id()); got != v.IdentifierHex {
		t.Fatalf("identifier = %s, want %s", got, v.IdentifierHex)
	}
	idSum := sha256.Sum256(mac.Id())
	if got := hex.EncodeToString(idSum[:]); got != v.IdentifierSHA256 {
		t.Fatalf("sha256(identifier) = %s, want %s", got, v.IdentifierSHA256)
	}
	for i, step := range v.Signatures {
		if step.After != "" {
			c, ok := ParseCaveat(step.After)
			if !ok {
				t.Fatalf("vector caveat %q does not parse", step.After)
			}
			if err := AddCaveats(mac, c); err != nil {
				t.Fatal(err)
			}
		}
		if got := hex.EncodeToString(mac.Signature()); got != step.SigHex {
			t.Fatalf("signature %d (after %q) = %s, want %s", i, step.After, got, step.SigHex)
		}
	}
	raw, err := mac.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(raw); got != v.MacaroonV2Hex {
		t.Fatalf("macaroon v2 = %s\nwant %s", got, v.MacaroonV2Hex)
	}
	if got := base64.StdEncoding.EncodeToString(raw); got != v.MacaroonB64 {
		t.Fatalf("macaroon b64 = %s, want %s", got, v.MacaroonB64)
	}
	cred := Credential{Macaroons: []*macaroon.Macaroon{mac}, Preimage: preimage}
	auth, err := FormatAuthorization(cred)
	if err != nil {
		t.Fatal(err)
	}
	if auth != v.Authorization {
		t.Fatalf("authorization = %s\nwant %s", auth, v.Authorization)
	}

	// The vector verifies, and parses back from its own header.
	parsed, err := ParseAuthorization(v.Authorization)
	if err != nil {
		t.Fatal(err)
	}
	verifier := Verifier{Keys: fixedRootKeys{mustHex(t, v.RootKeyHex)}}
	before := time.Unix(1_899_999_999, 0)
	tok, err := verifier.Verify(context.Background(), parsed, RequestSatisfiers("demo", "read", before)...)
	if err != nil {
		t.Fatalf("vector does not verify: %v", err)
	}
	if tok.ID != id {
		t.Fatalf("verified id %+v, want %+v", tok.ID, id)
	}
}

// TestVectorNaiveSpecChainIsWrong pins down why the chain is left to
// macaroon.v2: the formula in macaroon-spec.md, HMAC(root key, identifier)
// without the key-derivation step, gives a signature no peer accepts.
func TestVectorNaiveSpecChainIsWrong(t *testing.T) {
	v := loadVector(t)
	naive := hmac.New(sha256.New, mustHex(t, v.RootKeyHex))
	naive.Write(mustHex(t, v.IdentifierHex))
	got := hex.EncodeToString(naive.Sum(nil))
	if got != v.NaiveSpecSig0 {
		t.Fatalf("naive spec signature = %s, vector says %s", got, v.NaiveSpecSig0)
	}
	if got == v.Signatures[0].SigHex {
		t.Fatal("naive spec signature equals the real one; the vector no longer shows the spec bug")
	}
}
