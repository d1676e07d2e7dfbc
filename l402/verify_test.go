package l402

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"gopkg.in/macaroon.v2"
)

var (
	testNow   = time.Unix(1_800_000_000, 0)
	expiresAt = testNow.Add(time.Hour).Unix()
)

// rootKeyStores lists every RootKeyStore implementation; each test below is a
// conformance test run against all of them.
func rootKeyStores(t *testing.T) map[string]func() RootKeyStore {
	return map[string]func() RootKeyStore{
		"derived": func() RootKeyStore { return derivedKeys(t) },
		"memory":  func() RootKeyStore { return NewMemoryRootKeys() },
	}
}

// standardCaveats is what a gateway mints for a paid route.
func standardCaveats() []Caveat {
	return []Caveat{
		ServicesCaveat(Service{Name: "demo"}, Service{Name: "other"}),
		CapabilitiesCaveat("demo", "read", "write"),
		ValidUntilCaveat("demo", expiresAt),
		{Condition: "search_max_results", Value: "100"},
	}
}

func TestAttenuation(t *testing.T) {
	type request struct {
		service, capability string
		now                 time.Time
		results             int64
	}
	read := request{"demo", "read", testNow, 10}
	tests := []struct {
		name   string
		added  []Caveat // appended by the holder, offline
		req    request
		err    error // nil means the request is allowed
		widens bool  // the added caveats try to widen: always ErrInvalid
	}{
		{name: "as minted", req: read},
		{name: "as minted, write", req: request{"demo", "write", testNow, 10}},
		{name: "as minted, other service", req: request{"other", "", testNow, 0}},
		{name: "as minted, wrong service", req: request{"nope", "", testNow, 0}, err: ErrWrongService},
		{name: "as minted, unknown capability", req: request{"demo", "admin", testNow, 0}, err: ErrCapability},
		{name: "as minted, expired", req: request{"demo", "read", time.Unix(expiresAt, 0), 0}, err: ErrExpired},
		{name: "as minted, over constraint", req: request{"demo", "read", testNow, 101}, err: ErrOverLimit},

		{name: "narrow services", added: []Caveat{ServicesCaveat(Service{Name: "demo"})}, req: read},
		{name: "narrowed services refuse the dropped one", added: []Caveat{ServicesCaveat(Service{Name: "demo"})}, req: request{"other", "", testNow, 0}, err: ErrWrongService},
		{name: "narrow capabilities", added: []Caveat{CapabilitiesCaveat("demo", "read")}, req: read},
		{name: "narrowed capabilities refuse write", added: []Caveat{CapabilitiesCaveat("demo", "read")}, req: request{"demo", "write", testNow, 0}, err: ErrCapability},
		{name: "earlier expiry", added: []Caveat{ValidUntilCaveat("demo", testNow.Unix()+10)}, req: read},
		{name: "earlier expiry passes", added: []Caveat{ValidUntilCaveat("demo", testNow.Unix())}, req: read, err: ErrExpired},
		{name: "stricter constraint", added: []Caveat{{Condition: "search_max_results", Value: "20"}}, req: read},
		{name: "stricter constraint refuses more", added: []Caveat{{Condition: "search_max_results", Value: "5"}}, req: read, err: ErrOverLimit},
		{name: "same caveat again", added: []Caveat{CapabilitiesCaveat("demo", "read", "write")}, req: read},
		{name: "unknown caveats are skipped", added: []Caveat{{Condition: "thirdparty_note", Value: "x"}, {Condition: "tool", Value: "a=b"}}, req: read},

		{name: "widen services", added: []Caveat{ServicesCaveat(Service{Name: "demo"}, Service{Name: "evil"})}, req: read, widens: true},
		{name: "widen services after narrowing", added: []Caveat{ServicesCaveat(Service{Name: "demo"}), ServicesCaveat(Service{Name: "demo"}, Service{Name: "other"})}, req: read, widens: true},
		{name: "change a tier", added: []Caveat{ServicesCaveat(Service{Name: "demo", Tier: 1})}, req: read, widens: true},
		{name: "widen capabilities", added: []Caveat{CapabilitiesCaveat("demo", "read", "admin")}, req: read, widens: true},
		{name: "later expiry", added: []Caveat{ValidUntilCaveat("demo", expiresAt+1)}, req: read, widens: true},
		{name: "looser constraint", added: []Caveat{{Condition: "search_max_results", Value: "1000"}}, req: read, widens: true},
		{name: "garbage expiry", added: []Caveat{{Condition: "demo_valid_until", Value: "soon"}}, req: read, widens: true},
	}
	for storeName, newStore := range rootKeyStores(t) {
		for _, tt := range tests {
			t.Run(storeName+"/"+tt.name, func(t *testing.T) {
				f := newFixture(t, newStore())
				cred, id := f.mint(t, standardCaveats()...)
				// The holder attenuates with nothing but the token itself.
				held := cred.Macaroons[0].Clone()
				if err := AddCaveats(held, tt.added...); err != nil {
					t.Fatal(err)
				}
				cred.Macaroons[0] = held
				satisfiers := append(RequestSatisfiers(tt.req.service, tt.req.capability, tt.req.now),
					MaxSatisfier("search_max_results", tt.req.results))
				tok, err := f.verifier.Verify(context.Background(), cred, satisfiers...)
				want := tt.err
				if tt.widens {
					want = ErrInvalid
				}
				if want == nil {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					if tok.ID != id {
						t.Fatal("wrong token id")
					}
					return
				}
				if !errors.Is(err, want) {
					t.Fatalf("err = %v, want %v", err, want)
				}
			})
		}
	}
}

