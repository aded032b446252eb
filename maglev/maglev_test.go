package maglev_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/maglev"
)

// ciliumTestAddr is the backend Cilium's own maglev tests build for i:
// address i as a big-endian IPv4 address, port i, TCP.
func ciliumTestAddr(i uint32, id uint32, weight int64) maglev.Backend {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], i)
	return maglev.Backend{ID: id, Addr: netip.AddrFrom4(a), Port: uint16(i % 65535), Protocol: maglev.ProtocolTCP, Weight: weight}
}

func runLength(ids []uint32) string {
	var sb strings.Builder
	for i := 0; i < len(ids); {
		j := i
		for j < len(ids) && ids[j] == ids[i] {
			j++
		}
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "%d(%d)", ids[i], j-i)
		i = j
	}
	return sb.String()
}

func newBuilder(tb testing.TB, cfg maglev.Config) *maglev.Builder {
	tb.Helper()
	b, err := maglev.NewBuilder(cfg)
	require.NoError(tb, err)
	return b
}

// TestCiliumGoldenVector reproduces the table in Cilium's TestReproducible
// (pkg/maglev), which Cilium keeps fixed across releases.
func TestCiliumGoldenVector(t *testing.T) {
	const want = "2(5),3(1),2(3),1(1),2(2),0(1),2(1),3(1),2(1),3(1),2(1),1(1),2(7),1(1),2(14),3(1),2(1)," +
		"1(2),2(12),3(1),2(3),1(1),2(4),3(1),2(8),3(1),2(2),1(1),2(16),1(2),2(3),3(1),2(11),1(2),2(4),3(1),2(3)," +
		"1(1),2(4),3(1),2(1),0(1),1(1),2(8),1(1),2(7),1(1),2(4),3(1),2(1),3(1),2(9),1(2),2(5),1(1),2(7),3(1),2(1)," +
		"3(1),1(1),2(8),1(1),2(4),0(1),2(1),1(1),2(5),3(1),2(3),1(1),2(4),3(1),2(3),1(1),2(12),0(1),3(1),2(3),3(1)," +
		"2(4),3(1),2(2),1(1),2(7)"
	b := newBuilder(t, maglev.Config{TableSize: 251, HashSeed: maglev.DefaultHashSeed})
	table, err := b.Table([]maglev.Backend{
		ciliumTestAddr(1, 0, 2),
		ciliumTestAddr(3, 1, 13),
		ciliumTestAddr(4, 2, 111),
		ciliumTestAddr(5, 3, 10),
	})
	require.NoError(t, err)
	require.Equal(t, want, runLength(table))
}

