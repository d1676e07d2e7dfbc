package lightning_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/satloop/satloop/lightning"
)

func perm(s string) lightning.Permission {
	entity, action, _ := strings.Cut(s, ":")
	return lightning.Permission{Entity: entity, Action: action}
}

func TestPresetPermissions(t *testing.T) {
	tests := []struct {
		preset lightning.Preset
		// must and mustNot are what the preset is for and what it
		// must never allow.
		must    []string
		mustNot []string
	}{
		{
			preset:  lightning.PresetPayOnly,
			must:    []string{"info:read", "offchain:read", "offchain:write"},
			mustNot: []string{"invoices:write", "onchain:write", "peers:write", "address:write", "macaroon:generate"},
		},
		{
			preset:  lightning.PresetInvoiceOnly,
			must:    []string{"info:read", "invoices:read", "invoices:write"},
			mustNot: []string{"offchain:write", "onchain:write", "peers:write", "address:write", "macaroon:generate"},
		},
		{
			preset:  lightning.PresetReadOnly,
			must:    []string{"info:read", "offchain:read", "onchain:read", "invoices:read"},
			mustNot: []string{"offchain:write", "onchain:write", "invoices:write", "macaroon:generate"},
		},
		{
			preset: lightning.PresetChannelAdmin,
			must: []string{
				"info:read", "offchain:read", "onchain:read", "peers:read", "peers:write", "address:write",
				"uri:/lnrpc.Lightning/OpenChannelSync", "uri:/lnrpc.Lightning/OpenChannel", "uri:/lnrpc.Lightning/CloseChannel",
			},
			// offchain:write would pay invoices and onchain:write
			// send coins anywhere: opening must come from uri
			// permissions instead.
			mustNot: []string{
				"offchain:write", "onchain:write", "invoices:read", "invoices:write", "macaroon:generate",
				"uri:/routerrpc.Router/SendPaymentV2", "uri:/lnrpc.Lightning/SendCoins",
			},
		},
	}
	tested := map[lightning.Preset]bool{}
	for _, tt := range tests {
		t.Run(string(tt.preset), func(t *testing.T) {
			tested[tt.preset] = true
			perms, err := tt.preset.Permissions()
			if err != nil {
				t.Fatal(err)
			}
			// No preset may send coins at will or mint and revoke
			// macaroons: those stay with the admin macaroon.
			for _, forbidden := range []string{"onchain:write", "macaroon:generate", "macaroon:write"} {
				if slices.Contains(perms, perm(forbidden)) {
					t.Errorf("%s allows %s", tt.preset, forbidden)
				}
			}
			for _, m := range tt.must {
				if !slices.Contains(perms, perm(m)) {
					t.Errorf("%s lacks %s", tt.preset, m)
				}
			}
			for _, m := range tt.mustNot {
				if slices.Contains(perms, perm(m)) {
					t.Errorf("%s allows %s", tt.preset, m)
				}
			}
			if tt.preset == lightning.PresetReadOnly {
				for _, p := range perms {
					if p.Action != "read" {
						t.Errorf("read-only allows %s", p)
					}
				}
			}
		})
	}
	for _, p := range lightning.Presets {
		if !tested[p] {
			t.Errorf("preset %s has no test of what it allows", p)
		}
	}
}

