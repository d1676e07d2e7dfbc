package gate

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/satloop/satloop/money"
)

// metrics are the gateway's Prometheus series, all prefixed satloop_gate_.
type metrics struct {
	challengesTotal *prometheus.CounterVec
	verifiedTotal   *prometheus.CounterVec
	refusedTotal    *prometheus.CounterVec
	revenueSats     *prometheus.CounterVec
	requestsTotal   *prometheus.CounterVec
	upstreamTotal   *prometheus.CounterVec
	verifySeconds   prometheus.Histogram
	nodeErrors      prometheus.Counter
	rateLimited     prometheus.Counter
	salesTotal      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "satloop", "gate"
	m := &metrics{
		challengesTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "challenges_total", Help: "Challenges issued (each with a new invoice), by route."}, []string{"route"}),
		verifiedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "tokens_verified_total", Help: "Requests whose token verified and was admitted, by route."}, []string{"route"}),
		refusedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "tokens_refused_total", Help: "Requests to paid routes refused, by reason (no_credential, expired, invalid, ...)."}, []string{"reason"}),
		revenueSats: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "revenue_sats_total", Help: "Revenue of tokens sold, in satoshis, by route; counted at a token's first use."}, []string{"route"}),
		salesTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "sales_total", Help: "Tokens sold, by route; counted at a token's first use."}, []string{"route"}),
		requestsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "requests_total", Help: "Requests answered, by route and status code."}, []string{"route", "code"}),
		upstreamTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "upstream_errors_total", Help: "Requests the upstream did not answer (502), by route."}, []string{"route"}),
		verifySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "verification_seconds", Help: "Time to verify a credential (parsing excluded).",
			Buckets: []float64{5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 5e-3}}),
		nodeErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "node_errors_total", Help: "Invoice creations the node failed (answered 503)."}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "challenges_rate_limited_total", Help: "Challenges refused by the per-address limit (answered 429)."}),
	}
	for _, c := range []prometheus.Collector{m.challengesTotal, m.verifiedTotal, m.refusedTotal, m.revenueSats, m.salesTotal,
		m.requestsTotal, m.upstreamTotal, m.verifySeconds, m.nodeErrors, m.rateLimited} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func routeLabel(rt *route) string {
	if rt == nil {
		return ""
	}
	return rt.cfg.Name
}

// request counts an answer. The counter of each route and code is looked
// up once and cached, so that the paid path does not hash labels.
func (m *metrics) request(rt *route, code int) {
	if rt == nil || code < 0 || code >= len(rt.byStatus) {
		m.requestsTotal.WithLabelValues(routeLabel(rt), strconv.Itoa(code)).Inc()
		return
	}
	if c := rt.byStatus[code].Load(); c != nil {
		(*c).Inc()
		return
	}
	c := m.requestsTotal.WithLabelValues(rt.cfg.Name, strconv.Itoa(code))
	rt.byStatus[code].Store(&c)
	c.Inc()
}

// verified counts an admitted request on rt's cached counter.
func (m *metrics) verified(rt *route)       { rt.verifiedCounter.Inc() }
func (m *metrics) challenges(rt *route)     { m.challengesTotal.WithLabelValues(rt.cfg.Name).Inc() }
func (m *metrics) refused(reason string)    { m.refusedTotal.WithLabelValues(reason).Inc() }
func (m *metrics) upstreamErrors(rt *route) { m.upstreamTotal.WithLabelValues(rt.cfg.Name).Inc() }
func (m *metrics) sale(route string, amount money.MilliSat) {
	m.salesTotal.WithLabelValues(route).Inc()
	m.revenueSats.WithLabelValues(route).Add(float64(amount) / 1000)
}
