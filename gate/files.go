package gate

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SecretSize is the size of the secrets LoadOrCreateSecret makes.
const SecretSize = 32

// LoadOrCreateSecret returns the secret in file, hex-encoded there. When
// the file does not exist it creates it, 0600 in a 0700 directory, with
// SecretSize random bytes. A file readable by others is refused, as is one
// holding fewer than SecretSize bytes: both would weaken every token.
func LoadOrCreateSecret(file string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return createSecret(file)
	}
	if err != nil {
		return nil, fmt.Errorf("gate: read secret: %w", err)
	}
	if err := checkPrivate(file); err != nil {
		return nil, err
	}
	secret, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(secret) < SecretSize {
		return nil, fmt.Errorf("gate: %s must hold at least %d bytes as hex; delete it to have a new one made (every token sold so far stops verifying)", file, SecretSize)
	}
	return secret, nil
}

func createSecret(file string) ([]byte, error) {
	secret := make([]byte, SecretSize)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("gate: new secret: %w", err)
	}
	if err := writePrivate(file, []byte(hex.EncodeToString(secret)+"\n")); err != nil {
		return nil, err
	}
	return secret, nil
}

// writePrivate creates file 0600, failing if it exists: two processes
// starting together must not each write their own secret.
func writePrivate(file string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("gate: create directory for %s: %w", file, err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("gate: create %s: %w", file, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("gate: write %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("gate: write %s: %w", file, err)
	}
	return nil
}

func checkPrivate(file string) error {
	fi, err := os.Stat(file)
	if err != nil {
		return fmt.Errorf("gate: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("gate: %s is readable by other users (mode %s); run 'chmod 600 %s'", file, fi.Mode().Perm(), file)
	}
	return nil
}

// LoadOrCreateCertificate returns the TLS certificate in certFile and
// keyFile, generating a self-signed one for hosts (names or IP addresses)
// when either file is missing or the certificate has expired. The key is
// written 0600.
func LoadOrCreateCertificate(certFile, keyFile string, hosts []string, now time.Time) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err == nil {
		if err := checkPrivate(keyFile); err != nil {
			return tls.Certificate{}, err
		}
		if leaf, perr := x509.ParseCertificate(cert.Certificate[0]); perr == nil && now.Before(leaf.NotAfter) {
			return cert, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return tls.Certificate{}, fmt.Errorf("gate: load TLS certificate: %w", err)
	}
	certPEM, keyPEM, err := selfSigned(hosts, now)
	if err != nil {
		return tls.Certificate{}, err
	}
	for _, f := range []string{certFile, keyFile} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return tls.Certificate{}, fmt.Errorf("gate: replace expired certificate: %w", err)
		}
	}
	if err := writePrivate(keyFile, keyPEM); err != nil {
		return tls.Certificate{}, err
	}
	if err := writePrivate(certFile, certPEM); err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

func selfSigned(hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("gate: TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("gate: TLS serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"satloop gate (self-signed)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("gate: TLS certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("gate: TLS key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}
