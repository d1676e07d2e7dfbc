package client_test

import (
	"net/url"
	"testing"

	"github.com/satloop/satloop/client"
)

func TestScopeOf(t *testing.T) {
	tests := []struct {
		url, origin, scope string
	}{
		{"https://api.example.com/v1/search?q=x", "https://api.example.com:443", "/v1/"},
		{"https://API.Example.com:443/v1/images", "https://api.example.com:443", "/v1/"},
		{"http://example.com", "http://example.com:80", "/"},
		{"http://example.com/quote", "http://example.com:80", "/"},
		{"http://example.com:8080/a/b/", "http://example.com:8080", "/a/b/"},
		{"https://[::1]:8443/looprpc.SwapServer/LoopOut", "https://[::1]:8443", "/looprpc.SwapServer/"},
		{"https://user:secret@h.test/x#frag", "https://h.test:443", "/"},
		{"https://h.test/a%2Fb/c", "https://h.test:443", "/a%2Fb/"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		origin, scope, err := client.ScopeOf(u)
		if err != nil || origin != tt.origin || scope != tt.scope {
			t.Errorf("ScopeOf(%s) = %q %q %v, want %q %q", tt.url, origin, scope, err, tt.origin, tt.scope)
		}
	}
	for _, bad := range []string{"ftp://h/x", "http:///x", "mailto:a@b"} {
		u, _ := url.Parse(bad)
		if _, _, err := client.ScopeOf(u); err == nil {
			t.Errorf("ScopeOf(%s) succeeded", bad)
		}
	}
}
