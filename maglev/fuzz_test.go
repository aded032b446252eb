package maglev_test

import (
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/maglev"
)

// fuzzSizes are the table sizes the fuzzer picks from.
var fuzzSizes = []int{251, 257, 509, 1021, 2039}

// decodeBackends turns fuzz bytes into backends, 6 bytes each: address
// selector and low byte, port, protocol selector, weight. When equal is set
// every non-zero weight becomes the same.
func decodeBackends(data []byte, equal bool) []maglev.Backend {
	protos := []maglev.Protocol{maglev.ProtocolTCP, maglev.ProtocolUDP, maglev.ProtocolSCTP, maglev.ProtocolAny}
	var out []maglev.Backend
	for i := 0; i+6 <= len(data); i += 6 {
		d := data[i : i+6]
		var addr netip.Addr
		if d[0]&1 == 0 {
			addr = netip.AddrFrom4([4]byte{10, 0, d[0] >> 1, d[1]})
		} else {
			addr = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: d[0] >> 1, 15: d[1]})
		}
		w := int64(d[5])
		if equal && w > 0 {
			w = 3
		}
		out = append(out, maglev.Backend{
			ID:        uint32(len(out) + 1),
			Addr:      addr,
			Port:      uint16(d[2])<<8 | uint16(d[3]),
			Protocol:  protos[d[4]&3],
			ClusterID: uint32(d[4] >> 6),
			Weight:    w,
		})
	}
	return out
}

// FuzzBuild checks the table invariants on arbitrary backend sets: every
// slot holds an active backend, builds are deterministic and independent of
// input order, weight-0 backends own nothing, equal weights balance to
// floor/ceil(M/N), and ModeNative's weighted shares stay within its bound.
func FuzzBuild(f *testing.F) {
	f.Add([]byte{0, 1, 0, 80, 0, 1, 0, 2, 0, 80, 0, 1}, uint8(0), uint8(0), false)
	f.Add([]byte{1, 1, 1, 187, 1, 10, 0, 2, 0, 80, 0, 200, 4, 9, 0, 53, 66, 0}, uint8(1), uint8(2), false)
	f.Add([]byte{2, 7, 0, 80, 0, 5, 2, 8, 0, 80, 0, 5, 2, 9, 0, 80, 0, 7}, uint8(1), uint8(1), true)
	f.Fuzz(func(t *testing.T, data []byte, mode, size uint8, equal bool) {
		cfg := maglev.Config{Mode: maglev.Mode(mode % 2), TableSize: fuzzSizes[int(size)%len(fuzzSizes)]}
		backends := decodeBackends(data, equal)
		b, err := maglev.NewBuilder(cfg)
		require.NoError(t, err)
		table, err := b.Table(backends)
		if err != nil {
			// Only these inputs are rejected, and they must be.
			require.True(t, errors.Is(err, maglev.ErrDuplicateBackend) || errors.Is(err, maglev.ErrZeroWeightSum) ||
				errors.Is(err, maglev.ErrTooManyBackends), "unexpected error %v", err)
			return
		}
		if len(backends) == 0 {
			require.Empty(t, table)
			return
		}
		require.Len(t, table, cfg.TableSize)
		st := maglev.ComputeStats(table, backends)
		require.Zero(t, st.Unknown, "every slot holds a known backend")

		var sum int64
		active := 0
		for _, be := range backends {
			if be.Weight > 0 {
				sum += be.Weight
				active++
			}
		}
		weights := map[int64]bool{}
		for _, be := range backends {
			if be.Weight > 0 {
				weights[be.Weight] = true
			}
		}
		allEqual := len(weights) == 1
		for _, bs := range st.Backends {
			if bs.Weight == 0 {
				require.Zero(t, bs.Slots, "drained backend %d owns slots", bs.ID)
				continue
			}
			switch {
			case allEqual:
				require.GreaterOrEqual(t, bs.Slots, cfg.TableSize/active)
				require.LessOrEqual(t, bs.Slots, (cfg.TableSize+active-1)/active)
			case cfg.Mode == maglev.ModeNative:
				ideal := float64(cfg.TableSize) * float64(bs.Weight) / float64(sum)
				require.InDelta(t, ideal, bs.Slots, nativeSlack(active, bs.Weight, sum), "backend %d", bs.ID)
			}
		}

		again, err := maglev.NewBuilder(cfg)
		require.NoError(t, err)
		reversed := slices.Clone(backends)
		slices.Reverse(reversed)
		table2, err := again.Table(reversed)
		require.NoError(t, err)
		require.Equal(t, table, table2, "deterministic and independent of input order")
	})
}

// FuzzParseSeed checks that ParseSeed accepts only base64 encodings of 12
// bytes (like Cilium, it lets encoding/base64 skip line breaks) and that
// String gives a seed that parses back to the same value.
func FuzzParseSeed(f *testing.F) {
	f.Add(maglev.DefaultHashSeed)
	f.Add("AAAAAAAAAAAAAAAA")
	f.Add("")
	f.Add("JLfvgnHc2kaSUFa=")
	f.Fuzz(func(t *testing.T, s string) {
		seed, err := maglev.ParseSeed(s)
		if err != nil {
			require.ErrorIs(t, err, maglev.ErrInvalidSeed)
			return
		}
		again, err := maglev.ParseSeed(seed.String())
		require.NoError(t, err)
		require.Equal(t, seed, again)
	})
}
