package bakery

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
// existing file unless overwrite is set. A replacement is written beside
// path and renamed over it: the old file's mode and links are not reused,
// and a failed write leaves the old credential in place.
func WriteFile(path string, f File, overwrite bool) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("bakery: %w", err)
	}
	b = append(b, '\n')
	if !overwrite {
		out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("bakery: %s exists; choose another path or remove it first", path)
		}
		if err != nil {
			return fmt.Errorf("bakery: write credential: %w", err)
		}
		return finish(out, b, path)
	}
	// CreateTemp makes the file 0600.
	out, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("bakery: write credential: %w", err)
	}
	if err := finish(out, b, path); err != nil {
		os.Remove(out.Name())
		return err
	}
	if err := os.Rename(out.Name(), path); err != nil {
		os.Remove(out.Name())
		return fmt.Errorf("bakery: write credential: %w", err)
	}
	return nil
}

// finish writes b to out, syncs and closes it; path names it in errors.
func finish(out *os.File, b []byte, path string) error {
	_, err := out.Write(b)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
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
	// Tried first: standard base64 has '/', so a credential can look
	// like a path, and a path never decodes as a macaroon.
	if _, err := Decode(s); err == nil {
		return File{Credential: s}, nil
	}
	// A damaged credential must not be echoed as a file name: it may
	// still hold a valid signature.
	name := s
	if looksEncoded(s) {
		name = "the credential given"
	}
	b, err := readLimited(s)
	if err != nil {
		if looksEncoded(s) {
			return File{}, fmt.Errorf("%w: the credential given is neither a valid encoded credential nor a readable file", ErrMalformed)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return File{}, fmt.Errorf("bakery: credential file %s: %w", s, fs.ErrNotExist)
		}
		return File{}, fmt.Errorf("bakery: read credential: %w", err)
	}
	return parseFile(b, name)
}

// maxFileLen caps a credential file: a real one is a few KiB with its
// certificate, and a path to a device must not be read forever.
const maxFileLen = 64 << 10

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileLen+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileLen {
		return nil, fmt.Errorf("%w: %s is longer than %d bytes", ErrMalformed, path, maxFileLen)
	}
	return b, nil
}

// looksEncoded reports whether s holds a run of at least 64 characters of
// base64's alphabets (white space included, for wrapped lines): an attempt
// at a bare credential, perhaps damaged by a stray character, rather than
// a path, whose names are broken up by dots.
func looksEncoded(s string) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("+/-_= \t\r\n", c) >= 0 {
			run++
			if run >= 64 {
				return true
			}
			continue
		}
		run = 0
	}
	return false
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