func TestVerifyRequiresServicesCaveat(t *testing.T) {
	f := newFixture(t, derivedKeys(t))
	cred, _ := f.mint(t, CapabilitiesCaveat("demo", "read"))
	_, err := f.verifier.Verify(context.Background(), cred, RequestSatisfiers("demo", "read", testNow)...)
	if !errors.Is(err, ErrWrongService) {
		t.Fatalf("err = %v, want ErrWrongService", err)
	}
}

func TestTokenValueIsTheAttenuatedOne(t *testing.T) {
	f := newFixture(t, derivedKeys(t))
	cred, _ := f.mint(t, standardCaveats()...)
	if err := AddCaveats(cred.Macaroons[0], ValidUntilCaveat("demo", testNow.Unix()+5)); err != nil {
		t.Fatal(err)
	}
	tok, err := f.verifier.Verify(context.Background(), cred, RequestSatisfiers("demo", "read", testNow)...)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := tok.Value("demo_valid_until"); v != strconv.FormatInt(testNow.Unix()+5, 10) {
		t.Fatalf("demo_valid_until = %q", v)
	}
	if _, ok := tok.Value("absent"); ok {
		t.Fatal("absent condition reported present")
	}
}

// rewrite turns a macaroon into its JSON form, lets edit change it, and
// decodes the result: a way to forge tokens without the root key.
func rewrite(t *testing.T, m *macaroon.Macaroon, edit func(j map[string]any)) *macaroon.Macaroon {
	t.Helper()
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	if err := json.Unmarshal(raw, &j); err != nil {
		t.Fatal(err)
	}
	edit(j)
	raw, err = json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var out macaroon.Macaroon
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func TestTamper(t *testing.T) {
	for storeName, newStore := range rootKeyStores(t) {
		t.Run(storeName, func(t *testing.T) {
			f := newFixture(t, newStore())
			cred, _ := f.mint(t, standardCaveats()...)
			mac := cred.Macaroons[0]

			// A second token with another preimage, for swaps.
			otherF := f
			otherF.preimage[0] ^= 0xff
			otherCred, otherID := otherF.mint(t, standardCaveats()...)

			idBytes := mac.Id()
			swappedID := append([]byte(nil), idBytes...)
			copy(swappedID[34:], otherID.TokenID[:])
			otherHashID := append([]byte(nil), idBytes...)
			copy(otherHashID[2:34], otherID.PaymentHash[:])

			caveat := func(j map[string]any, i int) map[string]any {
				return j["c"].([]any)[i].(map[string]any)
			}
			tests := []struct {
				name     string
				mac      *macaroon.Macaroon
				preimage Preimage
				err      error
			}{
				{name: "untouched", mac: mac, preimage: f.preimage},
				{name: "flipped signature byte", preimage: f.preimage, err: ErrInvalid, mac: rewrite(t, mac, func(j map[string]any) {
					sig := append([]byte(nil), mac.Signature()...)
					sig[3] ^= 1
					j["s64"] = b64url(sig)
				})},
				{name: "flipped caveat byte", preimage: f.preimage, err: ErrInvalid, mac: rewrite(t, mac, func(j map[string]any) {
					caveat(j, 1)["i"] = "demo_capabilities=read,writf"
				})},
				{name: "widened caveat value", preimage: f.preimage, err: ErrInvalid, mac: rewrite(t, mac, func(j map[string]any) {
					caveat(j, 2)["i"] = "demo_valid_until=9999999999"
				})},
				{name: "preimage of another token", mac: mac, preimage: otherF.preimage, err: ErrInvalid},
				{name: "token id swapped", preimage: f.preimage, err: ErrInvalid, mac: rewrite(t, mac, func(j map[string]any) {
					delete(j, "i")
					j["i64"] = b64url(swappedID)
				})},
				{name: "payment hash swapped, matching preimage", preimage: otherF.preimage, err: ErrInvalid, mac: rewrite(t, mac, func(j map[string]any) {
					delete(j, "i")
					j["i64"] = b64url(otherHashID)
				})},
				{name: "caveats reordered", preimage: f.preimage, err: ErrInvalid, mac: rewrite(t, mac, func(j map[string]any) {
					c := j["c"].([]any)
					c[0], c[1] = c[1], c[0]
				})},
				{name: "caveat duplicated", preimage: f.preimage, err: ErrInvalid, mac: rewrite(t, mac, func(j map[string]any) {
					j["c"] = append(j["c"].([]any), j["c"].([]any)[1])
				})},
				{name: "caveat removed", preimage: f.preimage, err: ErrInvalid, mac: rewrite(t, mac, func(j map[string]any) {
					j["c"] = j["c"].([]any)[:3]
				})},
				{name: "another token's signature", preimage: f.preimage, err: ErrInvalid, mac: rewrite(t, mac, func(j map[string]any) {
					j["s64"] = b64url(otherCred.Macaroons[0].Signature())
				})},
				{name: "unknown identifier version", preimage: f.preimage, err: ErrUnknownVersion, mac: rewrite(t, mac, func(j map[string]any) {
					v1 := append([]byte(nil), idBytes...)
					v1[1] = 1
					delete(j, "i")
					j["i64"] = b64url(v1)
				})},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					c := Credential{Macaroons: []*macaroon.Macaroon{tt.mac}, Preimage: tt.preimage}
					_, err := f.verifier.Verify(context.Background(), c, RequestSatisfiers("demo", "read", testNow)...)
					if tt.err == nil {
						if err != nil {
							t.Fatalf("untouched token refused: %v", err)
						}
						return
					}
					if !errors.Is(err, tt.err) {
						t.Fatalf("err = %v, want %v", err, tt.err)
					}
				})
			}
		})
	}
}

