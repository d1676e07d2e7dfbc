//go:build lab

package client_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/satloop/satloop/client"
	"github.com/satloop/satloop/lab"
	"github.com/satloop/satloop/lab/labtest"
	"github.com/satloop/satloop/money"
	"github.com/satloop/satloop/store/sqlite"
)

func TestMain(m *testing.M) { labtest.Main(m) }

// labUpstream is the API behind Aperture: it counts what reaches it.
func labUpstream(t testing.TB) (url string, hits *atomic.Int32) {
	hits = new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "resource "+r.URL.Path+"\n")
	}))
	t.Cleanup(srv.Close)
	return srv.URL, hits
}

// labTransport is a Transport paying from the lab's agent node, keeping
// tokens in a fresh SQLite store.
func labTransport(t testing.TB) (*client.Transport, *sqlite.BuyerStore) {
	t.Helper()
	store, err := sqlite.OpenBuyerStore(labtest.Context(t), filepath.Join(t.TempDir(), "buyer.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return &client.Transport{Payer: labtest.Conn(t, lab.Agent), Store: store}, store
}

// 32 goroutines fetch the same paid URL through one Transport at once,
// against Aperture v0.4.2 and the lab's nodes: the agent node makes exactly
// one payment and every goroutine gets the resource.
func TestThirtyTwoGoroutinesPayOnce(t *testing.T) {
	upstream, hits := labUpstream(t)
	ap := labtest.Aperture(t, upstream, money.Sats(10))
	tr, store := labTransport(t)
	hc := &http.Client{Transport: tr}
	before := labtest.Payments(t, lab.Agent)
	url := ap.URL() + "/together/resource"

	const n = 32
	var (
		start   = make(chan struct{})
		wg      sync.WaitGroup
		paid    atomic.Int32
		reused  atomic.Int32
		failure = make(chan error, n)
	)
	for range n {
		wg.Go(func() {
			ctx, rec := client.WithReceipt(labtest.Context(t))
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				failure <- err
				return
			}
			<-start
			resp, err := hc.Do(req)
			if err != nil {
				failure <- err
				return
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || string(body) != "resource /together/resource\n" {
				failure <- errors.New("bad response: " + resp.Status + " " + string(body))
				return
			}
			if rec.Paid {
				paid.Add(1)
			} else {
				reused.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	close(failure)
	for err := range failure {
		t.Error(err)
	}
	if paid.Load() != 1 || reused.Load() != n-1 {
		t.Fatalf("%d requests paid and %d reused a token; want 1 and %d", paid.Load(), reused.Load(), n-1)
	}
	if hits.Load() != n {
		t.Fatalf("upstream served %d requests, want %d", hits.Load(), n)
	}
	log, err := store.Payments(labtest.Context(t), client.PaymentQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 1 || log[0].Status != client.PaymentSucceeded || log[0].Amount != money.Sats(10) {
		t.Fatalf("spend log = %+v, want one succeeded 10-sat payment", log)
	}
	added := labtest.NewPayments(t, lab.Agent, before)
	if _, ok := added[log[0].Hash]; len(added) != 1 || !ok {
		t.Fatalf("the agent node made payments %v; want exactly the one in the spend log (%s)", added, log[0].Hash)
	}
}
