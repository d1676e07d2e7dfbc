// Package lab runs a local Lightning network for development and tests: a
// btcd on regtest and three lnd nodes, agent -> router -> seller, with
// funded channels both ways, so that a payment from agent to seller takes
// a route with a routing fee. Everything listens on 127.0.0.1 on free ports
// and lives under one state directory; Down stops exactly the processes the
// lab started.
package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// The lab's nodes. A payment from Agent to Seller goes through Router.
const (
	Agent  = "agent"
	Router = "router"
	Seller = "seller"
)

// NodeNames lists the lab's nodes in the order they are started.
var NodeNames = []string{Agent, Router, Seller}

// ErrAlreadyUp is returned by Up when a lab is running in the directory.
var ErrAlreadyUp = errors.New("lab: already up")

// ErrNotLabDir is returned by Up for a directory that is not empty and
// holds no lab, which Up would otherwise clear.
var ErrNotLabDir = errors.New("lab: not a lab directory")

// ErrNotUp is returned by Open when no lab runs in the directory.
var ErrNotUp = errors.New("lab: not up")

// Config says where the lab lives and how it reports progress.
type Config struct {
	// Dir holds the lab's state: node data, logs, credentials. Required.
	Dir string
	// CacheDir holds the built node binaries; empty means
	// DefaultCacheDir().
	CacheDir string
	// Progress receives one line per step; nil means silent.
	Progress io.Writer
	// Detach makes the node processes outlive the process that started
	// them (the CLI). When false (tests) they are killed with it, even if
	// it dies before Down.
	Detach bool
}

// Validate reports a configuration Up cannot use.
func (c Config) Validate() error {
	if c.Dir == "" {
		return errors.New("lab: a state directory is required")
	}
	if !filepath.IsAbs(c.Dir) {
		return fmt.Errorf("lab: state directory %q must be an absolute path", c.Dir)
	}
	return nil
}

// DefaultDir is the state directory the CLI uses: $SATLOOP_LAB_DIR, else
// satloop/lab under the user's state directory.
func DefaultDir() (string, error) {
	if dir := os.Getenv("SATLOOP_LAB_DIR"); dir != "" {
		return filepath.Abs(dir)
	}
	if dir := os.Getenv("XDG_STATE_HOME"); dir != "" {
		return filepath.Join(dir, "satloop", "lab"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("lab: no home directory for the lab state (%w); set SATLOOP_LAB_DIR", err)
	}
	return filepath.Join(home, ".local", "state", "satloop", "lab"), nil
}

// state is what the lab records in Dir/state.json, so that another process
// (lab down, lab env, a test binary reusing a lab) can find it.
type state struct {
	Version  int        `json:"version"`
	Ready    bool       `json:"ready"`
	Binaries Binaries   `json:"binaries"`
	Btcd     btcdState  `json:"btcd"`
	Nodes    []*Node    `json:"nodes"`
	Extra    []*process `json:"extra,omitempty"`
	// NextCoinbase is the height of the next unspent coinbase.
	NextCoinbase int64     `json:"next_coinbase"`
	StartedAt    time.Time `json:"started_at"`
}

type btcdState struct {
	Process *process `json:"process"`
	RPCAddr string   `json:"rpc_addr"`
	RPCUser string   `json:"rpc_user"`
	// RPCPass guards a regtest node on loopback; the state file is 0600.
	RPCPass  string `json:"rpc_pass"`
	CertPath string `json:"cert_path"`
}

const stateVersion = 1

func statePath(dir string) string { return filepath.Join(dir, "state.json") }

func readState(dir string) (*state, error) {
	raw, err := os.ReadFile(statePath(dir))
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("lab: %s is corrupt: %w; run `satloop lab down` and remove the directory", statePath(dir), err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("lab: %s has version %d, this satloop reads %d; run `satloop lab down` with the satloop that started it", statePath(dir), s.Version, stateVersion)
	}
	return &s, nil
}

// write saves the state atomically, 0600: it holds btcd's RPC password.
func (s *state) write(dir string) error {
	raw, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("lab: state: %w", err)
	}
	tmp := statePath(dir) + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return fmt.Errorf("lab: write state: %w", err)
	}
	if err := os.Rename(tmp, statePath(dir)); err != nil {
		return fmt.Errorf("lab: write state: %w", err)
	}
	return nil
}

// processes lists every process in the state, nodes first so that they
// stop before the chain backend they talk to.
func (s *state) processes() []*process {
	var ps []*process
	ps = append(ps, s.Extra...)
	for _, n := range s.Nodes {
		ps = append(ps, n.Process)
	}
	return append(ps, s.Btcd.Process)
}

// anyAlive reports whether a process of the state still runs.
func (s *state) anyAlive() bool {
	for _, p := range s.processes() {
		if p.alive() {
			return true
		}
	}
	return false
}

// Down stops every process of the lab in dir. It is idempotent: a
// directory with no lab, or a lab already down, is not an error. It reads
// only the state file, so it also cleans up after an Up that crashed.
func Down(ctx context.Context, dir string) error {
	s, err := readState(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range s.processes() {
		// lnd flushes its databases on SIGTERM; give it time to.
		errs = append(errs, p.stop(ctx, 15*time.Second))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.Ready = false
	return s.write(dir)
}
