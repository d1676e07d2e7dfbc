package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
)

// probe measures the latency of one request at a time through each
// target, for duration. The targets are interleaved request by request,
// each over its own kept-alive connection: on a shared machine, whatever
// else runs then slows every target alike, where back-to-back runs of one
// target each would hand one of them a quiet minute and another a busy
// one. It returns the latencies by target name.
func probe(ctx context.Context, targets []target, duration time.Duration) (map[string][]time.Duration, error) {
	clients := make([]*http.Client, len(targets))
	for i := range targets {
		clients[i] = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
		defer clients[i].CloseIdleConnections()
	}
	latencies := make(map[string][]time.Duration, len(targets))
	deadline := time.Now().Add(duration)
	for cycle := 0; time.Now().Before(deadline); cycle++ {
		// Each cycle starts one target further, so that no target always
		// follows the same one.
		for j := range targets {
			k := (cycle + j) % len(targets)
			t := targets[k]
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url+benchPath, nil)
			if err != nil {
				return nil, err
			}
			if t.auth != "" {
				req.Header.Set("Authorization", t.auth)
			}
			start := time.Now()
			resp, err := clients[k].Do(req)
			if err != nil {
				return nil, fmt.Errorf("probe %s: %w", t.name, err)
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			elapsed := time.Since(start)
			if err != nil {
				return nil, fmt.Errorf("probe %s: %w", t.name, err)
			}
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("%w: probe %s: status %d", errWrongAnswer, t.name, resp.StatusCode)
			}
			latencies[t.name] = append(latencies[t.name], elapsed)
		}
	}
	return latencies, nil
}

// percentile returns the p-th percentile (0 < p <= 100) of ds by the
// nearest-rank method; ds is sorted in place.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := int(float64(len(ds))*p/100+0.5) - 1
	rank = max(0, min(rank, len(ds)-1))
	return ds[rank]
}
