package lightning

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// A Preset is a named set of node permissions for BakeMacaroon: the
// credentials a program gets instead of the admin macaroon.
type Preset string

// The presets satloop bakes.
const (
	// PresetPayOnly can pay invoices and see payments, nothing else: no
	// invoices, no on-chain funds, no channels.
	PresetPayOnly Preset = "pay-only"
	// PresetInvoiceOnly can create and look up invoices: what a seller's
	// gateway needs, with no way to move funds out.
	PresetInvoiceOnly Preset = "invoice-only"
	// PresetReadOnly can read everything and change nothing.
	PresetReadOnly Preset = "read-only"
	// PresetChannelAdmin can look after channels: connect peers, open,
	// close and set the fees of channels, take new on-chain addresses to
	// fund them, and read the node's info, funds, channels and peers. It
	// can neither pay nor create invoices, nor call SendCoins. It is still
	// trusted with the funds it manages: an opening may push part of the
	// capacity to the peer, and a close may pay out to any address.
	PresetChannelAdmin Preset = "channel-admin"
)

// Presets lists every preset in a stable order.
var Presets = []Preset{PresetPayOnly, PresetInvoiceOnly, PresetReadOnly, PresetChannelAdmin}

// PermissionEntityURI is lnd's entity for a permission that allows one
// gRPC method, named in full by the action, instead of every method of an
// entity.
const PermissionEntityURI = "uri"

// uri allows the one lnd gRPC method named.
func uri(method string) Permission { return Permission{PermissionEntityURI, method} }

// EntityPermissions lists every entity-wide permission lnd has
// (rpcserver.go's readPermissions and writePermissions): what a macaroon
// baked with some of them cannot do is the rest.
var EntityPermissions = []Permission{
	{"address", "read"}, {"address", "write"},
	{"info", "read"}, {"info", "write"},
	{"invoices", "read"}, {"invoices", "write"},
	{"macaroon", "read"}, {"macaroon", "write"}, {"macaroon", "generate"},
	{"message", "read"}, {"message", "write"},
	{"offchain", "read"}, {"offchain", "write"},
	{"onchain", "read"}, {"onchain", "write"},
	{"peers", "read"}, {"peers", "write"},
	{"signer", "read"}, {"signer", "generate"},
}

// Permissions returns the permissions of the preset, or an error naming the
// presets that exist.
func (p Preset) Permissions() ([]Permission, error) {
	switch p {
	case PresetPayOnly:
		return []Permission{
			{"info", "read"},
			{"offchain", "read"},
			{"offchain", "write"},
		}, nil
	case PresetInvoiceOnly:
		return []Permission{
			{"info", "read"},
			{"invoices", "read"},
			{"invoices", "write"},
		}, nil
	case PresetReadOnly:
		perms := []Permission{}
		for _, entity := range []string{"address", "info", "invoices", "macaroon", "message", "offchain", "onchain", "peers", "signer"} {
			perms = append(perms, Permission{entity, "read"})
		}
		return perms, nil
	case PresetChannelAdmin:
		// Opening, closing and fee updates need onchain:write and
		// offchain:write in lnd, which also allow SendCoins and
		// SendPaymentV2. Allowing those methods one by one keeps the
		// macaroon from paying invoices or sending coins anywhere.
		return []Permission{
			{"address", "write"},
			{"info", "read"},
			{"offchain", "read"},
			{"onchain", "read"},
			{"peers", "read"},
			{"peers", "write"},
			uri("/lnrpc.Lightning/OpenChannel"),
			uri("/lnrpc.Lightning/OpenChannelSync"),
			uri("/lnrpc.Lightning/BatchOpenChannel"),
			uri("/lnrpc.Lightning/CloseChannel"),
			uri("/lnrpc.Lightning/UpdateChannelPolicy"),
		}, nil
	}
	return nil, fmt.Errorf("lightning: unknown macaroon preset %q; choose one of %s", string(p), presetNames())
}

// Description says in a line what a macaroon of the preset is for.
func (p Preset) Description() string {
	switch p {
	case PresetPayOnly:
		return "pay invoices and see payments; no invoices, on-chain funds or channels (a buying wallet daemon)"
	case PresetInvoiceOnly:
		return "create and look up invoices; cannot move funds (a seller's gateway)"
	case PresetReadOnly:
		return "read everything, change nothing (monitoring, dashboards)"
	case PresetChannelAdmin:
		return "connect peers, open, close and set fees of channels, new addresses; cannot pay or create invoices, nor SendCoins"
	}
	return ""
}

func presetNames() string {
	names := make([]string, len(Presets))
	for i, p := range Presets {
		names[i] = string(p)
	}
	return strings.Join(names, ", ")
}

// ParsePreset returns the preset named s.
func ParsePreset(s string) (Preset, error) {
	p := Preset(s)
	if !slices.Contains(Presets, p) {
		_, err := p.Permissions()
		return "", err
	}
	return p, nil
}

// ParsePresets reads a comma-separated list of presets, such as
// "pay-only,invoice-only", for one macaroon holding all their permissions.
func ParsePresets(list string) ([]Preset, error) {
	if strings.TrimSpace(list) == "" {
		return nil, fmt.Errorf("lightning: no macaroon preset given; choose one or more of %s", presetNames())
	}
	var presets []Preset
	for name := range strings.SplitSeq(list, ",") {
		p, err := ParsePreset(strings.TrimSpace(name))
		if err != nil {
			return nil, err
		}
		if slices.Contains(presets, p) {
			return nil, fmt.Errorf("lightning: macaroon preset %q given twice", string(p))
		}
		presets = append(presets, p)
	}
	return presets, nil
}

// PermissionsOf returns the permissions of all the presets, each once, in
// the order the presets list them.
func PermissionsOf(presets ...Preset) ([]Permission, error) {
	if len(presets) == 0 {
		return nil, errors.New("lightning: no macaroon preset given")
	}
	var perms []Permission
	for _, p := range presets {
		ps, err := p.Permissions()
		if err != nil {
			return nil, err
		}
		for _, perm := range ps {
			if !slices.Contains(perms, perm) {
				perms = append(perms, perm)
			}
		}
	}
	return perms, nil
}
