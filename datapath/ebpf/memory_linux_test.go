package ebpf_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/datapath/ebpf"
	"github.com/eniway/eniway/maglev"
)

// TestMemoryEstimate prints the estimates at the defaults, and checks a
// service's table against the 256 KiB target at M = 65521.
func TestMemoryEstimate(t *testing.T) {
	lb, err := ebpf.LoadBalancerMemory(datapath.LBOptions{})
	require.NoError(t, err)
	t.Logf("load balancer, defaults:\n%s", lb)
	v4, err := ebpf.LoadBalancerMemory(datapath.LBOptions{DisableIPv6: true})
	require.NoError(t, err)
	t.Logf("load balancer, IPv6 disabled: total %d MiB", v4.Total()>>20)
	require.Less(t, v4.Total(), lb.Total()-60<<20, "IPv6's maps go")
	pf, err := ebpf.PrefilterMemory(datapath.PrefilterOptions{})
	require.NoError(t, err)
	t.Logf("prefilter, defaults:\n%s", pf)
	rd, err := ebpf.RedirectMemory(datapath.RedirectOptions{})
	require.NoError(t, err)
	t.Logf("proxy redirect, defaults:\n%s", rd)
	require.Less(t, rd.Total(), uint64(1<<20))

	one, err := ebpf.LoadBalancerMemory(datapath.LBOptions{MaxServices: 1, Maglev: maglev.Config{TableSize: 65521}})
	require.NoError(t, err)
	var tables ebpf.MapMemory
	for _, m := range one {
		if m.Map == "lb_maglev" {
			tables = m
		}
	}
	regions := uint64(1 + 16) // one service and the spare regions
	require.LessOrEqual(t, tables.Bytes/regions, uint64(256<<10), "a service's table")
	require.GreaterOrEqual(t, tables.Bytes/regions, uint64(4*65521))
}

// TestMemoryEstimateMatchesKernel loads a load balancer and compares the
// estimate of each array and hash map with what the kernel says it
// allocated (the maps are preallocated, so that is their most).
func TestMemoryEstimateMatchesKernel(t *testing.T) {
	opts := datapath.LBOptions{MaxServices: 64, MaxBackends: 1024, CTMax: 8192, Maglev: maglev.Config{TableSize: 4093}}
	est, err := ebpf.LoadBalancerMemory(opts)
	require.NoError(t, err)
	l := newLB(t, opts)
	defer l.Close()
	kernel, err := l.MapMemlock()
	require.NoError(t, err)
	for _, m := range est {
		got, ok := kernel[m.Map]
		require.True(t, ok, m.Map)
		slack := m.Bytes/10 + 4096
		t.Logf("%s: kernel %d B", m, got)
		require.InDelta(t, float64(got), float64(m.Bytes), float64(slack), "%s: estimated %d, kernel %d", m, m.Bytes, got)
	}
}