// TestCiliumWeightedCounts checks the per-backend slot counts Cilium's
// TestWeightedBackendWithRemoval expects.
func TestCiliumWeightedCounts(t *testing.T) {
	b := newBuilder(t, maglev.Config{TableSize: 1021})
	backends := []maglev.Backend{
		ciliumTestAddr(1, 1, 2), ciliumTestAddr(2, 2, 13), ciliumTestAddr(3, 3, 111), ciliumTestAddr(4, 4, 10),
	}
	table, err := b.Table(backends)
	require.NoError(t, err)
	st := maglev.ComputeStats(table, backends)
	var got []int
	for _, bs := range st.Backends {
		got = append(got, bs.Slots)
	}
	require.Equal(t, []int{16, 98, 832, 75}, got)
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   maglev.Config
		field string
		err   error
	}{
		{name: "zero value", cfg: maglev.Config{}},
		{name: "native 65521", cfg: maglev.Config{Mode: maglev.ModeNative, TableSize: 65521}},
		{name: "prime outside Cilium's list", cfg: maglev.Config{TableSize: 1009}},
		{name: "not prime", cfg: maglev.Config{TableSize: 1000}, field: "TableSize", err: maglev.ErrInvalidTableSize},
		{name: "prime too small", cfg: maglev.Config{TableSize: 241}, field: "TableSize", err: maglev.ErrInvalidTableSize},
		{name: "prime too large", cfg: maglev.Config{TableSize: 131101}, field: "TableSize", err: maglev.ErrInvalidTableSize},
		{name: "negative", cfg: maglev.Config{TableSize: -7}, field: "TableSize", err: maglev.ErrInvalidTableSize},
		{name: "seed not base64", cfg: maglev.Config{HashSeed: "not*base64"}, field: "HashSeed", err: maglev.ErrInvalidSeed},
		{name: "seed too short", cfg: maglev.Config{HashSeed: "AAAA"}, field: "HashSeed", err: maglev.ErrInvalidSeed},
		{name: "seed too long", cfg: maglev.Config{HashSeed: "AAAAAAAAAAAAAAAAAAAA"}, field: "HashSeed", err: maglev.ErrInvalidSeed},
		{name: "unknown mode", cfg: maglev.Config{Mode: 9}, field: "Mode", err: maglev.ErrInvalidMode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			_, nerr := maglev.NewBuilder(tc.cfg)
			if tc.err == nil {
				require.NoError(t, err)
				require.NoError(t, nerr)
				return
			}
			require.ErrorIs(t, err, tc.err)
			require.ErrorIs(t, nerr, tc.err)
			var ce *maglev.ConfigError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tc.field, ce.Field)
			require.Contains(t, err.Error(), tc.field)
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	b := newBuilder(t, maglev.Config{})
	require.Equal(t, maglev.Config{Mode: maglev.ModeCilium, TableSize: maglev.DefaultTableSize, HashSeed: maglev.DefaultHashSeed}, b.Config())
	require.Equal(t, maglev.DefaultTableSize, b.TableSize())
	require.Equal(t, maglev.MustParseSeed(maglev.DefaultHashSeed), b.Seed())
	for _, m := range maglev.CiliumTableSizes() {
		require.NoError(t, maglev.Config{TableSize: m}.Validate(), "Cilium size %d", m)
	}
	require.Equal(t, 16381, maglev.RecommendedTableSize(100))
	require.Equal(t, 65521, maglev.RecommendedTableSize(500))
	require.Equal(t, 251, maglev.RecommendedTableSize(0))
	require.Equal(t, maglev.MaxTableSize, maglev.RecommendedTableSize(5000))
	require.Equal(t, "cilium", maglev.ModeCilium.String())
	require.Equal(t, "native", maglev.ModeNative.String())
	require.Equal(t, "Mode(9)", maglev.Mode(9).String())
}

func TestParseSeed(t *testing.T) {
	s, err := maglev.ParseSeed(maglev.DefaultHashSeed)
	require.NoError(t, err)
	// base64 "JLfvgnHc2kaSUFaI" is 24 b7 ef 82 | 71 dc da 46 | 92 50 56 88.
	require.Equal(t, maglev.Seed{Murmur: 0x24b7ef82, Flow4: 0x71dcda46, Flow6: 0x92505688}, s)
	require.Equal(t, maglev.DefaultHashSeed, s.String())
	require.Panics(t, func() { maglev.MustParseSeed("x") })
}

