package cli

import (
	"bytes"
	"runtime/debug"
	"testing"
)

func TestVersionFlags(t *testing.T) {
	tests := []struct {
		args        []string
		wantJSON    bool
		wantJSONSet bool
	}{
		{nil, false, false},
		{[]string{"--json"}, true, true},
		{[]string{"--json=false"}, false, true},
	}
	for _, tt := range tests {
		var got *versionOptions
		cmd := newCmdVersion(&IO{}, func(o *versionOptions) error { got = o; return nil })
		cmd.SetArgs(tt.args)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if got.JSON != tt.wantJSON || got.JSONSet != tt.wantJSONSet {
			t.Errorf("%v: JSON=%v JSONSet=%v, want %v %v", tt.args, got.JSON, got.JSONSet, tt.wantJSON, tt.wantJSONSet)
		}
	}
}

func TestRunVersion(t *testing.T) {
	fixed := buildInfo{Version: "v1.2.3", Commit: "abc123", Modified: true, GoVersion: "go1.26.8", OS: "linux", Arch: "arm64"}
	tests := []struct {
		name    string
		info    buildInfo
		tty     bool
		json    bool
		jsonSet bool
		want    string
	}{
		{
			name: "text on a terminal",
			info: fixed,
			tty:  true,
			want: "satloop v1.2.3\ncommit:   abc123 (modified)\ngo:       go1.26.8\nplatform: linux/arm64\n",
		},
		{
			name: "text without a commit",
			info: buildInfo{Version: "devel", GoVersion: "go1.26.8", OS: "linux", Arch: "amd64"},
			tty:  true,
			want: "satloop devel\ncommit:   unknown\ngo:       go1.26.8\nplatform: linux/amd64\n",
		},
		{
			name: "JSON on a pipe",
			info: fixed,
			want: `{"version":"v1.2.3","commit":"abc123","modified":true,"go_version":"go1.26.8","os":"linux","arch":"arm64"}` + "\n",
		},
		{
			name: "--json on a terminal",
			info: fixed, tty: true, json: true, jsonSet: true,
			want: `{"version":"v1.2.3","commit":"abc123","modified":true,"go_version":"go1.26.8","os":"linux","arch":"arm64"}` + "\n",
		},
		{
			name: "--json=false on a pipe",
			info: fixed, jsonSet: true,
			want: "satloop v1.2.3\ncommit:   abc123 (modified)\ngo:       go1.26.8\nplatform: linux/arm64\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			opts := &versionOptions{
				IO:      &IO{Out: &out, ErrOut: &errOut, IsTerminal: tt.tty},
				Build:   func() buildInfo { return tt.info },
				JSON:    tt.json,
				JSONSet: tt.jsonSet,
			}
			if err := runVersion(opts); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("stdout =\n%s\nwant\n%s", out.String(), tt.want)
			}
			if errOut.Len() != 0 {
				t.Errorf("stderr = %q, want nothing", errOut.String())
			}
		})
	}
}

func TestReadBuild(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs.revision", Value: "deadbeef"}, {Key: "vcs.modified", Value: "true"}}
	tests := []struct {
		name         string
		linked       string
		bi           *debug.BuildInfo
		wantVersion  string
		wantCommit   string
		wantModified bool
	}{
		{"no build info", "", nil, "devel", "", false},
		{"linked version wins", "v1.0.0-3-gabc", &debug.BuildInfo{Main: debug.Module{Version: "v0.9.0"}, Settings: vcs}, "v1.0.0-3-gabc", "deadbeef", true},
		{"module version from go install", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.9.0"}}, "v0.9.0", "", false},
		{"source build", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs}, "devel", "deadbeef", true},
		{"clean tree", "", &debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "cafe"}, {Key: "vcs.modified", Value: "false"}}}, "devel", "cafe", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readBuild(tt.linked, tt.bi)
			if got.Version != tt.wantVersion || got.Commit != tt.wantCommit || got.Modified != tt.wantModified {
				t.Errorf("got version %q commit %q modified %v, want %q %q %v",
					got.Version, got.Commit, got.Modified, tt.wantVersion, tt.wantCommit, tt.wantModified)
			}
			if got.GoVersion == "" || got.OS == "" || got.Arch == "" {
				t.Errorf("platform fields missing: %+v", got)
			}
		})
	}
}
