// Command benchupstream is the trivial upstream of the gateway benchmark
// (scripts/bench-gate.sh): every request gets the same small body, so that
// what the benchmark measures is the proxy in front of it. It listens on a
// free loopback port and prints its URL on the first line of stdout.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
)

// body is what every request gets.
const body = "hello from the upstream\n"

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchupstream:", err)
		os.Exit(1)
	}
	fmt.Printf("http://%s\n", ln.Addr())
	length := strconv.Itoa(len(body))
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Length", length)
		w.Write([]byte(body)) //nolint:errcheck // a client gone is not the upstream's problem
	})
	fmt.Fprintln(os.Stderr, "benchupstream:", http.Serve(ln, handler))
	os.Exit(1)
}
