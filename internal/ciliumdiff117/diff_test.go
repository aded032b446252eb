package ciliumdiff117

import (
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

// cilium is the Reference that runs Cilium v1.17's GetLookupTable on the
// active backends, as its service manager does.
func cilium(tb testing.TB, m int, seed string) maglevtest.Reference {
	ml, err := ciliummaglev.New(ciliummaglev.Config{MaglevTableSize: uint(m), MaglevHashSeed: seed}, hivetest.Lifecycle(tb))
	require.NoError(tb, err)
	return func(backends []maglev.Backend) []uint32 {
		var infos []ciliummaglev.BackendInfo
		for _, b := range backends {
			if b.Weight == 0 {
				continue
			}
			infos = append(infos, ciliummaglev.BackendInfo{
				ID:     loadbalancer.BackendID(b.ID),
				Addr:   *loadbalancer.NewL3n4Addr(protoNames[b.Protocol], cmtypes.AddrClusterFrom(b.Addr, b.ClusterID), b.Port, 0),
				Weight: uint16(b.Weight),
			})
		}
		ids := ml.GetLookupTable(slices.Values(infos))
		out := make([]uint32, len(ids))
		for i, id := range ids {
			out[i] = uint32(id)
		}
		return out
	}
}

func TestDifferential(t *testing.T) {
	t.Logf("%d tables identical to Cilium v1.17's", maglevtest.Differential(t, cilium))
}

func TestDifferentialLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Cilium tables of 65521 slots")
	}
	maglevtest.DifferentialLarge(t, cilium)
}
