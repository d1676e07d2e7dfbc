package gate_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/satloop/satloop/gate"
)

// FuzzServeHTTP throws arbitrary paths, hosts, methods and credential
// headers at the gateway. Whatever arrives, the answer is one of the
// documented ones, never a 500, and nothing reaches a paid route's
// upstream without a genuine token (which a fuzzer cannot forge).
func FuzzServeHTTP(f *testing.F) {
	h := newHarness(f, nil)
	paid := h.buy("/paid")
	f.Add("GET", "/paid", "gate", paid.auth(f).Get("Authorization"), "")
	f.Add("GET", "/search", "gate", "LSAT AgEEbHNhdAJCAAA=:00", "abc")
	f.Add("POST", "/free/../paid", "x:1", "", "")
	f.Add("GET", "/docs/read", "[::1]:80", "L402 a,b,c:zz", "")
	f.Fuzz(func(t *testing.T, method, path, host, authorization, macaroonHeader string) {
		if !validMethod(method) {
			return
		}
		req := &http.Request{
			Method:     method,
			URL:        &url.URL{Path: path, RawQuery: "limit=" + url.QueryEscape(macaroonHeader)},
			Host:       host,
			Proto:      "HTTP/1.1",
			ProtoMajor: 1, ProtoMinor: 1,
			Header:     http.Header{},
			RemoteAddr: "192.0.2.1:1234",
		}
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		if macaroonHeader != "" {
			req.Header.Set("Macaroon", macaroonHeader)
		}
		before := h.up.count()
		rec := httptest.NewRecorder()
		h.gw.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 400, 401, 402, 404, 405, 429, 502:
		default:
			t.Fatalf("status %d for %s %q", rec.Code, method, path)
		}
		if rec.Code == 200 && h.up.count() == before && path != gate.WellKnownPath {
			t.Fatal("200 without the upstream")
		}
		if rec.Code == 200 && authorization != paid.auth(t).Get("Authorization") && !isFreeOrManifest(path) {
			t.Fatalf("a paid route answered 200 to a credential that is not the bought one: %q %q", path, authorization)
		}
	})
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 'A' || m[i] > 'Z' {
			return false
		}
	}
	return true
}

func isFreeOrManifest(p string) bool {
	return p == gate.WellKnownPath || p == "/free" || len(p) > 5 && p[:6] == "/free/"
}
