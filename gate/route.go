package gate

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/satloop/satloop/l402"
	"github.com/satloop/satloop/money"
)

// Caveats the gateway mints besides the spec's own. The route and price
// caveats let any instance record a sale at a token's first use, at the
// price it was sold for, without a lookup.
const (
	conditionRoute    = "satloop_route"
	conditionPrice    = "satloop_price_msat"
	suffixMaxRequests = "_max_requests"
)

// route is a RouteConfig compiled for matching and serving.
type route struct {
	cfg      RouteConfig
	upstream *url.URL
	price    money.MilliSat
	// hostSuffix is ".example.com" for a "*.example.com" host.
	hostSuffix string
	glob       bool
	proxy      *httputil.ReverseProxy
	// mintCaveats are every caveat but the expiry, which depends on when.
	mintCaveats []l402.Caveat
	// quotaCondition is "<service>_max_requests".
	quotaCondition string
	// verifiedCounter is the tokens_verified_total series of the route.
	verifiedCounter prometheus.Counter
	// byStatus caches the requests counter per status code.
	byStatus [600]atomic.Pointer[prometheus.Counter]
}

func compileRoute(cfg RouteConfig) (*route, error) {
	u, err := url.Parse(cfg.Upstream)
	if err != nil {
		return nil, fmt.Errorf("gate: route %s: upstream: %w", cfg.Name, err)
	}
	rt := &route{
		cfg:            cfg,
		upstream:       u,
		price:          money.MilliSat(cfg.PriceSats * 1000),
		glob:           strings.ContainsAny(cfg.Path, "*?["),
		quotaCondition: cfg.Service + suffixMaxRequests,
	}
	if h, ok := strings.CutPrefix(cfg.Host, "*"); ok {
		rt.hostSuffix = h
	}
	if cfg.Free {
		return rt, nil
	}
	rt.mintCaveats = append(rt.mintCaveats, l402.ServicesCaveat(l402.Service{Name: cfg.Service}))
	if len(cfg.Capabilities) > 0 {
		rt.mintCaveats = append(rt.mintCaveats, l402.CapabilitiesCaveat(cfg.Service, cfg.Capabilities...))
	}
	if cfg.Quota > 0 {
		rt.mintCaveats = append(rt.mintCaveats, l402.Caveat{Condition: rt.quotaCondition, Value: strconv.FormatInt(cfg.Quota, 10)})
	}
	for _, c := range cfg.Constraints {
		rt.mintCaveats = append(rt.mintCaveats, l402.Caveat{Condition: c.Condition, Value: strconv.FormatInt(c.Max, 10)})
	}
	rt.mintCaveats = append(rt.mintCaveats,
		l402.Caveat{Condition: conditionRoute, Value: cfg.Name},
		l402.Caveat{Condition: conditionPrice, Value: strconv.FormatInt(int64(rt.price), 10)})
	return rt, nil
}

// caveatsAt returns the caveats of a token minted at now.
func (rt *route) caveatsAt(now time.Time) []l402.Caveat {
	if rt.cfg.TokenLifetime == 0 {
		return rt.mintCaveats
	}
	out := make([]l402.Caveat, 0, len(rt.mintCaveats)+1)
	out = append(out, rt.mintCaveats[0])
	out = append(out, l402.ValidUntilCaveat(rt.cfg.Service, now.Add(rt.cfg.TokenLifetime).Unix()))
	return append(out, rt.mintCaveats[1:]...)
}

// matches reports whether the route serves a request for host (port
// included or not), a clean path and method.
func (rt *route) matches(host, p, method string) bool {
	if len(rt.cfg.Methods) > 0 && !slices.Contains(rt.cfg.Methods, method) {
		return false
	}
	if rt.cfg.Host != "" {
		h := hostOnly(host)
		if rt.hostSuffix != "" {
			if len(h) <= len(rt.hostSuffix) || !strings.EqualFold(h[len(h)-len(rt.hostSuffix):], rt.hostSuffix) {
				return false
			}
		} else if !strings.EqualFold(h, rt.cfg.Host) {
			return false
		}
	}
	if rt.glob {
		ok, _ := path.Match(rt.cfg.Path, p)
		return ok
	}
	return pathHasPrefix(p, rt.cfg.Path)
}

// pathHasPrefix matches prefix at a segment boundary: "/api" matches
// "/api" and "/api/x" but not "/apix".
func pathHasPrefix(p, prefix string) bool {
	if !strings.HasPrefix(p, prefix) {
		return false
	}
	return len(p) == len(prefix) || prefix[len(prefix)-1] == '/' || p[len(prefix)] == '/'
}

// hostOnly strips the port from a Host header value, and the brackets
// from an IPv6 literal.
func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && i > strings.LastIndexByte(h, ']') {
		h = h[:i]
	}
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
}

// cleanPath reports whether p is absolute and free of "." and ".."
// segments and doubled slashes, so that the route it matches is the route
// the upstream serves: "/free/../paid" must not reach a paid path through
// a free route.
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	return p == c || p == c+"/"
}

// requestNumber reads the number a constraint limits from the request.
func requestNumber(r *http.Request, c ConstraintConfig) (int64, error) {
	var v string
	if c.Query != "" {
		v = r.URL.Query().Get(c.Query)
	} else {
		v = r.Header.Get(c.Header)
	}
	if v == "" {
		return c.Default, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		where := "query parameter " + c.Query
		if c.Query == "" {
			where = "header " + c.Header
		}
		return 0, fmt.Errorf("%w: %s must be a non-negative integer", errBadRequest, where)
	}
	return n, nil
}

// satisfiers returns what a token must satisfy for request r at now:
// service, expiry and capability (l402.RequestSatisfiers), the quota
// caveat's attenuation, and every constraint against the request's number.
func (rt *route) satisfiers(r *http.Request, now time.Time) ([]l402.Satisfier, error) {
	s := make([]l402.Satisfier, 0, 4+len(rt.cfg.Constraints))
	s = append(s, l402.RequestSatisfiers(rt.cfg.Service, rt.cfg.Capability, now)...)
	// The quota is counted by the store; here only its attenuation is
	// checked, so that a holder can lower it and never raise it.
	s = append(s, l402.MaxSatisfier(rt.quotaCondition, 0))
	for _, c := range rt.cfg.Constraints {
		n, err := requestNumber(r, c)
		if err != nil {
			return nil, err
		}
		s = append(s, l402.MaxSatisfier(c.Condition, n))
	}
	return s, nil
}

// quotaLimit is the number of requests a token may make here: the lower of
// its own max_requests caveat (as attenuated) and the route's quota; 0 means
// unlimited.
func (rt *route) quotaLimit(tok l402.Token) (int64, error) {
	limit := rt.cfg.Quota
	if v, ok := tok.Value(rt.quotaCondition); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			// A minted quota is at least 1; 0 or less admits nothing.
			return 0, fmt.Errorf("gate: %w: %s=%q admits no request", ErrQuotaExhausted, rt.quotaCondition, v)
		}
		if limit == 0 || n < limit {
			limit = n
		}
	}
	return limit, nil
}

// firstValue returns the first value of condition: for caveats only the
// gateway mints, the one it signed (holders can only append).
func firstValue(tok l402.Token, condition string) (string, bool) {
	for _, c := range tok.Caveats {
		if c.Condition == condition {
			return c.Value, true
		}
	}
	return "", false
}
