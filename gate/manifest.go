package gate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/satloop/satloop/l402"
)

// Manifest is the discovery document served at /.well-known/l402.json, in
// the shape of the L402 discovery spec draft (discovery-spec.md, version
// "1.0"): the provider, its services and the fixed price of each paid
// route, and the caveats the gateway enforces.
type Manifest struct {
	Version          string                    `json:"version"`
	Provider         ManifestProvider          `json:"provider"`
	Currencies       []string                  `json:"currencies"`
	MacaroonVersions []int                     `json:"macaroon_versions"`
	PaymentMethods   []string                  `json:"payment_methods"`
	Services         []ManifestService         `json:"services"`
	Caveats          map[string]ManifestCaveat `json:"caveats"`
}

// ManifestProvider identifies the seller.
type ManifestProvider struct {
	Name       string `json:"name"`
	URI        string `json:"uri,omitempty"`
	NodePubkey string `json:"node_pubkey,omitempty"`
}

// ManifestService is one L402 service and its priced resources.
type ManifestService struct {
	Name         string             `json:"name"`
	Capabilities []string           `json:"capabilities,omitempty"`
	Resources    []ManifestResource `json:"resources"`
}

// ManifestResource is one paid route, per method. Method "*" means any
// method (the route lists none). Quota and token lifetime are satloop
// extensions, prefixed x-satloop- as the spec allows.
type ManifestResource struct {
	Path                 string                        `json:"path"`
	Method               string                        `json:"method"`
	Capability           string                        `json:"capability,omitempty"`
	Pricing              ManifestPricing               `json:"pricing"`
	Constraints          map[string]ManifestConstraint `json:"constraints,omitempty"`
	Description          string                        `json:"description,omitempty"`
	Quota                int64                         `json:"x-satloop-quota,omitempty"`
	TokenLifetimeSeconds int64                         `json:"x-satloop-token-lifetime-seconds,omitempty"`
}

// ManifestPricing is the spec's pricing object; the gateway sells at fixed
// prices only.
type ManifestPricing struct {
	Model     string `json:"model"`
	PriceMsat int64  `json:"price_msat"`
}

// ManifestConstraint bounds a numeric constraint.
type ManifestConstraint struct {
	Type string `json:"type"`
	Max  int64  `json:"max"`
}

// ManifestCaveat describes one caveat condition the gateway enforces.
type ManifestCaveat struct {
	Type        string `json:"type"`
	Attenuation string `json:"attenuation,omitempty"`
	Description string `json:"description,omitempty"`
}

// manifestDoc is the manifest encoded once, with its ETag.
type manifestDoc struct {
	body []byte
	etag string
}

// BuildManifest derives the discovery manifest from a config (defaults
// applied).
func BuildManifest(cfg Config) Manifest {
	m := Manifest{
		Version:          "1.0",
		Provider:         ManifestProvider{Name: cfg.Provider.Name, URI: cfg.Provider.URL, NodePubkey: cfg.Provider.NodePubkey},
		Currencies:       []string{"msat"},
		MacaroonVersions: []int{int(l402.IdentifierVersion0)},
		PaymentMethods:   []string{"bolt11"},
		Services:         []ManifestService{},
		Caveats: map[string]ManifestCaveat{
			l402.ConditionServices: {Type: "service_list", Attenuation: "subset"},
		},
	}
	index := map[string]int{}
	for _, r := range cfg.Routes {
		if r.Free {
			continue
		}
		i, ok := index[r.Service]
		if !ok {
			i = len(m.Services)
			index[r.Service] = i
			m.Services = append(m.Services, ManifestService{Name: r.Service})
		}
		svc := &m.Services[i]
		for _, c := range append(slices.Clone(r.Capabilities), r.Capability) {
			if c != "" && !slices.Contains(svc.Capabilities, c) {
				svc.Capabilities = append(svc.Capabilities, c)
			}
		}
		res := ManifestResource{
			Path:                 r.Path,
			Capability:           r.Capability,
			Pricing:              ManifestPricing{Model: "fixed", PriceMsat: r.PriceSats * 1000},
			Description:          r.Description,
			Quota:                r.Quota,
			TokenLifetimeSeconds: int64(r.TokenLifetime.Seconds()),
		}
		if len(r.Constraints) > 0 {
			res.Constraints = map[string]ManifestConstraint{}
			for _, c := range r.Constraints {
				res.Constraints[c.Condition] = ManifestConstraint{Type: "integer", Max: c.Max}
				m.Caveats[c.Condition] = ManifestCaveat{Type: "integer", Attenuation: "decreasing",
					Description: fmt.Sprintf("the request's %s may not exceed it", constraintSource(c))}
			}
		}
		methods := r.Methods
		if len(methods) == 0 {
			methods = []string{"*"}
		}
		for _, method := range methods {
			res.Method = method
			svc.Resources = append(svc.Resources, res)
		}
		m.Caveats[r.Service+l402.SuffixCapabilities] = ManifestCaveat{Type: "string", Attenuation: "subset"}
		m.Caveats[r.Service+l402.SuffixValidUntil] = ManifestCaveat{Type: "timestamp", Attenuation: "earlier"}
		m.Caveats[r.Service+suffixMaxRequests] = ManifestCaveat{Type: "integer", Attenuation: "decreasing",
			Description: "requests the token may make in its life"}
	}
	return m
}

func constraintSource(c ConstraintConfig) string {
	if c.Query != "" {
		return "query parameter " + c.Query
	}
	return "header " + c.Header
}

func buildManifest(cfg Config) (manifestDoc, error) {
	body, err := json.MarshalIndent(BuildManifest(cfg), "", "  ")
	if err != nil {
		return manifestDoc{}, fmt.Errorf("gate: manifest: %w", err)
	}
	body = append(body, '\n')
	sum := sha256.Sum256(body)
	return manifestDoc{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}, nil
}

// serveManifest serves the manifest: free, cacheable, readable from any
// origin (it holds no secret), as the spec asks.
func (g *Gateway) serveManifest(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeText(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("ETag", g.manifest.etag)
	if r.Header.Get("If-None-Match") == g.manifest.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", fmt.Sprint(len(g.manifest.body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(g.manifest.body)
}
