package l402

import (
	"fmt"
	"strconv"
	"strings"
)

// Caveat conditions defined by the L402 spec. Service-specific conditions are
// the service name followed by a suffix.
const (
	// ConditionServices lists the services a token is for:
	// "services=name:tier[,name:tier]".
	ConditionServices = "services"
	// SuffixCapabilities follows a service name: "<service>_capabilities=a,b".
	SuffixCapabilities = "_capabilities"
	// SuffixValidUntil follows a service name: "<service>_valid_until=<unix s>".
	SuffixValidUntil = "_valid_until"
	// ConditionPreimage carries the preimage inside the macaroon, for the
	// Macaroon: and Grpc-Metadata-Macaroon: header forms.
	ConditionPreimage = "preimage"
)

// Caveat is a first-party caveat "condition=value".
type Caveat struct {
	Condition string
	Value     string
}

// String encodes the caveat as it is signed: "condition=value".
func (c Caveat) String() string { return c.Condition + "=" + c.Value }

// ParseCaveat splits a caveat on its first "=". A caveat without "=" or with
// an empty condition is not an L402 caveat and returns ok=false.
func ParseCaveat(s string) (c Caveat, ok bool) {
	cond, value, found := strings.Cut(s, "=")
	if !found || cond == "" {
		return Caveat{}, false
	}
	return Caveat{Condition: cond, Value: value}, true
}

// Service is one entry of a services caveat.
type Service struct {
	Name string
	Tier uint8
}

// ServicesCaveat builds "services=name:tier,...".
func ServicesCaveat(services ...Service) Caveat {
	parts := make([]string, len(services))
	for i, s := range services {
		parts[i] = s.Name + ":" + strconv.Itoa(int(s.Tier))
	}
	return Caveat{Condition: ConditionServices, Value: strings.Join(parts, ",")}
}

// CapabilitiesCaveat builds "<service>_capabilities=a,b".
func CapabilitiesCaveat(service string, capabilities ...string) Caveat {
	return Caveat{Condition: service + SuffixCapabilities, Value: strings.Join(capabilities, ",")}
}

// ValidUntilCaveat builds "<service>_valid_until=<unix seconds>".
func ValidUntilCaveat(service string, unixSeconds int64) Caveat {
	return Caveat{Condition: service + SuffixValidUntil, Value: strconv.FormatInt(unixSeconds, 10)}
}

// parseServices decodes "name:tier[,name:tier]". The tier may be omitted
// (tier 0), because some minters write bare names.
func parseServices(value string) ([]Service, error) {
	if value == "" {
		return nil, fmt.Errorf("empty services caveat")
	}
	parts := strings.Split(value, ",")
	services := make([]Service, 0, len(parts))
	for _, p := range parts {
		name, tierText, hasTier := strings.Cut(strings.TrimSpace(p), ":")
		if name == "" {
			return nil, fmt.Errorf("service without a name in %q", value)
		}
		s := Service{Name: name}
		if hasTier {
			tier, err := strconv.ParseUint(tierText, 10, 8)
			if err != nil {
				return nil, fmt.Errorf("service %q has tier %q, want 0-255", name, tierText)
			}
			s.Tier = uint8(tier)
		}
		services = append(services, s)
	}
	return services, nil
}

// splitList splits a comma-separated caveat value, trimming spaces.
func splitList(value string) []string {
	parts := strings.Split(value, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}
