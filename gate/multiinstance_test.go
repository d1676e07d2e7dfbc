package gate_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/macaroon.v2"

	"github.com/satloop/satloop/gate"
	"github.com/satloop/satloop/internal/pgtest"
	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/lightning"
	"github.com/satloop/satloop/store/postgres"
)

// The multi-instance test: two gateways, each with its own connection pool
// on one real PostgreSQL and its own key store derived from the same master
// secret, as two processes behind a load balancer would be. Tokens are
// minted and verified by the real l402 code; only the node is a fake (the
// Lightning path is proven by the lab tests), issuing opaque invoices whose
// preimages the test looks up to "pay".

// sharedInvoices is the seller's node, shared by both instances.
type sharedInvoices struct {
	mu        sync.Mutex
	preimages map[l402.PaymentHash]l402.Preimage
}

func (n *sharedInvoices) CreateInvoice(_ context.Context, req lightning.InvoiceRequest) (lightning.CreatedInvoice, error) {
	var p l402.Preimage
	if _, err := rand.Read(p[:]); err != nil {
		return lightning.CreatedInvoice{}, err
	}
	n.mu.Lock()
	n.preimages[p.Hash()] = p
	n.mu.Unlock()
	return lightning.CreatedInvoice{
		PaymentRequest: "lnbcrt-multiinstance-" + p.Hash().String(),
		Hash:           p.Hash(),
		Amount:         req.Amount,
		ExpiresAt:      time.Now().Add(req.Expiry),
	}, nil
}

func (n *sharedInvoices) preimage(t *testing.T, h l402.PaymentHash) l402.Preimage {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	p, ok := n.preimages[h]
	if !ok {
		t.Fatalf("challenge for payment hash %s, which the node never issued", h)
	}
	return p
}

// instance is one gateway process: its public and admin listeners.
type instance struct {
	name   string
	public *httptest.Server
	admin  *httptest.Server
}

const (
	multiQuota      = 5
	multiAdminToken = "multi-instance-admin-token"
	multiRefresh    = 100 * time.Millisecond
)

