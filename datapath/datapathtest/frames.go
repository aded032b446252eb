package datapathtest

import (
	"encoding/binary"
	"net/netip"
)

// Frame builders for the conformance suite and the differential tests:
// Ethernet frames with the fields the programs read, checksums left zero
// (the programs do not check them).

// EtherTypes.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeIPv6 = 0x86DD
	EtherTypeARP  = 0x0806
	EtherTypeVLAN = 0x8100
	EtherTypeQinQ = 0x88A8
)

// IP protocols.
const (
	ProtoTCP = 6
	ProtoUDP = 17
)

// Ethernet is a frame of etherType carrying payload, between two fixed
// MAC addresses.
func Ethernet(etherType uint16, payload []byte) []byte {
	b := make([]byte, 14, 14+len(payload))
	copy(b[0:6], []byte{0x02, 0, 0, 0, 0, 0x02})
	copy(b[6:12], []byte{0x02, 0, 0, 0, 0, 0x01})
	binary.BigEndian.PutUint16(b[12:14], etherType)
	return append(b, payload...)
}

// VLAN wraps an Ethernet frame's payload in a tag of tagType (VLAN or
// QinQ) with the VLAN ID vid.
func VLAN(frame []byte, tagType uint16, vid uint16) []byte {
	b := make([]byte, 0, len(frame)+4)
	b = append(b, frame[:12]...)
	b = binary.BigEndian.AppendUint16(b, tagType)
	b = binary.BigEndian.AppendUint16(b, vid&0x0fff)
	b = append(b, frame[12:]...) // the inner EtherType, then the payload
	return b
}

// IPv4 is an IPv4 header (no options) from src to dst carrying payload.
func IPv4(src, dst netip.Addr, proto uint8, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:4], uint16(20+len(payload)))
	b[8] = 64
	b[9] = proto
	s, d := src.As4(), dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	return append(b, payload...)
}

// IPv6 is an IPv6 header from src to dst carrying payload.
func IPv6(src, dst netip.Addr, next uint8, payload []byte) []byte {
	b := make([]byte, 40, 40+len(payload))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:6], uint16(len(payload)))
	b[6] = next
	b[7] = 64
	s, d := src.As16(), dst.As16()
	copy(b[8:24], s[:])
	copy(b[24:40], d[:])
	return append(b, payload...)
}

// UDP is a UDP header and payload.
func UDP(sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:2], sport)
	binary.BigEndian.PutUint16(b[2:4], dport)
	binary.BigEndian.PutUint16(b[4:6], uint16(8+len(payload)))
	return append(b, payload...)
}

// Packet is an Ethernet frame with an IP packet from src to dst (the
// family of src) carrying a small UDP datagram.
func Packet(src, dst netip.Addr) []byte {
	udp := UDP(40000, 53, []byte("eniway"))
	if src.Is4() {
		return Ethernet(EtherTypeIPv4, IPv4(src, dst, ProtoUDP, udp))
	}
	return Ethernet(EtherTypeIPv6, IPv6(src, dst, ProtoUDP, udp))
}

// TCP is a 20-byte TCP header (flags SYN) and payload.
func TCP(sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	binary.BigEndian.PutUint16(b[0:2], sport)
	binary.BigEndian.PutUint16(b[2:4], dport)
	b[12] = 5 << 4
	b[13] = 0x02
	binary.BigEndian.PutUint16(b[14:16], 65535)
	return append(b, payload...)
}

// Flow4 is an Ethernet frame with an IPv4 TCP or UDP packet from src to
// dst, its checksums filled in.
func Flow4(proto uint8, src, dst netip.AddrPort) []byte {
	return FillChecksums(Ethernet(EtherTypeIPv4, IPv4(src.Addr(), dst.Addr(), proto, l4(proto, src, dst))))
}

// Flow6 is an Ethernet frame with an IPv6 TCP or UDP packet from src to
// dst, its checksum filled in.
func Flow6(proto uint8, src, dst netip.AddrPort) []byte {
	return FillChecksums(Ethernet(EtherTypeIPv6, IPv6(src.Addr(), dst.Addr(), proto, l4(proto, src, dst))))
}

// Flow is Flow4 or Flow6, by the family of src.
func Flow(proto uint8, src, dst netip.AddrPort) []byte {
	if src.Addr().Is4() {
		return Flow4(proto, src, dst)
	}
	return Flow6(proto, src, dst)
}

func l4(proto uint8, src, dst netip.AddrPort) []byte {
	if proto == ProtoTCP {
		return TCP(src.Port(), dst.Port(), []byte("eniway"))
	}
	return UDP(src.Port(), dst.Port(), []byte("eniway"))
}

// SetTCPFlags sets the TCP flags of an untagged IPv4 (without options)
// or IPv6 TCP frame and refills its checksums.
func SetTCPFlags(frame []byte, flags byte) []byte {
	ip, _, _ := split(frame)
	frame[14+ip+13] = flags
	return FillChecksums(frame)
}

// split returns the length of an untagged frame's IP header (20 for IPv4
// without options, 40 for IPv6), its L4 protocol, and the pseudo-header
// sum of its TCP or UDP checksum.
func split(frame []byte) (iplen int, proto uint8, pseudo uint32) {
	ip := frame[14:]
	if binary.BigEndian.Uint16(frame[12:14]) == EtherTypeIPv6 {
		l4len := len(ip) - 40
		for i := 8; i < 40; i += 2 {
			pseudo += uint32(binary.BigEndian.Uint16(ip[i : i+2]))
		}
		return 40, ip[6], pseudo + uint32(ip[6]) + uint32(l4len)
	}
	ihl := int(ip[0]&0x0f) * 4
	for i := 12; i < 20; i += 2 {
		pseudo += uint32(binary.BigEndian.Uint16(ip[i : i+2]))
	}
	return ihl, ip[9], pseudo + uint32(ip[9]) + uint32(len(ip)-ihl)
}

// FillChecksums computes the IPv4 header checksum and the TCP or UDP
// checksum of an untagged IPv4 or IPv6 frame, in place, and returns it.
func FillChecksums(frame []byte) []byte {
	ip := frame[14:]
	iplen, proto, _ := split(frame)
	if binary.BigEndian.Uint16(frame[12:14]) == EtherTypeIPv4 {
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:12], ^onesSum(0, ip[:iplen]))
	}
	l4 := ip[iplen:]
	off := map[uint8]int{ProtoTCP: 16, ProtoUDP: 6}[proto]
	if off == 0 || len(l4) < off+2 {
		return frame
	}
	l4[off], l4[off+1] = 0, 0
	_, _, pseudo := split(frame)
	c := ^onesSum(pseudo, l4)
	if c == 0 && proto == ProtoUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[off:off+2], c)
	return frame
}

// ChecksumsValid says whether the IPv4 header checksum and the TCP or UDP
// checksum (unless a zero UDP checksum) of an untagged IPv4 or IPv6 frame
// hold.
func ChecksumsValid(frame []byte) bool {
	ip := frame[14:]
	iplen, proto, pseudo := split(frame)
	if binary.BigEndian.Uint16(frame[12:14]) == EtherTypeIPv4 && onesSum(0, ip[:iplen]) != 0xffff {
		return false
	}
	l4 := ip[iplen:]
	if proto == ProtoUDP && binary.BigEndian.Uint16(l4[6:8]) == 0 {
		return true
	}
	return onesSum(pseudo, l4) == 0xffff
}

// onesSum is the folded ones' complement sum of b, starting from s.
func onesSum(s uint32, b []byte) uint16 {
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
