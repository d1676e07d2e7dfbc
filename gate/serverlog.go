package gate

import (
	"log"
	"log/slog"
	"strings"
)

// newServerLog routes net/http's own messages (TLS handshake errors,
// panics in handlers) to the gateway's logger at warning level.
func newServerLog(l *slog.Logger) *log.Logger {
	return log.New(serverLogWriter{l}, "", 0)
}

type serverLogWriter struct{ l *slog.Logger }

func (w serverLogWriter) Write(p []byte) (int, error) {
	w.l.Warn("gate: http server", "msg", strings.TrimSpace(string(p)))
	return len(p), nil
}
