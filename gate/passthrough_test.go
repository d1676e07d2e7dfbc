package gate_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/satloop/satloop/gate"
	"github.com/satloop/satloop/l402"
)

// TestServerSentEvents: each event reaches the client while the upstream
// is still streaming, not when it ends.
func TestServerSentEvents(t *testing.T) {
	h := newHarness(t, nil)
	tk := h.buy("/paid")
	req, err := http.NewRequest(http.MethodGet, h.srv.URL+"/paid/sse", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = tk.auth(t)
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	r := bufio.NewReader(resp.Body)
	for _, ev := range []string{"one", "two", "three"} {
		sent := make(chan struct{})
		go func() { h.up.release <- ev; close(sent) }()
		<-sent
		line := readLineWithin(t, r, 5*time.Second)
		if line != "data: "+ev+"\n" {
			t.Fatalf("read %q, want event %q", line, ev)
		}
		readLineWithin(t, r, 5*time.Second) // the blank line ending the event
	}
	close(h.up.release)
	h.up.release = make(chan string)
}

func readLineWithin(t *testing.T, r *bufio.Reader, d time.Duration) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		line, _ := r.ReadString('\n')
		got <- line
	}()
	select {
	case line := <-got:
		return line
	case <-time.After(d):
		t.Fatal("the event did not arrive while the stream was open: the gateway buffers")
		return ""
	}
}

// TestWebSocketUpgrade: a protocol switch passes through both ways, with
// the credential checked and stripped like any request.
func TestWebSocketUpgrade(t *testing.T) {
	h := newHarness(t, nil)
	tk := h.buy("/paid")
	conn, r := h.rawRequest(t, "GET /paid/ws HTTP/1.1\r\nHost: gate\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Authorization: "+tk.auth(t).Get("Authorization")+"\r\n\r\n")
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	for _, msg := range []string{"ping", "pong"} {
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatal(err)
		}
		if string(buf) != msg {
			t.Fatalf("echo %q, want %q", buf, msg)
		}
	}
	got := h.up.last(t)
	if !got.upgrade || got.header.Get("Authorization") != "" || got.header.Get("X-L402-Token-Id") != tk.id.TokenID.String() {
		t.Fatalf("upstream saw upgrade=%v authorization=%q token id=%q", got.upgrade, got.header.Get("Authorization"), got.header.Get("X-L402-Token-Id"))
	}

	// Without a credential the upgrade is refused with a challenge.
	_, r = h.rawRequest(t, "GET /paid/ws HTTP/1.1\r\nHost: gate\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	resp, err = http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusPaymentRequired {
		t.Fatalf("unpaid upgrade: %d, want 402", resp.StatusCode)
	}
}

// TestServe runs the gateway as the command does: TLS with a generated
// certificate, HTTP/2 to the client, the admin listener beside it, and a
// graceful stop.
func TestServe(t *testing.T) {
	h := newHarness(t, nil) // for its node, store, keys and upstream
	dir := t.TempDir()
	cfg := testConfig(h.up.srv.URL, dir)
	cfg.TLS = gate.TLSConfig{Mode: gate.TLSSelfSigned}
	cfg = cfg.WithDefaults()
	gw, err := gate.New(gate.Options{Config: cfg, Invoices: h.node, Store: h.store, Keys: h.keys})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := gate.LoadOrCreateCertificate(cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.Hosts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(cfg.TLS.CertFile) != dir {
		t.Fatalf("certificate kept in %s, want the data dir", cfg.TLS.CertFile)
	}
	public := listen(t)
	admin := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- gw.Serve(ctx, gate.Listeners{Public: public, Certificate: &cert, Admin: admin, AdminToken: adminToken})
	}()

	roots := x509.NewCertPool()
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots.AddCert(leaf)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	base := "https://" + public.Addr().String()

	resp, err := client.Get(base + "/paid")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 402 || resp.ProtoMajor != 2 {
		t.Fatalf("unpaid over TLS: %d %s, want 402 over HTTP/2", resp.StatusCode, resp.Proto)
	}
	cs, err := l402.ParseChallenges(resp.Header.Values("WWW-Authenticate")...)
	if err != nil {
		t.Fatal(err)
	}
	preimage, _ := h.node.pay(t, cs[0].Invoice)
	tk := token{mac: cs[0].Macaroon, id: cs[0].ID, preimage: preimage}
	req, _ := http.NewRequest(http.MethodGet, base+"/paid/h2", nil)
	req.Header = tk.auth(t)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 || body != "upstream /paid/h2" {
		t.Fatalf("paid over HTTP/2: %d %s %q", resp.StatusCode, resp.Proto, body)
	}

	ac := gate.AdminClient{BaseURL: "http://" + admin.Addr().String(), Token: adminToken}
	if _, err := ac.Revoke(ctx, tk.id.TokenID, ""); err != nil {
		t.Fatal(err)
	}
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 402 {
		t.Fatalf("after revocation: %d, want 402", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not stop")
	}
	if _, err := client.Get(base + "/paid"); err == nil {
		t.Fatal("still serving after Serve returned")
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestServeRefusesUnreadableStore: a gateway that cannot load the
// revocation list does not start, rather than admit revoked tokens.
func TestServeRefusesUnreadableStore(t *testing.T) {
	h := newHarness(t, nil)
	gw, err := gate.New(gate.Options{Config: testConfig(h.up.srv.URL, t.TempDir()), Invoices: h.node, Store: failingStore{h.store}, Keys: h.keys})
	if err != nil {
		t.Fatal(err)
	}
	err = gw.Serve(context.Background(), gate.Listeners{Public: listen(t)})
	if !errors.Is(err, errStoreDown) {
		t.Fatalf("Serve = %v, want the store's error", err)
	}
}

var errStoreDown = errors.New("test: store down")

// failingStore fails every call.
type failingStore struct{ *gate.MemoryStore }

func (failingStore) RevokedSince(context.Context, int64) ([]l402.TokenID, int64, error) {
	return nil, 0, errStoreDown
}
func (failingStore) UseQuota(context.Context, l402.TokenID, int64) (int64, error) {
	return 0, errStoreDown
}

// TestStoreDownOnQuotaRoute: a quota the store cannot count is refused
// with 503, never admitted uncounted.
func TestStoreDownOnQuotaRoute(t *testing.T) {
	h := newHarness(t, nil)
	gw, err := gate.New(gate.Options{Config: testConfig(h.up.srv.URL, t.TempDir()), Invoices: h.node, Store: failingStore{h.store}, Keys: h.keys})
	if err != nil {
		t.Fatal(err)
	}
	tk := h.buy("/quota")
	if got := httptestRecorder(t, gw, "/quota", tk.auth(t)); got != 503 {
		t.Fatalf("store down on a quota route: %d, want 503", got)
	}
	paid := h.buy("/paid")
	if got := httptestRecorder(t, gw, "/paid", paid.auth(t)); got != 200 {
		t.Fatalf("store down on a route without quota: %d, want 200", got)
	}
}
