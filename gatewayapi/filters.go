package gatewayapi

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func canonicalHeader(name string) string { return http.CanonicalHeaderKey(name) }

// headerNameRE is an RFC 7230 token; \x60 is a backquote.
var headerNameRE = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+\-.^_\x60|~]+$`)

// validPath checks a path match as the CRD's validation does.
func validPath(p PathMatch) error {
	switch p.Type {
	case PathExact, PathPrefix:
		if !strings.HasPrefix(p.Value, "/") {
			return fmt.Errorf("path %q: %w: must start with /", p.Value, ErrInvalid)
		}
		if strings.Contains(p.Value, "//") || strings.Contains(p.Value, "/./") || strings.Contains(p.Value, "/../") ||
			strings.HasSuffix(p.Value, "/..") || strings.HasSuffix(p.Value, "/.") || strings.ContainsAny(p.Value, "?#") {
			return fmt.Errorf("path %q: %w: must not contain //, /./, /../, %%2f, ? or #", p.Value, ErrInvalid)
		}
		if strings.Contains(strings.ToLower(p.Value), "%2f") {
			return fmt.Errorf("path %q: %w: must not contain %%2f", p.Value, ErrInvalid)
		}
	case PathRegex:
		if _, err := regexp.Compile(p.Value); err != nil {
			return fmt.Errorf("path regular expression %q: %w: %v", p.Value, ErrInvalid, err)
		}
	default:
		return fmt.Errorf("path match type %q: %w", p.Type, ErrNotSupported)
	}
	return nil
}

func validStringMatch(t StringMatchType, v string) error {
	switch t {
	case MatchExact:
		return nil
	case MatchRegex:
		if _, err := regexp.Compile(v); err != nil {
			return fmt.Errorf("regular expression %q: %w: %v", v, ErrInvalid, err)
		}
		return nil
	}
	return fmt.Errorf("match type %q: %w", t, ErrNotSupported)
}

// ruleFilters are the translated filters of one rule.
type ruleFilters struct {
	Filters
	// customUnresolved: an ExtensionRef filter that cannot be resolved; the
	// rule must answer 500 rather than skip it.
	customUnresolved bool
}

// httpFilters translates a rule's filters. It returns a problem for
// combinations the API forbids (IncompatibleFilters) and bad values
// (UnsupportedValue); unresolved mirror backends are reported through
// unresolved.
func (t *translator) httpFilters(r objRef, filters []gwv1.HTTPRouteFilter, matches []gwv1.HTTPRouteMatch, field string, unresolved **routeProblem) (ruleFilters, *Redirect, *routeProblem) {
	var out ruleFilters
	var redirect *Redirect
	seen := map[gwv1.HTTPRouteFilterType]bool{}
	incompatible := func(i int, msg string) *routeProblem {
		return &routeProblem{gwv1.RouteReasonIncompatibleFilters, fmt.Sprintf("%s[%d]", field, i), msg, ErrInvalid}
	}
	bad := func(i int, sub string, err error) *routeProblem {
		return &routeProblem{gwv1.RouteReasonUnsupportedValue, fmt.Sprintf("%s[%d]%s", field, i, sub), err.Error(), sentinelOf(err)}
	}
	// One PathPrefix match is what ReplacePrefixMatch needs.
	prefix, onePrefix := "", len(matches) == 1
	if onePrefix {
		pm := PathMatch{Type: PathPrefix, Value: "/"}
		if p := matches[0].Path; p != nil {
			if p.Type != nil {
				pm.Type = PathMatchType(*p.Type)
			}
			if p.Value != nil {
				pm.Value = *p.Value
			}
		}
		prefix, onePrefix = pm.Value, pm.Type == PathPrefix
	}
	for i, f := range filters {
		if err := filterShape(f); err != nil {
			return out, nil, bad(i, "", err)
		}
		if f.Type != gwv1.HTTPRouteFilterRequestMirror && f.Type != gwv1.HTTPRouteFilterExtensionRef && seen[f.Type] {
			return out, nil, incompatible(i, fmt.Sprintf("filter %s appears more than once", f.Type))
		}
		seen[f.Type] = true
		switch f.Type {
		case gwv1.HTTPRouteFilterRequestHeaderModifier:
			hm, err := headerModifier(f.RequestHeaderModifier)
			if err != nil {
				return out, nil, bad(i, ".requestHeaderModifier", err)
			}
			out.RequestHeaders = hm
		case gwv1.HTTPRouteFilterResponseHeaderModifier:
			hm, err := headerModifier(f.ResponseHeaderModifier)
			if err != nil {
				return out, nil, bad(i, ".responseHeaderModifier", err)
			}
			out.ResponseHeaders = hm
		case gwv1.HTTPRouteFilterRequestRedirect:
			rd := f.RequestRedirect
			redirect = &Redirect{StatusCode: 302}
			if rd.Scheme != nil {
				redirect.Scheme = *rd.Scheme
				if redirect.Scheme != "http" && redirect.Scheme != "https" {
					return out, nil, bad(i, ".requestRedirect.scheme", fmt.Errorf("scheme %q: %w: http or https", redirect.Scheme, ErrInvalid))
				}
			}
			if rd.Hostname != nil {
				redirect.Hostname = string(*rd.Hostname)
			}
			if rd.Port != nil {
				redirect.Port = int32(*rd.Port)
			}
			if rd.StatusCode != nil {
				redirect.StatusCode = *rd.StatusCode
				switch redirect.StatusCode {
				case 301, 302, 303, 307, 308:
				default:
					return out, nil, bad(i, ".requestRedirect.statusCode", fmt.Errorf("status code %d: %w: 301, 302, 303, 307 or 308", redirect.StatusCode, ErrInvalid))
				}
			}
			pm, p := pathModifier(rd.Path, prefix, onePrefix, incompatible, bad, i, ".requestRedirect.path")
			if p != nil {
				return out, nil, p
			}
			redirect.Path = pm
		case gwv1.HTTPRouteFilterURLRewrite:
			rw := f.URLRewrite
			out.Rewrite = &Rewrite{}
			if rw.Hostname != nil {
				out.Rewrite.Hostname = string(*rw.Hostname)
			}
			pm, p := pathModifier(rw.Path, prefix, onePrefix, incompatible, bad, i, ".urlRewrite.path")
			if p != nil {
				return out, nil, p
			}
			out.Rewrite.Path = pm
		case gwv1.HTTPRouteFilterRequestMirror:
			mf := f.RequestMirror
			num, den := int32(100), int32(100)
			switch {
			case mf.Percent != nil && mf.Fraction != nil:
				return out, nil, bad(i, ".requestMirror", fmt.Errorf("%w: percent and fraction are exclusive", ErrInvalid))
			case mf.Percent != nil:
				num = *mf.Percent
			case mf.Fraction != nil:
				num = mf.Fraction.Numerator
				if mf.Fraction.Denominator != nil {
					den = *mf.Fraction.Denominator
				}
			}
			if num < 0 || den <= 0 || num > den {
				return out, nil, bad(i, ".requestMirror", fmt.Errorf("%w: share %d/%d must lie between 0 and 1", ErrInvalid, num, den))
			}
			ref := gwv1.BackendRef{BackendObjectReference: mf.BackendRef}
			name, reason, err := t.backend(r.ns, string(r.kind), ref, r.kind)
			if err != nil {
				t.fail(string(r.kind), r.ns, r.name, fmt.Sprintf("%s[%d].requestMirror.backendRef", field, i), string(reason), err.Error(), sentinelOf(err))
				if *unresolved == nil {
					*unresolved = &routeProblem{reason, fmt.Sprintf("%s[%d].requestMirror.backendRef", field, i), err.Error(), sentinelOf(err)}
				}
				continue
			}
			out.Mirrors = append(out.Mirrors, &Mirror{Backend: name, Numerator: num, Denominator: den})
		case gwv1.HTTPRouteFilterCORS:
			c, err := corsFilter(f.CORS)
			if err != nil {
				return out, nil, bad(i, ".cors", err)
			}
			out.CORS = c
		case gwv1.HTTPRouteFilterExtensionRef:
			out.customUnresolved = true
			msg := fmt.Sprintf("ExtensionRef filter %s/%s %s is not supported", f.ExtensionRef.Group, f.ExtensionRef.Kind, f.ExtensionRef.Name)
			t.fail(string(r.kind), r.ns, r.name, fmt.Sprintf("%s[%d].extensionRef", field, i), string(gwv1.RouteReasonInvalidKind), msg, ErrNotSupported)
			if *unresolved == nil {
				*unresolved = &routeProblem{gwv1.RouteReasonInvalidKind, fmt.Sprintf("%s[%d].extensionRef", field, i), msg, ErrNotSupported}
			}
		default:
			return out, nil, bad(i, ".type", fmt.Errorf("filter type %q: %w", f.Type, ErrNotSupported))
		}
	}
	if seen[gwv1.HTTPRouteFilterRequestRedirect] && seen[gwv1.HTTPRouteFilterURLRewrite] {
		return out, nil, incompatible(0, "RequestRedirect and URLRewrite cannot be used in one rule")
	}
	return out, redirect, nil
}

// filterShape checks that the field matching the filter type is set and no
// other is (the CRD's rule).
func filterShape(f gwv1.HTTPRouteFilter) error {
	set := map[gwv1.HTTPRouteFilterType]bool{
		gwv1.HTTPRouteFilterRequestHeaderModifier:  f.RequestHeaderModifier != nil,
		gwv1.HTTPRouteFilterResponseHeaderModifier: f.ResponseHeaderModifier != nil,
		gwv1.HTTPRouteFilterRequestRedirect:        f.RequestRedirect != nil,
		gwv1.HTTPRouteFilterURLRewrite:             f.URLRewrite != nil,
		gwv1.HTTPRouteFilterRequestMirror:          f.RequestMirror != nil,
		gwv1.HTTPRouteFilterCORS:                   f.CORS != nil,
		gwv1.HTTPRouteFilterExtensionRef:           f.ExtensionRef != nil,
		gwv1.HTTPRouteFilterExternalAuth:           f.ExternalAuth != nil,
	}
	for typ, ok := range set {
		if ok && typ != f.Type {
			return fmt.Errorf("filter of type %s: %w: field for %s must not be set", f.Type, ErrInvalid, typ)
		}
	}
	if ok, known := set[f.Type]; known && !ok {
		return fmt.Errorf("filter of type %s: %w: its configuration is missing", f.Type, ErrInvalid)
	}
	return nil
}

func pathModifier(p *gwv1.HTTPPathModifier, prefix string, onePrefix bool, incompatible func(int, string) *routeProblem, bad func(int, string, error) *routeProblem, i int, sub string) (*PathModifier, *routeProblem) {
	if p == nil {
		return nil, nil
	}
	switch p.Type {
	case gwv1.FullPathHTTPPathModifier:
		if p.ReplaceFullPath == nil || p.ReplacePrefixMatch != nil {
			return nil, bad(i, sub, fmt.Errorf("%w: ReplaceFullPath needs replaceFullPath only", ErrInvalid))
		}
		return &PathModifier{Type: ReplaceFullPath, Value: *p.ReplaceFullPath}, nil
	case gwv1.PrefixMatchHTTPPathModifier:
		if p.ReplacePrefixMatch == nil || p.ReplaceFullPath != nil {
			return nil, bad(i, sub, fmt.Errorf("%w: ReplacePrefixMatch needs replacePrefixMatch only", ErrInvalid))
		}
		if !onePrefix {
			return nil, incompatible(i, "ReplacePrefixMatch needs the rule to have exactly one match, of type PathPrefix")
		}
		return &PathModifier{Type: ReplacePrefixMatch, Value: *p.ReplacePrefixMatch, Prefix: prefix}, nil
	}
	return nil, bad(i, sub+".type", fmt.Errorf("path modifier %q: %w", p.Type, ErrNotSupported))
}

func headerModifier(f *gwv1.HTTPHeaderFilter) (*HeaderModifier, error) {
	hm := &HeaderModifier{}
	seen := map[string]string{}
	check := func(name, list string) (string, error) {
		if !headerNameRE.MatchString(name) {
			return "", fmt.Errorf("header name %q in %s: %w", name, list, ErrInvalid)
		}
		c := canonicalHeader(name)
		if prev, dup := seen[c]; dup {
			return "", fmt.Errorf("header %s appears in %s and %s: %w", c, prev, list, ErrInvalid)
		}
		seen[c] = list
		return c, nil
	}
	for _, h := range f.Set {
		n, err := check(string(h.Name), "set")
		if err != nil {
			return nil, err
		}
		hm.Set = append(hm.Set, Header{Name: n, Value: h.Value})
	}
	for _, h := range f.Add {
		n, err := check(string(h.Name), "add")
		if err != nil {
			return nil, err
		}
		hm.Add = append(hm.Add, Header{Name: n, Value: h.Value})
	}
	for _, h := range f.Remove {
		n, err := check(h, "remove")
		if err != nil {
			return nil, err
		}
		hm.Remove = append(hm.Remove, n)
	}
	return hm, nil
}

func corsFilter(f *gwv1.HTTPCORSFilter) (*CORS, error) {
	c := &CORS{MaxAge: 5 * time.Second}
	if f.MaxAge > 0 {
		c.MaxAge = time.Duration(f.MaxAge) * time.Second
	}
	if f.AllowCredentials != nil {
		c.AllowCredentials = *f.AllowCredentials
	}
	for _, o := range f.AllowOrigins {
		c.AllowOrigins = append(c.AllowOrigins, string(o))
	}
	for _, m := range f.AllowMethods {
		c.AllowMethods = append(c.AllowMethods, string(m))
	}
	for _, h := range f.AllowHeaders {
		c.AllowHeaders = append(c.AllowHeaders, string(h))
	}
	for _, h := range f.ExposeHeaders {
		c.ExposeHeaders = append(c.ExposeHeaders, string(h))
	}
	if c.AllowCredentials && (contains(c.AllowOrigins, "*") || contains(c.AllowMethods, "*") || contains(c.AllowHeaders, "*")) {
		return nil, fmt.Errorf("%w: allowCredentials cannot be combined with a * wildcard", ErrInvalid)
	}
	if contains(c.AllowMethods, "*") && len(c.AllowMethods) > 1 {
		return nil, fmt.Errorf("%w: allowMethods * must stand alone", ErrInvalid)
	}
	return c, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ruleTimeouts translates a rule's timeouts and retry.
func ruleTimeouts(rule gwv1.HTTPRouteRule, field string) (*Timeouts, *Retry, *routeProblem) {
	var to *Timeouts
	if tt := rule.Timeouts; tt != nil {
		to = &Timeouts{}
		if tt.Request != nil {
			d, err := parseDuration(string(*tt.Request))
			if err != nil {
				return nil, nil, &routeProblem{gwv1.RouteReasonUnsupportedValue, field + ".timeouts.request", fmt.Sprintf("duration %q: %v", *tt.Request, err), ErrInvalid}
			}
			to.Request = *d
		}
		if tt.BackendRequest != nil {
			d, err := parseDuration(string(*tt.BackendRequest))
			if err != nil {
				return nil, nil, &routeProblem{gwv1.RouteReasonUnsupportedValue, field + ".timeouts.backendRequest", fmt.Sprintf("duration %q: %v", *tt.BackendRequest, err), ErrInvalid}
			}
			to.Backend = *d
		}
		if to.Request > 0 && to.Backend > to.Request {
			return nil, nil, &routeProblem{gwv1.RouteReasonUnsupportedValue, field + ".timeouts.backendRequest", "backendRequest must not be longer than request", ErrInvalid}
		}
	}
	var rt *Retry
	if rr := rule.Retry; rr != nil {
		rt = &Retry{Attempts: 1}
		if rr.Attempts != nil {
			rt.Attempts = *rr.Attempts
		}
		for j, c := range rr.Codes {
			if c < 400 || c > 599 {
				return nil, nil, &routeProblem{gwv1.RouteReasonUnsupportedValue, fmt.Sprintf("%s.retry.codes[%d]", field, j), fmt.Sprintf("status code %d must lie in 400 to 599", c), ErrInvalid}
			}
			rt.Codes = append(rt.Codes, int(c))
		}
		if rr.Backoff != nil {
			d, err := parseDuration(string(*rr.Backoff))
			if err != nil {
				return nil, nil, &routeProblem{gwv1.RouteReasonUnsupportedValue, field + ".retry.backoff", fmt.Sprintf("duration %q: %v", *rr.Backoff, err), ErrInvalid}
			}
			rt.Backoff = *d
		}
		if rt.Attempts < 0 {
			return nil, nil, &routeProblem{gwv1.RouteReasonUnsupportedValue, field + ".retry.attempts", "attempts must not be negative", ErrInvalid}
		}
	}
	return to, rt, nil
}

// gepDurationRE is the Gateway API duration format (GEP-2257): one to four
// groups of up to five digits with unit h, m, s or ms.
var gepDurationRE = regexp.MustCompile(`^([0-9]{1,5}(h|m|s|ms)){1,4}$`)

// parseDuration parses a Gateway API duration (GEP-2257).
func parseDuration(s string) (*time.Duration, error) {
	if !gepDurationRE.MatchString(s) {
		return nil, fmt.Errorf("%w: want up to four groups of digits with unit h, m, s or ms, such as 1h30m or 500ms", ErrInvalid)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return &d, nil
}
