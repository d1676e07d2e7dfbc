package gate_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/satloop/satloop/gate"
)

// BenchmarkPaidRequest measures one request over loopback through the
// gateway with a paid token, side by side with a bare
// httputil.ReverseProxy in front of the same trivial upstream: with
// Go's default transport, and with a transport tuned like the gateway's
// (so that the difference left is the gateway's own work: parsing and
// verifying the credential, caveats, metrics). "quota" adds the store's
// atomic count (memory store). Serial and parallel runs.
func BenchmarkPaidRequest(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello from upstream\n")
	}))
	defer up.Close()
	upURL, err := url.Parse(up.URL)
	if err != nil {
		b.Fatal(err)
	}
	h := newHarness(b, func(c *gate.Config) {
		c.Routes = []gate.RouteConfig{
			{Name: "paid", Path: "/paid", Upstream: up.URL, PriceSats: 10},
			{Name: "quota", Path: "/quota", Upstream: up.URL, PriceSats: 10, Quota: 1 << 40},
		}
	})
	paid := h.buy("/paid").auth(b).Get("Authorization")
	quota := h.buy("/quota").auth(b).Get("Authorization")

	bareDefault := httptest.NewServer(httputil.NewSingleHostReverseProxy(upURL))
	defer bareDefault.Close()
	tunedProxy := httputil.NewSingleHostReverseProxy(upURL)
	tunedProxy.Transport = &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
	}
	bareTuned := httptest.NewServer(tunedProxy)
	defer bareTuned.Close()

	cases := []struct {
		name, url, auth string
	}{
		{"bare-default", bareDefault.URL + "/paid", ""},
		{"bare-tuned", bareTuned.URL + "/paid", ""},
		{"gate", h.srv.URL + "/paid", paid},
		{"gate-quota", h.srv.URL + "/quota", quota},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 1024}}
	do := func(b *testing.B, u, auth string) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	for _, c := range cases {
		b.Run(c.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				do(b, c.url, c.auth)
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					do(b, c.url, c.auth)
				}
			})
		})
	}
}

// BenchmarkVerifyPath calls the gateway's ServeHTTP in process for a paid
// request (no client connection; the upstream is still over loopback), to
// show the handler's allocations.
func BenchmarkVerifyPath(b *testing.B) {
	h := newHarness(b, nil)
	auth := h.buy("/paid").auth(b)
	req := httptest.NewRequest(http.MethodGet, "/paid", nil)
	b.ReportAllocs()
	for b.Loop() {
		r := req.Clone(req.Context())
		r.Header["Authorization"] = auth["Authorization"]
		rec := httptest.NewRecorder()
		h.gw.ServeHTTP(rec, r)
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
