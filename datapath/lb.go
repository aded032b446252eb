package datapath

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/eniway/eniway/maglev"
)

// LoadBalancer sends traffic for service frontends (VIP, port, protocol)
// to their backends, picked from each service's Maglev table by the flow
// hash Cilium's datapath uses, with the destination rewritten (DNAT). A
// batch of upserts or deletions applies as a whole or not at all, and a
// packet sees each service's old table or its new one, never a mix. This
// first slice handles IPv4 TCP and UDP; fragments pass untouched. Flows
// are tracked: a flow keeps its backend while the backend exists.
type LoadBalancer interface {
	// Upsert adds or replaces services.
	Upsert(services ...Service) error
	// Delete removes services by frontend.
	Delete(frontends ...Frontend) error
	// Services returns the services, sorted by frontend.
	Services() []Service
	// Counters returns the packet counters, summed over CPUs.
	Counters() (LBCounters, error)
	// Conntrack returns the tracked flows, sorted by frontend and client.
	Conntrack() ([]CTEntry, error)
	// Flow returns the tracked flow of client to frontend, and whether
	// there is one.
	Flow(client netip.AddrPort, frontend Frontend) (CTEntry, bool, error)
	// ExpireConntrack removes the flows idle longer than their timeout
	// (LBOptions.CTTimeouts) as of now, on the monotonic clock the
	// entries' LastSeen is on, and returns how many it removed.
	ExpireConntrack(now time.Duration) (int, error)
	// Now is the current time on that clock.
	Now() time.Duration
	Close() error
}

// CTEntry is one tracked flow.
type CTEntry struct {
	Client   netip.AddrPort
	Frontend Frontend
	// Backend is the backend the flow was given; it keeps it while the
	// backend exists (drained or not).
	Backend netip.AddrPort
	// LastSeen is when its last packet came, on the monotonic clock.
	LastSeen time.Duration
	// State is what the flow's packets have said so far.
	State CTState
}

// CTState is the state of a tracked flow, from the packets the load
// balancer sees (the client's: replies do not pass it in DSR mode).
type CTState uint8

// States of tracked flows.
const (
	// CTOpen: a UDP flow, or a TCP connection whose client has sent more
	// than SYNs.
	CTOpen CTState = iota
	// CTOpening: a TCP connection whose client has sent only SYNs.
	CTOpening
	// CTClosing: a TCP connection whose client has sent a FIN or an RST.
	CTClosing
)

func (s CTState) String() string {
	switch s {
	case CTOpen:
		return "open"
	case CTOpening:
		return "opening"
	case CTClosing:
		return "closing"
	}
	return fmt.Sprintf("CTState(%d)", uint8(s))
}

// TCP header flags NextCTState reads.
const (
	TCPFlagFIN = 0x01
	TCPFlagSYN = 0x02
	TCPFlagRST = 0x04
	TCPFlagACK = 0x10
)

// NextCTState is the state of a flow of proto after a packet with the TCP
// flags: tracked says whether the flow was tracked before the packet, in
// state prev. A FIN or RST closes; a SYN without ACK opens a new
// connection (or one on the tuple of a closing one); any other packet
// makes an opening connection open and leaves a closing one closing.
func NextCTState(proto maglev.Protocol, tracked bool, prev CTState, flags uint8) CTState {
	switch {
	case proto != maglev.ProtocolTCP:
		return CTOpen
	case flags&(TCPFlagFIN|TCPFlagRST) != 0:
		return CTClosing
	case flags&(TCPFlagSYN|TCPFlagACK) == TCPFlagSYN:
		if !tracked || prev == CTClosing {
			return CTOpening
		}
		return prev
	case tracked && prev == CTClosing:
		return CTClosing
	}
	return CTOpen
}

// CompareCTEntry orders entries by frontend, then client.
func CompareCTEntry(a, b CTEntry) int {
	if c := CompareFrontend(a.Frontend, b.Frontend); c != 0 {
		return c
	}
	return a.Client.Compare(b.Client)
}

