package maglev_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/maglev"
)

func TestFlowHash(t *testing.T) {
	seed := maglev.MustParseSeed(maglev.DefaultHashSeed)
	v4 := maglev.Flow{Src: netip.MustParseAddr("192.0.2.10"), SrcPort: 40000, DstPort: 443, Proto: 6}
	v6 := maglev.Flow{Src: netip.MustParseAddr("2001:db8::10"), SrcPort: 40000, DstPort: 443, Proto: 6}

	// Every hashed field changes the hash, in both families.
	for _, base := range []maglev.Flow{v4, v6} {
		h := seed.FlowHash(base)
		require.Equal(t, h, seed.FlowHash(base), "deterministic")
		f := base
		f.SrcPort++
		require.NotEqual(t, h, seed.FlowHash(f), "SrcPort")
		f = base
		f.DstPort++
		require.NotEqual(t, h, seed.FlowHash(f), "DstPort")
		f = base
		f.Proto = 17
		require.NotEqual(t, h, seed.FlowHash(f), "Proto")
		f = base
		f.Src = f.Src.Next()
		require.NotEqual(t, h, seed.FlowHash(f), "Src")
	}
	// Each family uses its own seed.
	s2 := seed
	s2.Flow6++
	require.Equal(t, seed.FlowHash(v4), s2.FlowHash(v4))
	require.NotEqual(t, seed.FlowHash(v6), s2.FlowHash(v6))
	s2 = seed
	s2.Flow4++
	require.NotEqual(t, seed.FlowHash(v4), s2.FlowHash(v4))
	require.Equal(t, seed.FlowHash(v6), s2.FlowHash(v6))
	// An IPv4-mapped IPv6 source is an IPv6 flow, as on the wire.
	mapped := v4
	mapped.Src = netip.AddrFrom16(v4.Src.As16())
	require.NotEqual(t, seed.FlowHash(v4), seed.FlowHash(mapped))
	// An unset source hashes as 0.0.0.0.
	zero := v4
	zero.Src = netip.Addr{}
	unspec := v4
	unspec.Src = netip.IPv4Unspecified()
	require.Equal(t, seed.FlowHash(unspec), seed.FlowHash(zero))

	// Pinned values guard against regressions; the IPv4 value follows from
	// TestFlowHash4Layout; the IPv6 one is only pinned here, its check
	// against Cilium's BPF code running in the kernel belongs to the datapath
	// package's differential tests.
	require.Equal(t, uint32(0x5e36e7a8), seed.FlowHash(v4))
	require.Equal(t, uint32(0x030109f9), seed.FlowHash(v6))
}

func TestLookup(t *testing.T) {
	b := newBuilder(t, maglev.Config{TableSize: 251})
	backends := benchBackends(5)
	table, err := b.Table(backends)
	require.NoError(t, err)
	seed := b.Seed()
	counts := map[uint32]int{}
	for port := range uint16(5000) {
		f := maglev.Flow{Src: netip.MustParseAddr("198.51.100.1"), SrcPort: 1024 + port, DstPort: 80, Proto: 6}
		id, ok := maglev.Lookup(table, seed, f)
		require.True(t, ok)
		require.Equal(t, table[seed.Slot(f, len(table))], id)
		counts[id]++
	}
	require.Len(t, counts, 5, "flows spread over every backend")
	for id, n := range counts {
		require.InDelta(t, 1000, n, 200, "backend %d", id)
	}
}