func startInstance(t *testing.T, name, dsn string, master []byte, node gate.InvoiceSource, upstream string) *instance {
	t.Helper()
	ctx := context.Background()
	store, err := postgres.OpenGateStore(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	keys, err := l402.NewDerivedRootKeys(master)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gate.New(gate.Options{
		Config: gate.Config{
			DataDir:           t.TempDir(),
			TLS:               gate.TLSConfig{Mode: gate.TLSOff},
			Store:             gate.StoreConfig{Driver: gate.StorePostgres, DSN: dsn},
			RevocationRefresh: multiRefresh,
			RateLimit:         gate.RateLimitConfig{ChallengesPerSecond: 1000, Burst: 1000},
			Routes: []gate.RouteConfig{
				{Name: "metered", Path: "/metered", Upstream: upstream, PriceSats: 10, Quota: multiQuota},
				{Name: "unmetered", Path: "/unmetered", Upstream: upstream, PriceSats: 10},
			},
		},
		Invoices: node,
		Store:    store,
		Keys:     keys,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { g.Run(runCtx); close(done) }()
	inst := &instance{name: name, public: httptest.NewServer(g), admin: httptest.NewServer(g.AdminHandler(multiAdminToken))}
	t.Cleanup(func() {
		inst.public.Close()
		inst.admin.Close()
		stop()
		<-done
		g.Close()
	})
	return inst
}

// get sends one request with the given Authorization (none if empty) and
// returns the status, the body, and the response's challenges.
func (in *instance) get(t *testing.T, path, authorization string) (int, string, []string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, in.public.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set(l402.HeaderAuthorization, authorization)
	}
	resp, err := in.public.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", in.name, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body), resp.Header.Values("WWW-Authenticate")
}

// buy asks in for path unpaid, pays the challenge's invoice and returns the
// token's id and the Authorization value that spends it.
func buy(t *testing.T, in *instance, node *sharedInvoices, path string) (l402.TokenID, string) {
	t.Helper()
	status, _, challenges := in.get(t, path, "")
	if status != http.StatusPaymentRequired {
		t.Fatalf("unpaid %s on %s: status %d, want 402", path, in.name, status)
	}
	return pay(t, node, challenges)
}

func pay(t *testing.T, node *sharedInvoices, challenges []string) (l402.TokenID, string) {
	t.Helper()
	parsed, err := l402.ParseChallenges(challenges...)
	if err != nil {
		t.Fatalf("challenge %q: %v", challenges, err)
	}
	c := parsed[0]
	auth, err := l402.FormatAuthorization(l402.Credential{
		Macaroons: []*macaroon.Macaroon{c.Macaroon},
		Preimage:  node.preimage(t, c.ID.PaymentHash),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c.ID.TokenID, auth
}

func (in *instance) revoke(t *testing.T, id l402.TokenID) {
	t.Helper()
	path := strings.Replace(gate.AdminRevokePath, "{id}", id.String(), 1)
	req, err := http.NewRequest(http.MethodPost, in.admin.URL+path, strings.NewReader(`{"reason":"multi-instance test"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+multiAdminToken)
	resp, err := in.admin.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke on %s: status %d", in.name, resp.StatusCode)
	}
}

func TestTwoInstancesShareOnePostgres(t *testing.T) {
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	master := make([]byte, 32)
	if _, err := rand.Read(master); err != nil {
		t.Fatal(err)
	}
	node := &sharedInvoices{preimages: map[l402.PaymentHash]l402.Preimage{}}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "served %s for %s", r.URL.Path, r.Header.Get(gate.DefaultTokenIDHeader))
	}))
	defer up.Close()
	a := startInstance(t, "A", dsn, master, node, up.URL)
	b := startInstance(t, "B", dsn, master, node, up.URL)
	both := []*instance{a, b}

	t.Run("TokenBoughtOnAWorksOnBQuotaCountedAcrossBoth", func(t *testing.T) {
		id, auth := buy(t, a, node, "/metered")
		for i := 0; i < multiQuota; i++ {
			in := both[(i+1)%2] // B first: the token was never seen there
			status, body, _ := in.get(t, "/metered", auth)
			if status != http.StatusOK {
				t.Fatalf("paid request %d of %d on %s: status %d (%s)", i+1, multiQuota, in.name, status, body)
			}
			if want := "served /metered for " + id.String(); body != want {
				t.Fatalf("upstream answered %q, want %q", body, want)
			}
		}
		for _, in := range both {
			status, _, challenges := in.get(t, "/metered", auth)
			if status != http.StatusPaymentRequired {
				t.Fatalf("request past the quota on %s: status %d, want 402", in.name, status)
			}
			// The fresh challenge is a new token, which works.
			freshID, freshAuth := pay(t, node, challenges)
			if freshID == id {
				t.Fatalf("the fresh challenge on %s offers the spent token again", in.name)
			}
			if status, body, _ := in.get(t, "/metered", freshAuth); status != http.StatusOK {
				t.Fatalf("the fresh token on %s: status %d (%s)", in.name, status, body)
			}
		}
	})

	t.Run("ConcurrentRequestsOverBothInstances", func(t *testing.T) {
		_, auth := buy(t, b, node, "/metered")
		const requests = 4 * multiQuota
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			statuses = map[int]int{}
		)
		for i := 0; i < requests; i++ {
			in := both[i%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, _, _ := in.get(t, "/metered", auth)
				mu.Lock()
				statuses[status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if statuses[http.StatusOK] != multiQuota || statuses[http.StatusPaymentRequired] != requests-multiQuota {
			t.Errorf("%d concurrent requests over two instances, quota %d: statuses %v", requests, multiQuota, statuses)
		}
	})

	t.Run("RevocationOnAHoldsOnBAtOnceOnQuotaRoutes", func(t *testing.T) {
		id, auth := buy(t, b, node, "/metered")
		if status, body, _ := b.get(t, "/metered", auth); status != http.StatusOK {
			t.Fatalf("before revocation: status %d (%s)", status, body)
		}
		a.revoke(t, id)
		// No waiting: the quota count checks revocation in the same step.
		if status, _, _ := b.get(t, "/metered", auth); status != http.StatusPaymentRequired {
			t.Fatalf("revoked on A, used on B: status %d, want 402", status)
		}
		if status, _, _ := a.get(t, "/metered", auth); status != http.StatusPaymentRequired {
			t.Fatalf("revoked on A, used on A: status %d, want 402", status)
		}
	})

	t.Run("RevocationOnBHoldsOnAWithinRefreshOnOtherRoutes", func(t *testing.T) {
		id, auth := buy(t, a, node, "/unmetered")
		for _, in := range both {
			if status, body, _ := in.get(t, "/unmetered", auth); status != http.StatusOK {
				t.Fatalf("before revocation on %s: status %d (%s)", in.name, status, body)
			}
		}
		revokedAt := time.Now()
		b.revoke(t, id)
		if status, _, _ := b.get(t, "/unmetered", auth); status != http.StatusPaymentRequired {
			t.Fatalf("revoked on B, used on B: status %d, want 402", status)
		}
		// A learns of it at its next refresh. Allow generous slack for
		// a loaded CI machine, but far less than a token's life.
		deadline := revokedAt.Add(20 * multiRefresh)
		for {
			status, _, _ := a.get(t, "/unmetered", auth)
			if status == http.StatusPaymentRequired {
				t.Logf("A refused the token %v after B revoked it (refresh every %v)", time.Since(revokedAt).Round(time.Millisecond), multiRefresh)
				break
			}
			if status != http.StatusOK {
				t.Fatalf("on A while the revocation propagates: status %d", status)
			}
			if time.Now().After(deadline) {
				t.Fatalf("A still serves a token revoked on B %v ago", time.Since(revokedAt))
			}
			time.Sleep(multiRefresh / 10)
		}
	})

	t.Run("OneSaleRecordedPerToken", func(t *testing.T) {
		store, err := postgres.OpenGateStore(context.Background(), dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		sales, err := store.Sales(context.Background(), time.Time{}, 1000)
		if err != nil {
			t.Fatal(err)
		}
		// Six tokens were bought and used above (two of them from fresh
		// challenges), most on both instances: each sold once.
		seen := map[l402.TokenID]int{}
		for _, s := range sales {
			seen[s.TokenID]++
			if s.Amount != 10_000 {
				t.Errorf("sale of %s: amount %v, want 10 sat", s.TokenID, s.Amount)
			}
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("token %s recorded as sold %d times", id, n)
			}
		}
		if len(seen) != 6 {
			t.Errorf("%d tokens recorded as sold, want 6", len(seen))
		}
	})
}
