package datapath

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Prefilter drops packets whose source address is in a deny list of IPv4
// and IPv6 CIDRs, before anything else looks at them (XDP in the kernel
// backend). A change is a batch of deletions and insertions applied
// atomically: a packet is checked against the list before the batch or
// the list after it, never a mix, and a batch that fails applies nothing.
// Every applied batch raises the revision by one. Implementations are safe
// for concurrent use.
type Prefilter interface {
	// Update applies b and returns the new revision.
	Update(b PrefilterBatch) (uint64, error)
	// List returns the deny list, sorted (IPv4 first, then by address and
	// length), and its revision.
	List() ([]netip.Prefix, uint64)
	// Counters returns the packet counters, summed over CPUs.
	Counters() (PrefilterCounters, error)
	// Close releases the prefilter (it detaches it from every interface).
	Close() error
}

// PrefilterBatch is one atomic change of the deny list: Delete is applied
// first, then Insert.
type PrefilterBatch struct {
	// Revision, when not zero, must be the list's revision: the batch was
	// computed from that list. Zero applies the batch to whatever list is
	// there.
	Revision uint64
	Insert   []netip.Prefix
	Delete   []netip.Prefix
}

// PrefilterCounters count the packets the prefilter saw.
type PrefilterCounters struct {
	// Passed: not IP, or IP from a source not denied.
	Passed uint64
	// DroppedIPv4 and DroppedIPv6: from a denied source.
	DroppedIPv4, DroppedIPv6 uint64
	// Malformed: passed because the IP header is cut short.
	Malformed uint64
	// EventsLost: drops not reported to an open event stream because it
	// was full.
	EventsLost uint64
}

// Verdict is what a program does with a packet.
type Verdict int

// Verdicts, with XDP's numbers.
const (
	VerdictAborted  Verdict = 0
	VerdictDrop     Verdict = 1
	VerdictPass     Verdict = 2
	VerdictTX       Verdict = 3
	VerdictRedirect Verdict = 4
)

func (v Verdict) String() string {
	switch v {
	case VerdictAborted:
		return "aborted"
	case VerdictDrop:
		return "drop"
	case VerdictPass:
		return "pass"
	case VerdictTX:
		return "tx"
	case VerdictRedirect:
		return "redirect"
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// PacketTester runs a program on one packet without a network: the
// kernel backend through BPF_PROG_TEST_RUN, the fake in Go. Counters
// count tested packets as they count real ones.
type PacketTester interface {
	TestPacket(frame []byte) (Verdict, error)
}

// DefaultPrefilterMax is how many CIDRs of each family a deny list holds
// unless the options say otherwise.
const DefaultPrefilterMax = 1 << 17

// Sentinel errors of the prefilter, wrapped by *PrefilterError.
var (
	// ErrInvalidPrefix: not a valid CIDR, host bits set, or an
	// IPv4-mapped IPv6 prefix (give it as IPv4).
	ErrInvalidPrefix = errors.New("invalid prefix")
	// ErrStaleRevision: the batch was computed from another revision.
	ErrStaleRevision = errors.New("stale revision")
	// ErrNotInList: a deletion of a CIDR the list does not hold.
	ErrNotInList = errors.New("not in the deny list")
	// ErrDuplicate: an insertion of a CIDR the list holds already (or
	// twice in one batch).
	ErrDuplicate = errors.New("already in the deny list")
	// ErrListFull: the batch would take a family past its capacity.
	ErrListFull = errors.New("deny list full")
)

// PrefilterError says which part of a batch was refused and why.
type PrefilterError struct {
	// Field is "Insert[i]", "Delete[i]" or "Revision".
	Field string
	// Prefix is the CIDR concerned (invalid when the field is Revision).
	Prefix netip.Prefix
	Err    error
}

func (e *PrefilterError) Error() string {
	if e.Field == "Revision" {
		return fmt.Sprintf("prefilter batch: Revision: %v", e.Err)
	}
	return fmt.Sprintf("prefilter batch: %s %s: %v", e.Field, e.Prefix, e.Err)
}

func (e *PrefilterError) Unwrap() error { return e.Err }

// PrefixSet is a deny list being changed: the CIDRs of each family. It is
// what both backends use to check and apply a batch.
type PrefixSet struct {
	V4, V6 map[netip.Prefix]bool
}

// NewPrefixSet returns an empty set.
func NewPrefixSet() *PrefixSet {
	return &PrefixSet{V4: map[netip.Prefix]bool{}, V6: map[netip.Prefix]bool{}}
}

func (s *PrefixSet) family(p netip.Prefix) map[netip.Prefix]bool {
	if p.Addr().Is4() {
		return s.V4
	}
	return s.V6
}

// Has says whether the set holds p.
func (s *PrefixSet) Has(p netip.Prefix) bool { return s.family(p)[p] }

// Clone returns a copy of s.
func (s *PrefixSet) Clone() *PrefixSet {
	c := NewPrefixSet()
	for p := range s.V4 {
		c.V4[p] = true
	}
	for p := range s.V6 {
		c.V6[p] = true
	}
	return c
}

// Sorted returns the CIDRs, IPv4 first, then by address and length.
func (s *PrefixSet) Sorted() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(s.V4)+len(s.V6))
	for p := range s.V4 {
		out = append(out, p)
	}
	for p := range s.V6 {
		out = append(out, p)
	}
	slices.SortFunc(out, ComparePrefix)
	return out
}