// CTTimeouts are how long an idle flow is tracked.
type CTTimeouts struct {
	// TCP: an open TCP connection (Cilium's default: 6 hours).
	TCP time.Duration
	// TCPSYN: a TCP connection that has sent only SYNs (Cilium's
	// default: 60 s).
	TCPSYN time.Duration
	// TCPClosing: after a FIN or RST (Cilium's default: 10 s).
	TCPClosing time.Duration
	// Other: UDP (Cilium's default: 60 s).
	Other time.Duration
}

// Timeout is the timeout of a flow of proto in state.
func (t CTTimeouts) Timeout(proto maglev.Protocol, state CTState) time.Duration {
	switch {
	case proto != maglev.ProtocolTCP:
		return t.Other
	case state == CTClosing:
		return t.TCPClosing
	case state == CTOpening:
		return t.TCPSYN
	}
	return t.TCP
}

// Frontend is where a service is reached.
type Frontend struct {
	Addr     netip.AddrPort
	Protocol maglev.Protocol
}

func (f Frontend) String() string { return fmt.Sprintf("%s/%s", f.Addr, f.Protocol) }

// Service is a frontend and its backends.
type Service struct {
	Frontend Frontend
	// Backends, with their weights (0 drains a backend: it gets no new
	// flows). A service without a backend with weight drops its traffic.
	Backends []LBBackend
	// Mode is how packets reach the backends.
	Mode LBMode
	// Algorithm is how a new flow's backend is chosen.
	Algorithm LBAlgorithm
}

// LBAlgorithm is how a service chooses the backend of a new flow. Either
// way the flow keeps its backend while it is tracked.
type LBAlgorithm int

// Load balancing algorithms (Cilium's loadBalancer.algorithm).
const (
	// LBAlgorithmMaglev: the slot of the service's Maglev table that
	// Cilium's flow hash gives, so every node running the same table picks
	// the same backend for a flow, and a change of backends moves few
	// flows.
	LBAlgorithmMaglev LBAlgorithm = iota
	// LBAlgorithmRandom: a random slot of the same table (weights hold);
	// cheaper than hashing, but another node picks another backend for the
	// same flow.
	LBAlgorithmRandom
)

func (a LBAlgorithm) String() string {
	switch a {
	case LBAlgorithmMaglev:
		return "maglev"
	case LBAlgorithmRandom:
		return "random"
	}
	return fmt.Sprintf("LBAlgorithm(%d)", int(a))
}

// LBMode is how a service's packets reach its backends.
type LBMode int

// Load balancing modes.
const (
	// LBModeDNAT rewrites the destination to the backend; replies come
	// back through the load balancer (its reply program restores the
	// frontend as their source).
	LBModeDNAT LBMode = iota
	// LBModeDSR sends the packet unchanged inside an IPIP header (from
	// LBOptions.DSRSource) to the backend, which must own the frontend's
	// address (on a loopback device, say) and unwrap IPIP (an IPIP device,
	// or the kernel backend's AttachDSRDecap); it answers the client
	// directly. Backends listen on the frontend's port. Only untagged
	// frames are encapsulated; tagged ones pass untouched. Unless
	// LBOptions.DSRRedirect sends it out itself, the kernel backend hands
	// the encapsulated packet to the node's stack, which routes it: its
	// source being the node's own address, the receiving interface needs
	// accept_local=1.
	LBModeDSR
)

// LBBackend is one backend of a service.
type LBBackend struct {
	Addr   netip.AddrPort
	Weight uint16
}

