package l402

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

var base64URL = base64.RawURLEncoding

func TestIdentifier(t *testing.T) {
	var id Identifier
	copy(id.PaymentHash[:], bytes.Repeat([]byte{0xaa}, 32))
	copy(id.TokenID[:], bytes.Repeat([]byte{0xbb}, 32))
	good, err := id.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(good) != 66 || good[0] != 0 || good[1] != 0 || good[2] != 0xaa || good[65] != 0xbb {
		t.Fatalf("encoding % x", good)
	}
	v1 := append([]byte{0, 1}, good[2:]...)
	tests := []struct {
		name string
		in   []byte
		err  error
	}{
		{name: "v0", in: good},
		{name: "empty", in: nil, err: ErrMalformed},
		{name: "one byte", in: []byte{0}, err: ErrMalformed},
		{name: "version only", in: []byte{0, 0}, err: ErrMalformed},
		{name: "one byte short", in: good[:65], err: ErrMalformed},
		{name: "one byte long", in: append(append([]byte(nil), good...), 0), err: ErrMalformed},
		{name: "version 1", in: v1, err: ErrUnknownVersion},
		{name: "version 65535 short", in: []byte{0xff, 0xff}, err: ErrUnknownVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeIdentifier(tt.in)
			if expectErr(t, err, tt.err) {
				return
			}
			if got != id {
				t.Fatalf("got %+v", got)
			}
		})
	}
	if _, err := (Identifier{Version: 1}).MarshalBinary(); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("marshal v1: err = %v", err)
	}
}

func TestParseHexValues(t *testing.T) {
	h := bytes.Repeat([]byte{0x12}, 32)
	hexStr := "1212121212121212121212121212121212121212121212121212121212121212"
	ph, err := ParsePaymentHash(hexStr)
	if err != nil || !bytes.Equal(ph[:], h) || ph.String() != hexStr {
		t.Fatalf("ParsePaymentHash: %v %v", ph, err)
	}
	for _, bad := range []string{"", "12", hexStr + "12", "zz" + hexStr[2:]} {
		if _, err := ParsePaymentHash(bad); err == nil {
			t.Errorf("ParsePaymentHash(%q) accepted", bad)
		}
		if _, err := ParsePreimage(bad); err == nil {
			t.Errorf("ParsePreimage(%q) accepted", bad)
		}
	}
}

func TestParseCaveat(t *testing.T) {
	tests := []struct {
		in   string
		want Caveat
		ok   bool
	}{
		{"services=demo:0", Caveat{"services", "demo:0"}, true},
		{"a=b=c", Caveat{"a", "b=c"}, true},
		{"a=", Caveat{"a", ""}, true},
		{"=b", Caveat{}, false},
		{"nothing", Caveat{}, false},
		{"", Caveat{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseCaveat(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseCaveat(%q) = %+v, %v", tt.in, got, ok)
		}
		if ok && got.String() != tt.in {
			t.Errorf("String() = %q, want %q", got.String(), tt.in)
		}
	}
}

func TestParseServices(t *testing.T) {
	tests := []struct {
		in   string
		want []Service
		ok   bool
	}{
		{"demo:0", []Service{{"demo", 0}}, true},
		{"demo:0,other:2", []Service{{"demo", 0}, {"other", 2}}, true},
		{"demo", []Service{{"demo", 0}}, true},
		{"demo:0, other:1", []Service{{"demo", 0}, {"other", 1}}, true},
		{"", nil, false},
		{":0", nil, false},
		{"demo:x", nil, false},
		{"demo:256", nil, false},
		{"demo:0,", nil, false},
	}
	for _, tt := range tests {
		got, err := parseServices(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("parseServices(%q) err = %v", tt.in, err)
			continue
		}
		if tt.ok && (len(got) != len(tt.want) || got[0] != tt.want[0] || got[len(got)-1] != tt.want[len(tt.want)-1]) {
			t.Errorf("parseServices(%q) = %+v", tt.in, got)
		}
	}
}

func TestPaymentHashJSON(t *testing.T) {
	want := PaymentHash{0xab, 0x01, 31: 0xff}
	raw, err := json.Marshal(struct{ H PaymentHash }{want})
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != `{"H":"ab01`+strings.Repeat("00", 29)+`ff"}` {
		t.Fatalf("JSON = %s", raw)
	}
	var got struct{ H PaymentHash }
	if err := json.Unmarshal(raw, &got); err != nil || got.H != want {
		t.Fatalf("round trip = %v, %v", got.H, err)
	}
	if err := json.Unmarshal([]byte(`{"H":"zz"}`), &got); err == nil {
		t.Fatal("accepted a hash that is not hex")
	}
}

func TestTokenIDText(t *testing.T) {
	var id TokenID
	for i := range id {
		id[i] = byte(i)
	}
	text, err := id.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var back TokenID
	if err := back.UnmarshalText(text); err != nil {
		t.Fatal(err)
	}
	if back != id {
		t.Errorf("round trip: got %s, want %s", back, id)
	}
	for _, bad := range []string{"", "zz", strings.Repeat("0", 63), strings.Repeat("g", 64)} {
		if _, err := ParseTokenID(bad); err == nil {
			t.Errorf("ParseTokenID(%q) succeeded", bad)
		}
	}
}
