package floor

import (
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
)

// Program is the loaded floor programs with their one map.
type Program struct {
	objs floorObjects
}

// Load loads the floor programs.
func Load() (*Program, error) {
	var p Program
	if err := loadFloorObjects(&p.objs, nil); err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	return &p, nil
}

// Track records the flow from client to vip as going to backend.
func (p *Program) Track(client, vip, backend netip.AddrPort) error {
	k := floorFloorKey{Saddr: word(client.Addr()), Vip: word(vip.Addr()), Sport: port(client.Port()), Dport: port(vip.Port()), Proto: 6}
	v := floorFloorVal{Addr: word(backend.Addr()), Port: port(backend.Port())}
	return p.objs.FloorCt.Put(&k, &v)
}

// XDP is the program that rewrites the destination.
func (p *Program) XDP() *ebpf.Program { return p.objs.XdpFloor }

// IPIP is the program that encapsulates in IPIP.
func (p *Program) IPIP() *ebpf.Program { return p.objs.XdpFloorIpip }

// Close releases the program and its map.
func (p *Program) Close() error { return p.objs.Close() }

// word is an IPv4 address as the program reads it from a packet.
func word(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// port is a port as the program reads it from a packet.
func port(v uint16) uint16 { return v>>8 | v<<8 }