// LBCounters count the packets the load balancer saw.
type LBCounters struct {
	// Passed: not for a service, or not parsed; untouched.
	Passed uint64
	// Forwarded: sent to a backend, a new flow.
	Forwarded uint64
	// NoBackend: for a service without backends; dropped.
	NoBackend uint64
	// Fragments: IPv4 fragments, passed untouched.
	Fragments uint64
	// Established: sent to the backend of a tracked flow.
	Established uint64
	// Replies: backends' replies given the frontend as their source.
	Replies uint64
	// Decapsulated: DSR packets unwrapped on their backend.
	Decapsulated uint64
	// EventsLost: decisions not reported to an open event stream because
	// it was full.
	EventsLost uint64
	// Redirected: DSR packets sent out of their route's interface by the
	// program itself (LBOptions.DSRRedirect); each is also counted as
	// Forwarded or Established.
	Redirected uint64
}

// LBEventKind is what an LBEvent reports.
type LBEventKind int

// Load balancer decisions.
const (
	// LBEventNewFlow: a new flow was given a backend.
	LBEventNewFlow LBEventKind = 1
	// LBEventNoBackend: a packet for a service without a backend to give
	// was dropped.
	LBEventNoBackend LBEventKind = 2
)

// LBEvent is one decision of the load balancer, for package observe.
type LBEvent struct {
	Time     time.Time
	Ifindex  int
	Kind     LBEventKind
	Client   netip.AddrPort
	Frontend Frontend
	// Backend is the backend given (invalid for LBEventNoBackend).
	Backend netip.AddrPort
}

// LBEvents is implemented by load balancers that report their
// decisions. Reporting costs nothing while no stream is open.
type LBEvents interface {
	Events() (LBEventStream, error)
}

// LBEventStream is an open stream of decisions; those that come faster
// than they are read are lost, and counted in LBCounters.EventsLost.
type LBEventStream interface {
	// Next blocks until the next decision, ctx is done, or the stream is
	// closed (ErrStreamClosed).
	Next(ctx context.Context) (LBEvent, error)
	Close() error
}

// LBOptions configure a load balancer.
type LBOptions struct {
	// MaxServices bounds the services (DefaultMaxServices when 0).
	MaxServices int
	// MaxBackends bounds the distinct backends (DefaultMaxBackends when 0).
	MaxBackends int
	// Maglev configures the tables: size M and hash seed (Cilium's
	// defaults when zero). Mode must be maglev.ModeCilium.
	Maglev maglev.Config
	// CTMax bounds the tracked flows (DefaultCTMax when 0); past it the
	// least recently used go.
	CTMax int
	// CTTimeouts: zero fields take Cilium's defaults.
	CTTimeouts CTTimeouts
	// DSRSource is the outer source address of IPv4 DSR packets: this
	// node's IPv4 address. IPv4 services in LBModeDSR need it.
	DSRSource netip.Addr
	// DSRSource6 is the outer source address of IPv6 DSR packets: this
	// node's IPv6 address. IPv6 services in LBModeDSR need it.
	DSRSource6 netip.Addr
	// DSRRedirect, for the kernel backend, sends DSR packets out of the
	// interface of their route to the backend (bpf_fib_lookup, then
	// XDP_REDIRECT to the next hop's MAC address) instead of handing them
	// to the node's stack, which then needs no accept_local and does not
	// route them again. It needs the next hop's neighbour entry (on EC2 the
	// VPC router's, which the node's own traffic keeps resolved); a packet
	// whose next hop is not resolved yet goes to the stack as without it.
	// The target interface must take XDP_REDIRECT frames (a veth only when
	// its peer runs an XDP program), and packets must come with whole
	// checksums, as from a NIC: a locally sent packet on a veth leaves its
	// checksum to the receiver, a note a redirected frame loses. The fake
	// ignores it.
	DSRRedirect bool
	// DisableIPv6 refuses IPv6 services, and the kernel backend's IPv6
	// maps (services, conntrack, reverse NAT) take one entry each: 68 MiB
	// less at the defaults, for IPv4-only clusters.
	DisableIPv6 bool
	// EventBuffer is the size in bytes of the ring buffer of decisions,
	// a power of two of at least a page (DefaultEventBuffer when 0); each
	// takes LBEventRecordSize bytes of it.
	EventBuffer int
	// PinPath, for the kernel backend, is a directory on a bpffs (one per
	// network namespace) where the maps, the services' record and the
	// interfaces' links are pinned. A load balancer opened on a PinPath
	// that holds pins takes over its services, backends, tracked flows
	// and counters, and its Attach calls replace the program of pinned
	// links atomically, so a restart or an upgrade of the agent drops no
	// packet and moves no flow. Every option but CTTimeouts and
	// EventBuffer must be those the pins were made with. Close then
	// leaves the pins (and the programs) in place. The fake ignores it.
	PinPath string
}