func b64url(b []byte) string {
	return base64URL.EncodeToString(b)
}

func TestRevokedTokenIsUnknown(t *testing.T) {
	keys := NewMemoryRootKeys()
	f := newFixture(t, keys)
	cred, id := f.mint(t, standardCaveats()...)
	if _, err := f.verifier.Verify(context.Background(), cred, ServiceSatisfier("demo")); err != nil {
		t.Fatal(err)
	}
	keys.Revoke(id)
	_, err := f.verifier.Verify(context.Background(), cred, ServiceSatisfier("demo"))
	if !errors.Is(err, ErrUnknownToken) {
		t.Fatalf("err = %v, want ErrUnknownToken", err)
	}
}

func TestDerivedKeysAgreeAcrossInstances(t *testing.T) {
	// Two gateways sharing a master secret verify each other's tokens; a
	// third with another secret does not.
	a, b := derivedKeys(t), derivedKeys(t)
	other, err := NewDerivedRootKeys([]byte("a different master secret, 32+ bytes"))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, a)
	cred, _ := f.mint(t, standardCaveats()...)
	if _, err := (Verifier{Keys: b}).Verify(context.Background(), cred, ServiceSatisfier("demo")); err != nil {
		t.Fatalf("second instance refused: %v", err)
	}
	if _, err := (Verifier{Keys: other}).Verify(context.Background(), cred, ServiceSatisfier("demo")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("other secret: err = %v, want ErrInvalid", err)
	}
	if _, err := NewDerivedRootKeys(make([]byte, 31)); err == nil {
		t.Fatal("accepted a 31-byte master secret")
	}
}

