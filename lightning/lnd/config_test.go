package lnd

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/satloop/satloop/lightning"
)

func TestLNDConnectRoundTrip(t *testing.T) {
	certPEM, _ := selfSignedCert(t)
	mac := []byte("\x02\x01\x03lnd\x02\xfe\xff macaroon")
	for _, host := range []string{"127.0.0.1:10009", "node.example:443", "[::1]:10009"} {
		uri, err := FormatLNDConnect(host, certPEM, mac)
		if err != nil {
			t.Fatalf("FormatLNDConnect(%s): %v", host, err)
		}
		if _, query, _ := strings.Cut(uri, "?"); strings.ContainsAny(query[len("cert="):], "+/") || strings.Count(query, "=") != 2 {
			t.Errorf("URI %q is not unpadded base64url", uri)
		}
		cfg, err := ParseLNDConnect(uri)
		if err != nil {
			t.Fatalf("ParseLNDConnect(%q): %v", uri, err)
		}
		if cfg.Host != host || !bytes.Equal(cfg.TLSCert, certPEM) || !bytes.Equal(cfg.Macaroon, mac) {
			t.Errorf("round trip of %s = %+v", host, cfg)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("parsed config does not validate: %v", err)
		}
	}
	// DER is accepted as well as PEM.
	block, _ := pem.Decode(certPEM)
	if _, err := FormatLNDConnect("h:1", block.Bytes, mac); err != nil {
		t.Errorf("FormatLNDConnect with DER: %v", err)
	}
}

func TestParseLNDConnectRefuses(t *testing.T) {
	certPEM, _ := selfSignedCert(t)
	block, _ := pem.Decode(certPEM)
	cert := base64.RawURLEncoding.EncodeToString(block.Bytes)
	mac := base64.RawURLEncoding.EncodeToString([]byte("secret-macaroon"))
	padded := base64.URLEncoding.EncodeToString(block.Bytes)
	for name, tc := range map[string]struct {
		uri string
		ok  bool
	}{
		"valid":         {"lndconnect://h:10009?cert=" + cert + "&macaroon=" + mac, true},
		"padded cert":   {"lndconnect://h:10009?cert=" + padded + "&macaroon=" + mac, true},
		"trailing path": {"lndconnect://h:10009/?cert=" + cert + "&macaroon=" + mac, true},
		"bad scheme":    {"https://h:10009?cert=" + cert + "&macaroon=" + mac, false},
		"no scheme":     {"h:10009?cert=" + cert + "&macaroon=" + mac, false},
		"missing cert":  {"lndconnect://h:10009?macaroon=" + mac, false},
		"missing mac":   {"lndconnect://h:10009?cert=" + cert, false},
		"bad base64":    {"lndconnect://h:10009?cert=" + cert + "&macaroon=%25%25%25", false},
		"std base64":    {"lndconnect://h:10009?cert=" + cert + "&macaroon=ab/c+", false},
		"cert not DER":  {"lndconnect://h:10009?cert=" + mac + "&macaroon=" + mac, false},
		"port missing":  {"lndconnect://h?cert=" + cert + "&macaroon=" + mac, false},
		"empty port":    {"lndconnect://h:?cert=" + cert + "&macaroon=" + mac, false},
		"host missing":  {"lndconnect://:10009?cert=" + cert + "&macaroon=" + mac, false},
		"bad port":      {"lndconnect://h:port?cert=" + cert + "&macaroon=" + mac, false},
		"bad query":     {"lndconnect://h:1?cert=%zz&macaroon=" + mac, false},
		"empty":         {"", false},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseLNDConnect(tc.uri)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseLNDConnect: err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && (strings.Contains(err.Error(), mac) || strings.Contains(err.Error(), "secret-macaroon")) {
				t.Errorf("error %q shows the macaroon", err)
			}
		})
	}
}

func TestFormatLNDConnectRefuses(t *testing.T) {
	certPEM, _ := selfSignedCert(t)
	for name, tc := range map[string]struct {
		host     string
		cert     []byte
		macaroon []byte
	}{
		"no port":     {"h", certPEM, []byte("m")},
		"no cert":     {"h:1", nil, []byte("m")},
		"not a cert":  {"h:1", []byte("hello"), []byte("m")},
		"a key block": {"h:1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1}}), []byte("m")},
		"no macaroon": {"h:1", certPEM, nil},
	} {
		if _, err := FormatLNDConnect(tc.host, tc.cert, tc.macaroon); err == nil {
			t.Errorf("%s: FormatLNDConnect accepted it", name)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg Config
		ok  bool
	}{
		"contents":      {Config{Host: "h:10009", TLSCert: []byte("c"), Macaroon: []byte("m")}, true},
		"files":         {Config{Host: "h:10009", TLSCertPath: "tls.cert", MacaroonPath: "admin.macaroon"}, true},
		"ipv6":          {Config{Host: "[::1]:10009", TLSCertPath: "c", MacaroonPath: "m"}, true},
		"zero":          {Config{}, false},
		"no host":       {Config{TLSCertPath: "c", MacaroonPath: "m"}, false},
		"no port":       {Config{Host: "h", TLSCertPath: "c", MacaroonPath: "m"}, false},
		"no cert":       {Config{Host: "h:1", MacaroonPath: "m"}, false},
		"no macaroon":   {Config{Host: "h:1", TLSCertPath: "c"}, false},
		"empty content": {Config{Host: "h:1", TLSCert: []byte{}, Macaroon: []byte{}}, false},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", name, err, tc.ok)
		}
	}
}

func TestConfigRedactsMacaroon(t *testing.T) {
	mac := lightning.NodeMacaroon("\x02very secret macaroon bytes")
	cfg := Config{Host: "h:10009", TLSCert: []byte("cert"), Macaroon: mac}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("dial", "config", cfg)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("dial", "config", cfg)
	for _, s := range []string{buf.String(), fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg)} {
		for _, secret := range []string{hex.EncodeToString(mac), string(mac[1:]), base64.StdEncoding.EncodeToString(mac)} {
			if strings.Contains(s, secret) {
				t.Errorf("output shows the macaroon: %s", s)
			}
		}
	}
	if !strings.Contains(buf.String(), "h:10009") {
		t.Errorf("log does not show the host: %s", buf.String())
	}
}
