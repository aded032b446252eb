package ciliumdiff

import (
	"math/rand/v2"
	"slices"
	"testing"

	cmtypes "github.com/cilium/cilium/pkg/clustermesh/types"
	"github.com/cilium/cilium/pkg/loadbalancer"
	ciliummaglev "github.com/cilium/cilium/pkg/maglev"
	"github.com/cilium/hive/hivetest"
	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/internal/maglevtest"
	"github.com/eniway/eniway/maglev"
)

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

func newMaglev(tb testing.TB, m int, seed string) *ciliummaglev.Maglev {
	tb.Helper()
	cfg, err := ciliummaglev.UserConfig{TableSize: uint(m), HashSeed: seed}.ToConfig()
	require.NoError(tb, err)
	return ciliummaglev.New(cfg, hivetest.Lifecycle(tb))
}

// cilium is the Reference that runs Cilium's GetLookupTable.
func cilium(tb testing.TB, m int, seed string) maglevtest.Reference {
	ml := newMaglev(tb, m, seed)
	return func(backends []maglev.Backend) []uint32 {
		ids := ml.GetLookupTable(slices.Values(infos(backends)))
		out := make([]uint32, len(ids))
		for i, id := range ids {
			out[i] = uint32(id)
		}
		return out
	}
}

func TestDifferential(t *testing.T) {
	t.Logf("%d tables identical to Cilium's", maglevtest.Differential(t, cilium))
}

func TestDifferentialLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Cilium tables of 65521 slots")
	}
	maglevtest.DifferentialLarge(t, cilium)
}

// TestCiliumIgnoresLowMeanWeights pins a Cilium quirk ModeCilium must
// reproduce: when the integer mean weight is at most 1, Cilium ignores the
// weights, so weights {1, 2} give the same table as {1, 1}.
func TestCiliumIgnoresLowMeanWeights(t *testing.T) {
	backends := maglevtest.RandomBackends(rand.New(rand.NewPCG(7, 7)), 2, maglevtest.WeightsOne)
	ref := cilium(t, 1021, maglev.DefaultHashSeed)
	equal := ref(backends)
	backends[1].Weight = 2
	uneven := ref(backends)
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
		s := maglevtest.RandomSeed(r)
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
