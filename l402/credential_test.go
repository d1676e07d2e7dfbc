package l402

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/macaroon.v2"
)

func TestParseCredential(t *testing.T) {
	f := newFixture(t, derivedKeys(t))
	cred, id := f.mint(t, ServicesCaveat(Service{Name: "demo"}))
	mac := cred.Macaroons[0]
	std := macB64(t, mac, base64.StdEncoding)
	url := macB64(t, mac, base64.RawURLEncoding)
	pre := f.preimage.Hex()
	discharge, err := macaroon.New([]byte("discharge-root-key-32-bytes-long"), []byte("third-party"), "tp", macaroon.V2)
	if err != nil {
		t.Fatal(err)
	}
	discharge.Bind(mac.Signature())
	dischargeB64 := macB64(t, discharge, base64.StdEncoding)
	hexForm, err := FormatMacaroonHeader(cred)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		header     http.Header
		macaroons  int
		err        error
		wantNoCred bool
	}{
		{name: "L402", header: hdr("Authorization", "L402 "+std+":"+pre), macaroons: 1},
		{name: "LSAT", header: hdr("Authorization", "LSAT "+std+":"+pre), macaroons: 1},
		{name: "lower-case scheme", header: hdr("Authorization", "l402 "+std+":"+pre), macaroons: 1},
		{name: "upper-case hex preimage", header: hdr("Authorization", "L402 "+std+":"+strings.ToUpper(pre)), macaroons: 1},
		{name: "URL-safe unpadded macaroon", header: hdr("Authorization", "L402 "+url+":"+pre), macaroons: 1},
		{name: "several macaroons", header: hdr("Authorization", "L402 "+std+","+dischargeB64+":"+pre), macaroons: 2},
		{name: "several macaroons with spaces", header: hdr("Authorization", "L402 "+std+", "+dischargeB64+" : "+pre), macaroons: 2},
		{name: "Aperture client: LSAT line then L402 line", header: hdr("Authorization", "LSAT "+std+":"+pre, "Authorization", "L402 "+std+":"+pre), macaroons: 1},
		{name: "folded by a proxy", header: hdr("Authorization", "LSAT "+std+":"+pre+", L402 "+std+":"+pre), macaroons: 1},
		{name: "other scheme first", header: hdr("Authorization", "Bearer abc", "Authorization", "L402 "+std+":"+pre), macaroons: 1},
		{name: "broken line then good line", header: hdr("Authorization", "L402 junk:"+pre, "Authorization", "L402 "+std+":"+pre), macaroons: 1},
		{name: "Macaroon header with preimage caveat", header: hdr("Macaroon", hexForm), macaroons: 1},
		{name: "Grpc-Metadata-Macaroon header", header: hdr("Grpc-Metadata-Macaroon", hexForm), macaroons: 1},
		{name: "Grpc-Metadata-Token header", header: hdr("Grpc-Metadata-Token", hexForm), macaroons: 1},
		{name: "Token header", header: hdr("Token", hexForm), macaroons: 1},
		{name: "Authorization wins over Macaroon", header: hdr("Authorization", "L402 "+std+":"+pre, "Macaroon", "zz"), macaroons: 1},
		{name: "nothing", header: http.Header{}, err: ErrNoCredential},
		{name: "only another scheme", header: hdr("Authorization", "Basic dXNlcjpwYXNz"), err: ErrNoCredential},
		{name: "no preimage", header: hdr("Authorization", "L402 "+std), err: ErrMalformed},
		{name: "short preimage", header: hdr("Authorization", "L402 "+std+":"+pre[:62]), err: ErrMalformed},
		{name: "preimage not hex", header: hdr("Authorization", "L402 "+std+":"+strings.Repeat("zz", 32)), err: ErrMalformed},
		{name: "macaroon not base64", header: hdr("Authorization", "L402 %%%:"+pre), err: ErrMalformed},
		{name: "empty macaroon", header: hdr("Authorization", "L402 :"+pre), err: ErrMalformed},
		{name: "too many macaroons", header: hdr("Authorization", "L402 "+strings.Repeat(std+",", 9)+std+":"+pre), err: ErrMalformed},
		{name: "Macaroon header not hex", header: hdr("Macaroon", "xyz"), err: ErrMalformed},
		{name: "Macaroon header without preimage caveat", header: hdr("Macaroon", hexOf(t, mac)), err: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCredential(tt.header)
			if expectErr(t, err, tt.err) {
				return
			}
			if len(got.Macaroons) != tt.macaroons {
				t.Fatalf("got %d macaroons, want %d", len(got.Macaroons), tt.macaroons)
			}
			if got.Preimage != f.preimage {
				t.Fatal("wrong preimage")
			}
			gotID, err := DecodeIdentifier(got.Macaroons[0].Id())
			if err != nil || gotID != id {
				t.Fatalf("identifier %v, %v", gotID, err)
			}
		})
	}
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func hexOf(t *testing.T, m *macaroon.Macaroon) string {
	t.Helper()
	raw, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", raw)
}

