package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/satloop/satloop/l402"
)

// AdminClient calls a gateway's admin API, for `satloop gate revoke` and
// `satloop gate sales`.
type AdminClient struct {
	// BaseURL is the admin listener, e.g. http://127.0.0.1:8403.
	BaseURL string
	// Token is the admin bearer token.
	Token string
	// HTTP is the client used; nil means one with a 30 s timeout.
	HTTP *http.Client
}

// ErrAdmin is wrapped by the errors of requests the admin API refused.
var ErrAdmin = errors.New("gate: admin API refused")

// AdminStatusError is an answer other than 200 from the admin API.
type AdminStatusError struct {
	Status  int
	Message string
}

func (e *AdminStatusError) Error() string {
	return fmt.Sprintf("gate: admin API answered %d: %s", e.Status, e.Message)
}

// Unwrap makes errors.Is(err, ErrAdmin) true.
func (e *AdminStatusError) Unwrap() error { return ErrAdmin }

// Revoke revokes a token.
func (c AdminClient) Revoke(ctx context.Context, id l402.TokenID, reason string) (RevokeResult, error) {
	body, err := json.Marshal(RevokeRequest{Reason: reason})
	if err != nil {
		return RevokeResult{}, err
	}
	var res RevokeResult
	p := strings.Replace(AdminRevokePath, "{id}", id.String(), 1)
	return res, c.do(ctx, http.MethodPost, p, body, &res)
}

// Sales lists sales made at or after since (zero: all), newest first, at
// most limit.
func (c AdminClient) Sales(ctx context.Context, since time.Time, limit int) (SalesReport, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if !since.IsZero() {
		q.Set("since", since.UTC().Format(time.RFC3339Nano))
	}
	var rep SalesReport
	return rep, c.do(ctx, http.MethodGet, AdminSalesPath+"?"+q.Encode(), nil, &rep)
}

func (c AdminClient) do(ctx context.Context, method, p string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+p, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("gate: admin request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("gate: admin API at %s: %w (is 'satloop gate' running?)", c.BaseURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("gate: admin API: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e adminError
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = http.StatusText(resp.StatusCode)
		}
		return &AdminStatusError{Status: resp.StatusCode, Message: e.Error}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("gate: admin API: decode answer: %w", err)
	}
	return nil
}
