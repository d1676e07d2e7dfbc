package bakery

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"gopkg.in/macaroon.v2"
)

// File is what an agent is given: the wallet's address and its
// credential, nothing that reaches the node. It is written 0600.
type File struct {
	// Name is the agent's name, for people.
	Name string `json:"name"`
	// Wallet is the daemon's address: "unix:///path/wallet.sock" or
	// "https://127.0.0.1:PORT".
	Wallet string `json:"wallet"`
	// WalletCert is the PEM certificate an https wallet presents, pinned
	// by the client; empty for a unix socket.
	WalletCert string `json:"wallet_cert,omitempty"`
	// Credential is the encoded macaroon (see Encode).
	Credential string `json:"credential"`
}

// Macaroon decodes the file's credential.
func (f File) Macaroon() (*macaroon.Macaroon, error) { return Decode(f.Credential) }

// WriteFile writes f to path with mode 0600, refusing to replace an
// existing file unless overwrite is set.
func WriteFile(path string, f File, overwrite bool) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("bakery: %w", err)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if overwrite {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	out, err := os.OpenFile(path, flags, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("bakery: %s exists; choose another path or remove it first", path)
	}
	if err != nil {
		return fmt.Errorf("bakery: write credential: %w", err)
	}
	// A file replaced with O_TRUNC keeps its old mode: restrict it.
	if err := out.Chmod(0o600); err != nil {
		out.Close()
		return fmt.Errorf("bakery: write credential: %w", err)
	}
	if _, err := out.Write(append(b, '\n')); err != nil {
		out.Close()
		return fmt.Errorf("bakery: write credential %s: %w", path, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("bakery: write credential %s: %w", path, err)
	}
	return nil
}

// ReadCredential reads a credential given as a credential file's path, as
// the file's JSON itself, or as a bare encoded credential: the three forms
// SATLOOP_CREDENTIAL may hold. A bare credential has no wallet address.
func ReadCredential(s string) (File, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return File{}, errors.New("bakery: no credential given; pass --credential FILE or set SATLOOP_CREDENTIAL")
	}
	if strings.HasPrefix(s, "{") {
		return parseFile([]byte(s), "the credential")
	}
	if !strings.ContainsAny(s, `/\.`) || len(s) > 200 {
		if _, err := Decode(s); err == nil {
			return File{Credential: s}, nil
		}
	}
	b, err := os.ReadFile(s)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return File{}, fmt.Errorf("bakery: credential file %s does not exist", s)
		}
		return File{}, fmt.Errorf("bakery: read credential: %w", err)
	}
	return parseFile(b, s)
}

func parseFile(b []byte, name string) (File, error) {
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return File{}, fmt.Errorf("%w: %s is not a satloop credential file (JSON with wallet and credential)", ErrMalformed, name)
	}
	if _, err := f.Macaroon(); err != nil {
		return File{}, fmt.Errorf("%s: %w", name, err)
	}
	return f, nil
}