// LBEventRecordSize is what one decision takes of LBOptions.EventBuffer:
// the kernel backend's record (72 bytes) and the ring buffer's header.
const LBEventRecordSize = 80

// Defaults of LBOptions.
const (
	DefaultMaxServices = 1024
	DefaultMaxBackends = 65536
	DefaultCTMax       = 262144
)

// WithDefaults returns o with its defaults filled in.
func (o LBOptions) WithDefaults() LBOptions {
	if o.MaxServices <= 0 {
		o.MaxServices = DefaultMaxServices
	}
	if o.MaxBackends <= 0 {
		o.MaxBackends = DefaultMaxBackends
	}
	if o.Maglev.TableSize == 0 {
		o.Maglev.TableSize = maglev.DefaultTableSize
	}
	if o.CTMax <= 0 {
		o.CTMax = DefaultCTMax
	}
	if o.EventBuffer <= 0 {
		o.EventBuffer = DefaultEventBuffer
	}
	if o.CTTimeouts.TCP <= 0 {
		o.CTTimeouts.TCP = 6 * time.Hour
	}
	if o.CTTimeouts.TCPSYN <= 0 {
		o.CTTimeouts.TCPSYN = time.Minute
	}
	if o.CTTimeouts.TCPClosing <= 0 {
		o.CTTimeouts.TCPClosing = 10 * time.Second
	}
	if o.CTTimeouts.Other <= 0 {
		o.CTTimeouts.Other = time.Minute
	}
	return o
}

// Sentinel errors of the load balancer, wrapped by *LBError.
var (
	// ErrInvalidService: a frontend or backend that is not valid.
	ErrInvalidService = errors.New("invalid service")
	// ErrNoService: a deletion of a frontend that has no service.
	ErrNoService = errors.New("no such service")
	// ErrLBFull: too many services or backends.
	ErrLBFull = errors.New("load balancer full")
)

// LBError says which part of a batch was refused and why.
type LBError struct {
	// Field is "services[i].Frontend", "services[i].Backends[j]" or
	// "frontends[i]".
	Field    string
	Frontend Frontend
	Err      error
}

func (e *LBError) Error() string {
	return fmt.Sprintf("load balancer: %s (%s): %v", e.Field, e.Frontend, e.Err)
}

func (e *LBError) Unwrap() error { return e.Err }

// CheckService returns an *LBError unless s is a service this slice
// balances: an IPv4 frontend with a port, TCP or UDP, and valid IPv4
// backends, each at most once. field names s in the batch.
func CheckService(s Service, field string) error {
	fail := func(f string, format string, args ...any) error {
		return &LBError{Field: field + f, Frontend: s.Frontend, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalidService}, args...)...)}
	}
	if err := checkFrontend(s.Frontend); err != nil {
		return fail(".Frontend", "%v", err)
	}
	if s.Mode != LBModeDNAT && s.Mode != LBModeDSR {
		return fail(".Mode", "mode %d", s.Mode)
	}
	if s.Algorithm != LBAlgorithmMaglev && s.Algorithm != LBAlgorithmRandom {
		return fail(".Algorithm", "algorithm %d", s.Algorithm)
	}
	seen := map[netip.AddrPort]bool{}
	for j, b := range s.Backends {
		switch {
		case s.Mode == LBModeDSR && b.Addr.Port() != s.Frontend.Addr.Port():
			return fail(fmt.Sprintf(".Backends[%d]", j), "backend %s: in DSR a backend listens on the frontend's port %d", b.Addr, s.Frontend.Addr.Port())
		case b.Addr.Addr().Is4() != s.Frontend.Addr.Addr().Is4():
			return fail(fmt.Sprintf(".Backends[%d]", j), "backend %s: not of the frontend's family", b.Addr)
		case b.Addr.Addr().IsUnspecified() || b.Addr.Addr().Is4In6() || b.Addr.Addr().Zone() != "":
			return fail(fmt.Sprintf(".Backends[%d]", j), "backend %s: a unicast address without zone is required (IPv4 as IPv4, not mapped into IPv6)", b.Addr)
		case b.Addr.Port() == 0:
			return fail(fmt.Sprintf(".Backends[%d]", j), "backend %s: port 0", b.Addr)
		case seen[b.Addr]:
			return fail(fmt.Sprintf(".Backends[%d]", j), "backend %s twice", b.Addr)
		}
		seen[b.Addr] = true
	}
	return nil
}

