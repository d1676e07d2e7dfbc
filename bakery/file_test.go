package bakery

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/satloop/satloop/money"
)

// secretCredential mints and encodes a small credential, choosing one
// whose standard base64 form has a '/', which makes it look like a path.
func secretCredential(t *testing.T) (encoded, std string) {
	t.Helper()
	for cap := money.MilliSat(1000); cap < 1100; cap++ {
		mac := mint(t, Limits{MaxPerCall: cap})
		enc, err := Encode(mac)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := mac.MarshalBinary()
		if std := base64.StdEncoding.EncodeToString(b); strings.Contains(std, "/") {
			return enc, std
		}
	}
	t.Fatal("no credential with '/' in its standard base64 form")
	return "", ""
}

// noSecret fails when err's text holds the credential or a long piece of
// it (its signature is its last 43 characters).
func noSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) || strings.Contains(err.Error(), s[len(s)-43:]) {
			t.Errorf("error text holds the credential: %v", err)
		}
	}
}

func TestWriteFile(t *testing.T) {
	enc, _ := secretCredential(t)
	f := File{Name: "research", Wallet: "unix:///run/satloop/wallet.sock", Credential: enc}
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.json")

	if err := WriteFile(path, f, false); err != nil {
		t.Fatal(err)
	}
	assertMode(t, path, 0o600)
	got, err := ReadCredential(path)
	if err != nil || got != f {
		t.Fatalf("ReadCredential = %+v, %v; want %+v", got, err, f)
	}

	f2 := f
	f2.Name = "other"
	if err := WriteFile(path, f2, false); err == nil {
		t.Fatal("WriteFile replaced an existing file without overwrite")
	} else {
		noSecret(t, err, enc)
	}
	if got, _ := ReadCredential(path); got != f {
		t.Errorf("refused write changed the file: %+v", got)
	}

	// An old file readable by all is replaced by a private one.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, f2, true); err != nil {
		t.Fatal(err)
	}
	assertMode(t, path, 0o600)
	if got, err := ReadCredential(path); err != nil || got != f2 {
		t.Errorf("after overwrite: %+v, %v; want %+v", got, err, f2)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after overwrite, want 1 (no temporary left)", len(entries))
	}

	// Overwriting through a symlink replaces the link, never its target.
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, f, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("overwrite wrote through a symlink: target now %q", b)
	}
	assertMode(t, link, 0o600)

	if err := WriteFile(filepath.Join(dir, "missing", "agent.json"), f, false); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	} else {
		noSecret(t, err, enc)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "agent.json"), f, true); err == nil {
		t.Error("WriteFile (overwrite) into a missing directory succeeded")
	} else {
		noSecret(t, err, enc)
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode(); got != want {
		t.Errorf("%s mode %v, want %v", path, got, want)
	}
}

func TestReadCredential(t *testing.T) {
	enc, std := secretCredential(t)
	dir := t.TempDir()
	f := File{Name: "a", Wallet: "https://127.0.0.1:9735", WalletCert: "-----BEGIN CERTIFICATE-----\n...", Credential: enc}
	path := filepath.Join(dir, "agent.json")
	if err := WriteFile(path, f, false); err != nil {
		t.Fatal(err)
	}
	inline, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	good := map[string]File{
		"path":                  f,
		"path with white space": f,
		"inline JSON":           f,
		"bare":                  {Credential: enc},
		"bare standard base64":  {Credential: std},
		"bare with a newline":   {Credential: enc},
	}
	inputs := map[string]string{
		"path":                  path,
		"path with white space": "  " + path + "\n",
		"inline JSON":           string(inline),
		"bare":                  enc,
		"bare standard base64":  std,
		"bare with a newline":   enc + "\n",
	}
	for name, want := range good {
		t.Run(name, func(t *testing.T) {
			got, err := ReadCredential(inputs[name])
			if err != nil || got != want {
				t.Fatalf("ReadCredential = %+v, %v; want %+v", got, err, want)
			}
			if _, err := got.Macaroon(); err != nil {
				t.Fatalf("Macaroon: %v", err)
			}
		})
	}

	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	missing := filepath.Join(dir, "missing.json")
	damaged := enc[:len(enc)-5] + "!!" + enc[len(enc)-5:]
	refused := []struct {
		name    string
		in      string
		want    error // nil: any error
		mention string
	}{
		{"empty", "  ", nil, ""},
		{"missing file", missing, fs.ErrNotExist, missing},
		{"not JSON", write("notjson.json", "hello"), ErrMalformed, ""},
		{"JSON without a credential", write("nocred.json", `{"name":"a","wallet":"unix:///x"}`), ErrMalformed, ""},
		{"JSON with a bad credential", write("badcred.json", `{"credential":"!!"}`), ErrMalformed, ""},
		{"JSON with a non-macaroon", write("nomac.json", `{"credential":"aGVsbG8"}`), ErrMalformed, ""},
		{"inline bad JSON", `{"credential":` + enc, ErrMalformed, ""},
		{"inline JSON with trailing data", string(inline) + "x", ErrMalformed, ""},
		{"damaged bare credential", damaged, ErrMalformed, ""},
		{"truncated bare credential", enc[:len(enc)-3], ErrMalformed, ""},
		{"truncated standard base64", std[:len(std)-4], ErrMalformed, ""},
		{"credential with a quote", enc + "'", ErrMalformed, ""},
		{"directory", dir, nil, ""},
		{"oversized file", write("big.json", strings.Repeat(" ", maxFileLen+1)), ErrMalformed, ""},
	}
	for _, tt := range refused {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			got, err := ReadCredential(tt.in)
			if err == nil {
				t.Fatalf("ReadCredential = %+v, want an error", got)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
			if tt.mention != "" && !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not name %s", err, tt.mention)
			}
			noSecret(t, err, enc, std)
		})
	}
}
