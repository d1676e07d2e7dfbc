package aperture

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"testing"
	"time"

	apl402 "github.com/lightninglabs/aperture/l402"
	"github.com/lightninglabs/aperture/mint"
	"gopkg.in/macaroon.v2"

	"github.com/satloop/satloop/l402"
)

// benchToken mints one 3-caveat token (services, capabilities, expiry) with
// satloop and returns it with an Aperture-style secret store holding its
// root key, so that both verifiers check the very same bytes.
func benchToken(b *testing.B) (l402.Credential, *l402.DerivedRootKeys, *secretStore) {
	b.Helper()
	keys, err := l402.NewDerivedRootKeys(bytes.Repeat([]byte{5}, 32))
	if err != nil {
		b.Fatal(err)
	}
	var preimage l402.Preimage
	copy(preimage[:], bytes.Repeat([]byte{3}, 32))
	mac, id, err := l402.Minter{Keys: keys}.Mint(context.Background(), preimage.Hash(),
		l402.ServicesCaveat(l402.Service{Name: service}),
		l402.CapabilitiesCaveat(service, "read"),
		l402.ValidUntilCaveat(service, time.Now().Add(time.Hour).Unix()))
	if err != nil {
		b.Fatal(err)
	}
	key, err := keys.RootKey(context.Background(), id)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := id.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	store := &secretStore{secrets: map[[32]byte][apl402.SecretSize]byte{sha256.Sum256(raw): [32]byte(key)}}
	return l402.Credential{Macaroons: []*macaroon.Macaroon{mac}, Preimage: preimage}, keys, store
}

// BenchmarkVerify compares verifying one paid request's credential, already
// parsed: satloop (derived root key, services + capability + expiry checked)
// against Aperture's mint (root key from an in-memory map, services and
// expiry checked; Aperture never checks capabilities).
func BenchmarkVerify(b *testing.B) {
	cred, keys, store := benchToken(b)
	ctx := context.Background()
	b.Run("satloop", func(b *testing.B) {
		v := l402.Verifier{Keys: keys}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, cred, l402.RequestSatisfiers(service, "read", time.Now())...); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("aperture", func(b *testing.B) {
		m := mint.New(&mint.Config{Secrets: store, Now: time.Now})
		params := &mint.VerificationParams{Macaroon: cred.Macaroons[0], Preimage: [32]byte(cred.Preimage), TargetService: service}
		b.ReportAllocs()
		for b.Loop() {
			if err := m.VerifyL402(ctx, params); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkParseAuthorization compares reading the credential from request
// headers: satloop's parser against Aperture's regex-based FromHeader.
func BenchmarkParseAuthorization(b *testing.B) {
	cred, _, _ := benchToken(b)
	value, err := l402.FormatAuthorization(cred)
	if err != nil {
		b.Fatal(err)
	}
	h := http.Header{"Authorization": {value}}
	b.Run("satloop", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l402.ParseCredential(h); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("aperture", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := apl402.FromHeader(&h); err != nil {
				b.Fatal(err)
			}
		}
	})
}
