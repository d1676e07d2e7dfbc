package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/satloop/satloop/money"
)

// The pinned Aperture, Lightning Labs' L402 reverse proxy: the seller the
// buyer is tested against and the gateway benchmarks compare with. It is
// built from its own module, with the lnd client libraries its go.mod pins.
const (
	ApertureModule  = "github.com/lightninglabs/aperture"
	ApertureVersion = "v0.4.2"
)

// apertureDir is where the pinned Aperture lives under the cache directory.
func apertureDir(cacheDir string) string {
	return filepath.Join(cacheDir, "aperture-"+ApertureVersion)
}

// EnsureAperture returns the path of the pinned aperture binary, building
// it from its Go module into cacheDir when missing. The first build takes
// about two minutes on two cores (module downloads included). Concurrent
// callers wait for one build instead of racing.
func EnsureAperture(ctx context.Context, cacheDir string, progress io.Writer) (string, error) {
	dir := apertureDir(cacheDir)
	bin := filepath.Join(dir, "aperture")
	if executable(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("lab: cache directory: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(cacheDir, ".aperture-build.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if executable(bin) {
		return bin, nil
	}
	// Built in a fresh directory renamed into place, so that an interrupted
	// build never leaves something that looks complete.
	tmp, err := os.MkdirTemp(cacheDir, ".build-aperture-")
	if err != nil {
		return "", fmt.Errorf("lab: %w", err)
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	progressf(progress, "lab: building aperture %s (first build takes about 2 minutes)\n", ApertureVersion)
	if err := buildModule(ctx, ApertureModule, ApertureVersion, "", []string{"./cmd/aperture"}, tmp, progress); err != nil {
		return "", err
	}
	progressf(progress, "lab: built aperture in %s\n", time.Since(start).Round(time.Second))
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("lab: install aperture: %w", err)
	}
	if !executable(bin) {
		return "", fmt.Errorf("lab: build finished but %s is missing", bin)
	}
	return bin, nil
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// ApertureConfig says how to run an Aperture in front of one upstream.
type ApertureConfig struct {
	// Dir holds Aperture's configuration, database and logs. Required; it
	// should be empty or a previous run's.
	Dir string
	// Seller is the lab node that issues the invoices; Aperture reaches it
	// with the node's invoice macaroon.
	Seller Node
	// Upstream is the service behind Aperture: an http or https URL with
	// host and port and no path, such as "http://127.0.0.1:8000".
	Upstream string
	// Price is what one token costs. Aperture prices in whole satoshis, so
	// it must be a positive multiple of 1000 msat.
	Price money.MilliSat
	// Binary is the aperture program; empty means EnsureAperture with
	// DefaultCacheDir.
	Binary string
	// Progress receives the build's progress; nil means silent.
	Progress io.Writer
	// Detach makes Aperture outlive the process that started it. When
	// false (tests, benchmarks) it is killed with it.
	Detach bool
}

// Validate reports a configuration StartAperture cannot use.
func (c ApertureConfig) Validate() error {
	if c.Dir == "" || !filepath.IsAbs(c.Dir) {
		return fmt.Errorf("lab: aperture needs an absolute state directory, got %q", c.Dir)
	}
	if c.Seller.RPCAddr == "" || c.Seller.TLSCertPath == "" || c.Seller.Dir == "" {
		return errors.New("lab: aperture needs a seller node with an RPC address, a TLS certificate and a data directory")
	}
	if _, _, err := upstreamAddress(c.Upstream); err != nil {
		return err
	}
	if c.Price <= 0 || c.Price%1000 != 0 || !c.Price.Valid() {
		return fmt.Errorf("lab: aperture prices in whole satoshis: price %s must be a positive multiple of 1000 msat", c.Price)
	}
	return nil
}

// upstreamAddress splits an upstream URL into what Aperture's service
// entry wants: a protocol and a host:port.
func upstreamAddress(upstream string) (protocol, address string, err error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return "", "", fmt.Errorf("lab: aperture upstream %q: %w", upstream, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", "", fmt.Errorf("lab: aperture upstream %q: the scheme must be http or https", upstream)
	}
	if u.Port() == "" || u.Hostname() == "" {
		return "", "", fmt.Errorf("lab: aperture upstream %q: give a host and a port, such as http://127.0.0.1:8000", upstream)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", "", fmt.Errorf("lab: aperture upstream %q: Aperture forwards to a host:port; drop the path, query and user", upstream)
	}
	return u.Scheme, u.Host, nil
}

// apertureFile is Aperture v0.4.2's configuration file. Aperture reads it
// with goccy/go-yaml, which takes a field's key from its yaml or json tag
// and otherwise from the lowercased Go field name, ignoring the
// go-flags `long` names its sample config shows: the SQLite path is
// "databasefilename", not the sample's "dbfile" (silently ignored, so the
// database lands in ~/.aperture). JSON is YAML, so the file is written
// with encoding/json.
type apertureFile struct {
	ListenAddr    string                `json:"listenaddr"`
	Insecure      bool                  `json:"insecure"`
	BaseDir       string                `json:"basedir"`
	DebugLevel    string                `json:"debuglevel"`
	DBBackend     string                `json:"dbbackend"`
	Sqlite        apertureSqlite        `json:"sqlite"`
	Authenticator apertureAuthenticator `json:"authenticator"`
	Services      []apertureService     `json:"services"`
	Logging       apertureLogging       `json:"logging"`
}

type apertureSqlite struct {
	DatabaseFileName string `json:"databasefilename"`
}

type apertureAuthenticator struct {
	Network string `json:"network"`
	LndHost string `json:"lndhost"`
	TLSPath string `json:"tlspath"`
	MacDir  string `json:"macdir"`
}

type apertureService struct {
	Name       string `json:"name"`
	HostRegexp string `json:"hostregexp"`
	PathRegexp string `json:"pathregexp"`
	Address    string `json:"address"`
	Protocol   string `json:"protocol"`
	Price      int64  `json:"price"`
}

// apertureLogging turns the console log off: its output would go to a
// file next to aperture.log, which has the same lines, and a benchmark
// would measure every line written twice.
type apertureLogging struct {
	Console struct {
		Disable bool `json:"disable"`
	} `json:"console"`
}

// apertureConfigFile renders cfg as Aperture's configuration, listening
// on listenAddr without TLS.
func apertureConfigFile(cfg ApertureConfig, listenAddr string) ([]byte, error) {
	protocol, address, err := upstreamAddress(cfg.Upstream)
	if err != nil {
		return nil, err
	}
	f := apertureFile{
		ListenAddr: listenAddr,
		Insecure:   true,
		BaseDir:    cfg.Dir,
		DebugLevel: "info",
		DBBackend:  "sqlite",
		Sqlite:     apertureSqlite{DatabaseFileName: filepath.Join(cfg.Dir, "aperture.db")},
		Authenticator: apertureAuthenticator{
			Network: "regtest",
			LndHost: cfg.Seller.RPCAddr,
			TLSPath: cfg.Seller.TLSCertPath,
			// Aperture opens invoice.macaroon in this directory.
			MacDir: filepath.Dir(cfg.Seller.MacaroonPath("invoice")),
		},
		Services: []apertureService{{
			Name:       "lab",
			HostRegexp: ".*",
			PathRegexp: "^/.*$",
			Address:    address,
			Protocol:   protocol,
			Price:      cfg.Price.Sats(),
		}},
	}
	f.Logging.Console.Disable = true
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("lab: aperture config: %w", err)
	}
	return append(b, '\n'), nil
}

// Aperture is a running Aperture.
type Aperture struct {
	proc *process
	url  string
	dir  string
}

// StartAperture starts Aperture in front of cfg.Upstream, selling access
// with invoices from cfg.Seller, and returns once it accepts connections.
// It listens on a free loopback port without TLS.
func StartAperture(ctx context.Context, cfg ApertureConfig) (*Aperture, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bin := cfg.Binary
	if bin == "" {
		cacheDir, err := DefaultCacheDir()
		if err != nil {
			return nil, err
		}
		if bin, err = EnsureAperture(ctx, cacheDir, cfg.Progress); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("lab: aperture directory: %w", err)
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	conf, err := apertureConfigFile(cfg, addr)
	if err != nil {
		return nil, err
	}
	confPath := filepath.Join(cfg.Dir, "aperture.yaml")
	if err := os.WriteFile(confPath, conf, 0o600); err != nil {
		return nil, fmt.Errorf("lab: aperture config: %w", err)
	}
	// The config path is in the command line, so it marks the process as
	// this Aperture's.
	proc, _, err := startProcess("aperture", bin, []string{"--configfile=" + confPath},
		filepath.Join(cfg.Dir, "aperture.out"), confPath, cfg.Detach)
	if err != nil {
		return nil, err
	}
	a := &Aperture{proc: proc, url: "http://" + addr, dir: cfg.Dir}
	err = waitFor(ctx, "aperture to listen", 50*time.Millisecond, func() (bool, error) {
		if !proc.alive() {
			return false, fatal{fmt.Errorf("aperture exited; its log ends:\n%s", proc.logTail(15))}
		}
		return listening(addr), nil
	})
	if err != nil {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Stop(stopCtx) //nolint:errcheck // the start error says more
		return nil, err
	}
	return a, nil
}

// URL is where Aperture listens, such as "http://127.0.0.1:40123".
func (a *Aperture) URL() string { return a.url }

// Dir is Aperture's state directory: its config, database and logs
// (aperture.log, aperture.out).
func (a *Aperture) Dir() string { return a.dir }

// PID is the Aperture process's id, for profiling it.
func (a *Aperture) PID() int { return a.proc.PID }

// Stop asks Aperture to exit and kills it if it has not within a few
// seconds. Stopping a stopped Aperture does nothing.
func (a *Aperture) Stop(ctx context.Context) error {
	return a.proc.stop(ctx, 5*time.Second)
}