// Every permission a preset lists must be one lnd knows: an entity-wide
// one, or a uri one naming a full gRPC method. (lnd itself refuses unknown
// methods when baking; the lab test bakes every preset.)
func TestPresetsWellFormed(t *testing.T) {
	for _, p := range lightning.Presets {
		perms, err := p.Permissions()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if len(perms) == 0 {
			t.Errorf("%s has no permissions", p)
		}
		if p.Description() == "" {
			t.Errorf("%s has no description", p)
		}
		seen := map[lightning.Permission]bool{}
		for _, perm := range perms {
			if seen[perm] {
				t.Errorf("%s lists %s twice", p, perm)
			}
			seen[perm] = true
			switch {
			case perm.Entity == lightning.PermissionEntityURI:
				if service, method, ok := strings.Cut(strings.TrimPrefix(perm.Action, "/"), "/"); !strings.HasPrefix(perm.Action, "/") || !ok || service == "" || method == "" {
					t.Errorf("%s: %s is not a full gRPC method", p, perm)
				}
			case !slices.Contains(lightning.EntityPermissions, perm):
				t.Errorf("%s: %s is not an lnd permission", p, perm)
			}
		}
		if got, err := lightning.ParsePreset(string(p)); err != nil || got != p {
			t.Errorf("ParsePreset(%q) = %q, %v", p, got, err)
		}
	}
}

func TestParsePresets(t *testing.T) {
	tests := []struct {
		in      string
		want    []lightning.Preset
		wantErr bool
	}{
		{in: "pay-only", want: []lightning.Preset{lightning.PresetPayOnly}},
		{in: "pay-only,invoice-only", want: []lightning.Preset{lightning.PresetPayOnly, lightning.PresetInvoiceOnly}},
		{in: " channel-admin , read-only ", want: []lightning.Preset{lightning.PresetChannelAdmin, lightning.PresetReadOnly}},
		{in: "", wantErr: true},
		{in: "  ", wantErr: true},
		{in: "admin", wantErr: true},
		{in: "Pay-Only", wantErr: true},
		{in: "pay-only,", wantErr: true},
		{in: ",pay-only", wantErr: true},
		{in: "pay-only,pay-only", wantErr: true},
		{in: "pay-only;invoice-only", wantErr: true},
	}
	for _, tt := range tests {
		got, err := lightning.ParsePresets(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParsePresets(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParsePresets(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// The error for a wrong name is what a user reads to find the right one:
// it must list every preset.
func TestUnknownPresetListsPresets(t *testing.T) {
	for _, in := range []string{"admin", "", "pay-only,bogus"} {
		_, err := lightning.ParsePresets(in)
		if err == nil {
			t.Fatalf("ParsePresets(%q) succeeded", in)
		}
		for _, p := range lightning.Presets {
			if !strings.Contains(err.Error(), string(p)) {
				t.Errorf("error for %q does not name preset %s: %v", in, p, err)
			}
		}
	}
}

func TestPermissionsOfCombines(t *testing.T) {
	got, err := lightning.PermissionsOf(lightning.PresetPayOnly, lightning.PresetInvoiceOnly)
	if err != nil {
		t.Fatal(err)
	}
	want := []lightning.Permission{perm("info:read"), perm("offchain:read"), perm("offchain:write"), perm("invoices:read"), perm("invoices:write")}
	if !slices.Equal(got, want) {
		t.Fatalf("PermissionsOf(pay-only, invoice-only) = %v, want %v (info:read once)", got, want)
	}
	if _, err := lightning.PermissionsOf(); err == nil {
		t.Fatal("PermissionsOf() with no preset succeeded")
	}
	if _, err := lightning.PermissionsOf(lightning.Preset("bogus")); err == nil {
		t.Fatal("PermissionsOf(bogus) succeeded")
	}
}

func FuzzParsePresets(f *testing.F) {
	for _, s := range []string{"pay-only", "pay-only,invoice-only", "", ",", "read-only, channel-admin", "pay-only,pay-only"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		presets, err := lightning.ParsePresets(s)
		if err != nil {
			return
		}
		perms, err := lightning.PermissionsOf(presets...)
		if err != nil || len(perms) == 0 {
			t.Fatalf("ParsePresets(%q) = %v, whose permissions are %v, %v", s, presets, perms, err)
		}
		for _, p := range presets {
			if !slices.Contains(lightning.Presets, p) {
				t.Fatalf("ParsePresets(%q) returned unknown preset %q", s, p)
			}
		}
	})
}
