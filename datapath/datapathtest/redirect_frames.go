package datapathtest

import (
	"encoding/binary"
	"slices"
)

// IPv6 extension headers WithIPv6ExtHeaders inserts.
const (
	// IPv6HopByHop and IPv6DestOpts: 8-byte options headers holding a
	// PadN option.
	IPv6HopByHop = 0
	IPv6DestOpts = 60
	// IPv6Fragment: a fragment header with offset 0 and no more
	// fragments (an atomic fragment, which the kernel takes as it is).
	IPv6Fragment = 44
)

// WithIPv6ExtHeaders returns an untagged IPv6 frame with extension
// headers of the given types (IPv6HopByHop, IPv6DestOpts, IPv6Fragment)
// inserted, in order, between its IPv6 header and its payload. The TCP or
// UDP checksum still holds: its pseudo-header has the payload's own
// length and protocol.
func WithIPv6ExtHeaders(frame []byte, types ...uint8) []byte {
	const ip6 = 14
	out := slices.Clone(frame[:ip6+40])
	next := frame[ip6+6]
	var ext []byte
	for i, t := range types {
		h := make([]byte, 8)
		if i+1 < len(types) {
			h[0] = types[i+1]
		} else {
			h[0] = next
		}
		if t != IPv6Fragment {
			h[2], h[3] = 1, 4 // PadN of 4 bytes
		}
		ext = append(ext, h...)
	}
	if len(types) > 0 {
		out[ip6+6] = types[0]
	}
	binary.BigEndian.PutUint16(out[ip6+4:ip6+6], uint16(len(frame)-ip6-40+len(ext)))
	out = append(out, ext...)
	return append(out, frame[ip6+40:]...)
}
