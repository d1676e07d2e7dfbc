package cli

import (
	"errors"
	"os"
	"path/filepath"
)

// dataDir is where satloop keeps durable state (the buyer's tokens and
// spend log, the gateway's store and root-key secret): $SATLOOP_DATA_DIR,
// else satloop under $XDG_DATA_HOME, else ~/.local/share/satloop. Callers
// create it 0700 when they first write.
func dataDir() (string, error) {
	if d := os.Getenv("SATLOOP_DATA_DIR"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "satloop"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "", errors.New("cannot find a data directory: set SATLOOP_DATA_DIR or HOME")
	}
	return filepath.Join(home, ".local", "share", "satloop"), nil
}
