package lnd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/satloop/satloop/lightning"
)

func TestMapError(t *testing.T) {
	unknown := func(text string) error { return status.Error(codes.Unknown, text) }
	for name, tc := range map[string]struct {
		call string
		err  error
		want error
	}{
		"unavailable":          {"GetInfo", status.Error(codes.Unavailable, "connection refused"), lightning.ErrUnreachable},
		"deadline":             {"GetInfo", status.Error(codes.DeadlineExceeded, "context deadline exceeded"), context.DeadlineExceeded},
		"canceled":             {"GetInfo", status.Error(codes.Canceled, "context canceled"), context.Canceled},
		"context error":        {"GetInfo", fmt.Errorf("x: %w", context.Canceled), context.Canceled},
		"wallet locked":        {"GetInfo", unknown(textWalletLocked), lightning.ErrWalletLocked},
		"no wallet":            {"GetInfo", unknown(textNoWallet), lightning.ErrWalletLocked},
		"waiting to start":     {"GetInfo", unknown(textWaitingStart), lightning.ErrWalletLocked},
		"rpc starting":         {"GetInfo", unknown(textRPCStarting), lightning.ErrWalletLocked},
		"permission denied":    {"AddInvoice", unknown("permission denied"), lightning.ErrPermission},
		"wrong root key":       {"AddInvoice", unknown("verification failed: signature mismatch after caveat verification"), lightning.ErrPermission},
		"unknown root key":     {"AddInvoice", unknown("cannot get macaroon: root key with id 1 doesn't exist"), lightning.ErrPermission},
		"no macaroon":          {"AddInvoice", unknown("expected 1 macaroon, got 0"), lightning.ErrPermission},
		"expired macaroon":     {"AddInvoice", unknown(`caveat "time-before 2020" not satisfied: macaroon has expired`), lightning.ErrPermission},
		"invoice not found":    {"LookupInvoice", status.Error(codes.NotFound, "unable to locate invoice"), lightning.ErrInvoiceNotFound},
		"invoice not found 2":  {"LookupInvoice", unknown("unable to locate invoice"), lightning.ErrInvoiceNotFound},
		"payment not found":    {"TrackPaymentV2", status.Error(codes.NotFound, "payment isn't initiated"), lightning.ErrPaymentNotFound},
		"invoice expired":      {"SendPaymentV2", unknown("invoice expired. Valid until 2026-01-01"), lightning.ErrInvoiceExpired},
		"wrong network":        {"SendPaymentV2", unknown("invoice not for current active network 'regtest'"), lightning.ErrWrongNetwork},
		"unknown error":        {"AddInvoice", unknown("something else"), nil},
		"not a status":         {"AddInvoice", errors.New("plain"), nil},
		"not found other call": {"GetInfo", status.Error(codes.NotFound, "x"), nil},
	} {
		t.Run(name, func(t *testing.T) {
			got := mapError(errContext{addr: "h:1", call: tc.call, network: lightning.Regtest}, tc.err)
			if !strings.HasPrefix(got.Error(), "lnd: ") {
				t.Errorf("error %q does not start with \"lnd: \"", got)
			}
			if tc.want != nil && !errors.Is(got, tc.want) {
				t.Errorf("mapError = %v, want it to wrap %v", got, tc.want)
			}
			for _, sentinel := range []error{lightning.ErrUnreachable, lightning.ErrWalletLocked, lightning.ErrPermission, lightning.ErrInvoiceNotFound, lightning.ErrPaymentNotFound} {
				if sentinel != tc.want && errors.Is(got, sentinel) {
					t.Errorf("mapError = %v, wraps %v too", got, sentinel)
				}
			}
		})
	}
}

