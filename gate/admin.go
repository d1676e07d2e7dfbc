package gate

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
)

// Admin API paths.
const (
	AdminRevokePath = "/admin/tokens/{id}/revoke"
	AdminSalesPath  = "/admin/sales"
	MetricsPath     = "/metrics"
)

// maxSalesLimit bounds one sales listing.
const maxSalesLimit = 10000

// RevokeRequest is the optional body of a revocation.
type RevokeRequest struct {
	Reason string `json:"reason,omitempty"`
}

// RevokeResult answers a revocation.
type RevokeResult struct {
	TokenID l402.TokenID `json:"token_id"`
	Revoked bool         `json:"revoked"`
}

// SalesReport answers a sales listing.
type SalesReport struct {
	Sales []Sale         `json:"sales"`
	Count int            `json:"count"`
	Total money.MilliSat `json:"total_msat"`
}

// adminError is the JSON body of an admin API error.
type adminError struct {
	Error string `json:"error"`
}

// AdminHandler serves the operator's API: revocation, sales and metrics.
// Every request needs "Authorization: Bearer <token>"; /metrics too unless
// the config's admin.open_metrics is set.
func (g *Gateway) AdminHandler(token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+AdminRevokePath, g.adminRevoke)
	mux.HandleFunc("GET "+AdminSalesPath, g.adminSales)
	metrics := promhttp.HandlerFor(g.registry, promhttp.HandlerOpts{})
	mux.Handle("GET "+MetricsPath, metrics)
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		open := g.cfg.Admin.OpenMetrics && r.URL.Path == MetricsPath
		got := []byte(r.Header.Get("Authorization"))
		if !open && (token == "" || subtle.ConstantTimeCompare(got, want) != 1) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="satloop gate admin"`)
			writeJSON(w, http.StatusUnauthorized, adminError{Error: "admin token required: send Authorization: Bearer <the gate-admin-token file's content>"})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (g *Gateway) adminRevoke(w http.ResponseWriter, r *http.Request) {
	id, err := l402.ParseTokenID(r.PathValue("id"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, adminError{Error: "token id must be 64 hex characters, as listed by 'satloop gate sales'"})
		return
	}
	var req RevokeRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<10))
	if err == nil && len(strings.TrimSpace(string(body))) > 0 {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, adminError{Error: "body must be empty or JSON {\"reason\": \"...\"}"})
		return
	}
	if err := g.store.Revoke(r.Context(), id, req.Reason); err != nil {
		g.log.ErrorContext(r.Context(), "gate: revoke", "token_id", id, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, adminError{Error: "the store did not record the revocation; try again"})
		return
	}
	// This instance refuses the token at once; others within one
	// revocation_refresh, or at once on routes with a quota.
	g.revoked.add(id, 0)
	g.log.InfoContext(r.Context(), "gate: token revoked", "token_id", id, "reason", req.Reason)
	writeJSON(w, http.StatusOK, RevokeResult{TokenID: id, Revoked: true})
}

func (g *Gateway) adminSales(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var since time.Time
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, adminError{Error: "since must be an RFC 3339 time such as 2026-01-02T15:04:05Z"})
			return
		}
		since = t
	}
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxSalesLimit {
			writeJSON(w, http.StatusBadRequest, adminError{Error: "limit must be between 1 and 10000"})
			return
		}
		limit = n
	}
	sales, err := g.store.Sales(r.Context(), since, limit)
	if err != nil {
		g.log.ErrorContext(r.Context(), "gate: list sales", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, adminError{Error: "the store did not answer; try again"})
		return
	}
	rep := SalesReport{Sales: sales, Count: len(sales)}
	if rep.Sales == nil {
		rep.Sales = []Sale{}
	}
	for _, s := range sales {
		rep.Total += s.Amount
	}
	writeJSON(w, http.StatusOK, rep)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
