package l402

import (
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestParseChallenges(t *testing.T) {
	f := newFixture(t, derivedKeys(t))
	cred, id := f.mint(t, ServicesCaveat(Service{Name: "demo"}))
	mac := cred.Macaroons[0]
	std := macB64(t, mac, base64.StdEncoding)
	rawStd := macB64(t, mac, base64.RawStdEncoding)
	url := macB64(t, mac, base64.URLEncoding)
	rawURL := macB64(t, mac, base64.RawURLEncoding)
	inv := testInvoice

	other, otherID := f.mint(t, ServicesCaveat(Service{Name: "other"}))
	otherB64 := macB64(t, other.Macaroons[0], base64.StdEncoding)

	tests := []struct {
		name    string
		headers []string
		want    []Identifier // ids of the challenges returned, in order
		schemes []string
		err     error
	}{
		{name: "deployed form", headers: []string{`L402 macaroon="` + std + `", invoice="` + inv + `"`}, want: []Identifier{id}, schemes: []string{"L402"}},
		{name: "current spec form", headers: []string{`L402 version="0", token="` + std + `", invoice="` + inv + `"`}, want: []Identifier{id}},
		{name: "legacy LSAT", headers: []string{`LSAT macaroon="` + std + `", invoice="` + inv + `"`}, want: []Identifier{id}, schemes: []string{"LSAT"}},
		{name: "scheme in lower case", headers: []string{`l402 macaroon="` + std + `", invoice="` + inv + `"`}, want: []Identifier{id}},
		{name: "scheme in mixed case", headers: []string{`LsAt macaroon="` + std + `", invoice="` + inv + `"`}, want: []Identifier{id}},
		{name: "param names in upper case", headers: []string{`L402 MACAROON="` + std + `", Invoice="` + inv + `"`}, want: []Identifier{id}},
		{name: "our own emitted form", headers: []string{`L402 macaroon="` + std + `", invoice="` + inv + `", version="0", token="` + std + `"`}, want: []Identifier{id}},
		{name: "unknown params ignored", headers: []string{`L402 realm="api", macaroon="` + std + `", foo=bar, invoice="` + inv + `", x-extra="a, b"`}, want: []Identifier{id}},
		{name: "unquoted values", headers: []string{`L402 macaroon=` + std + `, invoice=` + inv}, want: []Identifier{id}},
		{name: "version unquoted", headers: []string{`L402 version=0, token="` + std + `", invoice="` + inv + `"`}, want: []Identifier{id}},
		{name: "no space after commas", headers: []string{`L402 macaroon="` + std + `",invoice="` + inv + `"`}, want: []Identifier{id}},
		{name: "spaces around equals", headers: []string{`L402 macaroon = "` + std + `" , invoice = "` + inv + `"`}, want: []Identifier{id}},
		{name: "missing comma between params", headers: []string{`L402 macaroon="` + std + `" invoice="` + inv + `"`}, want: []Identifier{id}},
		{name: "quoted-string escapes", headers: []string{`L402 macaroon="` + escapeAll(std) + `", invoice="` + escapeAll(inv) + `"`}, want: []Identifier{id}},
		{name: "unpadded standard base64", headers: []string{`L402 macaroon="` + rawStd + `", invoice="` + inv + `"`}, want: []Identifier{id}},
		{name: "URL-safe base64", headers: []string{`L402 macaroon="` + url + `", invoice="` + inv + `"`}, want: []Identifier{id}},
		{name: "unpadded URL-safe base64", headers: []string{`L402 macaroon="` + rawURL + `", invoice="` + inv + `"`}, want: []Identifier{id}},
		{
			name: "Aperture: LSAT line then L402 line, deduplicated, L402 first",
			headers: []string{
				`LSAT macaroon="` + std + `", invoice="` + inv + `"`,
				`L402 macaroon="` + std + `", invoice="` + inv + `"`,
			},
			want: []Identifier{id}, schemes: []string{"L402"},
		},
		{
			name:    "several challenges in one line",
			headers: []string{`Basic realm="x", L402 macaroon="` + std + `", invoice="` + inv + `", LSAT macaroon="` + otherB64 + `", invoice="` + inv + `x"`},
			want:    []Identifier{id, otherID},
		},
		{
			name: "other schemes beside, on several lines",
			headers: []string{
				`Payment id="abc", method="lightning", request="eyJhbW91bnQiOiIxMDAwIn0"`,
				`Bearer`,
				`Negotiate YIIabc==`,
				`L402 macaroon="` + std + `", invoice="` + inv + `"`,
			},
			want: []Identifier{id},
		},
		{
			name:    "a broken L402 beside a good one",
			headers: []string{`L402 macaroon="!!!", invoice="` + inv + `"`, `L402 macaroon="` + std + `", invoice="` + inv + `"`},
			want:    []Identifier{id},
		},
		{name: "no header", headers: nil, err: ErrNoChallenge},
		{name: "only other schemes", headers: []string{`Basic realm="x"`, `Bearer error="invalid_token"`}, err: ErrNoChallenge},
		{name: "no invoice", headers: []string{`L402 macaroon="` + std + `"`}, err: ErrMalformed},
		{name: "empty invoice", headers: []string{`L402 macaroon="` + std + `", invoice=""`}, err: ErrMalformed},
		{name: "no macaroon", headers: []string{`L402 invoice="` + inv + `"`}, err: ErrMalformed},
		{name: "token and macaroon differ", headers: []string{`L402 macaroon="` + std + `", token="` + otherB64 + `", invoice="` + inv + `"`}, err: ErrMalformed},
		{name: "bad base64", headers: []string{`L402 macaroon="a*b", invoice="` + inv + `"`}, err: ErrMalformed},
		{name: "not a macaroon", headers: []string{`L402 macaroon="aGVsbG8gd29ybGQ=", invoice="` + inv + `"`}, err: ErrMalformed},
		{name: "bare token68", headers: []string{`L402 ` + std}, err: ErrMalformed},
		{name: "unterminated quote", headers: []string{`L402 macaroon="` + std}, err: ErrMalformed},
		{name: "unknown challenge version", headers: []string{`L402 version="1", token="` + std + `", invoice="` + inv + `"`}, err: ErrUnknownVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseChallenges(tt.headers...)
			if expectErr(t, err, tt.err) {
				if got != nil {
					t.Fatalf("got %d challenges with an error", len(got))
				}
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d challenges, want %d", len(got), len(tt.want))
			}
			for i, c := range got {
				if c.ID != tt.want[i] {
					t.Errorf("challenge %d: id %v, want %v", i, c.ID.TokenID, tt.want[i].TokenID)
				}
				if c.Macaroon == nil || c.Invoice == "" {
					t.Errorf("challenge %d: missing macaroon or invoice", i)
				}
				if tt.schemes != nil && c.Scheme != tt.schemes[i] {
					t.Errorf("challenge %d: scheme %q, want %q", i, c.Scheme, tt.schemes[i])
				}
			}
			if !strings.HasPrefix(got[0].Invoice, "lnbcrt") {
				t.Errorf("invoice %q", got[0].Invoice)
			}
		})
	}
}

func escapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte('\\')
		b.WriteByte(s[i])
	}
	return b.String()
}

// apertureChallengeRegexes are the expressions Aperture's own client uses to
// read a challenge: v0.4.2's (which lnget and many scripts copy), and the
// later one that also takes an optional version= and token=.
var apertureChallengeRegexes = []*regexp.Regexp{
	regexp.MustCompile(`(LSAT|L402) macaroon="(.*?)", invoice="(.*?)"`),
	regexp.MustCompile(`(LSAT|L402) (?:version="[^"]*", )?(?:token|macaroon)="([^"]+)", invoice="([^"]+)"`),
}

// TestFormatChallengeReadByBothParsers checks the emitted challenge against
// Aperture's regex, against an independent strict parser of the current
// spec's grammar, and against our own liberal parser.
func TestFormatChallengeReadByBothParsers(t *testing.T) {
	f := newFixture(t, derivedKeys(t))
	cred, id := f.mint(t, ServicesCaveat(Service{Name: "demo"}), CapabilitiesCaveat("demo", "read"))
	mac := cred.Macaroons[0]
	header, err := FormatChallenge(mac, testInvoice)
	if err != nil {
		t.Fatal(err)
	}
	want := macB64(t, mac, base64.StdEncoding)

	for _, re := range apertureChallengeRegexes {
		m := re.FindStringSubmatch(header)
		if m == nil {
			t.Fatalf("Aperture's regex %s does not match %q", re, header)
		}
		if m[1] != "L402" || m[2] != want || m[3] != testInvoice {
			t.Fatalf("Aperture's regex %s read scheme %q macaroon %q invoice %q", re, m[1], m[2], m[3])
		}
	}

	spec, err := parseSpecChallenge(header)
	if err != nil {
		t.Fatalf("spec-grammar parser: %v", err)
	}
	if spec["version"] != "0" || spec["token"] != want || spec["invoice"] != testInvoice {
		t.Fatalf("spec-grammar parser read %v", spec)
	}

	got, err := ParseChallenges(header)
	if err != nil || len(got) != 1 || got[0].ID != id || got[0].Invoice != testInvoice {
		t.Fatalf("own parser: %v %+v", err, got)
	}
}

// parseSpecChallenge is a deliberately separate, strict reading of the
// current spec: `L402 version="0", token="<b64>", invoice="<bolt11>"`,
// parameters in any order, every value a quoted-string, ", " separated, and
// version, token and invoice all required.
func parseSpecChallenge(h string) (map[string]string, error) {
	rest, ok := strings.CutPrefix(h, "L402 ")
	if !ok {
		return nil, errors.New("scheme is not L402")
	}
	params := map[string]string{}
	re := regexp.MustCompile(`^([a-z]+)="([^"\\]*)"(, |$)`)
	for rest != "" {
		m := re.FindStringSubmatch(rest)
		if m == nil {
			return nil, errors.New("not name=\"value\" at " + rest)
		}
		params[m[1]] = m[2]
		rest = rest[len(m[0]):]
	}
	for _, required := range []string{"version", "token", "invoice"} {
		if _, ok := params[required]; !ok {
			return nil, errors.New("missing " + required)
		}
	}
	return params, nil
}

func TestFormatChallengeRefusesBadInvoice(t *testing.T) {
	f := newFixture(t, derivedKeys(t))
	cred, _ := f.mint(t)
	for _, inv := range []string{"", `lnbc1"x`, `lnbc\x`, "lnbc 1", "lnbc\n1"} {
		if _, err := FormatChallenge(cred.Macaroons[0], inv); err == nil {
			t.Errorf("FormatChallenge accepted invoice %q", inv)
		}
	}
}