func TestBuildErrors(t *testing.T) {
	v4 := func(s string, port uint16, id uint32) maglev.Backend {
		return maglev.Backend{ID: id, Addr: netip.MustParseAddr(s), Port: port, Protocol: maglev.ProtocolTCP, Weight: 1}
	}
	for _, tc := range []struct {
		name     string
		mode     maglev.Mode
		backends []maglev.Backend
		err      error
		index    int
		field    string
	}{
		{name: "no address", backends: []maglev.Backend{v4("10.0.0.1", 80, 1), {ID: 2, Weight: 1}}, err: maglev.ErrInvalidBackend, index: 1, field: "Addr"},
		{name: "zone", backends: []maglev.Backend{{ID: 1, Addr: netip.MustParseAddr("fe80::1%eth0"), Weight: 1}}, err: maglev.ErrInvalidBackend, index: 0, field: "Addr"},
		{name: "protocol", backends: []maglev.Backend{{ID: 1, Addr: netip.MustParseAddr("10.0.0.1"), Protocol: 99, Weight: 1}}, err: maglev.ErrInvalidBackend, index: 0, field: "Protocol"},
		{name: "negative weight", backends: []maglev.Backend{v4("10.0.0.1", 80, 1), {ID: 2, Addr: netip.MustParseAddr("10.0.0.2"), Weight: -1}}, err: maglev.ErrInvalidWeight, index: 1, field: "Weight"},
		{name: "weight over uint16 in cilium mode", backends: []maglev.Backend{{ID: 1, Addr: netip.MustParseAddr("10.0.0.1"), Weight: 70000}}, err: maglev.ErrInvalidWeight, index: 0, field: "Weight"},
		{name: "weight over int32 in native mode", mode: maglev.ModeNative, backends: []maglev.Backend{{ID: 1, Addr: netip.MustParseAddr("10.0.0.1"), Weight: 1 << 32}}, err: maglev.ErrInvalidWeight, index: 0, field: "Weight"},
		{name: "duplicate identity", backends: []maglev.Backend{v4("10.0.0.1", 80, 1), v4("10.0.0.2", 80, 2), v4("10.0.0.1", 80, 3)}, err: maglev.ErrDuplicateBackend, index: 2, field: "Addr"},
		{name: "duplicate identity native", mode: maglev.ModeNative, backends: []maglev.Backend{v4("10.0.0.1", 80, 1), v4("10.0.0.1", 80, 3)}, err: maglev.ErrDuplicateBackend, index: 1, field: "Addr"},
		{name: "duplicate ID", backends: []maglev.Backend{v4("10.0.0.1", 80, 7), v4("10.0.0.2", 80, 7)}, err: maglev.ErrDuplicateBackend, index: 1, field: "ID"},
		{name: "all weights zero", backends: []maglev.Backend{{ID: 1, Addr: netip.MustParseAddr("10.0.0.1")}}, err: maglev.ErrZeroWeightSum, index: -1},
		{name: "more backends than slots", backends: benchBackends(252), err: maglev.ErrTooManyBackends, index: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuilder(t, maglev.Config{Mode: tc.mode, TableSize: 251})
			table, err := b.Build(make([]uint32, 0, 251), tc.backends)
			require.ErrorIs(t, err, tc.err)
			require.Empty(t, table)
			var be *maglev.BackendError
			if tc.index < 0 {
				require.False(t, errors.As(err, &be))
				return
			}
			require.ErrorAs(t, err, &be)
			require.Equal(t, tc.index, be.Index)
			require.Equal(t, tc.field, be.Field)
			require.Contains(t, err.Error(), fmt.Sprintf("backends[%d]", tc.index))
			// The builder is still usable after an error.
			_, err = b.Table(benchBackends(3))
			require.NoError(t, err)
		})
	}
}

func TestEmpty(t *testing.T) {
	for _, mode := range []maglev.Mode{maglev.ModeCilium, maglev.ModeNative} {
		b := newBuilder(t, maglev.Config{Mode: mode})
		table, err := b.Table(nil)
		require.NoError(t, err)
		require.Empty(t, table)
		table, err = b.Build(make([]uint32, 5), []maglev.Backend{})
		require.NoError(t, err)
		require.Empty(t, table)
		_, ok := maglev.Lookup(table, b.Seed(), maglev.Flow{})
		require.False(t, ok)
	}
}

var modes = []maglev.Mode{maglev.ModeCilium, maglev.ModeNative}

// TestEqualWeightBalance checks that with equal weights every backend owns
// floor(M/N) or ceil(M/N) slots and the table holds only known IDs.
func TestEqualWeightBalance(t *testing.T) {
	for _, mode := range modes {
		for _, m := range []int{251, 16381, 65521} {
			for _, n := range []int{1, 2, 3, 10, 99, m / 100, min(m, 1000), m} {
				t.Run(fmt.Sprintf("%s/M=%d/N=%d", mode, m, n), func(t *testing.T) {
					backends := benchBackends(n)
					for i := range backends {
						backends[i].Weight = 5
					}
					table, err := newBuilder(t, maglev.Config{Mode: mode, TableSize: m}).Table(backends)
					require.NoError(t, err)
					require.Len(t, table, m)
					st := maglev.ComputeStats(table, backends)
					require.Zero(t, st.Unknown)
					require.GreaterOrEqual(t, st.MinSlots, m/n)
					require.LessOrEqual(t, st.MaxSlots, (m+n-1)/n)
				})
			}
		}
	}
}

