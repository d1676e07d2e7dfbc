package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"gopkg.in/macaroon.v2"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/money"
)

// payer pays an invoice: the lab's agent node.
type payer interface {
	Pay(ctx context.Context, req lightning.PayRequest) (lightning.Payment, error)
}

// buyToken gets a 402 from url, checks that the invoice asks for price
// and matches the token, pays it, and returns the Authorization value
// that presents the token (a secret: never print it).
func buyToken(ctx context.Context, url string, price money.MilliSat, p payer) (string, error) {
	resp, _, err := fetch(ctx, url, "")
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusPaymentRequired {
		return "", fmt.Errorf("GET %s without a token: status %d, want 402", url, resp.StatusCode)
	}
	challenges, err := l402.ParseChallenges(resp.Header.Values("WWW-Authenticate")...)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", url, err)
	}
	ch := challenges[0]
	inv, err := lightning.DecodeInvoice(ch.Invoice, lightning.Regtest)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", url, err)
	}
	if !inv.HasAmount || inv.Amount != price {
		return "", fmt.Errorf("GET %s: the invoice asks for %s (amount present: %v), the benchmark set %s", url, inv.Amount, inv.HasAmount, price)
	}
	if inv.Hash != ch.ID.PaymentHash {
		return "", fmt.Errorf("GET %s: the invoice's payment hash is not the token's", url)
	}
	payment, err := p.Pay(ctx, lightning.PayRequest{Invoice: ch.Invoice, MaxFee: money.Sats(10), Timeout: 30 * time.Second})
	if err != nil {
		return "", fmt.Errorf("pay the invoice of %s: %w", url, err)
	}
	if payment.Status != lightning.PaymentSucceeded {
		return "", fmt.Errorf("pay the invoice of %s: %s (%s)", url, payment.Status, payment.Failure)
	}
	return l402.FormatAuthorization(l402.Credential{Macaroons: []*macaroon.Macaroon{ch.Macaroon}, Preimage: payment.Preimage})
}

// fetch GETs url, with an Authorization header when auth is not empty,
// and returns the response and its body.
func fetch(ctx context.Context, url, auth string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return resp, body, nil
}

// errWrongAnswer is a target that does not answer like the upstream.
var errWrongAnswer = errors.New("gatebench: target does not answer like the upstream")

// checkAnswers makes sure url answers 200 with want, so that wrk measures
// the real path and not an error page.
func checkAnswers(ctx context.Context, url, auth string, want []byte) error {
	resp, body, err := fetch(ctx, url, auth)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || string(body) != string(want) {
		return fmt.Errorf("%w: GET %s: status %d, body %q; want 200 %q", errWrongAnswer, url, resp.StatusCode, body, want)
	}
	return nil
}
