package ipamsim_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/eni/fake"
	"github.com/eniway/eniway/ipam"
	"github.com/eniway/eniway/ipam/ipamsim"
)

// cilium holds the calls Cilium 1.18's operator makes taking one
// m5.4xlarge from 0 to 110 pods (issue #3): mutating, describe.
var cilium = map[string][2]int{
	"secondary/trickle": {119, 555},
	"secondary/burst":   {15, 35},
	"pd/trickle":        {8, 40},
	"pd/burst":          {3, 15},
}

// TestTargets runs the four single-node scenarios with the default
// configuration and holds them to the targets: no more mutating
// calls than Cilium, at most a third of its describe calls, and for
// secondary one at a time at most 15 mutating and 30 describe calls.
func TestTargets(t *testing.T) {
	for _, mode := range []ipam.Mode{ipam.ModeSecondaryIPs, ipam.ModePrefixDelegation} {
		for _, arrival := range []string{ipamsim.ArrivalTrickle, ipamsim.ArrivalBurst} {
			name := mode.String() + "/" + arrival
			t.Run(name, func(t *testing.T) {
				cfg := ipamsim.DefaultConfig()
				cfg.Pool.Mode = mode
				cfg.Arrival = arrival
				cfg.Latency = 50 * time.Millisecond
				cfg.Throttle = true
				res, err := ipamsim.Run(t.Context(), cfg)
				require.NoError(t, err)
				t.Logf("%s: %+v", name, res)
				c := cilium[name]
				require.LessOrEqual(t, res.MutatingCalls, c[0], "mutating calls")
				require.LessOrEqual(t, 3*res.DescribeCalls, c[1], "describe calls")
				if name == "secondary/trickle" {
					require.LessOrEqual(t, res.MutatingCalls, 15)
					require.LessOrEqual(t, res.DescribeCalls, 30)
				}
				require.Zero(t, res.ThrottledCalls)
				require.Zero(t, res.LeakedENIs)
				require.Zero(t, res.LeakedIPs)
				require.Zero(t, res.DoubleAssignedIPs)
			})
		}
	}
}

// TestFleet is the fleet target: 100 m5.4xlarge nodes from 0 to
// 110 pods together with prefix delegation, under AWS's throttling and
// 50 ms of latency: every pod has an address within 60 simulated seconds
// and no call is throttled.
func TestFleet(t *testing.T) {
	cfg := ipamsim.DefaultConfig()
	cfg.Nodes = 100
	cfg.Pool.Mode = ipam.ModePrefixDelegation
	cfg.Latency = 50 * time.Millisecond
	cfg.Throttle = true
	res, err := ipamsim.Run(t.Context(), cfg)
	require.NoError(t, err)
	t.Logf("fleet: %+v", res)
	require.Less(t, res.TimeToAllIPs, 60.0)
	require.Zero(t, res.ThrottledCalls)
	require.Zero(t, res.LeakedENIs)
	require.Zero(t, res.LeakedIPs)
	require.Zero(t, res.DoubleAssignedIPs)
}

// TestCrashBetweenCreateAndAttach kills the manager right after it created
// an interface, twice: new managers finish the job and the garbage
// collector removes the interfaces the dead ones left behind.
func TestCrashBetweenCreateAndAttach(t *testing.T) {
	cfg := ipamsim.DefaultConfig()
	cfg.Latency = 50 * time.Millisecond
	cfg.Throttle = true
	cfg.Crashes = 2
	res, err := ipamsim.Run(t.Context(), cfg)
	require.NoError(t, err)
	t.Logf("crashes: %+v", res)
	require.Equal(t, 2, res.Crashes)
	require.Equal(t, 2, res.CollectedENIs)
	require.Zero(t, res.LeakedENIs)
	require.Zero(t, res.LeakedIPs)
	require.Zero(t, res.DoubleAssignedIPs)
}

// TestFaults injects EC2 failures; every pod still gets an address, with
// no leak and no double assignment.
func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		action, code string
	}{
		{fake.ActionAttachNetworkInterface, "AttachmentLimitExceeded"},
		{fake.ActionAssignPrivateIPAddresses, "RequestLimitExceeded"},
		{fake.ActionCreateNetworkInterface, "InsufficientFreeAddressesInSubnet"},
	} {
		t.Run(tc.action, func(t *testing.T) {
			cfg := ipamsim.DefaultConfig()
			cfg.Latency = 50 * time.Millisecond
			cfg.Throttle = true
			cfg.FaultAction, cfg.FaultCode, cfg.FaultCount = tc.action, tc.code, 2
			res, err := ipamsim.Run(t.Context(), cfg)
			require.NoError(t, err)
			t.Logf("%s: %+v", tc.action, res)
			require.Positive(t, res.FailedReconciles)
			require.Zero(t, res.LeakedENIs)
			require.Zero(t, res.LeakedIPs)
			require.Zero(t, res.DoubleAssignedIPs)
		})
	}
}
