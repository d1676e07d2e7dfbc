package gate

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
)

// Server timeouts. Reads and writes of bodies are not bounded, so that
// long uploads and streamed answers (server-sent events, WebSockets) pass.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 120 * time.Second
	shutdownTimeout   = 10 * time.Second
)

// PublicServer returns the public listener's http.Server: headers bounded
// in time and size (oversized ones get 431), idle connections closed.
func (g *Gateway) PublicServer() *http.Server {
	return &http.Server{
		Handler:           g,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    g.cfg.MaxHeaderBytes,
		ErrorLog:          newServerLog(g.log),
	}
}

// AdminServer returns the admin listener's http.Server.
func (g *Gateway) AdminServer(token string) *http.Server {
	return &http.Server{
		Handler:           g.AdminHandler(token),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
		ErrorLog:          newServerLog(g.log),
	}
}

// Listeners are where Serve serves.
type Listeners struct {
	// Public is the public listener. Required.
	Public net.Listener
	// Certificate makes Public serve TLS (HTTP/2 offered by ALPN); nil
	// serves plain HTTP.
	Certificate *tls.Certificate
	// Admin is the admin listener; nil serves none.
	Admin net.Listener
	// AdminToken is the admin API's bearer token; required with Admin.
	AdminToken string
}

// Serve loads the revocation list, then serves the listeners and keeps
// the revocation list fresh until ctx ends, when it shuts the servers down
// gracefully and returns nil. It fails at once if the store cannot be read.
func (g *Gateway) Serve(ctx context.Context, l Listeners) error {
	if l.Public == nil {
		return errors.New("gate: Serve needs a public listener")
	}
	if l.Admin != nil && l.AdminToken == "" {
		return errors.New("gate: the admin listener needs a token")
	}
	if err := g.SyncRevocations(ctx); err != nil {
		return fmt.Errorf("gate: load revocations: %w", err)
	}
	eg, ctx := errgroup.WithContext(ctx)
	public := g.PublicServer()
	servers := []*http.Server{public}
	var admin *http.Server
	if l.Admin != nil {
		admin = g.AdminServer(l.AdminToken)
		servers = append(servers, admin)
	}
	eg.Go(func() error {
		if l.Certificate != nil {
			public.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*l.Certificate}, MinVersion: tls.VersionTLS12}
			return ignoreClosed(public.ServeTLS(l.Public, "", ""))
		}
		return ignoreClosed(public.Serve(l.Public))
	})
	if admin != nil {
		eg.Go(func() error { return ignoreClosed(admin.Serve(l.Admin)) })
	}
	eg.Go(func() error { g.Run(ctx); return nil })
	eg.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		var errs []error
		for _, s := range servers {
			errs = append(errs, s.Shutdown(sctx))
		}
		return errors.Join(errs...)
	})
	return eg.Wait()
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Run refreshes the revocation list every revocation_refresh and forgets
// expired tokens and idle rate-limit buckets, until ctx ends. Serve runs
// it; call it yourself when serving the handler some other way.
func (g *Gateway) Run(ctx context.Context) {
	refresh := time.NewTicker(g.cfg.RevocationRefresh)
	defer refresh.Stop()
	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-refresh.C:
			if err := g.SyncRevocations(ctx); err != nil && ctx.Err() == nil {
				g.log.WarnContext(ctx, "gate: refresh revocations", "err", err)
			}
		case <-sweep.C:
			now := g.now()
			g.sold.sweep(now.Unix())
			g.limiter.sweep(now)
		}
	}
}

// SyncRevocations copies the revocations made since the last call (by any
// instance sharing the store) into the local list checked on every
// request.
func (g *Gateway) SyncRevocations(ctx context.Context) error {
	g.syncMu.Lock()
	defer g.syncMu.Unlock()
	ids, next, err := g.store.RevokedSince(ctx, g.revocationCursor)
	if err != nil {
		return err
	}
	for _, id := range ids {
		g.revoked.add(id, 0)
	}
	g.revocationCursor = next
	return nil
}
