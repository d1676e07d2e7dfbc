package l402

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// A Satisfier checks every caveat of one condition. A token may carry the
// same condition several times, because each holder can attenuate it: Narrows
// checks each caveat against the one before it (a later caveat may only
// restrict), and Satisfied checks the last one against the request.
//
// Caveats whose condition no satisfier claims are skipped, as the spec
// requires, so that a holder can add caveats meant for a third party.
type Satisfier struct {
	// Condition is the caveat condition this satisfier owns.
	Condition string
	// Required makes a token without this condition fail with MissingErr.
	Required bool
	// MissingErr is returned when Required and the condition is absent;
	// nil means ErrWrongService: the token lacks what this service demands.
	MissingErr error
	// Narrows returns nil when next is at least as strict as prev. Its
	// errors are reported as ErrInvalid.
	Narrows func(prev, next string) error
	// Satisfied returns nil when value allows the request. Its errors must
	// wrap one of the package's sentinel errors.
	Satisfied func(value string) error
}

// CheckCaveats applies each satisfier to the caveats of its condition, in
// the order they were added to the macaroon. Attenuation is checked for every
// satisfier before any request check, so that a forged widening is reported
// as ErrInvalid rather than as a payable condition.
func CheckCaveats(caveats []Caveat, satisfiers ...Satisfier) error {
	for _, s := range satisfiers {
		prev, seen := "", false
		for _, c := range caveats {
			if c.Condition != s.Condition {
				continue
			}
			if seen {
				if err := s.Narrows(prev, c.Value); err != nil {
					return fmt.Errorf("l402: %w: caveat %s widens an earlier one: %w", ErrInvalid, s.Condition, err)
				}
			}
			prev, seen = c.Value, true
		}
		if !seen && s.Required {
			missing := s.MissingErr
			if missing == nil {
				missing = ErrWrongService
			}
			return fmt.Errorf("l402: %w: token has no %s caveat", missing, s.Condition)
		}
	}
	for _, s := range satisfiers {
		last, seen := lastValue(caveats, s.Condition)
		if !seen {
			continue
		}
		if err := s.Satisfied(last); err != nil {
			return fmt.Errorf("l402: %w", err)
		}
	}
	return nil
}

func lastValue(caveats []Caveat, condition string) (string, bool) {
	for i := len(caveats) - 1; i >= 0; i-- {
		if caveats[i].Condition == condition {
			return caveats[i].Value, true
		}
	}
	return "", false
}

// RequestSatisfiers returns the satisfiers for a request to service needing
// capability (empty when the request needs none) at time now: the token must
// name the service, must grant the capability if it restricts capabilities,
// and must not have expired.
func RequestSatisfiers(service, capability string, now time.Time) []Satisfier {
	s := []Satisfier{ServiceSatisfier(service), ValidUntilSatisfier(service, now)}
	if capability != "" {
		s = append(s, CapabilitySatisfier(service, capability))
	}
	return s
}

// ServiceSatisfier requires a services caveat naming service. A later
// services caveat may only drop services, never add one or change a tier
// (tiers have no order the protocol defines, so any change could widen).
func ServiceSatisfier(service string) Satisfier {
	return Satisfier{
		Condition: ConditionServices,
		Required:  true,
		Narrows: func(prev, next string) error {
			before, err := parseServices(prev)
			if err != nil {
				return err
			}
			after, err := parseServices(next)
			if err != nil {
				return err
			}
			for _, s := range after {
				if !slices.Contains(before, s) {
					return fmt.Errorf("service %s:%d was not granted before", s.Name, s.Tier)
				}
			}
			return nil
		},
		Satisfied: func(value string) error {
			services, err := parseServices(value)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrMalformed, err)
			}
			for _, s := range services {
				if s.Name == service {
					return nil
				}
			}
			return fmt.Errorf("%w: token is for %q, not %q", ErrWrongService, value, service)
		},
	}
}

// CapabilitySatisfier requires that the "<service>_capabilities" caveat, when
// present, include capability. Its absence grants every capability. A later
// caveat may only list a subset.
func CapabilitySatisfier(service, capability string) Satisfier {
	return Satisfier{
		Condition: service + SuffixCapabilities,
		Narrows: func(prev, next string) error {
			before := splitList(prev)
			for _, c := range splitList(next) {
				if !slices.Contains(before, c) {
					return fmt.Errorf("capability %q was not granted before", c)
				}
			}
			return nil
		},
		Satisfied: func(value string) error {
			if slices.Contains(splitList(value), capability) {
				return nil
			}
			return fmt.Errorf("%w: %q not in %q", ErrCapability, capability, value)
		},
	}
}

// ValidUntilSatisfier requires that now be before the last
// "<service>_valid_until" caveat. A later caveat may only be earlier.
func ValidUntilSatisfier(service string, now time.Time) Satisfier {
	return Satisfier{
		Condition: service + SuffixValidUntil,
		Narrows:   intNotAbove,
		Satisfied: func(value string) error {
			until, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				return fmt.Errorf("%w: %s_valid_until %q is not a unix time", ErrMalformed, service, value)
			}
			if now.Unix() >= until {
				return fmt.Errorf("%w: valid until %s", ErrExpired, time.Unix(until, 0).UTC().Format(time.RFC3339))
			}
			return nil
		},
	}
}

// MaxSatisfier enforces a numeric constraint caveat such as
// "search_max_results=100": the request's value must not exceed the last
// caveat, and a later caveat may only lower the limit.
func MaxSatisfier(condition string, requested int64) Satisfier {
	return Satisfier{
		Condition: condition,
		Narrows:   intNotAbove,
		Satisfied: func(value string) error {
			limit, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				return fmt.Errorf("%w: %s %q is not an integer", ErrMalformed, condition, value)
			}
			if requested > limit {
				return fmt.Errorf("%w: %s is %d, request needs %d", ErrOverLimit, condition, limit, requested)
			}
			return nil
		},
	}
}

// intNotAbove accepts next when both are integers and next <= prev.
func intNotAbove(prev, next string) error {
	p, err := strconv.ParseInt(prev, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not an integer", prev)
	}
	n, err := strconv.ParseInt(next, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not an integer", next)
	}
	if n > p {
		return fmt.Errorf("%d is above %d", n, p)
	}
	return nil
}
