package lnd

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/satloop/satloop/lightning"
)

// Config says how to reach an lnd node. The certificate and macaroon may be
// given as contents or as files; contents win. Everything but Logger is
// required.
type Config struct {
	// Host is lnd's gRPC host:port (lnd listens on 10009 by default).
	Host string
	// TLSCertPath is lnd's tls.cert, PEM; ignored if TLSCert is set.
	TLSCertPath string
	// TLSCert is the certificate itself, PEM or DER. lnd's certificate is
	// self-signed, so it is the only root trusted for the connection.
	TLSCert []byte
	// MacaroonPath is a binary macaroon file such as admin.macaroon;
	// ignored if Macaroon is set.
	MacaroonPath string
	// Macaroon is the binary macaroon sent with every call.
	Macaroon lightning.NodeMacaroon
	// Logger receives the adapter's logs; nil means silent.
	Logger *slog.Logger
}

// Validate checks that the configuration is complete, without reading any
// file or contacting the node.
func (c Config) Validate() error {
	if c.Host == "" {
		return errors.New("lnd: no host: set it to lnd's gRPC host:port (port 10009 by default)")
	}
	if err := checkHostPort(c.Host); err != nil {
		return err
	}
	if len(c.TLSCert) == 0 && c.TLSCertPath == "" {
		return errors.New("lnd: no TLS certificate: give lnd's tls.cert, as a file or its contents")
	}
	if len(c.Macaroon) == 0 && c.MacaroonPath == "" {
		return errors.New("lnd: no macaroon: give one (such as admin.macaroon), as a file or its contents")
	}
	return nil
}

func checkHostPort(hostport string) error {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || host == "" || port == "" {
		return fmt.Errorf("lnd: host %q is not host:port (lnd's gRPC port is 10009 by default)", hostport)
	}
	return nil
}

// LogValue describes the configuration without the macaroon's bytes.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("host", c.Host)}
	if len(c.TLSCert) > 0 {
		attrs = append(attrs, slog.Int("tls_cert_bytes", len(c.TLSCert)))
	} else {
		attrs = append(attrs, slog.String("tls_cert_path", c.TLSCertPath))
	}
	if len(c.Macaroon) > 0 {
		attrs = append(attrs, slog.Any("macaroon", c.Macaroon))
	} else {
		attrs = append(attrs, slog.String("macaroon_path", c.MacaroonPath))
	}
	return slog.GroupValue(attrs...)
}

// certPool returns a pool holding only lnd's certificate.
func (c Config) certPool() (*x509.CertPool, error) {
	data, name := c.TLSCert, "TLSCert"
	if len(data) == 0 {
		var err error
		if data, err = os.ReadFile(c.TLSCertPath); err != nil {
			return nil, fmt.Errorf("lnd: reading the TLS certificate: %w", err)
		}
		name = c.TLSCertPath
	}
	der, err := certDER(data)
	if err != nil {
		return nil, fmt.Errorf("lnd: TLS certificate %s: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("lnd: TLS certificate %s: %w", name, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool, nil
}

// certDER returns the DER bytes of a certificate given as PEM or DER.
func certDER(data []byte) ([]byte, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		// Not PEM: taken as DER, which x509 parsing then checks.
		return data, nil
	}
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("PEM block is a %q, not a CERTIFICATE", block.Type)
	}
	return block.Bytes, nil
}

// macaroon returns the macaroon's bytes.
func (c Config) macaroon() ([]byte, error) {
	if len(c.Macaroon) > 0 {
		return c.Macaroon, nil
	}
	data, err := os.ReadFile(c.MacaroonPath)
	if err != nil {
		return nil, fmt.Errorf("lnd: reading the macaroon: %w", err)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("lnd: macaroon file %s is empty", c.MacaroonPath)
	}
	return data, nil
}

// lndconnect URIs carry the DER certificate and binary macaroon in
// unpadded base64url (github.com/LN-Zap/lndconnect).
var lndconnectEncoding = base64.RawURLEncoding

// ParseLNDConnect reads an lndconnect URI,
// lndconnect://host:port?cert=<base64url DER>&macaroon=<base64url>, into a
// Config whose TLSCert is PEM. The certificate is required: lnd's is
// self-signed, and trusting the system's roots instead would let anyone
// with a CA-signed certificate for the host see the macaroon.
func ParseLNDConnect(uri string) (Config, error) {
	// url.Parse's errors quote the URI, which holds the macaroon: they are
	// not passed on.
	u, err := url.Parse(uri)
	if err != nil {
		return Config{}, errors.New("lnd: the lndconnect URI is not a valid URI")
	}
	if u.Scheme != "lndconnect" {
		return Config{}, fmt.Errorf("lnd: an lndconnect URI starts with lndconnect://, not %q", u.Scheme+"://")
	}
	if err := checkHostPort(u.Host); err != nil {
		return Config{}, err
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Config{}, errors.New("lnd: the lndconnect URI's query is malformed")
	}
	certParam, macParam := q.Get("cert"), q.Get("macaroon")
	if certParam == "" {
		return Config{}, errors.New("lnd: the lndconnect URI has no cert; satloop trusts only lnd's own certificate")
	}
	if macParam == "" {
		return Config{}, errors.New("lnd: the lndconnect URI has no macaroon")
	}
	der, err := decodeLNDConnectParam(certParam)
	if err != nil {
		return Config{}, fmt.Errorf("lnd: the lndconnect cert is not base64url: %w", err)
	}
	if _, err := x509.ParseCertificate(der); err != nil {
		return Config{}, fmt.Errorf("lnd: the lndconnect cert is not a DER certificate: %w", err)
	}
	mac, err := decodeLNDConnectParam(macParam)
	if err != nil {
		return Config{}, fmt.Errorf("lnd: the lndconnect macaroon is not base64url: %w", err)
	}
	return Config{
		Host:     u.Host,
		TLSCert:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Macaroon: mac,
	}, nil
}

// decodeLNDConnectParam decodes base64url, with or without padding: some
// generators pad.
func decodeLNDConnectParam(s string) ([]byte, error) {
	return lndconnectEncoding.DecodeString(strings.TrimRight(s, "="))
}

// FormatLNDConnect writes an lndconnect URI for the node at host (host:port)
// with its certificate (PEM or DER) and a binary macaroon. The URI holds
// the macaroon: treat it as the secret it is.
func FormatLNDConnect(host string, certPEM []byte, macaroon []byte) (string, error) {
	if err := checkHostPort(host); err != nil {
		return "", err
	}
	der, err := certDER(certPEM)
	if err != nil {
		return "", fmt.Errorf("lnd: TLS certificate: %w", err)
	}
	if _, err := x509.ParseCertificate(der); err != nil {
		return "", fmt.Errorf("lnd: TLS certificate: %w", err)
	}
	if len(macaroon) == 0 {
		return "", errors.New("lnd: no macaroon to put in the lndconnect URI")
	}
	u := url.URL{
		Scheme: "lndconnect",
		Host:   host,
		// base64url needs no escaping in a query.
		RawQuery: "cert=" + lndconnectEncoding.EncodeToString(der) +
			"&macaroon=" + lndconnectEncoding.EncodeToString(macaroon),
	}
	return u.String(), nil
}