func TestMapErrorTypes(t *testing.T) {
	c := errContext{addr: "h:1", call: "SendPaymentV2", network: lightning.Regtest}
	var unreachable *lightning.UnreachableError
	if err := mapError(c, status.Error(codes.Unavailable, "down")); !errors.As(err, &unreachable) || unreachable.Addr != "h:1" || status.Code(unreachable.Err) != codes.Unavailable {
		t.Errorf("Unavailable: %v", err)
	}

	var perm *lightning.PermissionError
	if err := mapError(c, status.Error(codes.Unknown, "permission denied")); !errors.As(err, &perm) || perm.Call != "SendPaymentV2" || !slices.Equal(perm.Need, []lightning.Permission{{Entity: "offchain", Action: "write"}}) {
		t.Errorf("permission denied: %v", err)
	}
	c.call = "OpenChannelSync"
	if err := mapError(c, status.Error(codes.Unknown, "permission denied")); !errors.As(err, &perm) || len(perm.Need) != 2 {
		t.Errorf("permission denied on OpenChannelSync: %v", err)
	}

	c.call = "SendPaymentV2"
	expiresAt := time.Unix(1_700_000_000, 0)
	c.invoice = &lightning.Invoice{Network: lightning.Mainnet, ExpiresAt: expiresAt}
	var expired *lightning.ExpiredError
	if err := mapError(c, status.Error(codes.Unknown, "invoice expired. Valid until x")); !errors.As(err, &expired) || !expired.ExpiredAt.Equal(expiresAt) {
		t.Errorf("invoice expired: %v", err)
	}
	var wrong *lightning.WrongNetworkError
	if err := mapError(c, status.Error(codes.Unknown, "invoice not for current active network 'regtest'")); !errors.As(err, &wrong) || wrong.Invoice != lightning.Mainnet || wrong.Node != lightning.Regtest {
		t.Errorf("wrong network: %v", err)
	}
}

// TestMapErrorRedacts: lnd's texts may carry a preimage or a macaroon; what
// looks like one never reaches the error.
func TestMapErrorRedacts(t *testing.T) {
	secret := strings.Repeat("ab12", 16)
	macaroon := strings.Repeat("0201", 100)
	for _, err := range []error{
		status.Error(codes.Unknown, "bad preimage "+secret),
		status.Error(codes.Unavailable, "macaroon "+macaroon+" refused"),
		status.Error(codes.InvalidArgument, strings.Repeat("x", 10_000)+secret),
		errors.New("plain " + secret),
	} {
		got := mapError(errContext{call: "AddInvoice"}, err).Error()
		if strings.Contains(got, secret) || strings.Contains(got, macaroon[:64]) {
			t.Errorf("error shows a secret: %s", got)
		}
		if len(got) > 1000 {
			t.Errorf("error is %d characters long", len(got))
		}
	}
}

// TestPermissionsCoverCalls: every call the adapter makes has its
// permissions listed, so that a refusal names what to add.
func TestPermissionsCoverCalls(t *testing.T) {
	for _, call := range []string{"GetInfo", "AddInvoice", "LookupInvoice", "SubscribeSingleInvoice", "SendPaymentV2", "TrackPaymentV2",
		"WalletBalance", "ChannelBalance", "ListChannels", "NewAddress", "ConnectPeer", "OpenChannelSync", "BakeMacaroon"} {
		if len(permissions[call]) == 0 {
			t.Errorf("no permissions listed for %s", call)
		}
	}
	// The presets must be able to make the calls their names promise.
	for preset, calls := range map[lightning.Preset][]string{
		lightning.PresetPayOnly:     {"GetInfo", "SendPaymentV2", "TrackPaymentV2", "ChannelBalance", "ListChannels"},
		lightning.PresetInvoiceOnly: {"GetInfo", "AddInvoice", "LookupInvoice", "SubscribeSingleInvoice"},
		lightning.PresetReadOnly:    {"GetInfo", "LookupInvoice", "SubscribeSingleInvoice", "TrackPaymentV2", "WalletBalance", "ChannelBalance", "ListChannels"},
	} {
		have, err := preset.Permissions()
		if err != nil {
			t.Fatal(err)
		}
		for _, call := range calls {
			for _, need := range permissions[call] {
				if !slices.Contains(have, need) {
					t.Errorf("preset %s lacks %s, which %s needs", preset, need, call)
				}
			}
		}
	}
}
