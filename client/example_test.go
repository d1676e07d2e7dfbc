package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/money"
	"github.com/satloop/satloop/store/sqlite"
)

// A buyer pays at most 100 sat per request, resolves what a crash left
// pending, and learns from the Receipt what each call cost.
func ExampleTransport() {
	ctx := context.Background()
	var payer client.Payer // an *lnd.Node, or the allowance daemon's client
	store, err := sqlite.OpenBuyerStore(ctx, "/path/to/buyer.db")
	if err != nil {
		return
	}
	defer store.Close()
	tr := &client.Transport{
		Base:   &http.Transport{MaxResponseHeaderBytes: 64 << 10},
		Payer:  payer,
		Store:  store,
		Policy: client.Policy{MaxPrice: money.Sats(100)},
	}
	if err := tr.Recover(ctx); err != nil {
		fmt.Println("a payment is still in flight:", err)
	}
	hc := &http.Client{Transport: tr, Timeout: time.Minute}

	ctx, receipt := client.WithReceipt(ctx)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://api.example.com/v1/search?q=sats", nil)
	resp, err := hc.Do(req)
	var refused *client.RefusedError
	switch {
	case errors.As(err, &refused):
		fmt.Println("not paid:", refused.Reason, refused.Quote.Price)
		return
	case err != nil:
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status, "paid:", receipt.Paid, receipt.Amount, "fee", receipt.Fee, "reused:", receipt.TokenReused)
}
