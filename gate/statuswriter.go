package gate

import (
	"net/http"
	"sync"
)

// statusWriter remembers the status a handler sent, for the requests
// metric. Unwrap lets http.ResponseController (which ReverseProxy uses to
// flush and to hijack for WebSockets) reach the connection's own writer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

func newStatusWriter(w http.ResponseWriter) *statusWriter {
	sw := statusWriters.Get().(*statusWriter)
	sw.ResponseWriter, sw.status = w, 0
	return sw
}

func releaseStatusWriter(sw *statusWriter) {
	sw.ResponseWriter = nil
	statusWriters.Put(sw)
}

func (s *statusWriter) WriteHeader(code int) {
	// 1xx answers (100 Continue, 103 Early Hints) precede the final one.
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// finalStatus is the status sent, 101 for a connection handed over to a
// protocol switch (ReverseProxy writes that answer on the hijacked
// connection itself), 200 when nothing was written.
func (s *statusWriter) finalStatus(r *http.Request) int {
	switch {
	case s.status != 0:
		return s.status
	case r.Header.Get("Upgrade") != "":
		return http.StatusSwitchingProtocols
	default:
		return http.StatusOK
	}
}
