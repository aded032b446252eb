package fake

import (
	"math/bits"
	"math/rand/v2"
	"net/netip"

	"github.com/eniway/eniway/eni"
)

// reservedPerSubnet is the number of addresses AWS reserves in every
// subnet: the network address, the VPC router, the DNS server, one for
// future use, and the last address.
const reservedPerSubnet = 5

// prefixSize is the number of addresses in a delegated /28 prefix.
const prefixSize = 16

// subnet is a subnet and its address space: one bit per address, set when
// the address is reserved or in use (as an interface's primary or secondary
// address, or inside one of its prefixes).
type subnet struct {
	eni.Subnet // AvailableIPs is computed, see available
	base       uint32
	size       int
	used       []uint64
	inUse      int // addresses in use, a /28 counting 16
}

func newSubnet(s eni.Subnet) *subnet {
	size := 1 << (32 - s.CIDR.Bits())
	a := s.CIDR.Addr().As4()
	sn := &subnet{
		Subnet: s,
		base:   uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]),
		size:   size,
		used:   make([]uint64, (size+63)/64),
	}
	// Padding beyond a block smaller than a word is never free.
	for i := size; i < len(sn.used)*64; i++ {
		sn.set(i)
	}
	for _, i := range []int{0, 1, 2, 3, size - 1} {
		sn.set(i)
	}
	return sn
}

// view returns the subnet as EC2 describes it now.
func (s *subnet) view() eni.Subnet {
	v := s.Subnet
	v.AvailableIPs = s.available()
	v.Tags = v.Tags.Clone()
	return v
}

func (s *subnet) available() int { return s.size - reservedPerSubnet - s.inUse }

func (s *subnet) isSet(i int) bool { return s.used[i/64]&(1<<(i%64)) != 0 }
func (s *subnet) set(i int)        { s.used[i/64] |= 1 << (i % 64) }
func (s *subnet) clear(i int)      { s.used[i/64] &^= 1 << (i % 64) }

func (s *subnet) addr(i int) netip.Addr {
	v := s.base + uint32(i)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// index returns a's offset in the subnet, or false if a lies outside it.
func (s *subnet) index(a netip.Addr) (int, bool) {
	if !a.Is4() || !s.CIDR.Contains(a) {
		return 0, false
	}
	b := a.As4()
	return int((uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) - s.base), true
}

// allocAddrs takes n free addresses, all or none: the lowest ones, or
// random ones if rng is set. It reports false, taking nothing, if fewer
// than n are free.
func (s *subnet) allocAddrs(n int, rng *rand.Rand) ([]netip.Addr, bool) {
	if n > s.available() {
		return nil, false
	}
	out := make([]netip.Addr, 0, n)
	if rng != nil {
		for range n {
			i := s.nthFree(rng.IntN(s.available()))
			s.set(i)
			s.inUse++
			out = append(out, s.addr(i))
		}
		return out, true
	}
	for w := 0; w < len(s.used) && len(out) < n; w++ {
		for free := ^s.used[w]; free != 0 && len(out) < n; free &= free - 1 {
			i := w*64 + bits.TrailingZeros64(free)
			s.set(i)
			s.inUse++
			out = append(out, s.addr(i))
		}
	}
	return out, true
}

// nthFree returns the offset of the k-th free address (from 0), or -1.
func (s *subnet) nthFree(k int) int {
	for w, word := range s.used {
		free := ^word
		if z := bits.OnesCount64(free); k >= z {
			k -= z
			continue
		}
		for ; k > 0; k-- {
			free &= free - 1
		}
		return w*64 + bits.TrailingZeros64(free)
	}
	return -1
}

// blockFree reports whether the j-th aligned /28 of the subnet is wholly
// free: no address in use and no reserved one.
func (s *subnet) blockFree(j int) bool {
	return (s.used[j/4]>>(16*(j%4)))&0xffff == 0
}

// freeBlocks returns the indexes of the wholly free aligned /28 blocks.
func (s *subnet) freeBlocks() []int {
	var out []int
	for j := range s.size / prefixSize {
		if s.blockFree(j) {
			out = append(out, j)
		}
	}
	return out
}

// allocPrefixes takes n wholly free aligned /28 prefixes, all or none: the
// lowest ones, or random ones if rng is set. It reports false, taking
// nothing, if fewer than n are free.
func (s *subnet) allocPrefixes(n int, rng *rand.Rand) ([]netip.Prefix, bool) {
	blocks := s.freeBlocks()
	if len(blocks) < n {
		return nil, false
	}
	if rng != nil {
		for i := range n {
			j := i + rng.IntN(len(blocks)-i)
			blocks[i], blocks[j] = blocks[j], blocks[i]
		}
	}
	out := make([]netip.Prefix, 0, n)
	for _, j := range blocks[:n] {
		for i := j * prefixSize; i < (j+1)*prefixSize; i++ {
			s.set(i)
		}
		s.inUse += prefixSize
		out = append(out, netip.PrefixFrom(s.addr(j*prefixSize), 28))
	}
	return out, true
}

// releaseAddr returns an address the caller knows is in use.
func (s *subnet) releaseAddr(a netip.Addr) {
	i, ok := s.index(a)
	if !ok || !s.isSet(i) {
		panic("fake: releasing " + a.String() + " which " + s.ID + " has not handed out")
	}
	s.clear(i)
	s.inUse--
}

// releasePrefix returns a prefix the caller knows is in use.
func (s *subnet) releasePrefix(p netip.Prefix) {
	first, ok := s.index(p.Addr())
	if !ok || p.Bits() != 28 {
		panic("fake: releasing " + p.String() + " which " + s.ID + " has not handed out")
	}
	for i := first; i < first+prefixSize; i++ {
		s.clear(i)
	}
	s.inUse -= prefixSize
}
