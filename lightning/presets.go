package lightning

import (
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
)

// Presets lists every preset in a stable order.
var Presets = []Preset{PresetPayOnly, PresetInvoiceOnly, PresetReadOnly}

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
	}
	names := make([]string, len(Presets))
	for i, p := range Presets {
		names[i] = string(p)
	}
	return nil, fmt.Errorf("lightning: unknown macaroon preset %q; choose one of %s", string(p), strings.Join(names, ", "))
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