// TestWeightedBalance checks that shares follow weights: ModeNative within
// one slot of the exact share, ModeCilium within its own tolerance.
func TestWeightedBalance(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, mode := range modes {
		for _, n := range []int{2, 10, 100, 600} {
			t.Run(fmt.Sprintf("%s/N=%d", mode, n), func(t *testing.T) {
				backends := benchBackends(n)
				var sum int64
				for i := range backends {
					backends[i].Weight = int64(r.IntN(1000) + 1)
					sum += backends[i].Weight
				}
				const m = 65521
				table, err := newBuilder(t, maglev.Config{Mode: mode, TableSize: m}).Table(backends)
				require.NoError(t, err)
				st := maglev.ComputeStats(table, backends)
				require.Zero(t, st.Unknown)
				for _, bs := range st.Backends {
					ideal := float64(m) * float64(bs.Weight) / float64(sum)
					if mode == maglev.ModeNative {
						assert.InDelta(t, ideal, bs.Slots, nativeSlack(n, bs.Weight, sum), "backend %d weight %d", bs.ID, bs.Weight)
					} else {
						assert.InDelta(t, ideal, bs.Slots, 0.05*ideal+float64(n), "backend %d weight %d", bs.ID, bs.Weight)
					}
				}
				t.Logf("weight error %.4f, max/min %.3f", st.WeightError, st.MaxMinRatio)
			})
		}
	}
}

// nativeSlack bounds how far ModeNative's slot count may stray from the
// exact share M*w/W: quotas are that share rounded by largest remainder, so
// less than one slot.
func nativeSlack(int, int64, int64) float64 { return 0.999999 }

// TestInputOrderAndIDs checks that only identities and weights matter: the
// order of backends does not, and IDs only label slots.
func TestInputOrderAndIDs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, mode := range modes {
		for _, weighted := range []bool{false, true} {
			backends := benchBackends(200)
			if weighted {
				for i := range backends {
					backends[i].Weight = int64(r.IntN(50) + 1)
				}
			}
			b := newBuilder(t, maglev.Config{Mode: mode, TableSize: 32749})
			want, err := b.Table(backends)
			require.NoError(t, err)

			shuffled := slices.Clone(backends)
			r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			got, err := b.Table(shuffled)
			require.NoError(t, err)
			require.Equal(t, want, got, "%s weighted=%v: input order changed the table", mode, weighted)

			relabel := slices.Clone(backends)
			for i := range relabel {
				relabel[i].ID = backends[i].ID + 1000
			}
			got, err = b.Table(relabel)
			require.NoError(t, err)
			for s := range got {
				require.Equal(t, want[s]+1000, got[s])
			}
		}
	}
}

