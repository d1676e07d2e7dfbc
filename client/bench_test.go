package client_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/l402"
	"gopkg.in/macaroon.v2"
)

// The two benchmarks below measure the same request to the same local
// server: once through a Transport holding a token for it, once through a
// plain http.Client. The difference is what a paid API costs a buyer per
// call once the token is bought (target: at most 5%). go test -count runs
// each benchmark N times in a row; to interleave them, run the compiled
// test binary in a loop (docs/benchmarks.md, "Buyer", has the loop):
//
//	go test -run '^$' -bench 'CachedToken|PlainClient' -benchmem ./client/

// benchServer answers 200 to requests that carry a credential, or that
// ask for /free/, and challenges the rest: the same handler work for both
// benchmarks, since the seller's verification is not what is measured.
func benchServer(b *testing.B) (*httptest.Server, *testSeller) {
	s := newTestSeller(b)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" && r.URL.Path != "/free/x" {
			s.challenge(w)
			return
		}
		io.WriteString(w, "ok")
	}))
	b.Cleanup(srv.Close)
	return srv, s
}

func benchGet(b *testing.B, c *http.Client, url string) {
	resp, err := c.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

func BenchmarkCachedToken(b *testing.B) {
	srv, s := benchServer(b)
	store := openStore(b, "")
	tr := &client.Transport{Base: &http.Transport{}, Payer: newTestPayer(s), Store: store}
	c := &http.Client{Transport: tr}
	benchGet(b, c, srv.URL+"/paid/x") // buys the token
	b.ResetTimer()
	for b.Loop() {
		benchGet(b, c, srv.URL+"/paid/x")
	}
}

func BenchmarkPlainClient(b *testing.B) {
	srv, _ := benchServer(b)
	c := &http.Client{Transport: &http.Transport{}}
	benchGet(b, c, srv.URL+"/free/x")
	b.ResetTimer()
	for b.Loop() {
		benchGet(b, c, srv.URL+"/free/x")
	}
}

// BenchmarkPlainClientSameHeader is the plain client sending the very
// Authorization header the Transport sends: the difference from
// BenchmarkPlainClient is the cost of the credential on the wire (some 400
// bytes written, read and parsed), which no buyer can avoid; the difference
// from BenchmarkCachedToken is the Transport's own.
func BenchmarkPlainClientSameHeader(b *testing.B) {
	srv, s := benchServer(b)
	store := openStore(b, "")
	tr := &client.Transport{Base: &http.Transport{}, Payer: newTestPayer(s), Store: store}
	c := &http.Client{Transport: tr}
	benchGet(b, c, srv.URL+"/paid/x")
	toks, _ := store.Tokens(b.Context())
	mac, _ := readMacaroon(toks[0].Macaroon)
	auth, _ := l402.FormatAuthorization(l402.Credential{Macaroons: []*macaroon.Macaroon{mac}, Preimage: toks[0].Preimage})
	pc := &http.Client{Transport: &http.Transport{}}
	b.ResetTimer()
	for b.Loop() {
		// A new request each time, as http.Client.Get makes in the other
		// two benchmarks.
		req, err := http.NewRequest("GET", srv.URL+"/paid/x", nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", auth)
		resp, err := pc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
