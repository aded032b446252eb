package ipam

import (
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/eni"
)

// The method-to-action table covers eni.Cloud exactly, and every method is
// called in some configuration: a method added to eni.Cloud fails here
// until the planner knows which action it needs and when.
func TestPlanCloudMethods(t *testing.T) {
	var methods []string
	cloud := reflect.TypeFor[eni.Cloud]()
	for i := range cloud.NumMethod() {
		methods = append(methods, cloud.Method(i).Name)
	}
	require.ElementsMatch(t, methods, slices.Collect(maps.Keys(ec2Actions)))

	used := map[string]bool{}
	for _, m := range []Mode{ModeSecondaryIPs, ModePrefixDelegation} {
		for _, release := range []bool{false, true} {
			for _, sgTags := range []bool{false, true} {
				for _, noDoT := range []bool{false, true} {
					o := IAMOptions{ReleaseExcessIPs: release, SecurityGroupTags: sgTags, NoDeleteOnTermination: noDoT}
					ms := cloudMethods(m, o)
					for _, name := range ms {
						require.Contains(t, ec2Actions, name)
						used[name] = true
					}
					require.ElementsMatch(t, slices.Compact(slices.Sorted(slices.Values(ms))), ms, "no method listed twice")
				}
			}
		}
	}
	require.ElementsMatch(t, methods, slices.Collect(maps.Keys(used)))
}

// The subnet arithmetic at its bounds.
func TestPlanSubnetCounts(t *testing.T) {
	require.Equal(t, 65531, subnetHolds(16))
	require.Equal(t, 11, subnetHolds(28))
	require.Equal(t, 4094, subnetPrefixes(16))
	require.Equal(t, 0, subnetPrefixes(27))
	require.Equal(t, 0, subnetPrefixes(28))
	require.Equal(t, 2, subnetPrefixes(26))
}
