package datapathtest

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/maglev"
)

// LBBackend is a load balancer whose packets can be run.
type LBBackend interface {
	datapath.LoadBalancer
	datapath.PacketRunner
	datapath.ReplyRunner
}

// NewLB makes a fresh load balancer of the backend under test; the suite
// closes it.
type NewLB func(t *testing.T, opts datapath.LBOptions) LBBackend

var (
	vip     = netip.MustParseAddrPort("10.96.0.10:80")
	vipUDP  = netip.MustParseAddrPort("10.96.0.10:53")
	backs   = []netip.AddrPort{netip.MustParseAddrPort("10.0.1.1:8080"), netip.MustParseAddrPort("10.0.1.2:8080"), netip.MustParseAddrPort("10.0.1.3:9090")}
	tcpFE   = datapath.Frontend{Addr: vip, Protocol: maglev.ProtocolTCP}
	udpFE   = datapath.Frontend{Addr: vipUDP, Protocol: maglev.ProtocolUDP}
	testCfg = maglev.Config{TableSize: 251}
)

func service(f datapath.Frontend, weights ...uint16) datapath.Service {
	s := datapath.Service{Frontend: f}
	for i, w := range weights {
		s.Backends = append(s.Backends, datapath.LBBackend{Addr: backs[i], Weight: w})
	}
	return s
}

// ExpectedBackend is the backend the Maglev table of s (built by package
// maglev with cfg) gives the flow from src to s's frontend.
func ExpectedBackend(t *testing.T, cfg maglev.Config, s datapath.Service, src netip.AddrPort) netip.AddrPort {
	t.Helper()
	b, err := maglev.NewBuilder(cfg)
	require.NoError(t, err)
	var live []maglev.Backend
	for i, mb := range datapath.MaglevBackends(s, func(netip.AddrPort) uint32 { return 0 }) {
		mb.ID = uint32(i)
		if mb.Weight > 0 {
			live = append(live, mb)
		}
	}
	table, err := b.Table(live)
	require.NoError(t, err)
	id, ok := maglev.Lookup(table, b.Seed(), maglev.Flow{Src: src.Addr(), SrcPort: src.Port(), DstPort: s.Frontend.Addr.Port(), Proto: uint8(s.Frontend.Protocol)})
	require.True(t, ok)
	return s.Backends[id].Addr
}

