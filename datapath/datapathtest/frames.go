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