func checkFrontend(f Frontend) error {
	switch {
	case !f.Addr.Addr().IsValid() || f.Addr.Addr().IsUnspecified() || f.Addr.Addr().Is4In6() || f.Addr.Addr().Zone() != "":
		return fmt.Errorf("frontend %s: an IPv4 or IPv6 address without zone is required (IPv4 as IPv4, not mapped into IPv6)", f.Addr)
	case f.Addr.Port() == 0:
		return fmt.Errorf("frontend %s: port 0", f.Addr)
	case f.Protocol != maglev.ProtocolTCP && f.Protocol != maglev.ProtocolUDP:
		return fmt.Errorf("frontend %s: protocol %s: TCP or UDP", f.Addr, f.Protocol)
	}
	return nil
}

// CompareFrontend orders frontends by address, port and protocol.
func CompareFrontend(a, b Frontend) int {
	if c := a.Addr.Compare(b.Addr); c != 0 {
		return c
	}
	return int(a.Protocol) - int(b.Protocol)
}

// SortedServices returns the services of m sorted by frontend, with their
// backends cloned.
func SortedServices(m map[Frontend]Service) []Service {
	out := make([]Service, 0, len(m))
	for _, s := range m {
		s.Backends = slices.Clone(s.Backends)
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Service) int { return CompareFrontend(a.Frontend, b.Frontend) })
	return out
}

// MaglevBackends are the maglev backends of s with ids given by id.
func MaglevBackends(s Service, id func(netip.AddrPort) uint32) []maglev.Backend {
	out := make([]maglev.Backend, 0, len(s.Backends))
	for _, b := range s.Backends {
		out = append(out, maglev.Backend{ID: id(b.Addr), Addr: b.Addr.Addr(), Port: b.Addr.Port(),
			Protocol: s.Frontend.Protocol, Weight: int64(b.Weight)})
	}
	return out
}

// PacketRunner runs a program on one packet without a network and
// returns its verdict and the packet as the program left it.
type PacketRunner interface {
	RunPacket(frame []byte) (Verdict, []byte, error)
}

// DecapRunner runs the DSR backend's program (IPIP decapsulation) on one
// packet.
type DecapRunner interface {
	RunDecapPacket(frame []byte) (Verdict, []byte, error)
}

// ReplyRunner runs the load balancer's reply program (reverse NAT: a
// backend's reply to a client gets the frontend as its source) on one
// packet.
type ReplyRunner interface {
	RunReplyPacket(frame []byte) (Verdict, []byte, error)
}

// LBState is a load balancer's services and their Maglev tables, as both
// backends keep them: it checks a batch and gives the state after it.
type LBState struct {
	opts     LBOptions
	builder  *maglev.Builder
	services map[Frontend]Service
	// tables holds each service's Maglev table of backend addresses' ids.
	tables map[Frontend][]uint32
	// ids numbers backend addresses (from 1), counted by reference.
	ids   map[netip.AddrPort]uint32
	addrs map[uint32]netip.AddrPort
	// gens tells each backend from the others that had its id before: a
	// tracked flow keeps its backend while its id has the same gen.
	gens    map[uint32]uint32
	nextGen uint32
	refs    map[netip.AddrPort]int
	next    uint32
	free    []uint32
	// released are ids no backend has any more that may still be read by
	// packets through old tables: free once Release says so.
	released []uint32
}

