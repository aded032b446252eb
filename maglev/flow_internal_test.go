package maglev

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// jhash is the kernel's jhash over a byte string (Bob Jenkins' lookup3
// hashlittle). It backs the test that ties jhashMix and jhashFinal to
// lookup3's published test vectors.
func jhash(key []byte, initval uint32) uint32 {
	n := uint32(len(key))
	a := jhashInit + n + initval
	b, c := a, a
	for len(key) > 12 {
		a += binary.LittleEndian.Uint32(key[0:])
		b += binary.LittleEndian.Uint32(key[4:])
		c += binary.LittleEndian.Uint32(key[8:])
		a, b, c = jhashMix(a, b, c)
		key = key[12:]
	}
	if len(key) == 0 {
		return c
	}
	var tail [12]byte
	copy(tail[:], key)
	a += binary.LittleEndian.Uint32(tail[0:])
	b += binary.LittleEndian.Uint32(tail[4:])
	c += binary.LittleEndian.Uint32(tail[8:])
	return jhashFinal(a, b, c)
}

// TestJhashLookup3Vectors ties jhashMix and jhashFinal to the test vectors
// published with Bob Jenkins' lookup3.c (hashlittle), which the kernel's
// jhash implements.
func TestJhashLookup3Vectors(t *testing.T) {
	for _, tc := range []struct {
		key     string
		initval uint32
		want    uint32
	}{
		{"", 0, 0xdeadbeef},
		{"", 0xdeadbeef, 0xbd5b7dde},
		{"Four score and seven years ago", 0, 0x17770551},
		{"Four score and seven years ago", 1, 0xcd628161},
	} {
		require.Equal(t, tc.want, jhash([]byte(tc.key), tc.initval), "jhash(%q, %#x)", tc.key, tc.initval)
	}
}

// TestFlowHash4Layout checks FlowHash for IPv4 against jhash over the bytes
// Cilium's datapath hashes, laid out as they are in memory: the source
// address, the L4 header's port pair, the protocol as a 32-bit word; jhash
// of 12 bytes is jhash_3words of the three little-endian words.
func TestFlowHash4Layout(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for range 1000 {
		var key [12]byte
		for i := range 8 {
			key[i] = byte(r.Uint32())
		}
		proto := uint8(r.Uint32())
		key[8] = proto
		seed := Seed{Flow4: r.Uint32(), Flow6: r.Uint32()}
		f := Flow{
			Src:     netip.AddrFrom4([4]byte(key[0:4])),
			SrcPort: binary.BigEndian.Uint16(key[4:6]),
			DstPort: binary.BigEndian.Uint16(key[6:8]),
			Proto:   proto,
		}
		require.Equal(t, jhash(key[:], seed.Flow4), seed.FlowHash(f))
	}
}