// apertureAuthRegex is the expression Aperture's server reads Authorization
// with: it needs exactly 64 lowercase hex characters after the colon.
var apertureAuthRegex = regexp.MustCompile("(LSAT|L402) (.*?):([a-f0-9]{64})")

func TestFormatAuthorization(t *testing.T) {
	f := newFixture(t, derivedKeys(t))
	cred, _ := f.mint(t, ServicesCaveat(Service{Name: "demo"}))
	got, err := FormatAuthorization(cred)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(got, "\r\n") {
		t.Fatal("Authorization value spans lines")
	}
	m := apertureAuthRegex.FindStringSubmatch(got)
	if m == nil || m[1] != "L402" || m[3] != f.preimage.Hex() {
		t.Fatalf("Aperture's regex reads %q as %q", got, m)
	}
	if m[2] != macB64(t, cred.Macaroons[0], base64.StdEncoding) {
		t.Fatal("macaroon is not standard padded base64")
	}
	back, err := ParseAuthorization(got)
	if err != nil {
		t.Fatal(err)
	}
	if back.Preimage != cred.Preimage || !back.Macaroons[0].Equal(cred.Macaroons[0]) {
		t.Fatal("round trip changed the credential")
	}

	if _, err := FormatAuthorization(Credential{}); err == nil {
		t.Fatal("formatted a credential without a macaroon")
	}
}

func TestFormatMacaroonHeaderRoundTrip(t *testing.T) {
	f := newFixture(t, derivedKeys(t))
	cred, id := f.mint(t, ServicesCaveat(Service{Name: "demo"}))
	v, err := FormatMacaroonHeader(cred)
	if err != nil {
		t.Fatal(err)
	}
	if v != strings.ToLower(v) {
		t.Fatal("hex form is not lowercase")
	}
	back, err := ParseMacaroonHeader(v)
	if err != nil {
		t.Fatal(err)
	}
	if back.Preimage != f.preimage {
		t.Fatal("preimage lost")
	}
	// The preimage caveat is signed into the chain, so the hex form verifies.
	tok, err := f.verifier.Verify(t.Context(), back, ServiceSatisfier("demo"))
	if err != nil {
		t.Fatal(err)
	}
	if tok.ID != id {
		t.Fatal("wrong token")
	}
	if _, ok := tok.Value(ConditionPreimage); ok {
		t.Fatal("verified token exposes the preimage caveat")
	}
	// The original token is untouched.
	if len(cred.Macaroons[0].Caveats()) != 1 {
		t.Fatal("FormatMacaroonHeader modified the caller's macaroon")
	}
}

func TestPreimageRedacts(t *testing.T) {
	f := newFixture(t, derivedKeys(t))
	secret := f.preimage.Hex()
	cred, _ := f.mint(t)
	for _, s := range []string{
		fmt.Sprint(f.preimage), fmt.Sprintf("%v %s %x %X %q %#v", f.preimage, f.preimage, f.preimage, f.preimage, f.preimage, f.preimage),
		fmt.Sprintf("%+v", cred), f.preimage.LogValue().String(),
	} {
		if strings.Contains(strings.ToLower(s), secret) {
			t.Fatalf("preimage leaked: %s", s)
		}
	}
}

func TestParseErrorsDoNotLeakSecrets(t *testing.T) {
	f := newFixture(t, derivedKeys(t))
	cred, _ := f.mint(t)
	std := macB64(t, cred.Macaroons[0], base64.StdEncoding)
	secret := f.preimage.Hex()
	for _, value := range []string{
		"L402 " + std[:20] + ":" + secret, // broken macaroon, real preimage
		"L402 " + std + ":" + secret[:63], // preimage one short
		"L402 " + std + "!:" + secret,
	} {
		_, err := ParseAuthorization(value)
		if err == nil {
			t.Fatalf("accepted %q", value)
		}
		if strings.Contains(err.Error(), secret[:16]) || strings.Contains(err.Error(), std[:16]) {
			t.Fatalf("error leaks a secret: %v", err)
		}
	}
}