// TestDrainedBackends checks that a weight-0 backend owns nothing and does
// not change anyone else's slots.
func TestDrainedBackends(t *testing.T) {
	for _, mode := range modes {
		backends := benchBackends(50)
		b := newBuilder(t, maglev.Config{Mode: mode, TableSize: 16381})
		want, err := b.Table(backends[1:])
		require.NoError(t, err)
		backends[0].Weight = 0
		got, err := b.Table(backends)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}

// TestModesDiffer guards against ModeNative silently falling back to
// ModeCilium's hashing.
func TestModesDiffer(t *testing.T) {
	backends := benchBackends(20)
	a, err := newBuilder(t, maglev.Config{}).Table(backends)
	require.NoError(t, err)
	b, err := newBuilder(t, maglev.Config{Mode: maglev.ModeNative}).Table(backends)
	require.NoError(t, err)
	require.Greater(t, maglev.Diff(a, b).Fraction, 0.5)
}

// TestSeedMatters checks that another seed gives another table.
func TestSeedMatters(t *testing.T) {
	for _, mode := range modes {
		backends := benchBackends(20)
		a, err := newBuilder(t, maglev.Config{Mode: mode}).Table(backends)
		require.NoError(t, err)
		b, err := newBuilder(t, maglev.Config{Mode: mode, HashSeed: "AAAAAAAAAAAAAAAA"}).Table(backends)
		require.NoError(t, err)
		require.Greater(t, maglev.Diff(a, b).Fraction, 0.5)
	}
}

// TestZeroAllocs checks that a reused builder allocates nothing.
func TestZeroAllocs(t *testing.T) {
	for _, mode := range modes {
		for _, weighted := range []bool{false, true} {
			backends := benchBackends(1000)
			if weighted {
				for i := range backends {
					backends[i].Weight = int64(i%7 + 1)
				}
			}
			b := newBuilder(t, maglev.Config{Mode: mode, TableSize: 16381})
			table, err := b.Table(backends)
			require.NoError(t, err)
			allocs := testing.AllocsPerRun(5, func() {
				table, err = b.Build(table, backends)
			})
			require.NoError(t, err)
			require.Zero(t, allocs, "%s weighted=%v", mode, weighted)
		}
	}
}

// TestScratchBudget checks the memory a builder keeps at N=5000: O(N), far
// below Cilium's O(N*M) permutation array.
func TestScratchBudget(t *testing.T) {
	for _, mode := range modes {
		b := newBuilder(t, maglev.Config{Mode: mode, TableSize: 65521})
		_, err := b.Table(benchBackends(5000))
		require.NoError(t, err)
		require.Less(t, b.ScratchBytes(), 1<<20, "%s", mode)
	}
}

func TestBackendString(t *testing.T) {
	for _, tc := range []struct {
		b    maglev.Backend
		want string
	}{
		{maglev.Backend{Addr: netip.MustParseAddr("10.0.0.1"), Port: 80, Protocol: maglev.ProtocolTCP}, "10.0.0.1:80/TCP"},
		{maglev.Backend{Addr: netip.MustParseAddr("2001:db8::1"), Port: 443, Protocol: maglev.ProtocolUDP}, "[2001:db8::1]:443/UDP"},
		{maglev.Backend{Addr: netip.MustParseAddr("10.0.0.1"), Port: 53, Protocol: maglev.ProtocolSCTP, ClusterID: 2}, "10.0.0.1@2:53/SCTP"},
		{maglev.Backend{Addr: netip.MustParseAddr("2001:db8::1"), Port: 1, ClusterID: 7}, "[2001:db8::1@7]:1/ANY"},
		{maglev.Backend{Addr: netip.MustParseAddr("10.0.0.1"), Protocol: 50}, "10.0.0.1:0/Protocol(50)"},
	} {
		require.Equal(t, tc.want, tc.b.String())
	}
}

func TestStats(t *testing.T) {
	backends := []maglev.Backend{
		{ID: 1, Weight: 1}, {ID: 2, Weight: 3}, {ID: 3, Weight: 0},
	}
	st := maglev.ComputeStats([]uint32{1, 2, 2, 2, 9}, backends)
	require.Equal(t, 5, st.TableSize)
	require.Equal(t, []int{1, 3, 0}, []int{st.Backends[0].Slots, st.Backends[1].Slots, st.Backends[2].Slots})
	require.Equal(t, 1, st.Unknown)
	require.Equal(t, 1, st.MinSlots)
	require.Equal(t, 3, st.MaxSlots)
	require.InDelta(t, 3.0, st.MaxMinRatio, 1e-9)
	require.InDelta(t, 0.25, st.Backends[0].Want, 1e-9)
	// backend 1: share 0.2 vs 0.25 -> 0.2; backend 2: 0.6 vs 0.75 -> 0.2.
	require.InDelta(t, 0.2, st.WeightError, 1e-9)

	st = maglev.ComputeStats([]uint32{1, 1}, backends)
	require.True(t, st.MaxMinRatio > 1e300, "a weighted backend without slots makes the ratio infinite")
	st = maglev.ComputeStats(nil, nil)
	require.Zero(t, st.MinSlots)
}

func TestDiff(t *testing.T) {
	d := maglev.Diff([]uint32{1, 2, 3, 4}, []uint32{1, 5, 3, 6})
	require.Equal(t, []int{1, 3}, d.Changed)
	require.InDelta(t, 0.5, d.Fraction, 1e-9)
	d = maglev.Diff([]uint32{1, 2}, []uint32{1, 2})
	require.Empty(t, d.Changed)
	require.Zero(t, d.Fraction)
	d = maglev.Diff([]uint32{1, 2}, []uint32{1, 2, 3})
	require.Equal(t, []int{0, 1, 2}, d.Changed)
	require.Equal(t, 1.0, d.Fraction)
	d = maglev.Diff(nil, nil)
	require.Zero(t, d.Fraction)
}

// TestRemovalMovesLittle checks Maglev's minimal-disruption property on
// removal: slots of surviving backends rarely move (under 1% of the table
// at M=65521, N=100; Cilium asserts the same bound for N=3).
func TestRemovalMovesLittle(t *testing.T) {
	for _, mode := range modes {
		backends := benchBackends(100)
		b := newBuilder(t, maglev.Config{Mode: mode, TableSize: 65521})
		before, err := b.Table(backends)
		require.NoError(t, err)
		after, err := b.Table(backends[1:])
		require.NoError(t, err)
		moved := 0
		for s := range before {
			if before[s] != backends[0].ID && after[s] != before[s] {
				moved++
			}
		}
		require.Less(t, float64(moved)/float64(len(before)), 0.01, "%s", mode)
	}
}