// NewLBState returns an empty state.
func NewLBState(opts LBOptions) (*LBState, error) {
	opts = opts.WithDefaults()
	if opts.Maglev.Mode != maglev.ModeCilium {
		return nil, fmt.Errorf("load balancer: Maglev mode %v: only ModeCilium is supported", opts.Maglev.Mode)
	}
	b, err := maglev.NewBuilder(opts.Maglev)
	if err != nil {
		return nil, fmt.Errorf("load balancer: %w", err)
	}
	return &LBState{opts: opts, builder: b, services: map[Frontend]Service{}, tables: map[Frontend][]uint32{},
		ids: map[netip.AddrPort]uint32{}, addrs: map[uint32]netip.AddrPort{}, gens: map[uint32]uint32{},
		refs: map[netip.AddrPort]int{}, next: 1}, nil
}

// RestoreLBState returns the state of a load balancer that had services,
// with backend ids: the id and generation of each backend address, as an
// earlier state gave them (so that tracked flows keep their backends and
// tables come out the same). Every backend of services must have an id;
// ids of addresses no service names are not kept.
func RestoreLBState(opts LBOptions, services []Service, ids map[netip.AddrPort]uint32, gens map[uint32]uint32) (*LBState, error) {
	st, err := NewLBState(opts)
	if err != nil {
		return nil, err
	}
	if len(services) > st.opts.MaxServices {
		return nil, &LBError{Field: "services", Err: fmt.Errorf("%w: %d services, %d at most", ErrLBFull, len(services), st.opts.MaxServices)}
	}
	owner := map[uint32]netip.AddrPort{}
	for i, s := range services {
		field := fmt.Sprintf("services[%d]", i)
		if err := CheckService(s, field); err != nil {
			return nil, err
		}
		if _, ok := st.services[s.Frontend]; ok {
			return nil, &LBError{Field: field + ".Frontend", Frontend: s.Frontend, Err: fmt.Errorf("%w: twice", ErrInvalidService)}
		}
		if err := st.checkOptions(s, field); err != nil {
			return nil, err
		}
		for j, b := range s.Backends {
			id, ok := ids[b.Addr]
			if !ok || id == 0 || uint64(id) > uint64(st.opts.MaxBackends) {
				return nil, &LBError{Field: fmt.Sprintf("%s.Backends[%d]", field, j), Frontend: s.Frontend,
					Err: fmt.Errorf("%w: backend %s has no valid id (%d)", ErrInvalidService, b.Addr, id)}
			}
			if o, ok := owner[id]; ok && o != b.Addr {
				return nil, &LBError{Field: fmt.Sprintf("%s.Backends[%d]", field, j), Frontend: s.Frontend,
					Err: fmt.Errorf("%w: backends %s and %s have the same id %d", ErrInvalidService, o, b.Addr, id)}
			}
			owner[id] = b.Addr
			st.refs[b.Addr]++
		}
		s.Backends = slices.Clone(s.Backends)
		st.services[s.Frontend] = s
	}
	for id, a := range owner {
		st.ids[a], st.addrs[id], st.gens[id] = id, a, gens[id]
		st.nextGen = max(st.nextGen, gens[id])
		st.next = max(st.next, id+1)
	}
	for id := uint32(1); id < st.next; id++ {
		if _, ok := owner[id]; !ok {
			st.free = append(st.free, id)
		}
	}
	for i, s := range services {
		if err := st.buildTable(s, st.BackendID, fmt.Sprintf("services[%d].Backends", i), st.tables); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// checkOptions refuses an IPv6 service when IPv6 is disabled, and a DSR
// service when the options have no DSR source of its family.
func (st *LBState) checkOptions(s Service, field string) error {
	if s.Frontend.Addr.Addr().Is6() && st.opts.DisableIPv6 {
		return &LBError{Field: field + ".Frontend", Frontend: s.Frontend, Err: fmt.Errorf("%w: IPv6 is disabled (LBOptions.DisableIPv6)", ErrInvalidService)}
	}
	if s.Mode != LBModeDSR {
		return nil
	}
	if s.Frontend.Addr.Addr().Is4() && !st.opts.DSRSource.Is4() {
		return &LBError{Field: field + ".Mode", Frontend: s.Frontend, Err: fmt.Errorf("%w: DSR needs LBOptions.DSRSource, an IPv4 address", ErrInvalidService)}
	}
	if s.Frontend.Addr.Addr().Is6() && !st.opts.DSRSource6.Is6() {
		return &LBError{Field: field + ".Mode", Frontend: s.Frontend, Err: fmt.Errorf("%w: DSR needs LBOptions.DSRSource6, an IPv6 address", ErrInvalidService)}
	}
	return nil
}

// buildTable puts the Maglev table of s's backends with weight, their ids
// from id, into tables (nil when none has weight).
func (st *LBState) buildTable(s Service, id func(netip.AddrPort) uint32, field string, tables map[Frontend][]uint32) error {
	var live []maglev.Backend
	for _, b := range MaglevBackends(s, id) {
		if b.Weight > 0 {
			live = append(live, b)
		}
	}
	if len(live) == 0 {
		tables[s.Frontend] = nil
		return nil
	}
	t, err := st.builder.Table(live)
	if err != nil {
		return &LBError{Field: field, Frontend: s.Frontend, Err: fmt.Errorf("%w: %w", ErrInvalidService, err)}
	}
	tables[s.Frontend] = t
	return nil
}

// Options are the state's options, defaults filled in.
func (st *LBState) Options() LBOptions { return st.opts }

// Seed is the tables' hash seed.
func (st *LBState) Seed() maglev.Seed { return st.builder.Seed() }

// Services returns the services sorted by frontend.
func (st *LBState) Services() []Service { return SortedServices(st.services) }

// Service returns the service of f, its table and whether it has one.
func (st *LBState) Service(f Frontend) (Service, []uint32, bool) {
	s, ok := st.services[f]
	return s, st.tables[f], ok
}

// BackendID returns the id of a backend address (0 if unknown).
func (st *LBState) BackendID(a netip.AddrPort) uint32 { return st.ids[a] }

// BackendAddr returns the address of a backend id.
func (st *LBState) BackendAddr(id uint32) (netip.AddrPort, bool) {
	a, ok := st.addrs[id]
	return a, ok
}

// BackendGen returns the generation of the backend that has id: it
// differs from that of every backend that had the id before.
func (st *LBState) BackendGen(id uint32) uint32 { return st.gens[id] }

// LBChange is what a batch changes: the services (with their new tables)
// written, the frontends removed, and the backend ids that appeared or
// were released.
type LBChange struct {
	Upserted []Frontend
	Removed  []Frontend
	NewIDs   []uint32
	FreedIDs []uint32
}

// Upsert checks services and applies them, returning what changed; on
// error nothing changes.
func (st *LBState) Upsert(services []Service) (LBChange, error) {
	var ch LBChange
	seen := map[Frontend]bool{}
	for i, s := range services {
		field := fmt.Sprintf("services[%d]", i)
		if err := CheckService(s, field); err != nil {
			return ch, err
		}
		if err := st.checkOptions(s, field); err != nil {
			return ch, err
		}
		if seen[s.Frontend] {
			return ch, &LBError{Field: field + ".Frontend", Frontend: s.Frontend, Err: fmt.Errorf("%w: twice in the batch", ErrInvalidService)}
		}
		seen[s.Frontend] = true
	}
	count := len(st.services)
	for f := range seen {
		if _, ok := st.services[f]; !ok {
			count++
		}
	}
	if count > st.opts.MaxServices {
		return ch, &LBError{Field: "services", Err: fmt.Errorf("%w: %d services, %d at most", ErrLBFull, count, st.opts.MaxServices)}
	}
	// Backend references after the batch.
	refs := map[netip.AddrPort]int{}
	for a, n := range st.refs {
		refs[a] = n
	}
	for _, s := range services {
		if old, ok := st.services[s.Frontend]; ok {
			for _, b := range old.Backends {
				refs[b.Addr]--
			}
		}
		for _, b := range s.Backends {
			refs[b.Addr]++
		}
	}
	live := 0
	for _, n := range refs {
		if n > 0 {
			live++
		}
	}
	if live > st.opts.MaxBackends {
		return ch, &LBError{Field: "services", Err: fmt.Errorf("%w: %d backends, %d at most", ErrLBFull, live, st.opts.MaxBackends)}
	}
	// Ids for new backends, tables for every service (with ids of the
	// backends as they will be).
	ids := map[netip.AddrPort]uint32{}
	next, free := st.next, slices.Clone(st.free)
	id := func(a netip.AddrPort) uint32 {
		if i, ok := st.ids[a]; ok {
			return i
		}
		if i, ok := ids[a]; ok {
			return i
		}
		var i uint32
		if len(free) > 0 {
			i, free = free[len(free)-1], free[:len(free)-1]
		} else {
			i, next = next, next+1
		}
		ids[a] = i
		return i
	}
	tables := map[Frontend][]uint32{}
	for i, s := range services {
		if err := st.buildTable(s, id, fmt.Sprintf("services[%d].Backends", i), tables); err != nil {
			return ch, err
		}
	}
	// Apply.
	for a, i := range ids {
		st.nextGen++
		st.ids[a], st.addrs[i], st.gens[i] = i, a, st.nextGen
		ch.NewIDs = append(ch.NewIDs, i)
	}
	st.next, st.free = next, free
	for _, s := range services {
		s.Backends = slices.Clone(s.Backends)
		st.services[s.Frontend] = s
		st.tables[s.Frontend] = tables[s.Frontend]
		ch.Upserted = append(ch.Upserted, s.Frontend)
	}
	ch.FreedIDs = st.setRefs(refs)
	return ch, nil
}

// Delete removes services; on error nothing changes.
func (st *LBState) Delete(frontends []Frontend) (LBChange, error) {
	var ch LBChange
	seen := map[Frontend]bool{}
	for i, f := range frontends {
		if _, ok := st.services[f]; !ok || seen[f] {
			return ch, &LBError{Field: fmt.Sprintf("frontends[%d]", i), Frontend: f, Err: ErrNoService}
		}
		seen[f] = true
	}
	refs := map[netip.AddrPort]int{}
	for a, n := range st.refs {
		refs[a] = n
	}
	for _, f := range frontends {
		for _, b := range st.services[f].Backends {
			refs[b.Addr]--
		}
		delete(st.services, f)
		delete(st.tables, f)
		ch.Removed = append(ch.Removed, f)
	}
	ch.FreedIDs = st.setRefs(refs)
	return ch, nil
}

// Release makes the ids of removed backends available again: call it once
// no packet can still read a table of a batch before.
func (st *LBState) Release() {
	st.free = append(st.free, st.released...)
	st.released = nil
}

// Released says whether ids wait for Release.
func (st *LBState) Released() bool { return len(st.released) > 0 }

// setRefs records backend references and releases the ids of backends no
// service names any more.
func (st *LBState) setRefs(refs map[netip.AddrPort]int) []uint32 {
	var freed []uint32
	for a, n := range refs {
		if n > 0 {
			st.refs[a] = n
			continue
		}
		delete(st.refs, a)
		if i, ok := st.ids[a]; ok {
			delete(st.ids, a)
			delete(st.addrs, i)
			delete(st.gens, i)
			st.released = append(st.released, i)
			freed = append(freed, i)
		}
	}
	return freed
}
