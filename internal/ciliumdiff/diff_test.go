package ciliumdiff

import (
	"encoding/base64"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	cmtypes "github.com/cilium/cilium/pkg/clustermesh/types"
	"github.com/cilium/cilium/pkg/loadbalancer"
	ciliummaglev "github.com/cilium/cilium/pkg/maglev"
	"github.com/cilium/hive/hivetest"
	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/maglev"
)

// ciliumBuilder wraps one Cilium Maglev instance.
type ciliumBuilder struct {
	ml *ciliummaglev.Maglev
}

func newCilium(tb testing.TB, m int, seed string) *ciliumBuilder {
	tb.Helper()
	cfg, err := ciliummaglev.UserConfig{TableSize: uint(m), HashSeed: seed}.ToConfig()
	require.NoError(tb, err)
	return &ciliumBuilder{ml: ciliummaglev.New(cfg, hivetest.Lifecycle(tb))}
}

var protoNames = map[maglev.Protocol]loadbalancer.L4Type{
	maglev.ProtocolAny:  loadbalancer.ANY,
	maglev.ProtocolTCP:  loadbalancer.TCP,
	maglev.ProtocolUDP:  loadbalancer.UDP,
	maglev.ProtocolSCTP: loadbalancer.SCTP,
}

// infos converts backends the way Cilium's reconciler hands them to
// GetLookupTable: only active (weight > 0) backends.
func infos(backends []maglev.Backend) []ciliummaglev.BackendInfo {
	out := make([]ciliummaglev.BackendInfo, 0, len(backends))
	for _, b := range backends {
		if b.Weight == 0 {
			continue
		}
		out = append(out, ciliummaglev.BackendInfo{
			ID:     loadbalancer.BackendID(b.ID),
			Addr:   loadbalancer.NewL3n4Addr(protoNames[b.Protocol], cmtypes.AddrClusterFrom(b.Addr, b.ClusterID), b.Port, 0),
			Weight: uint16(b.Weight),
		})
	}
	return out
}

func (c *ciliumBuilder) table(backends []maglev.Backend) []uint32 {
	ids := c.ml.GetLookupTable(slices.Values(infos(backends)))
	out := make([]uint32, len(ids))
	for i, id := range ids {
		out[i] = uint32(id)
	}
	return out
}

// weightShape names a way to draw weights.
type weightShape int

const (
	weightsOne weightShape = iota
	weightsEqual
	weightsSmall
	weightsWide
	weightsSkewed
	weightsDrained
	numWeightShapes
)

func randomBackends(r *rand.Rand, n int, shape weightShape) []maglev.Backend {
	protos := []maglev.Protocol{maglev.ProtocolTCP, maglev.ProtocolTCP, maglev.ProtocolUDP, maglev.ProtocolSCTP, maglev.ProtocolAny}
	seen := map[string]bool{}
	equal := int64(r.IntN(1000) + 2)
	var out []maglev.Backend
	for len(out) < n {
		var addr netip.Addr
		switch r.IntN(4) {
		case 0:
			var a [16]byte
			a[0], a[1] = 0x20, 0x01
			for i := 2; i < 16; i++ {
				a[i] = byte(r.Uint32())
			}
			addr = netip.AddrFrom16(a)
		case 1:
			addr = netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))})
		default:
			addr = netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
		}
		b := maglev.Backend{
			ID:       uint32(len(out)*7 + 1),
			Addr:     addr,
			Port:     uint16(r.IntN(65536)),
			Protocol: protos[r.IntN(len(protos))],
		}
		if r.IntN(5) == 0 {
			b.ClusterID = uint32(r.IntN(511) + 1)
		}
		switch shape {
		case weightsOne:
			b.Weight = 1
		case weightsEqual:
			b.Weight = equal
		case weightsSmall:
			b.Weight = int64(r.IntN(5) + 1)
		case weightsWide:
			b.Weight = int64(r.IntN(maglev.MaxCiliumWeight) + 1)
		case weightsSkewed:
			b.Weight = 1
			if r.IntN(10) == 0 {
				b.Weight = int64(r.IntN(1000) + 1)
			}
		case weightsDrained:
			b.Weight = int64(r.IntN(3)) * 50
		}
		if seen[b.String()] {
			continue
		}
		seen[b.String()] = true
		out = append(out, b)
	}
	if shape == weightsDrained {
		out[0].Weight = 100 // keep at least one backend active
	}
	return out
}

