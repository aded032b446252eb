package gatewayapi

import (
	"slices"
	"strings"
)

// hostMatches reports whether host (exact or "*.suffix") is covered by
// pattern (exact, "*.suffix" or "" for any host): every name host matches,
// pattern matches too. A wildcard matches one or more labels: "*.example.com"
// covers "a.example.com" and "a.b.example.com" but not "example.com".
func hostMatches(pattern, host string) bool {
	switch {
	case pattern == "" || pattern == "*":
		return true
	case host == "" || host == "*":
		return false
	case pattern == host:
		return true
	case strings.HasPrefix(pattern, "*."):
		suffix := pattern[1:] // ".example.com"
		if strings.HasPrefix(host, "*.") {
			return strings.HasSuffix(host[1:], suffix) && len(host) > len(pattern)
		}
		return strings.HasSuffix(host, suffix)
	}
	return false
}

// intersectHostnames returns the hostnames a route with hostnames route
// serves on a listener with hostname listener ("" for any): the more specific
// of each compatible pair, sorted by specificity, without duplicates. A
// route without hostnames takes the listener's ("*" when that is empty too).
// nil means the route and the listener have no hostname in common.
func intersectHostnames(listener string, route []string) []string {
	if len(route) == 0 {
		if listener == "" {
			return []string{"*"}
		}
		return []string{listener}
	}
	var out []string
	for _, h := range route {
		switch {
		case hostMatches(listener, h):
			out = append(out, h)
		case hostMatches(h, listener):
			out = append(out, listener)
		}
	}
	slices.SortFunc(out, compareHostSpecificity)
	return slices.Compact(out)
}

// compareHostSpecificity orders hostnames the way requests are matched to
// them: exact names first (alphabetically), then wildcards with more labels
// first, then the catch-all ("" or "*").
func compareHostSpecificity(a, b string) int {
	rank := func(h string) (int, int) {
		switch {
		case h == "" || h == "*":
			return 2, 0
		case strings.HasPrefix(h, "*."):
			return 1, -strings.Count(h, ".")
		}
		return 0, 0
	}
	ra, da := rank(a)
	rb, db := rank(b)
	if ra != rb {
		return ra - rb
	}
	if da != db {
		return da - db
	}
	return strings.Compare(a, b)
}

func sortHosts(h []string) { slices.SortFunc(h, compareHostSpecificity) }