func TestMintedTokensAreDistinct(t *testing.T) {
	for storeName, newStore := range rootKeyStores(t) {
		t.Run(storeName, func(t *testing.T) {
			f := newFixture(t, newStore())
			seen := map[TokenID]bool{}
			for range 100 {
				_, id := f.mint(t)
				if seen[id.TokenID] {
					t.Fatal("token id repeated")
				}
				seen[id.TokenID] = true
			}
		})
	}
}

func TestVerifyWithDischarge(t *testing.T) {
	f := newFixture(t, derivedKeys(t))
	cred, _ := f.mint(t, ServicesCaveat(Service{Name: "demo"}))
	mac := cred.Macaroons[0]
	thirdPartyKey := []byte("shared-with-the-third-party-32by")
	if err := mac.AddThirdPartyCaveat(thirdPartyKey, []byte("is-human"), "tp.example"); err != nil {
		t.Fatal(err)
	}
	discharge, err := macaroon.New(thirdPartyKey, []byte("is-human"), "tp.example", macaroon.V2)
	if err != nil {
		t.Fatal(err)
	}
	if err := AddCaveats(discharge, CapabilitiesCaveat("demo", "read")); err != nil {
		t.Fatal(err)
	}
	discharge.Bind(mac.Signature())

	// Without the discharge the token does not verify.
	if _, err := f.verifier.Verify(context.Background(), cred, ServiceSatisfier("demo")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("without discharge: err = %v, want ErrInvalid", err)
	}
	cred.Macaroons = append(cred.Macaroons, discharge)
	// The discharge's caveats count: it limits capabilities to read.
	if _, err := f.verifier.Verify(context.Background(), cred, RequestSatisfiers("demo", "read", testNow)...); err != nil {
		t.Fatal(err)
	}
	if _, err := f.verifier.Verify(context.Background(), cred, RequestSatisfiers("demo", "write", testNow)...); !errors.Is(err, ErrCapability) {
		t.Fatalf("err = %v, want ErrCapability", err)
	}
	// And it survives the wire.
	header, err := FormatAuthorization(cred)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseAuthorization(header)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.verifier.Verify(context.Background(), back, RequestSatisfiers("demo", "read", testNow)...); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyNoMacaroon(t *testing.T) {
	f := newFixture(t, derivedKeys(t))
	if _, err := f.verifier.Verify(context.Background(), Credential{}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
}

func TestRequiredCustomCaveat(t *testing.T) {
	f := newFixture(t, derivedKeys(t))
	quota := MaxSatisfier("demo_max_requests", 1)
	quota.Required = true
	without, _ := f.mint(t, standardCaveats()...)
	if _, err := f.verifier.Verify(context.Background(), without, quota); !errors.Is(err, ErrWrongService) {
		t.Fatalf("token without a required caveat: err = %v, want ErrWrongService", err)
	}
	with, _ := f.mint(t, append(standardCaveats(), Caveat{Condition: "demo_max_requests", Value: "10"})...)
	if _, err := f.verifier.Verify(context.Background(), with, quota); err != nil {
		t.Fatalf("token with the required caveat: %v", err)
	}
}

// TestRootKeyStoresConcurrent runs minting and verifying from many
// goroutines; with -race it checks that a store's shared state (the
// pre-keyed HMAC, the map) is safe, and that keys never mix up.
func TestRootKeyStoresConcurrent(t *testing.T) {
	for storeName, newStore := range rootKeyStores(t) {
		t.Run(storeName, func(t *testing.T) {
			f := newFixture(t, newStore())
			errs := make(chan error, 16)
			for range 16 {
				go func() {
					for range 50 {
						mac, _, err := f.minter.Mint(context.Background(), f.preimage.Hash(), standardCaveats()...)
						if err != nil {
							errs <- err
							return
						}
						cred := Credential{Macaroons: []*macaroon.Macaroon{mac}, Preimage: f.preimage}
						if _, err := f.verifier.Verify(context.Background(), cred, ServiceSatisfier("demo")); err != nil {
							errs <- err
							return
						}
					}
					errs <- nil
				}()
			}
			for range 16 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
