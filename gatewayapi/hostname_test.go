package gatewayapi

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHostMatches(t *testing.T) {
	for _, tc := range []struct {
		pattern, host string
		want          bool
	}{
		{"", "a.example.com", true},
		{"", "*.example.com", true},
		{"a.example.com", "a.example.com", true},
		{"a.example.com", "b.example.com", false},
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "aexample.com", false},
		{"*.example.com", "*.example.com", true},
		{"*.example.com", "*.a.example.com", true},
		{"*.a.example.com", "*.example.com", false},
		{"a.example.com", "*.example.com", false},
		{"*.example.com", "", false},
	} {
		require.Equal(t, tc.want, hostMatches(tc.pattern, tc.host), "hostMatches(%q, %q)", tc.pattern, tc.host)
	}
}

func TestIntersectHostnames(t *testing.T) {
	for _, tc := range []struct {
		name     string
		listener string
		route    []string
		want     []string
	}{
		{"both empty", "", nil, []string{"*"}},
		{"route empty", "*.example.com", nil, []string{"*.example.com"}},
		{"listener empty", "", []string{"b.com", "a.com"}, []string{"a.com", "b.com"}},
		{"exact equal", "a.example.com", []string{"a.example.com"}, []string{"a.example.com"}},
		{"listener wildcard, route exact", "*.example.com", []string{"a.example.com", "other.org"}, []string{"a.example.com"}},
		{"listener exact, route wildcard", "a.example.com", []string{"*.example.com"}, []string{"a.example.com"}},
		{"both wildcards, route narrower", "*.example.com", []string{"*.a.example.com"}, []string{"*.a.example.com"}},
		{"both wildcards, listener narrower", "*.a.example.com", []string{"*.example.com"}, []string{"*.a.example.com"}},
		{"none", "a.example.com", []string{"b.example.com", "*.other.org"}, nil},
		{"wildcard does not match apex", "*.example.com", []string{"example.com"}, nil},
		{"duplicates collapse", "a.example.com", []string{"*.example.com", "a.example.com"}, []string{"a.example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, intersectHostnames(tc.listener, tc.route))
		})
	}
}

func TestCompareHostSpecificity(t *testing.T) {
	in := []string{"*", "*.example.com", "b.example.com", "*.a.example.com", "a.example.com"}
	want := []string{"a.example.com", "b.example.com", "*.a.example.com", "*.example.com", "*"}
	got := append([]string(nil), in...)
	sortHosts(got)
	require.Equal(t, want, got)
}