func randomSeed(r *rand.Rand) string {
	var b [12]byte
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return base64.StdEncoding.EncodeToString(b[:])
}

// TestDifferential builds tables with both implementations over random
// backend sets, seeds, table sizes and weights and requires them to be
// identical slot for slot.
func TestDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sizes := []int{251, 509, 1021, 2039, 4093, 16381}
	cases := 0
	for _, m := range sizes {
		seeds := []string{maglev.DefaultHashSeed, randomSeed(r), randomSeed(r)}
		for _, seed := range seeds {
			cil := newCilium(t, m, seed)
			ours, err := maglev.NewBuilder(maglev.Config{TableSize: m, HashSeed: seed})
			require.NoError(t, err)
			for shape := range numWeightShapes {
				for _, n := range []int{1, 2, 3, r.IntN(20) + 4, r.IntN(m/50) + 1, m / 100} {
					if n < 1 {
						continue
					}
					backends := randomBackends(r, n, shape)
					want := cil.table(backends)
					got, err := ours.Table(backends)
					require.NoError(t, err)
					require.Equal(t, want, got, "M=%d seed=%s weights=%d N=%d", m, seed, shape, n)
					cases++
				}
			}
		}
	}
	t.Logf("%d tables identical to Cilium's", cases)
}

// TestDifferentialLarge covers the sizes the guide recommends (65521) with
// many backends, and input order.
func TestDifferentialLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Cilium tables of 65521 slots")
	}
	r := rand.New(rand.NewPCG(3, 4))
	const m = 65521
	cil := newCilium(t, m, maglev.DefaultHashSeed)
	ours, err := maglev.NewBuilder(maglev.Config{TableSize: m})
	require.NoError(t, err)
	for _, tc := range []struct {
		n     int
		shape weightShape
	}{{100, weightsOne}, {655, weightsEqual}, {300, weightsSmall}, {200, weightsWide}, {1000, weightsSkewed}} {
		backends := randomBackends(r, tc.n, tc.shape)
		want := cil.table(backends)
		r.Shuffle(len(backends), func(i, j int) { backends[i], backends[j] = backends[j], backends[i] })
		got, err := ours.Table(backends)
		require.NoError(t, err)
		require.Equal(t, want, got, "N=%d weights=%d", tc.n, tc.shape)
	}
}

// TestCiliumIgnoresLowMeanWeights pins a Cilium quirk ModeCilium must
// reproduce: when the integer mean weight is at most 1, Cilium ignores the
// weights, so weights {1, 2} give the same table as {1, 1}.
func TestCiliumIgnoresLowMeanWeights(t *testing.T) {
	backends := randomBackends(rand.New(rand.NewPCG(7, 7)), 2, weightsOne)
	cil := newCilium(t, 1021, maglev.DefaultHashSeed)
	equal := cil.table(backends)
	backends[1].Weight = 2
	uneven := cil.table(backends)
	require.Equal(t, equal, uneven, "Cilium honoured weights {1, 2}")

	ours, err := maglev.NewBuilder(maglev.Config{TableSize: 1021})
	require.NoError(t, err)
	got, err := ours.Table(backends)
	require.NoError(t, err)
	require.Equal(t, uneven, got)

	native, err := maglev.NewBuilder(maglev.Config{Mode: maglev.ModeNative, TableSize: 1021})
	require.NoError(t, err)
	got, err = native.Table(backends)
	require.NoError(t, err)
	st := maglev.ComputeStats(got, backends)
	require.Equal(t, []int{340, 681}, []int{st.Backends[0].Slots, st.Backends[1].Slots}, "ModeNative honours {1, 2}")
}

// TestFlowHashSeeds checks that the flow hash seeds are the ones Cilium
// programs into the datapath (hash_init4_seed, hash_init6_seed).
func TestFlowHashSeeds(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 20 {
		s := randomSeed(r)
		cfg, err := ciliummaglev.UserConfig{TableSize: ciliummaglev.DefaultTableSize, HashSeed: s}.ToConfig()
		require.NoError(t, err)
		seed, err := maglev.ParseSeed(s)
		require.NoError(t, err)
		require.Equal(t, cfg.SeedMurmur, seed.Murmur)
		require.Equal(t, cfg.SeedJhash0, seed.Flow4)
		require.Equal(t, cfg.SeedJhash1, seed.Flow6)
		require.Equal(t, s, seed.String())
	}
}
