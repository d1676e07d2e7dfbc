package l402

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"gopkg.in/macaroon.v2"
)

// fuzzSeeds returns real headers to start each fuzzer from.
func fuzzSeeds(f *testing.F) (challenge, authorization, macaroonHeader string) {
	fx := newFixture(f, derivedKeys(f))
	cred, _ := fx.mint(f, standardCaveats()...)
	challenge, err := FormatChallenge(cred.Macaroons[0], testInvoice)
	if err != nil {
		f.Fatal(err)
	}
	authorization, err = FormatAuthorization(cred)
	if err != nil {
		f.Fatal(err)
	}
	macaroonHeader, err = FormatMacaroonHeader(cred)
	if err != nil {
		f.Fatal(err)
	}
	return challenge, authorization, macaroonHeader
}

func FuzzParseChallenges(f *testing.F) {
	challenge, _, _ := fuzzSeeds(f)
	std := strings.TrimSuffix(strings.SplitN(challenge, `macaroon="`, 2)[1], `"`)
	f.Add(challenge)
	f.Add(strings.Replace(challenge, "L402", "LSAT", 1) + "\n" + challenge)
	f.Add(`Basic realm="x", ` + challenge + `, Negotiate abc==`)
	f.Add(`L402 version=0, token=` + std[:40] + `, invoice="a\"b"`)
	f.Add(`l402 macaroon="", invoice=""`)
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ParseChallenges(strings.Split(in, "\n")...)
		if err != nil {
			if got != nil {
				t.Fatal("challenges returned with an error")
			}
			return
		}
		if len(got) == 0 {
			t.Fatal("no challenges and no error")
		}
		for _, c := range got {
			if c.Macaroon == nil || c.Invoice == "" {
				t.Fatalf("incomplete challenge %+v", c)
			}
			// What we accept, we can re-emit and read back the same.
			out, err := FormatChallenge(c.Macaroon, c.Invoice)
			if err != nil {
				continue // an invoice with quotes or spaces: parsed, never re-emitted
			}
			back, err := ParseChallenges(out)
			if err != nil || len(back) != 1 || back[0].ID != c.ID || back[0].Invoice != c.Invoice {
				t.Fatalf("re-emitted challenge reads back differently: %v", err)
			}
		}
	})
}

func FuzzParseAuthorization(f *testing.F) {
	_, auth, _ := fuzzSeeds(f)
	f.Add(auth)
	f.Add(strings.Replace(auth, "L402", "LSAT", 1) + ", " + auth)
	f.Add("L402 a,b,c:" + strings.Repeat("0", 64))
	f.Add("Bearer x")
	f.Fuzz(func(t *testing.T, in string) {
		cred, err := ParseAuthorization(in)
		if err != nil {
			return
		}
		if len(cred.Macaroons) == 0 || len(cred.Macaroons) > maxMacaroons {
			t.Fatalf("%d macaroons accepted", len(cred.Macaroons))
		}
		out, err := FormatAuthorization(cred)
		if err != nil {
			t.Fatalf("accepted credential cannot be formatted: %v", err)
		}
		back, err := ParseAuthorization(out)
		if err != nil || back.Preimage != cred.Preimage || len(back.Macaroons) != len(cred.Macaroons) {
			t.Fatalf("round trip failed: %v", err)
		}
		for i := range back.Macaroons {
			if !back.Macaroons[i].Equal(cred.Macaroons[i]) {
				t.Fatalf("macaroon %d changed in a round trip", i)
			}
		}
	})
}

func FuzzParseMacaroonHeader(f *testing.F) {
	_, _, mh := fuzzSeeds(f)
	f.Add(mh)
	f.Add(mh[:len(mh)/2])
	f.Add("0201")
	f.Fuzz(func(t *testing.T, in string) {
		cred, err := ParseMacaroonHeader(in)
		if err != nil {
			return
		}
		if len(cred.Macaroons) != 1 {
			t.Fatalf("%d macaroons", len(cred.Macaroons))
		}
		found := false
		for _, c := range cred.Macaroons[0].Caveats() {
			cav, ok := ParseCaveat(string(c.Id))
			// Hex is read in either case (peers differ); the value is the same.
			found = found || (ok && cav.Condition == ConditionPreimage && strings.EqualFold(cav.Value, cred.Preimage.Hex()))
		}
		if !found {
			t.Fatal("accepted without a matching preimage caveat")
		}
	})
}

func FuzzDecodeIdentifier(f *testing.F) {
	var id Identifier
	good, _ := id.MarshalBinary()
	f.Add(good)
	f.Add(append([]byte{0, 1}, good[2:]...))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 70))
	f.Fuzz(func(t *testing.T, in []byte) {
		id, err := DecodeIdentifier(in)
		if err != nil {
			return
		}
		out, err := id.MarshalBinary()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("identifier does not round-trip: % x -> % x (%v)", in, out, err)
		}
	})
}

// FuzzAttenuationNeverWidens appends arbitrary caveats to a genuine token,
// as a holder may, and checks that no request the original token is refused
// becomes allowed.
func FuzzAttenuationNeverWidens(f *testing.F) {
	f.Add("demo_capabilities=read,admin", "admin", int64(0), int64(10))
	f.Add("services=demo:0,evil:0", "read", int64(0), int64(10))
	f.Add("demo_valid_until=99999999999", "read", int64(7200), int64(10))
	f.Add("search_max_results=1000", "read", int64(0), int64(500))
	f.Add("services=evil:0\nservices=demo:0", "write", int64(-10), int64(0))
	fx := newFixture(f, derivedKeys(f))
	original, _ := fx.mint(f, standardCaveats()...)
	f.Fuzz(func(t *testing.T, added, capability string, offset, results int64) {
		now := testNow.Add(time.Duration(offset%(1<<40)) * time.Second)
		for _, service := range []string{"demo", "other", "evil"} {
			satisfiers := append(RequestSatisfiers(service, capability, now), MaxSatisfier("search_max_results", results))
			before := original
			_, errBefore := fx.verifier.Verify(context.Background(), before, satisfiers...)

			held := original.Macaroons[0].Clone()
			for _, line := range strings.Split(added, "\n") {
				if c, ok := ParseCaveat(line); ok {
					if err := AddCaveats(held, c); err != nil {
						return // the library refused the caveat: nothing to check
					}
				}
			}
			after := Credential{Macaroons: []*macaroon.Macaroon{held}, Preimage: original.Preimage}
			_, errAfter := fx.verifier.Verify(context.Background(), after, satisfiers...)
			if errBefore != nil && errAfter == nil {
				t.Fatalf("caveats %q widened the token for %s/%q: before: %v", added, service, capability, errBefore)
			}
		}
	})
}
