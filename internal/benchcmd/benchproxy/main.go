// Command benchproxy is the baseline of the gateway benchmark
// (scripts/bench-gate.sh): a bare httputil.ReverseProxy in front of
// -upstream, as anyone would write one. With -tuned its transport keeps
// enough idle connections for the benchmark's concurrency; without, it
// uses http.DefaultTransport, whose two idle connections per host make
// most requests open a new one. With -buffer-pool it also reuses the
// 32 KiB buffers it copies bodies through, which it otherwise allocates
// per request (satloop gate does both). It listens on a free loopback
// port and prints its URL on the first line of stdout.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
)

func main() {
	upstream := flag.String("upstream", "", "upstream URL, such as http://127.0.0.1:8000")
	tuned := flag.Bool("tuned", false, "keep up to -idle idle connections to the upstream instead of Go's default 2")
	idle := flag.Int("idle", 512, "idle connections kept per upstream host with -tuned")
	pool := flag.Bool("buffer-pool", false, "reuse the body copy buffers (httputil.ReverseProxy.BufferPool)")
	flag.Parse()
	target, err := url.Parse(*upstream)
	if err != nil || target.Scheme == "" || target.Host == "" {
		fmt.Fprintf(os.Stderr, "benchproxy: -upstream %q: give an absolute URL such as http://127.0.0.1:8000\n", *upstream)
		os.Exit(2)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	if *tuned {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = *idle
		t.MaxIdleConnsPerHost = *idle
		proxy.Transport = t
	}
	if *pool {
		proxy.BufferPool = bufferPool{}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchproxy:", err)
		os.Exit(1)
	}
	fmt.Printf("http://%s\n", ln.Addr())
	fmt.Fprintln(os.Stderr, "benchproxy:", http.Serve(ln, proxy))
	os.Exit(1)
}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// bufferPool keeps *[]byte in the sync.Pool, so that putting a buffer
// back does not allocate.
type bufferPool struct{}

func (bufferPool) Get() []byte  { return *buffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }
