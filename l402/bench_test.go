package l402

import (
	"context"
	"net/http"
	"testing"
)

func BenchmarkMint(b *testing.B) {
	f := newFixture(b, derivedKeys(b))
	hash := f.preimage.Hash()
	caveats := standardCaveats()[:3]
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := f.minter.Mint(ctx, hash, caveats...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify3Caveats is the gateway's hot path for a paid request:
// services, capabilities and expiry, with root keys derived (no storage).
// The credential is parsed once, outside the loop; BenchmarkParseAuthorization
// measures parsing.
func BenchmarkVerify3Caveats(b *testing.B) {
	for name, keys := range map[string]RootKeyStore{"derived": derivedKeys(b), "memory": NewMemoryRootKeys()} {
		b.Run(name, func(b *testing.B) {
			f := newFixture(b, keys)
			cred, _ := f.mint(b, standardCaveats()[:3]...)
			satisfiers := RequestSatisfiers("demo", "read", testNow)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.verifier.Verify(ctx, cred, satisfiers...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseChallenge(b *testing.B) {
	f := newFixture(b, derivedKeys(b))
	cred, _ := f.mint(b, standardCaveats()[:3]...)
	header, err := FormatChallenge(cred.Macaroons[0], testInvoice)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseChallenges(header); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAuthorization(b *testing.B) {
	f := newFixture(b, derivedKeys(b))
	cred, _ := f.mint(b, standardCaveats()[:3]...)
	value, err := FormatAuthorization(cred)
	if err != nil {
		b.Fatal(err)
	}
	h := http.Header{HeaderAuthorization: {value}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseCredential(h); err != nil {
			b.Fatal(err)
		}
	}
}
