package gatewayapi

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// IRError is a broken invariant of an IR, at a path such as
// gateways[0].ports[1].listeners[0].virtualHosts[2].routes[3].action.
type IRError struct {
	Path   string
	Reason string
}

func (e *IRError) Error() string { return fmt.Sprintf("IR %s: %s", e.Path, e.Reason) }

// Unwrap returns ErrInvalid.
func (e *IRError) Unwrap() error { return ErrInvalid }

// Validate checks the invariants consumers of an IR rely on, and returns
// every broken one as an *IRError, joined. Translate only produces valid
// IRs; Validate is for IRs built or changed by hand, and for tests.
//
// The invariants: names are unique (Gateways, ports of a Gateway, listeners
// of a port, virtual hosts of a listener, backends); ports are 1 to 65535
// and a port's listeners share its protocol family; an HTTPS listener has at
// least one certificate with PEM; every route has exactly one action; a
// weighted backend has a weight above 0 and names an IR backend or is
// marked invalid; mirrors name IR backends with a share between 0 and 1;
// regular expressions compile; a redirect's status code is a redirect; rate
// limits admit at least one request per positive interval.
func (ir *IR) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &IRError{Path: path, Reason: fmt.Sprintf(format, args...)})
	}
	backends := map[string]bool{}
	for i, b := range ir.Backends {
		p := fmt.Sprintf("backends[%d]", i)
		if b.Name == "" || backends[b.Name] {
			bad(p, "name %q is empty or not unique", b.Name)
		}
		backends[b.Name] = true
		if b.Port < 1 || b.Port > 65535 {
			bad(p, "port %d out of range", b.Port)
		}
		for j, e := range b.Endpoints {
			if !e.Addr.IsValid() || e.Addr.Port() == 0 {
				bad(fmt.Sprintf("%s.endpoints[%d]", p, j), "address %v is not an address and port", e.Addr)
			}
		}
	}
	weighted := func(path string, list []*WeightedBackend) {
		for i, w := range list {
			p := fmt.Sprintf("%s[%d]", path, i)
			switch {
			case w.Weight == 0:
				bad(p, "weight 0 (such backends are left out)")
			case w.Backend == "" && w.Invalid == "":
				bad(p, "neither a backend nor the reason it is invalid")
			case w.Backend != "" && !backends[w.Backend]:
				bad(p, "backend %q is not in the IR's backends", w.Backend)
			}
		}
	}
	rateLimit := func(path string, rl *RateLimit) {
		if rl != nil && (rl.Requests == 0 || rl.Burst == 0 || rl.Interval <= 0 || rl.Status < 400 || rl.Status > 599) {
			bad(path, "rate limit %+v admits nothing or answers with a non-error status", *rl)
		}
	}
	gws := map[string]bool{}
	for gi, g := range ir.Gateways {
		gp := fmt.Sprintf("gateways[%d]", gi)
		key := g.Namespace + "/" + g.Name
		if gws[key] {
			bad(gp, "Gateway %s appears twice", key)
		}
		gws[key] = true
		if g.Service == nil {
			bad(gp, "no Service")
		}
		ports := map[int32]bool{}
		for pi, port := range g.Ports {
			pp := fmt.Sprintf("%s.ports[%d]", gp, pi)
			if port.Port < 1 || port.Port > 65535 || ports[port.Port] {
				bad(pp, "port %d out of range or repeated", port.Port)
			}
			ports[port.Port] = true
			if len(port.Listeners) == 0 {
				bad(pp, "no listeners")
			}
			for li, l := range port.Listeners {
				lp := fmt.Sprintf("%s.listeners[%d]", pp, li)
				family := ProtocolHTTP
				if l.Protocol != ProtocolHTTP {
					family = ProtocolHTTPS
				}
				if family != port.Protocol {
					bad(lp, "%s listener on a %s port", l.Protocol, port.Protocol)
				}
				if l.Protocol == ProtocolHTTPS && (l.TLS == nil || len(l.TLS.Certificates) == 0) {
					bad(lp, "HTTPS listener without a certificate")
				}
				if l.TLS != nil {
					for ci, c := range l.TLS.Certificates {
						if len(c.CertPEM) == 0 || len(c.KeyPEM) == 0 {
							bad(fmt.Sprintf("%s.tls.certificates[%d]", lp, ci), "certificate %s has no PEM", c.Name)
						}
					}
				}
				rateLimit(lp+".rateLimit", l.RateLimit)
				hosts := map[string]bool{}
				for vi, vh := range l.VirtualHosts {
					vp := fmt.Sprintf("%s.virtualHosts[%d]", lp, vi)
					if vh.Hostname == "" || hosts[vh.Hostname] {
						bad(vp, "hostname %q empty or repeated", vh.Hostname)
					}
					hosts[vh.Hostname] = true
					for ri, r := range vh.Routes {
						validateRoute(fmt.Sprintf("%s.routes[%d]", vp, ri), r, backends, bad, weighted, rateLimit)
					}
				}
				for ti, tr := range l.TLSRoutes {
					weighted(fmt.Sprintf("%s.tlsRoutes[%d].backends", lp, ti), tr.Backends)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func validateRoute(rp string, r *Route, backends map[string]bool, bad func(string, string, ...any),
	weighted func(string, []*WeightedBackend), rateLimit func(string, *RateLimit)) {
	n := 0
	if r.Action.Redirect != nil {
		n++
		switch r.Action.Redirect.StatusCode {
		case 301, 302, 303, 307, 308:
		default:
			bad(rp+".action.redirect", "status code %d is not a redirect", r.Action.Redirect.StatusCode)
		}
	}
	if r.Action.Direct != nil {
		n++
	}
	if len(r.Action.Backends) > 0 {
		n++
		weighted(rp+".action.backends", r.Action.Backends)
	}
	if n != 1 {
		bad(rp+".action", "%d actions, want exactly one", n)
	}
	switch r.Path.Type {
	case PathExact, PathPrefix:
		if !strings.HasPrefix(r.Path.Value, "/") {
			bad(rp+".path", "path %q does not start with /", r.Path.Value)
		}
	case PathRegex:
		if _, err := regexp.Compile(r.Path.Value); err != nil {
			bad(rp+".path", "regular expression: %v", err)
		}
	default:
		bad(rp+".path", "match type %q", r.Path.Type)
	}
	for i, h := range r.Headers {
		if h.Type == MatchRegex {
			if _, err := regexp.Compile(h.Value); err != nil {
				bad(fmt.Sprintf("%s.headers[%d]", rp, i), "regular expression: %v", err)
			}
		}
	}
	for i, q := range r.Query {
		if q.Type == MatchRegex {
			if _, err := regexp.Compile(q.Value); err != nil {
				bad(fmt.Sprintf("%s.query[%d]", rp, i), "regular expression: %v", err)
			}
		}
	}
	for i, m := range r.Filters.Mirrors {
		if !backends[m.Backend] || m.Denominator <= 0 || m.Numerator < 0 || m.Numerator > m.Denominator {
			bad(fmt.Sprintf("%s.filters.mirrors[%d]", rp, i), "mirror %+v", *m)
		}
	}
	if rw := r.Filters.Rewrite; rw != nil && rw.Path != nil && rw.Path.Type == ReplacePrefixMatch && rw.Path.Prefix == "" {
		bad(rp+".filters.rewrite.path", "ReplacePrefixMatch without the matched prefix")
	}
	rateLimit(rp+".rateLimit", r.RateLimit)
}
