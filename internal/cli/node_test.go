package cli

import (
	"strings"
	"testing"
)

// TestNodeEnvNeverInHelp: an lndconnect URI carries the node macaroon, so
// --help, which prints flag defaults, must not show the environment.
func TestNodeEnvNeverInHelp(t *testing.T) {
	const secret = "lndconnect://127.0.0.1:10009?cert=abc&macaroon=SECRETMACAROON"
	t.Setenv("SATLOOP_LNDCONNECT", secret)
	for _, cmd := range []string{"get", "gate"} {
		stdout, stderr, code := run(t, false, cmd, "--help")
		if code != ExitOK {
			t.Fatalf("%s --help: exit %d, stderr %q", cmd, code, stderr)
		}
		if strings.Contains(stdout+stderr, "SECRETMACAROON") {
			t.Errorf("%s --help shows the macaroon from SATLOOP_LNDCONNECT", cmd)
		}
	}
}

func TestNodeOptionsFromEnvironment(t *testing.T) {
	tests := []struct {
		name     string
		opts     nodeOptions
		env      map[string]string
		wantHost string
		wantErr  bool
	}{
		{
			name:     "environment fills unset flags",
			env:      map[string]string{"SATLOOP_LND_HOST": "127.0.0.1:1", "SATLOOP_LND_TLSCERT": "/c", "SATLOOP_LND_MACAROON": "/m"},
			wantHost: "127.0.0.1:1",
		},
		{
			name:     "flags win over the environment",
			opts:     nodeOptions{host: "127.0.0.1:2", tlsCertPath: "/c", macaroonPath: "/m"},
			env:      map[string]string{"SATLOOP_LND_HOST": "127.0.0.1:1"},
			wantHost: "127.0.0.1:2",
		},
		{
			name:    "incomplete flags are a usage error",
			opts:    nodeOptions{host: "127.0.0.1:2"},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"SATLOOP_LNDCONNECT", "SATLOOP_LND_HOST", "SATLOOP_LND_TLSCERT", "SATLOOP_LND_MACAROON"} {
				t.Setenv(k, tt.env[k])
			}
			cfg, err := tt.opts.config()
			if tt.wantErr {
				if err == nil {
					t.Fatal("config succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Host != tt.wantHost {
				t.Errorf("host %q, want %q", cfg.Host, tt.wantHost)
			}
		})
	}
}
