package maglev

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Flow is the part of a packet's 5-tuple that selects a Maglev slot. The
// destination address is deliberately not hashed, as in Cilium, so a client
// reaches the same backend through any VIP of a service.
type Flow struct {
	// Src is the client's address. An invalid address hashes as 0.0.0.0.
	Src netip.Addr
	// SrcPort is the client's port. Set it to 0 for client-IP session
	// affinity (Cilium hashes port 0 for services with affinity).
	SrcPort uint16
	// DstPort is the service (frontend) port.
	DstPort uint16
	// Proto is the IP protocol number (6 TCP, 17 UDP, 132 SCTP).
	Proto uint8
}

// jhashInit is the Linux kernel jhash's JHASH_INITVAL.
const jhashInit = 0xdeadbeef

// FlowHash returns the hash Cilium's BPF datapath computes for f before it
// reads slot FlowHash % M of the service's Maglev table
// (__hash_from_tuple_v4/v6 in bpf/lib/hash.h): the kernel's jhash over the
// client address, both ports and the protocol, seeded with s.Flow4 for IPv4
// and s.Flow6 for IPv6. The datapath hashes header fields as they lie in
// memory on a little-endian CPU (x86_64, arm64); FlowHash reproduces that on
// every CPU.
func (s Seed) FlowHash(f Flow) uint32 {
	// Both ports as they lie in the L4 header, read as one little-endian
	// word: client port in the low half, service port in the high half.
	var ports [4]byte
	binary.BigEndian.PutUint16(ports[0:2], f.SrcPort)
	binary.BigEndian.PutUint16(ports[2:4], f.DstPort)
	pw := binary.LittleEndian.Uint32(ports[:])

	if !f.Src.Is6() {
		var a4 [4]byte
		if f.Src.Is4() {
			a4 = f.Src.As4()
		}
		a := binary.LittleEndian.Uint32(a4[:])
		// jhash_3words(saddr, ports, nexthdr, seed)
		iv := s.Flow4 + jhashInit + 3<<2
		return jhashFinal(a+iv, pw+iv, uint32(f.Proto)+iv)
	}
	a16 := f.Src.As16()
	a := binary.LittleEndian.Uint32(a16[0:4])
	b := binary.LittleEndian.Uint32(a16[4:8])
	c := binary.LittleEndian.Uint32(a16[8:12])
	a, b, c = jhashMix(a, b, c)
	a += binary.LittleEndian.Uint32(a16[12:16])
	b += pw
	c += uint32(f.Proto)
	a, b, c = jhashMix(a, b, c)
	a += s.Flow6
	return jhashFinal(a, b, c)
}

// Slot returns the table slot the datapath reads for f in a table of m
// slots. It panics if m is 0.
func (s Seed) Slot(f Flow, m int) int {
	return int(s.FlowHash(f) % uint32(m))
}

// Lookup returns the backend ID the datapath picks for f from table, built
// with seed, and false if the table is empty.
func Lookup(table []uint32, seed Seed, f Flow) (uint32, bool) {
	if len(table) == 0 {
		return 0, false
	}
	return table[seed.Slot(f, len(table))], true
}

// jhashMix is the kernel's __jhash_mix.
func jhashMix(a, b, c uint32) (uint32, uint32, uint32) {
	a -= c
	a ^= bits.RotateLeft32(c, 4)
	c += b
	b -= a
	b ^= bits.RotateLeft32(a, 6)
	a += c
	c -= b
	c ^= bits.RotateLeft32(b, 8)
	b += a
	a -= c
	a ^= bits.RotateLeft32(c, 16)
	c += b
	b -= a
	b ^= bits.RotateLeft32(a, 19)
	a += c
	c -= b
	c ^= bits.RotateLeft32(b, 4)
	b += a
	return a, b, c
}

// jhashFinal is the kernel's __jhash_final; it returns c.
func jhashFinal(a, b, c uint32) uint32 {
	c ^= b
	c -= bits.RotateLeft32(b, 14)
	a ^= c
	a -= bits.RotateLeft32(c, 11)
	b ^= a
	b -= bits.RotateLeft32(a, 25)
	c ^= b
	c -= bits.RotateLeft32(b, 16)
	a ^= c
	a -= bits.RotateLeft32(c, 4)
	b ^= a
	b -= bits.RotateLeft32(a, 14)
	c ^= b
	c -= bits.RotateLeft32(b, 24)
	return c
}