// RunLB runs the load balancer conformance suite against a backend.
func RunLB(t *testing.T, newLB NewLB) {
	open := func(t *testing.T, opts datapath.LBOptions) LBBackend {
		l := newLB(t, opts)
		t.Cleanup(func() { require.NoError(t, l.Close()) })
		return l
	}
	opts := datapath.LBOptions{MaxServices: 8, MaxBackends: 16, Maglev: testCfg}

	t.Run("DNAT to the Maglev backend", func(t *testing.T) {
		l := open(t, opts)
		svcs := []datapath.Service{service(tcpFE, 1, 1, 1), service(udpFE, 1, 2, 1)}
		require.NoError(t, l.Upsert(svcs...))
		require.Equal(t, []datapath.Service{svcs[1], svcs[0]}, l.Services(), "sorted by frontend")
		seen := map[netip.AddrPort]int{}
		for i := range 300 {
			s := svcs[i%2]
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, byte(i / 200), byte(i)}), uint16(30000+i))
			frame := Flow4(uint8(s.Frontend.Protocol), src, s.Frontend.Addr)
			verdict, out, err := l.RunPacket(frame)
			require.NoError(t, err)
			require.Equal(t, datapath.VerdictPass, verdict)
			want := ExpectedBackend(t, testCfg, s, src)
			require.Equal(t, want, frameDst(out), "flow %s -> %s", src, s.Frontend)
			require.True(t, ChecksumsValid(out), "checksums after DNAT")
			require.Equal(t, frame[:24], out[:24], "only the destination changes (and checksums)")
			require.Equal(t, frame[26:30], out[26:30], "the source stays")
			seen[want]++
		}
		require.Len(t, seen, 3, "every backend gets flows")
		c, err := l.Counters()
		require.NoError(t, err)
		require.Equal(t, uint64(300), c.Forwarded)
	})

	t.Run("random algorithm", func(t *testing.T) {
		l := open(t, opts)
		s := service(tcpFE, 1, 3, 0)
		s.Algorithm = datapath.LBAlgorithmRandom
		require.NoError(t, l.Upsert(s))
		require.Equal(t, []datapath.Service{s}, l.Services())
		// New flows go to random backends by weight, never the drained
		// one; each keeps its backend.
		const flows = 2000
		per := map[netip.AddrPort]int{}
		for i := range flows {
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, 20, byte(i % 7)}), uint16(10000+i))
			frame := Flow4(ProtoTCP, src, vip)
			_, out, err := l.RunPacket(frame)
			require.NoError(t, err)
			b := frameDst(out)
			require.True(t, ChecksumsValid(out))
			per[b]++
			if i%100 == 0 {
				for range 3 {
					_, again, err := l.RunPacket(frame)
					require.NoError(t, err)
					require.Equal(t, b, frameDst(again), "a tracked flow keeps its backend")
				}
			}
		}
		require.Zero(t, per[backs[2]], "the drained backend")
		require.Equal(t, flows, per[backs[0]]+per[backs[1]])
		// Weight 3 of 4: 1500 expected, 22 the standard deviation.
		require.InDelta(t, 1500, per[backs[1]], 150, "weights hold: %v", per)
		c, err := l.Counters()
		require.NoError(t, err)
		require.Equal(t, datapath.LBCounters{Forwarded: flows, Established: 3 * flows / 100}, c)
		bad := s
		bad.Algorithm = 7
		var le *datapath.LBError
		require.True(t, errors.As(l.Upsert(bad), &le))
		require.Equal(t, "services[0].Algorithm", le.Field)
	})

	t.Run("untouched", func(t *testing.T) {
		l := open(t, opts)
		require.NoError(t, l.Upsert(service(tcpFE, 1, 1)))
		src := netip.MustParseAddrPort("192.168.0.1:40000")
		frag := Flow4(ProtoTCP, src, vip)
		binary.BigEndian.PutUint16(frag[14+6:14+8], 0x2000) // more fragments
		for name, frame := range map[string][]byte{
			"another port":       Flow4(ProtoTCP, src, netip.AddrPortFrom(vip.Addr(), 81)),
			"another protocol":   Flow4(ProtoUDP, src, vip),
			"a fragment":         frag,
			"TCP cut short":      Flow4(ProtoTCP, src, vip)[:14+20+19],
			"IPv6 to no service": Packet(netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")),
			"ARP":                Ethernet(EtherTypeARP, make([]byte, 28)),
		} {
			verdict, out, err := l.RunPacket(frame)
			require.NoError(t, err, name)
			require.Equal(t, datapath.VerdictPass, verdict, name)
			require.Equal(t, frame, out, name)
		}
		c, err := l.Counters()
		require.NoError(t, err)
		require.Equal(t, datapath.LBCounters{Passed: 5, Fragments: 1}, c)
	})

	t.Run("no backend drops", func(t *testing.T) {
		l := open(t, opts)
		require.NoError(t, l.Upsert(service(tcpFE, 0, 0)))
		verdict, _, err := l.RunPacket(Flow4(ProtoTCP, netip.MustParseAddrPort("192.168.0.1:40000"), vip))
		require.NoError(t, err)
		require.Equal(t, datapath.VerdictDrop, verdict)
		c, err := l.Counters()
		require.NoError(t, err)
		require.Equal(t, uint64(1), c.NoBackend)
	})

	t.Run("changes and deletes", func(t *testing.T) {
		l := open(t, opts)
		require.NoError(t, l.Upsert(service(tcpFE, 1, 1, 1)))
		for step := range 40 { // more changes than spare table regions
			w := []uint16{uint16(step%3 + 1), 1, uint16(step % 2)}
			s := service(tcpFE, w...)
			require.NoError(t, l.Upsert(s))
			src := netip.AddrPortFrom(netip.MustParseAddr("192.168.7.7"), uint16(1000+step))
			_, out, err := l.RunPacket(Flow4(ProtoTCP, src, vip))
			require.NoError(t, err)
			require.Equal(t, ExpectedBackend(t, testCfg, s, src), frameDst(out), "step %d", step)
		}
		require.NoError(t, l.Delete(tcpFE))
		require.Empty(t, l.Services())
		frame := Flow4(ProtoTCP, netip.MustParseAddrPort("192.168.0.1:40000"), vip)
		_, out, err := l.RunPacket(frame)
		require.NoError(t, err)
		require.Equal(t, frame, out, "deleted: untouched")
	})

	t.Run("tracked flows keep their backend", func(t *testing.T) {
		l := open(t, opts)
		s := service(tcpFE, 1, 1, 1)
		require.NoError(t, l.Upsert(s))
		// A client for each backend.
		clients := map[netip.AddrPort]netip.AddrPort{}
		for i := 0; len(clients) < 3; i++ {
			src := netip.AddrPortFrom(netip.MustParseAddr("192.168.3.3"), uint16(2000+i))
			if b := ExpectedBackend(t, testCfg, s, src); clients[b] == (netip.AddrPort{}) {
				clients[b] = src
			}
		}
		send := func(src netip.AddrPort, flags byte) netip.AddrPort {
			frame := Flow4(ProtoTCP, src, vip)
			frame[14+20+13] = flags
			frame = FillChecksums(frame)
			verdict, out, err := l.RunPacket(frame)
			require.NoError(t, err)
			require.Equal(t, datapath.VerdictPass, verdict)
			return frameDst(out)
		}
		for b, src := range clients {
			require.Equal(t, b, send(src, 0x02))
		}
		// Drained, backs[0] keeps its flow and gets no new one.
		drained := service(tcpFE, 0, 1, 1)
		require.NoError(t, l.Upsert(drained))
		require.Equal(t, backs[0], send(clients[backs[0]], 0x10))
		fresh := netip.MustParseAddrPort("192.168.9.9:7777")
		require.NotEqual(t, backs[0], send(fresh, 0x02))
		// Removed, it loses it: the flow gets a backend of the table.
		removed := datapath.Service{Frontend: tcpFE, Backends: drained.Backends[1:]}
		require.NoError(t, l.Upsert(removed))
		got := send(clients[backs[0]], 0x10)
		require.Equal(t, ExpectedBackend(t, testCfg, removed, clients[backs[0]]), got)
		c, err := l.Counters()
		require.NoError(t, err)
		require.Equal(t, datapath.LBCounters{Forwarded: 5, Established: 1}, c)

		// Conntrack lists the flows in their states: opened and
		// answered, closing after a FIN, and only SYNs sent.
		require.Equal(t, backs[1], send(clients[backs[1]], 0x11)) // FIN, ACK
		entries, err := l.Conntrack()
		require.NoError(t, err)
		require.Len(t, entries, 4)
		states := map[netip.AddrPort]datapath.CTState{}
		var fin datapath.CTEntry
		for _, e := range entries {
			require.Equal(t, tcpFE, e.Frontend)
			states[e.Client] = e.State
			if e.Client == clients[backs[1]] {
				fin = e
			}
		}
		require.Equal(t, map[netip.AddrPort]datapath.CTState{clients[backs[0]]: datapath.CTOpen, clients[backs[1]]: datapath.CTClosing,
			clients[backs[2]]: datapath.CTOpening, fresh: datapath.CTOpening}, states)
		// Flow finds each of them, and no other.
		for _, e := range entries {
			got, ok, err := l.Flow(e.Client, e.Frontend)
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, e, got)
		}
		_, ok, err := l.Flow(netip.MustParseAddrPort("192.168.3.3:1"), tcpFE)
		require.NoError(t, err)
		require.False(t, ok)
		_, ok, err = l.Flow(clients[backs[0]], udpFE)
		require.NoError(t, err)
		require.False(t, ok)
		require.Equal(t, backs[1], fin.Backend)

		// Expiry: the closing flow after 10 s idle, those with only SYNs
		// after 60 s, the open one after 6 h.
		n, err := l.ExpireConntrack(fin.LastSeen + 10*time.Second - time.Nanosecond)
		require.NoError(t, err)
		require.Zero(t, n)
		n, err = l.ExpireConntrack(fin.LastSeen + 10*time.Second + time.Millisecond)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		n, err = l.ExpireConntrack(l.Now() + 59*time.Second)
		require.NoError(t, err)
		require.Zero(t, n)
		n, err = l.ExpireConntrack(l.Now() + time.Minute + time.Second)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		n, err = l.ExpireConntrack(l.Now() + 6*time.Hour + time.Second)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		entries, err = l.Conntrack()
		require.NoError(t, err)
		require.Empty(t, entries)
	})

	t.Run("TCP states", func(t *testing.T) {
		l := open(t, opts)
		require.NoError(t, l.Upsert(service(tcpFE, 1, 1), service(udpFE, 1)))
		src := netip.MustParseAddrPort("192.168.4.4:4000")
		// The client's packets, and the state each leaves.
		for i, step := range []struct {
			flags byte
			want  datapath.CTState
		}{
			{0x02, datapath.CTOpening}, // SYN
			{0x02, datapath.CTOpening}, // SYN again
			{0x10, datapath.CTOpen},    // ACK
			{0x18, datapath.CTOpen},    // PSH, ACK
			{0x02, datapath.CTOpen},    // a stray SYN
			{0x11, datapath.CTClosing}, // FIN, ACK
			{0x10, datapath.CTClosing}, // ACK
			{0x02, datapath.CTOpening}, // SYN: a new connection on the tuple
			{0x12, datapath.CTOpen},    // SYN, ACK
			{0x04, datapath.CTClosing}, // RST
		} {
			frame := Flow4(ProtoTCP, src, tcpFE.Addr)
			frame[14+20+13] = step.flags
			_, _, err := l.RunPacket(FillChecksums(frame))
			require.NoError(t, err)
			entries, err := l.Conntrack()
			require.NoError(t, err)
			require.Len(t, entries, 1)
			require.Equal(t, step.want, entries[0].State, "step %d: flags %#x", i, step.flags)
		}
		// A new flow that begins with an RST, with an ACK, and a UDP flow.
		for i, c := range []struct {
			frame []byte
			want  datapath.CTState
		}{
			{Flow4(ProtoTCP, netip.MustParseAddrPort("192.168.4.5:4000"), tcpFE.Addr), datapath.CTClosing},
			{Flow4(ProtoTCP, netip.MustParseAddrPort("192.168.4.6:4000"), tcpFE.Addr), datapath.CTOpen},
			{Flow4(ProtoUDP, netip.MustParseAddrPort("192.168.4.7:4000"), udpFE.Addr), datapath.CTOpen},
		} {
			if i < 2 {
				c.frame[14+20+13] = []byte{0x04, 0x10}[i]
				c.frame = FillChecksums(c.frame)
			}
			_, _, err := l.RunPacket(c.frame)
			require.NoError(t, err)
		}
		entries, err := l.Conntrack()
		require.NoError(t, err)
		got := map[uint16]datapath.CTState{}
		for _, e := range entries {
			got[e.Client.Port()+uint16(e.Client.Addr().As4()[3])*10] = e.State
		}
		require.Equal(t, map[uint16]datapath.CTState{4040: datapath.CTClosing, 4050: datapath.CTClosing, 4060: datapath.CTOpen,
			4070: datapath.CTOpen}, got)
	})

	t.Run("replies get the frontend back", func(t *testing.T) {
		l := open(t, opts)
		s := service(udpFE, 1, 1, 1)
		require.NoError(t, l.Upsert(s, service(tcpFE, 1, 1)))
		for i, fe := range []datapath.Frontend{udpFE, tcpFE} {
			src := netip.AddrPortFrom(netip.MustParseAddr("192.168.5.5"), uint16(3000+i))
			_, out, err := l.RunPacket(Flow4(uint8(fe.Protocol), src, fe.Addr))
			require.NoError(t, err)
			b := frameDst(out)
			reply := Flow4(uint8(fe.Protocol), b, src)
			verdict, got, err := l.RunReplyPacket(reply)
			require.NoError(t, err)
			require.Equal(t, datapath.VerdictPass, verdict)
			require.Equal(t, fe.Addr, frameSrc(got), "the reply comes from the frontend")
			require.Equal(t, src, frameDst(got))
			require.True(t, ChecksumsValid(got))
		}
		// A reply of no flow, and from another port of the backend, pass
		// untouched.
		for _, frame := range [][]byte{
			Flow4(ProtoUDP, netip.MustParseAddrPort("10.0.1.1:8080"), netip.MustParseAddrPort("192.168.5.6:3000")),
			Flow4(ProtoUDP, netip.MustParseAddrPort("10.0.1.1:8081"), netip.MustParseAddrPort("192.168.5.5:3000")),
		} {
			_, got, err := l.RunReplyPacket(frame)
			require.NoError(t, err)
			require.Equal(t, frame, got)
		}
		c, err := l.Counters()
		require.NoError(t, err)
		require.Equal(t, uint64(2), c.Replies)
		// Expired, the flow's replies pass untouched.
		_, err = l.ExpireConntrack(l.Now() + 7*time.Hour)
		require.NoError(t, err)
		src := netip.MustParseAddrPort("192.168.5.5:3000")
		reply := Flow4(ProtoUDP, ExpectedBackend(t, testCfg, s, src), src)
		_, got, err := l.RunReplyPacket(reply)
		require.NoError(t, err)
		require.Equal(t, reply, got)
	})

	t.Run("DSR", func(t *testing.T) {
		node := netip.MustParseAddr("192.0.2.1")
		o := opts
		o.DSRSource = node
		l := open(t, o)
		s := datapath.Service{Frontend: tcpFE, Mode: datapath.LBModeDSR, Backends: []datapath.LBBackend{
			{Addr: netip.AddrPortFrom(backs[0].Addr(), vip.Port()), Weight: 1}, {Addr: netip.AddrPortFrom(backs[1].Addr(), vip.Port()), Weight: 1}}}
		require.NoError(t, l.Upsert(s))
		for i := range 2 { // a new flow, then the tracked one
			src := netip.MustParseAddrPort("192.168.6.6:4000")
			frame := Flow4(ProtoTCP, src, vip)
			verdict, out, err := l.RunPacket(frame)
			require.NoError(t, err)
			require.Equal(t, datapath.VerdictPass, verdict)
			require.Len(t, out, len(frame)+20, "an outer IPv4 header")
			require.Equal(t, frame[:14], out[:14], "the Ethernet header stays")
			require.Equal(t, frame[14:], out[34:], "the packet stays as it was, inside")
			outer := out[14:34]
			require.Equal(t, byte(4), outer[9], "IPIP")
			require.Equal(t, node, netip.AddrFrom4([4]byte(outer[12:16])))
			want := ExpectedBackend(t, testCfg, s, src)
			require.Equal(t, want.Addr(), netip.AddrFrom4([4]byte(outer[16:20])), "run %d", i)
			require.Equal(t, uint16(len(frame)-14+20), binary.BigEndian.Uint16(outer[2:4]))
			require.Equal(t, uint16(0xffff), onesSum(0, outer), "the outer header's checksum")
		}
		// Replies come from the backends directly: no reverse NAT.
		reply := Flow4(ProtoTCP, netip.AddrPortFrom(backs[0].Addr(), vip.Port()), netip.MustParseAddrPort("192.168.6.6:4000"))
		_, got, err := l.RunReplyPacket(reply)
		require.NoError(t, err)
		require.Equal(t, reply, got)
		// A tagged frame is not encapsulated.
		tagged := VLAN(Flow4(ProtoTCP, netip.MustParseAddrPort("192.168.6.7:4000"), vip), EtherTypeVLAN, 5)
		_, got, err = l.RunPacket(tagged)
		require.NoError(t, err)
		require.Equal(t, tagged, got)
		c, err := l.Counters()
		require.NoError(t, err)
		require.Equal(t, datapath.LBCounters{Forwarded: 1, Established: 1, Passed: 2}, c)

		// DSR needs the node's address, and backends on the frontend's port.
		l2 := open(t, opts)
		var le *datapath.LBError
		require.True(t, errors.As(l2.Upsert(s), &le))
		require.Equal(t, "services[0].Mode", le.Field)
		bad := s
		bad.Backends = []datapath.LBBackend{{Addr: backs[0], Weight: 1}}
		require.True(t, errors.As(l.Upsert(bad), &le))
		require.Equal(t, "services[0].Backends[0]", le.Field)
	})

	t.Run("IPv6", func(t *testing.T) {
		vip6 := netip.MustParseAddrPort("[2001:db8:96::10]:80")
		tcp6 := datapath.Frontend{Addr: vip6, Protocol: maglev.ProtocolTCP}
		udp6 := datapath.Frontend{Addr: netip.AddrPortFrom(vip6.Addr(), 53), Protocol: maglev.ProtocolUDP}
		back6 := func(i int, port uint16) netip.AddrPort {
			return netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 15: byte(1 + i)}), port)
		}
		service6 := func(f datapath.Frontend, weights ...uint16) datapath.Service {
			s := datapath.Service{Frontend: f}
			for i, w := range weights {
				s.Backends = append(s.Backends, datapath.LBBackend{Addr: back6(i, 8080), Weight: w})
			}
			return s
		}
		client := func(i int) netip.AddrPort {
			return netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xc1, 14: byte(i >> 8), 15: byte(i)}), uint16(30000+i))
		}

		t.Run("DNAT, replies and flows", func(t *testing.T) {
			l := open(t, opts)
			svcs := []datapath.Service{service6(tcp6, 1, 1, 1), service6(udp6, 1, 2), service(tcpFE, 1, 1)}
			require.NoError(t, l.Upsert(svcs...))
			seen := map[netip.AddrPort]int{}
			for i := range 300 {
				s := svcs[i%2]
				src := client(i)
				frame := Flow6(uint8(s.Frontend.Protocol), src, s.Frontend.Addr)
				verdict, out, err := l.RunPacket(frame)
				require.NoError(t, err)
				require.Equal(t, datapath.VerdictPass, verdict)
				want := ExpectedBackend(t, testCfg, s, src)
				require.Equal(t, want, frameDst(out), "flow %s -> %s", src, s.Frontend)
				require.True(t, ChecksumsValid(out), "checksum after DNAT")
				require.Equal(t, frame[:14+24], out[:14+24], "only the destination changes (and the checksum)")
				require.Equal(t, src, frameSrc(out), "the source stays")
				seen[want]++
				if i < 10 {
					// The backend's reply gets the frontend back.
					verdict, got, err := l.RunReplyPacket(Flow6(uint8(s.Frontend.Protocol), want, src))
					require.NoError(t, err)
					require.Equal(t, datapath.VerdictPass, verdict)
					require.Equal(t, s.Frontend.Addr, frameSrc(got), "the reply comes from the frontend")
					require.Equal(t, src, frameDst(got))
					require.True(t, ChecksumsValid(got))
				}
			}
			require.Len(t, seen, 3, "every backend gets flows")
			// The same client port to the IPv4 service is another flow.
			src4 := netip.MustParseAddrPort("192.168.0.1:30000")
			_, out, err := l.RunPacket(Flow4(ProtoTCP, src4, vip))
			require.NoError(t, err)
			require.Equal(t, ExpectedBackend(t, testCfg, svcs[2], src4), frameDst(out))
			entries, err := l.Conntrack()
			require.NoError(t, err)
			require.Len(t, entries, 301)
			got, ok, err := l.Flow(client(0), svcs[0].Frontend)
			require.NoError(t, err)
			require.True(t, ok, "an IPv6 flow")
			require.Equal(t, ExpectedBackend(t, testCfg, svcs[0], client(0)), got.Backend)
			for _, e := range entries {
				require.Equal(t, e.Client.Addr().Is4(), e.Backend.Addr().Is4(), "flow %+v", e)
				require.Equal(t, e.Client.Addr().Is4(), e.Frontend.Addr.Addr().Is4(), "flow %+v", e)
			}
			c, err := l.Counters()
			require.NoError(t, err)
			require.Equal(t, datapath.LBCounters{Forwarded: 301, Replies: 10}, c)
			// Deleting the IPv6 services removes their flows.
			require.NoError(t, l.Delete(tcp6, udp6))
			entries, err = l.Conntrack()
			require.NoError(t, err)
			require.Len(t, entries, 1)
		})

		t.Run("untouched", func(t *testing.T) {
			l := open(t, opts)
			require.NoError(t, l.Upsert(service6(tcp6, 1, 1)))
			src := client(1)
			frag := Ethernet(EtherTypeIPv6, IPv6(src.Addr(), vip6.Addr(), 44, make([]byte, 8+20)))
			hop := Ethernet(EtherTypeIPv6, IPv6(src.Addr(), vip6.Addr(), 0, append([]byte{ProtoTCP, 0, 0, 0, 0, 0, 0, 0}, TCP(src.Port(), vip6.Port(), nil)...)))
			for name, frame := range map[string][]byte{
				"another port":       Flow6(ProtoTCP, src, netip.AddrPortFrom(vip6.Addr(), 81)),
				"another protocol":   Flow6(ProtoUDP, src, vip6),
				"TCP cut short":      Flow6(ProtoTCP, src, vip6)[:14+40+19],
				"IPv6 header short":  Flow6(ProtoTCP, src, vip6)[:14+39],
				"an extension first": hop,
				"a fragment":         frag,
			} {
				verdict, out, err := l.RunPacket(frame)
				require.NoError(t, err, name)
				require.Equal(t, datapath.VerdictPass, verdict, name)
				require.Equal(t, frame, out, name)
			}
			c, err := l.Counters()
			require.NoError(t, err)
			require.Equal(t, datapath.LBCounters{Passed: 5, Fragments: 1}, c)
		})

		t.Run("DSR", func(t *testing.T) {
			node := netip.MustParseAddr("2001:db8:ffff::1")
			o := opts
			o.DSRSource6 = node
			l := open(t, o)
			s := datapath.Service{Frontend: tcp6, Mode: datapath.LBModeDSR, Backends: []datapath.LBBackend{
				{Addr: back6(0, vip6.Port()), Weight: 1}, {Addr: back6(1, vip6.Port()), Weight: 1}}}
			require.NoError(t, l.Upsert(s))
			src := client(7)
			for i := range 2 { // a new flow, then the tracked one
				frame := Flow6(ProtoTCP, src, vip6)
				frame[14+1] = 0xab // traffic class and flow label bits
				verdict, out, err := l.RunPacket(frame)
				require.NoError(t, err)
				require.Equal(t, datapath.VerdictPass, verdict)
				require.Len(t, out, len(frame)+40, "an outer IPv6 header")
				require.Equal(t, frame[:14], out[:14], "the Ethernet header stays")
				require.Equal(t, frame[14:], out[54:], "the packet stays as it was, inside")
				outer := out[14:54]
				require.Equal(t, []byte{0x60, 0xa0, 0, 0}, outer[0:4], "version and traffic class, no flow label")
				require.Equal(t, byte(41), outer[6], "IPv6 in IPv6")
				require.Equal(t, uint16(len(frame)-14), binary.BigEndian.Uint16(outer[4:6]))
				require.Equal(t, node, netip.AddrFrom16([16]byte(outer[8:24])))
				want := ExpectedBackend(t, testCfg, s, src)
				require.Equal(t, want.Addr(), netip.AddrFrom16([16]byte(outer[24:40])), "run %d", i)
				if d, ok := l.(datapath.DecapRunner); ok {
					verdict, inner, err := d.RunDecapPacket(out)
					require.NoError(t, err)
					require.Equal(t, datapath.VerdictPass, verdict)
					require.Equal(t, frame, inner, "the backend unwraps it")
				}
			}
			c, err := l.Counters()
			require.NoError(t, err)
			require.Equal(t, uint64(1), c.Forwarded)
			require.Equal(t, uint64(1), c.Established)
			// DSR needs the node's IPv6 address.
			l2 := open(t, datapath.LBOptions{MaxServices: 8, MaxBackends: 16, Maglev: testCfg, DSRSource: netip.MustParseAddr("192.0.2.1")})
			var le *datapath.LBError
			require.True(t, errors.As(l2.Upsert(s), &le))
			require.Equal(t, "services[0].Mode", le.Field)
		})

		t.Run("decisions", func(t *testing.T) {
			l := open(t, opts)
			ev, ok := l.(datapath.LBEvents)
			require.True(t, ok)
			s := service6(tcp6, 1, 1)
			require.NoError(t, l.Upsert(s, service6(udp6)))
			st, err := ev.Events()
			require.NoError(t, err)
			defer st.Close()
			src := client(9)
			for _, frame := range [][]byte{Flow6(ProtoTCP, src, vip6), Flow6(ProtoUDP, src, udp6.Addr)} {
				_, _, err := l.RunPacket(frame)
				require.NoError(t, err)
			}
			for _, want := range []datapath.LBEvent{
				{Kind: datapath.LBEventNewFlow, Client: src, Frontend: tcp6, Backend: ExpectedBackend(t, testCfg, s, src)},
				{Kind: datapath.LBEventNoBackend, Client: src, Frontend: udp6},
			} {
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				e, err := st.Next(ctx)
				cancel()
				require.NoError(t, err)
				e.Time, e.Ifindex = time.Time{}, 0
				require.Equal(t, want, e)
			}
		})

		t.Run("refused", func(t *testing.T) {
			l := open(t, opts)
			mapped := datapath.Frontend{Addr: netip.AddrPortFrom(netip.AddrFrom16(netip.MustParseAddr("10.96.0.10").As16()), 80), Protocol: maglev.ProtocolTCP}
			mixed := service6(tcp6, 1)
			mixed.Backends = append(mixed.Backends, datapath.LBBackend{Addr: backs[0], Weight: 1})
			for _, c := range []struct {
				name  string
				s     datapath.Service
				field string
			}{
				{"IPv4-mapped frontend", datapath.Service{Frontend: mapped}, "services[0].Frontend"},
				{"a backend of the other family", mixed, "services[0].Backends[1]"},
				{"an IPv6 backend of an IPv4 frontend", datapath.Service{Frontend: tcpFE, Backends: []datapath.LBBackend{{Addr: back6(0, 80), Weight: 1}}}, "services[0].Backends[0]"},
			} {
				err := l.Upsert(c.s)
				require.ErrorIs(t, err, datapath.ErrInvalidService, c.name)
				var le *datapath.LBError
				require.True(t, errors.As(err, &le), c.name)
				require.Equal(t, c.field, le.Field, "%s: %v", c.name, err)
			}
			require.Empty(t, l.Services())
			// IPv6 disabled.
			o := opts
			o.DisableIPv6 = true
			l4 := open(t, o)
			err := l4.Upsert(service(tcpFE, 1), service6(tcp6, 1))
			var le *datapath.LBError
			require.True(t, errors.As(err, &le))
			require.Equal(t, "services[1].Frontend", le.Field)
			require.ErrorContains(t, err, "IPv6 is disabled")
			require.Empty(t, l4.Services())
			_, out, err := l4.RunPacket(Flow6(ProtoTCP, client(1), vip6))
			require.NoError(t, err)
			require.Equal(t, Flow6(ProtoTCP, client(1), vip6), out)
		})
	})

	t.Run("decisions", func(t *testing.T) {
		o := opts
		o.EventBuffer = 4096
		l := open(t, o)
		ev, ok := l.(datapath.LBEvents)
		require.True(t, ok, "the load balancer reports decisions")
		s := service(tcpFE, 1, 1)
		empty := service(udpFE, 0)
		require.NoError(t, l.Upsert(s, empty))
		src := netip.MustParseAddrPort("192.168.8.8:5000")
		_, _, err := l.RunPacket(Flow4(ProtoTCP, src, vip)) // no stream: no event
		require.NoError(t, err)

		st, err := ev.Events()
		require.NoError(t, err)
		defer st.Close()
		src2 := netip.MustParseAddrPort("192.168.8.9:5000")
		for _, frame := range [][]byte{
			Flow4(ProtoTCP, src, vip),     // tracked: no decision
			Flow4(ProtoTCP, src2, vip),    // a new flow
			Flow4(ProtoUDP, src2, vipUDP), // no backend
		} {
			_, _, err := l.RunPacket(frame)
			require.NoError(t, err)
		}
		for _, want := range []datapath.LBEvent{
			{Kind: datapath.LBEventNewFlow, Client: src2, Frontend: tcpFE, Backend: ExpectedBackend(t, testCfg, s, src2)},
			{Kind: datapath.LBEventNoBackend, Client: src2, Frontend: udpFE},
		} {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			e, err := st.Next(ctx)
			cancel()
			require.NoError(t, err)
			require.WithinDuration(t, time.Now(), e.Time, 5*time.Second)
			require.Equal(t, 1, e.Ifindex)
			e.Time, e.Ifindex = time.Time{}, 0
			require.Equal(t, want, e)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		_, err = st.Next(ctx)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NoError(t, st.Close())
		_, err = st.Next(t.Context())
		require.ErrorIs(t, err, datapath.ErrStreamClosed)
	})

	t.Run("refused batches apply nothing", func(t *testing.T) {
		l := open(t, datapath.LBOptions{MaxServices: 2, MaxBackends: 3, Maglev: testCfg})
		require.NoError(t, l.Upsert(service(tcpFE, 1, 1)))
		v6 := datapath.Frontend{Addr: netip.MustParseAddrPort("[fe80::1%eth0]:80"), Protocol: maglev.ProtocolTCP}
		dup := service(udpFE, 1)
		dup.Backends = append(dup.Backends, dup.Backends[0])
		for _, c := range []struct {
			name  string
			do    func() error
			field string
			err   error
		}{
			{"IPv6 frontend with a zone", func() error { return l.Upsert(service(udpFE, 1), datapath.Service{Frontend: v6}) }, "services[1].Frontend", datapath.ErrInvalidService},
			{"duplicate backend", func() error { return l.Upsert(dup) }, "services[0].Backends[1]", datapath.ErrInvalidService},
			{"port 0", func() error {
				return l.Upsert(datapath.Service{Frontend: datapath.Frontend{Addr: netip.AddrPortFrom(vip.Addr(), 0), Protocol: maglev.ProtocolTCP}})
			}, "services[0].Frontend", datapath.ErrInvalidService},
			{"too many services", func() error {
				return l.Upsert(service(udpFE, 1), service(datapath.Frontend{Addr: netip.MustParseAddrPort("10.96.0.11:80"), Protocol: maglev.ProtocolTCP}, 1))
			}, "services", datapath.ErrLBFull},
			{"unknown frontend", func() error { return l.Delete(tcpFE, udpFE) }, "frontends[1]", datapath.ErrNoService},
		} {
			err := c.do()
			require.ErrorIs(t, err, c.err, c.name)
			var le *datapath.LBError
			require.True(t, errors.As(err, &le), "%s: a *datapath.LBError: %v", c.name, err)
			require.Equal(t, c.field, le.Field, "%s: %v", c.name, err)
			require.Equal(t, []datapath.Service{service(tcpFE, 1, 1)}, l.Services(), c.name)
		}
		src := netip.MustParseAddrPort("192.168.0.1:40000")
		_, out, err := l.RunPacket(Flow4(ProtoTCP, src, vip))
		require.NoError(t, err)
		require.Equal(t, ExpectedBackend(t, testCfg, service(tcpFE, 1, 1), src), frameDst(out))
	})
}

// frameSrc is the source of an untagged IPv4 or IPv6 TCP or UDP frame.
func frameSrc(frame []byte) netip.AddrPort {
	ip := frame[14:]
	iplen, _, _ := split(frame)
	if iplen == 40 && binary.BigEndian.Uint16(frame[12:14]) == EtherTypeIPv6 {
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(ip[8:24])), binary.BigEndian.Uint16(ip[40:42]))
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(ip[iplen:iplen+2]))
}

// frameDst is the destination of an untagged IPv4 or IPv6 TCP or UDP
// frame.
func frameDst(frame []byte) netip.AddrPort {
	ip := frame[14:]
	iplen, _, _ := split(frame)
	if iplen == 40 && binary.BigEndian.Uint16(frame[12:14]) == EtherTypeIPv6 {
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(ip[24:40])), binary.BigEndian.Uint16(ip[42:44]))
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), binary.BigEndian.Uint16(ip[iplen+2:iplen+4]))
}
