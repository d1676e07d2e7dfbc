package gate

import (
	"net/http"
	"net/netip"
	"testing"
	"time"
)

func TestRouteMatching(t *testing.T) {
	tests := []struct {
		name   string
		cfg    RouteConfig
		host   string
		path   string
		method string
		want   bool
	}{
		{"prefix exact", RouteConfig{Path: "/api"}, "h", "/api", "GET", true},
		{"prefix subtree", RouteConfig{Path: "/api"}, "h", "/api/x", "GET", true},
		{"prefix is a segment", RouteConfig{Path: "/api"}, "h", "/apix", "GET", false},
		{"prefix with slash", RouteConfig{Path: "/api/"}, "h", "/api/x", "GET", true},
		{"root", RouteConfig{Path: "/"}, "h", "/anything/at/all", "GET", true},
		{"glob", RouteConfig{Path: "/v*/search"}, "h", "/v2/search", "GET", true},
		{"glob stays in a segment", RouteConfig{Path: "/v*/search"}, "h", "/v2/x/search", "GET", false},
		{"method", RouteConfig{Path: "/", Methods: []string{"POST"}}, "h", "/", "GET", false},
		{"method listed", RouteConfig{Path: "/", Methods: []string{"GET", "POST"}}, "h", "/", "POST", true},
		{"host", RouteConfig{Path: "/", Host: "api.example.com"}, "API.example.com:8402", "/", "GET", true},
		{"other host", RouteConfig{Path: "/", Host: "api.example.com"}, "example.com", "/", "GET", false},
		{"wildcard host", RouteConfig{Path: "/", Host: "*.example.com"}, "a.example.com", "/", "GET", true},
		{"wildcard needs a label", RouteConfig{Path: "/", Host: "*.example.com"}, "example.com", "/", "GET", false},
		{"wildcard is a suffix of labels", RouteConfig{Path: "/", Host: "*.example.com"}, "badexample.com", "/", "GET", false},
		{"ipv6 host", RouteConfig{Path: "/", Host: "::1"}, "[::1]:8402", "/", "GET", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Name, tt.cfg.Free, tt.cfg.Upstream = "r", true, "http://u"
			rt, err := compileRoute(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := rt.matches(tt.host, tt.path, tt.method); got != tt.want {
				t.Errorf("matches(%q, %q, %q) = %v, want %v", tt.host, tt.path, tt.method, got, tt.want)
			}
		})
	}
}

func TestCleanPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/a": true, "/a/": true, "/a/b": true,
		"": false, "a": false, "*": false, "/a/../b": false, "/./a": false, "//a": false, "/a//b": false, "/a/.": false,
	} {
		if got := cleanPath(p); got != want {
			t.Errorf("cleanPath(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestLimiter(t *testing.T) {
	l := newIPLimiter(2, 3) // 2 per second, bucket of 3
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")
	now := time.Unix(1000, 0)
	for i := range 3 {
		if _, ok := l.allow(a, now); !ok {
			t.Fatalf("request %d within the burst refused", i+1)
		}
	}
	wait, ok := l.allow(a, now)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("fourth request: ok=%v wait=%s, want refused for 500ms", ok, wait)
	}
	if _, ok := l.allow(b, now); !ok {
		t.Fatal("another address shares the bucket")
	}
	if _, ok := l.allow(a, now.Add(500*time.Millisecond)); !ok {
		t.Fatal("refilled token refused")
	}
	l.sweep(now.Add(time.Hour))
	if len(l.b) != 0 {
		t.Fatalf("%d buckets left after they all refilled", len(l.b))
	}
}

func TestClientAddr(t *testing.T) {
	g := &Gateway{}
	req := func(remote string, h http.Header) *http.Request {
		return &http.Request{RemoteAddr: remote, Header: h}
	}
	same := func(x, y netip.Addr) bool { return x == y }
	v6a := g.clientAddr(req("[2001:db8:1:2::1]:5", nil))
	v6b := g.clientAddr(req("[2001:db8:1:2:ffff::9]:5", nil))
	v6c := g.clientAddr(req("[2001:db8:1:3::1]:5", nil))
	if !same(v6a, v6b) || same(v6a, v6c) {
		t.Errorf("IPv6 buckets: one /64 must share one bucket, another /64 not: %v %v %v", v6a, v6b, v6c)
	}
	if got := g.clientAddr(req("[::ffff:192.0.2.1]:5", nil)); got != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("IPv4-mapped address counted as %v", got)
	}
	// Without client_ip_header, a forwarded address is not believed.
	if got := g.clientAddr(req("192.0.2.1:5", http.Header{"X-Forwarded-For": {"198.51.100.7"}})); got != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("forwarded address believed without client_ip_header: %v", got)
	}
	g.cfg.ClientIPHeader = "X-Forwarded-For"
	if got := g.clientAddr(req("192.0.2.1:5", http.Header{"X-Forwarded-For": {"198.51.100.7, 10.0.0.1"}})); got != netip.MustParseAddr("198.51.100.7") {
		t.Errorf("client_ip_header: counted as %v", got)
	}
	if got := g.clientAddr(req("192.0.2.1:5", http.Header{"X-Forwarded-For": {"garbage"}})); got != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("unparsable header: counted as %v", got)
	}
}

// TestResponseFor pins the status table; the handler tests show each row
// end to end.
func TestResponseFor(t *testing.T) {
	for _, tt := range []struct {
		err       error
		status    int
		challenge bool
	}{
		{&rateLimitedError{wait: time.Second}, 429, false},
		{errNodeUnavailable, 503, false},
		{errStoreUnavailable, 503, false},
		{errUpstream, 502, false},
		{errBadRequest, 400, false},
		{errNoRoute, 404, false},
		{ErrRevoked, 402, true},
		{ErrQuotaExhausted, 402, true},
	} {
		got := responseFor(tt.err)
		if got.status != tt.status || got.challenge != tt.challenge {
			t.Errorf("%v: %d challenge=%v, want %d challenge=%v", tt.err, got.status, got.challenge, tt.status, tt.challenge)
		}
	}
}