// ComparePrefix orders CIDRs: IPv4 first, then by address, then by length.
func ComparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// CheckPrefix returns an error unless p is a CIDR a deny list can hold:
// valid, without host bits, and not an IPv4-mapped IPv6 prefix.
func CheckPrefix(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return fmt.Errorf("%w: not a valid CIDR", ErrInvalidPrefix)
	case p.Addr().Zone() != "":
		return fmt.Errorf("%w: has a zone", ErrInvalidPrefix)
	case p.Addr().Is4In6():
		return fmt.Errorf("%w: IPv4-mapped IPv6; give it as IPv4", ErrInvalidPrefix)
	case p.Masked() != p:
		return fmt.Errorf("%w: host bits set (the network is %s)", ErrInvalidPrefix, p.Masked())
	}
	return nil
}

// Apply checks b against s (whose revision is rev) and returns the set
// after it; s does not change. max bounds each family (0: no bound).
func (s *PrefixSet) Apply(b PrefilterBatch, rev uint64, max int) (*PrefixSet, error) {
	if b.Revision != 0 && b.Revision != rev {
		return nil, &PrefilterError{Field: "Revision", Err: fmt.Errorf("%w: batch computed from %d, the list is at %d", ErrStaleRevision, b.Revision, rev)}
	}
	next := s.Clone()
	for i, p := range b.Delete {
		field := fmt.Sprintf("Delete[%d]", i)
		if err := CheckPrefix(p); err != nil {
			return nil, &PrefilterError{Field: field, Prefix: p, Err: err}
		}
		if !next.Has(p) {
			return nil, &PrefilterError{Field: field, Prefix: p, Err: ErrNotInList}
		}
		delete(next.family(p), p)
	}
	for i, p := range b.Insert {
		field := fmt.Sprintf("Insert[%d]", i)
		if err := CheckPrefix(p); err != nil {
			return nil, &PrefilterError{Field: field, Prefix: p, Err: err}
		}
		if next.Has(p) {
			return nil, &PrefilterError{Field: field, Prefix: p, Err: ErrDuplicate}
		}
		fam := next.family(p)
		if max > 0 && len(fam) >= max {
			return nil, &PrefilterError{Field: field, Prefix: p, Err: fmt.Errorf("%w: %d CIDRs of its family at most", ErrListFull, max)}
		}
		fam[p] = true
	}
	return next, nil
}

// PrefilterOptions configure a prefilter.
type PrefilterOptions struct {
	// MaxEntries bounds each family's deny list (DefaultPrefilterMax
	// when 0).
	MaxEntries int
	// PinPath, for the kernel backend, is a directory on a bpffs (one per
	// network namespace) where the maps and the interfaces' links are
	// pinned: a prefilter opened on a PinPath that holds pins takes over
	// their deny list, revision and links, and its Attach replaces the
	// program of a pinned link atomically, so a restart or an upgrade of
	// the agent drops no packet. Close then leaves the pins (and the
	// program) in place. The fake ignores it.
	PinPath string
	// EventBuffer is the size in bytes of the ring buffer of drop
	// events, a power of two of at least a page (DefaultEventBuffer when
	// 0). Each event takes EventRecordSize bytes of it. With a PinPath,
	// MaxEntries and EventBuffer must be those the pins were made with.
	EventBuffer int
}

// DefaultEventBuffer is the drop events' ring buffer unless the options
// say otherwise: 6553 events.
const DefaultEventBuffer = 256 << 10

// EventRecordSize is the room one drop event takes in the ring buffer:
// an 8-byte record header and the 32-byte event.
const EventRecordSize = 40

// Events is EventBuffer or its default.
func (o PrefilterOptions) Events() int {
	if o.EventBuffer <= 0 {
		return DefaultEventBuffer
	}
	return o.EventBuffer
}

// Max is MaxEntries or its default.
func (o PrefilterOptions) Max() int {
	if o.MaxEntries <= 0 {
		return DefaultPrefilterMax
	}
	return o.MaxEntries
}

// ErrNotSupported: the kernel backend does not run on this system.
var ErrNotSupported = errors.New("not supported on this system")

// XDPMode is where an XDP program runs.
type XDPMode int

// XDP modes.
const (
	// XDPModeAuto: in the driver when it supports XDP, generic otherwise.
	XDPModeAuto XDPMode = iota
	// XDPModeNative: in the driver, before a socket buffer exists.
	XDPModeNative
	// XDPModeGeneric: in the kernel's generic hook, after the socket
	// buffer is allocated; any device, slower.
	XDPModeGeneric
)

func (m XDPMode) String() string {
	switch m {
	case XDPModeAuto:
		return "auto"
	case XDPModeNative:
		return "native"
	case XDPModeGeneric:
		return "generic"
	}
	return fmt.Sprintf("XDPMode(%d)", int(m))
}

// PrefilterEvent is a packet the prefilter dropped.
type PrefilterEvent struct {
	// Time is when it was dropped.
	Time time.Time
	// Ifindex is the interface it arrived on.
	Ifindex int
	// Source is its denied source address.
	Source netip.Addr
}

// PrefilterEvents is implemented by prefilters that report their drops.
// Reporting costs nothing while no stream is open.
type PrefilterEvents interface {
	// Events opens a stream of the drops from now on.
	Events() (PrefilterEventStream, error)
}

// PrefilterEventStream is an open stream of drops. Events that come
// faster than they are read are lost, and counted in
// PrefilterCounters.EventsLost.
type PrefilterEventStream interface {
	// Next blocks until the next drop, ctx is done, or the stream is
	// closed (ErrStreamClosed).
	Next(ctx context.Context) (PrefilterEvent, error)
	Close() error
}

// ErrStreamClosed: the event stream was closed.
var ErrStreamClosed = errors.New("event stream closed")
