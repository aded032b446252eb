package maglev

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// Protocol is a backend's L4 protocol, numbered as in the IP header.
type Protocol uint8

// Protocols Cilium distinguishes in a backend's identity.
const (
	ProtocolAny  Protocol = 0
	ProtocolTCP  Protocol = 6
	ProtocolUDP  Protocol = 17
	ProtocolSCTP Protocol = 132
)

// String returns Cilium's name for p: "ANY", "TCP", "UDP" or "SCTP".
func (p Protocol) String() string {
	switch p {
	case ProtocolAny:
		return "ANY"
	case ProtocolTCP:
		return "TCP"
	case ProtocolUDP:
		return "UDP"
	case ProtocolSCTP:
		return "SCTP"
	default:
		return "Protocol(" + strconv.Itoa(int(p)) + ")"
	}
}

func (p Protocol) valid() bool {
	switch p {
	case ProtocolAny, ProtocolTCP, ProtocolUDP, ProtocolSCTP:
		return true
	}
	return false
}

// Backend is one member of a service's backend set.
//
// The identity of a backend, which decides its permutation and so where it
// lands in the table, is (Addr, Port, Protocol, ClusterID). ID is only the
// value written into the table slots: the same identity gives the same
// slots whatever ID it carries, as in Cilium, where backend IDs are
// node-local and tables must agree across nodes.
type Backend struct {
	// ID is written into every slot the backend owns.
	ID uint32
	// Addr is the backend's IP address; it must be valid and carry no zone.
	Addr netip.Addr
	// Port is the backend's L4 port.
	Port uint16
	// Protocol is the backend's L4 protocol.
	Protocol Protocol
	// ClusterID is the Cilium ClusterMesh cluster ID (0 for a single cluster).
	ClusterID uint32
	// Weight is the backend's relative share of the table. 0 leaves the
	// backend out of the table (drained, as Cilium does with backends that
	// are not active); negative weights are rejected. ModeCilium accepts up
	// to MaxCiliumWeight, ModeNative up to MaxWeight.
	Weight int64
}

// String formats b as Cilium prints a backend address, e.g. "10.0.0.1:80/TCP",
// "[2001:db8::1]:443/TCP" or "10.0.0.1@2:80/UDP" for cluster 2.
func (b Backend) String() string {
	return string(b.appendAddr(nil))
}

// appendAddr appends the address part of String.
func (b Backend) appendAddr(dst []byte) []byte {
	is6 := b.Addr.Is6()
	if is6 {
		dst = append(dst, '[')
	}
	dst = b.Addr.AppendTo(dst)
	if b.ClusterID != 0 {
		dst = append(dst, '@')
		dst = strconv.AppendUint(dst, uint64(b.ClusterID), 10)
	}
	if is6 {
		dst = append(dst, ']')
	}
	dst = append(dst, ':')
	dst = strconv.AppendUint(dst, uint64(b.Port), 10)
	dst = append(dst, '/')
	return append(dst, b.Protocol.String()...)
}

// appendCiliumKey appends the string Cilium's maglev package hashes and sorts
// backends by: "[" + address + ",State:active]". Cilium has frozen this
// format so that agents of different versions compute the same tables.
func (b Backend) appendCiliumKey(dst []byte) []byte {
	dst = append(dst, '[')
	dst = b.appendAddr(dst)
	return append(dst, ",State:active]"...)
}

// appendNativeKey appends ModeNative's 24-byte binary key: the 16-byte
// address (IPv4 as IPv4-mapped IPv6), a family byte, the protocol, the port
// and the cluster ID, big-endian.
func (b Backend) appendNativeKey(dst []byte) []byte {
	a16 := b.Addr.As16()
	dst = append(dst, a16[:]...)
	family := byte(6)
	if b.Addr.Is4() {
		family = 4
	}
	dst = append(dst, family, byte(b.Protocol))
	dst = binary.BigEndian.AppendUint16(dst, b.Port)
	return binary.BigEndian.AppendUint32(dst, b.ClusterID)
}
