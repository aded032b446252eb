package maglev

import (
	"bytes"
	"cmp"
	"fmt"
	"math/bits"
	"slices"
	"unsafe"

	"github.com/twmb/murmur3"
)

// Builder computes Maglev lookup tables for one Config. It keeps its scratch
// memory between builds, so a reused Builder allocates nothing in steady
// state; scratch is O(N) in the number of backends plus an M-bit occupancy
// bitmap, never O(N*M): permutations are walked on the fly instead of being
// materialised.
//
// A Builder is not safe for concurrent use; use one per goroutine.
type Builder struct {
	cfg  Config
	seed Seed
	m    uint32

	keys     []byte      // backend keys, back to back
	keyOff   []uint32    // keys[keyOff[i]:keyOff[i+1]] is backends[i]'s key
	sums     []sum128    // backends[i]'s hash
	order    []int32     // indexes into backends, in table order
	ids      []uint64    // ID<<32 | index, for the duplicate-ID check
	state    []turn      // per active backend, in table order
	filled   []uint64    // occupancy bitmap, one bit per slot
	rank     []remainder // ModeNative: quota rounding order
	rotation []int32     // ModeNative, equal weights: backends below quota
	events   []event     // ModeNative, weighted: min-heap of next looks
	sorter   keySorter   // sorts order without allocating
}

// remainder is a backend's rounding remainder when quotas are computed.
type remainder struct {
	rem uint64
	pos uint32
}

// turn is the per-backend state while a table is filled.
type turn struct {
	pos    uint32  // next slot in the backend's permutation
	skip   uint32  // permutation stride, in [1, M-1]
	id     uint32  // value written into the slots
	weight uint32  // weight (> 0)
	quota  uint32  // ModeNative: slots still to claim
	phase  uint32  // ModeNative weighted: offset of the look times
	cntr   float64 // ModeCilium weighted: Cilium's weight counter
}

// NewBuilder returns a Builder for cfg. The error is a *ConfigError when cfg
// is invalid (see Config.Validate).
func NewBuilder(cfg Config) (*Builder, error) {
	cfg, seed, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	b := &Builder{cfg: cfg, seed: seed, m: uint32(cfg.TableSize)}
	b.filled = make([]uint64, (cfg.TableSize+63)/64)
	b.sorter.b = b
	return b, nil
}

// Config returns the builder's configuration with defaults applied.
func (b *Builder) Config() Config { return b.cfg }

// Seed returns the decoded hash seed.
func (b *Builder) Seed() Seed { return b.seed }

// TableSize returns M.
func (b *Builder) TableSize() int { return int(b.m) }

// ScratchBytes returns the memory the builder retains between builds, in
// bytes (the capacity of every scratch buffer).
func (b *Builder) ScratchBytes() int {
	return cap(b.keys) + 4*cap(b.keyOff) + int(unsafe.Sizeof(sum128{}))*cap(b.sums) + 4*cap(b.order) + 8*cap(b.ids) +
		int(unsafe.Sizeof(turn{}))*cap(b.state) + 8*cap(b.filled) +
		int(unsafe.Sizeof(remainder{}))*cap(b.rank) + 4*cap(b.rotation) +
		int(unsafe.Sizeof(event{}))*cap(b.events)
}

// Table is Build into a new slice.
func (b *Builder) Table(backends []Backend) ([]uint32, error) {
	return b.Build(nil, backends)
}

// Build computes the lookup table for backends and returns it in dst's
// storage, reallocated only when cap(dst) < M. Each of the M slots holds the
// ID of the backend that owns it. The result depends neither on the order of
// backends nor on their IDs' values, only on their identities, weights, the
// table size and the seed.
//
// An empty backends slice yields an empty table (dst[:0]) and no error.
// Backends with weight 0 own no slot. Errors: a *BackendError wrapping
// ErrInvalidBackend, ErrInvalidWeight or ErrDuplicateBackend naming the
// first bad backend; ErrZeroWeightSum when backends are given but all weigh
// 0; ErrTooManyBackends when more than M backends have a weight. All checks
// come first: on error nothing has been written to dst.
func (b *Builder) Build(dst []uint32, backends []Backend) ([]uint32, error) {
	if len(backends) == 0 {
		return dst[:0], nil
	}
	active, weightSum, err := b.validate(backends)
	if err != nil {
		return dst[:0], err
	}
	if active == 0 {
		return dst[:0], fmt.Errorf("maglev: %d backends, all with weight 0: %w", len(backends), ErrZeroWeightSum)
	}
	if active > int(b.m) {
		return dst[:0], fmt.Errorf("maglev: %d weighted backends for %d table slots (use a table size of at least %d, 100 times the backends): %w",
			active, b.m, 100*active, ErrTooManyBackends)
	}
	if err := b.prepare(backends); err != nil {
		return dst[:0], err
	}
	if cap(dst) < int(b.m) {
		dst = make([]uint32, b.m)
	}
	dst = dst[:b.m]
	clear(b.filled)

	equal := true
	for i := range b.state {
		if b.state[i].weight != b.state[0].weight {
			equal = false
			break
		}
	}
	switch {
	case b.cfg.Mode == ModeNative:
		b.setQuotas(weightSum)
		if equal {
			b.fillRanked(dst)
		} else {
			b.fillRankedPaced(dst)
		}
	case weightSum/uint64(len(b.state)) > 1 && !equal:
		b.fillCiliumWeighted(dst, weightSum)
	default:
		// Equal weights, and whenever the mean weight is at most 1 (Cilium
		// then ignores weights): Maglev's round robin.
		b.fillRoundRobin(dst)
	}
	return dst, nil
}

// validate checks every backend's fields and returns the number of backends
// with a weight and the sum of the weights.
func (b *Builder) validate(backends []Backend) (active int, sum uint64, err error) {
	maxWeight := int64(MaxWeight)
	if b.cfg.Mode == ModeCilium {
		maxWeight = MaxCiliumWeight
	}
	for i := range backends {
		be := &backends[i]
		switch {
		case !be.Addr.IsValid():
			return 0, 0, &BackendError{Index: i, Backend: *be, Field: "Addr", Reason: "address is not set", Err: ErrInvalidBackend}
		case be.Addr.Zone() != "":
			return 0, 0, &BackendError{Index: i, Backend: *be, Field: "Addr", Reason: "address has an IPv6 zone", Err: ErrInvalidBackend}
		case !be.Protocol.valid():
			return 0, 0, &BackendError{Index: i, Backend: *be, Field: "Protocol", Reason: "must be ANY, TCP, UDP or SCTP", Err: ErrInvalidBackend}
		case be.Weight < 0:
			return 0, 0, &BackendError{Index: i, Backend: *be, Field: "Weight", Reason: fmt.Sprintf("weight %d is negative", be.Weight), Err: ErrInvalidWeight}
		case be.Weight > maxWeight:
			return 0, 0, &BackendError{Index: i, Backend: *be, Field: "Weight",
				Reason: fmt.Sprintf("weight %d exceeds %d, the maximum of mode %s", be.Weight, maxWeight, b.cfg.Mode), Err: ErrInvalidWeight}
		}
		if be.Weight > 0 {
			active++
			sum += uint64(be.Weight)
		}
	}
	return active, sum, nil
}

// prepare hashes the backends, puts them in table order, rejects duplicates
// and sets up b.state for the active ones.
func (b *Builder) prepare(backends []Backend) error {
	n := len(backends)
	b.keys = b.keys[:0]
	b.keyOff = append(b.keyOff[:0], 0)
	for i := range backends {
		if b.cfg.Mode == ModeCilium {
			b.keys = backends[i].appendCiliumKey(b.keys)
		} else {
			b.keys = backends[i].appendNativeKey(b.keys)
		}
		b.keyOff = append(b.keyOff, uint32(len(b.keys)))
	}
	b.order = b.order[:0]
	for i := range n {
		b.order = append(b.order, int32(i))
	}
	b.sums = b.sums[:0]
	for i := range n {
		b.sums = append(b.sums, b.hash(i))
	}
	slices.SortFunc(b.order, b.sorter.compare)
	for k := 1; k < n; k++ {
		if bytes.Equal(b.key(int(b.order[k-1])), b.key(int(b.order[k]))) {
			i, j := int(b.order[k-1]), int(b.order[k])
			i, j = min(i, j), max(i, j)
			return &BackendError{Index: j, Backend: backends[j], Field: "Addr",
				Reason: fmt.Sprintf("same address, port, protocol and cluster ID as backends[%d]", i), Err: ErrDuplicateBackend}
		}
	}
	b.ids = b.ids[:0]
	for i := range backends {
		b.ids = append(b.ids, uint64(backends[i].ID)<<32|uint64(i))
	}
	slices.Sort(b.ids)
	for k := 1; k < n; k++ {
		if b.ids[k-1]>>32 == b.ids[k]>>32 {
			i, j := int(uint32(b.ids[k-1])), int(uint32(b.ids[k]))
			return &BackendError{Index: j, Backend: backends[j], Field: "ID",
				Reason: fmt.Sprintf("ID %d is also used by backends[%d]", backends[j].ID, i), Err: ErrDuplicateBackend}
		}
	}

	b.state = b.state[:0]
	for _, i := range b.order {
		be := &backends[i]
		if be.Weight == 0 {
			continue
		}
		h := b.sums[i]
		b.state = append(b.state, turn{
			pos:    uint32(h.h1 % uint64(b.m)),
			skip:   uint32(h.h2%uint64(b.m-1)) + 1,
			id:     be.ID,
			weight: uint32(be.Weight),
			phase:  h.phase(),
		})
	}
	return nil
}

// key returns backends[i]'s key.
func (b *Builder) key(i int) []byte { return b.keys[b.keyOff[i]:b.keyOff[i+1]] }

// sum128 is a murmur3 x64_128 hash.
type sum128 struct{ h1, h2 uint64 }

// phase derives ModeNative's phase, which orders backends and offsets
// their look times, from the hash.
func (h sum128) phase() uint32 { return uint32((h.h1 ^ h.h2) >> 32) }

// hash returns murmur3 x64_128 of backends[i]'s key under the seed, as
// Cilium's getOffsetAndSkip computes it.
func (b *Builder) hash(i int) sum128 {
	s := uint64(b.seed.Murmur)
	h1, h2 := murmur3.SeedSum128(s, s, b.key(i))
	return sum128{h1, h2}
}

// keySorter orders backend indexes: by key in ModeCilium (Cilium sorts by
// its hash string), by (phase, key) in ModeNative.
type keySorter struct {
	b *Builder
}

func (s *keySorter) compare(x, y int32) int {
	if s.b.cfg.Mode == ModeNative {
		if c := cmp.Compare(s.b.sums[x].phase(), s.b.sums[y].phase()); c != 0 {
			return c
		}
	}
	return bytes.Compare(s.b.key(int(x)), s.b.key(int(y)))
}

// place writes t's ID into the first free slot of its permutation and
// advances the permutation past it.
func (b *Builder) place(dst []uint32, t *turn) {
	m, c, filled := b.m, t.pos, b.filled
	for filled[c>>6]&(1<<(c&63)) != 0 {
		c += t.skip
		if c >= m {
			c -= m
		}
	}
	filled[c>>6] |= 1 << (c & 63)
	dst[c] = t.id
	c += t.skip
	if c >= m {
		c -= m
	}
	t.pos = c
}

// fillRoundRobin gives every backend one turn in table order until the
// table is full.
func (b *Builder) fillRoundRobin(dst []uint32) {
	state := b.state
	i := 0
	for range b.m {
		b.place(dst, &state[i])
		if i++; i == len(state) {
			i = 0
		}
	}
}

// fillCiliumWeighted is Cilium's weighted turn order: in turn n, starting at
// backend n mod N, a backend whose weight counter is ahead of (n+1)*weight
// passes its turn to the next one. The float64 counter and the conversions
// mirror Cilium's computeLookupTable exactly; they decide slot ownership.
func (b *Builder) fillCiliumWeighted(dst []uint32, weightSum uint64) {
	state := b.state
	l := len(state)
	for i := range state {
		state[i].cntr = float64(state[i].weight) / float64(l)
	}
	for n := range uint64(b.m) {
		i := int(n % uint64(l))
		for {
			t := &state[i]
			if (n+1)*uint64(t.weight) < uint64(t.cntr) {
				if i++; i == l {
					i = 0
				}
				continue
			}
			t.cntr += float64(weightSum)
			b.place(dst, t)
			break
		}
	}
}

// setQuotas gives each backend its exact share of the table, M*w/W slots
// rounded by largest remainder (ties to the backend earlier in table
// order), so the quotas add up to M.
func (b *Builder) setQuotas(weightSum uint64) {
	m := uint64(b.m)
	assigned := uint64(0)
	b.rank = b.rank[:0]
	for i := range b.state {
		t := &b.state[i]
		q := m * uint64(t.weight)
		t.quota = uint32(q / weightSum)
		assigned += uint64(t.quota)
		b.rank = append(b.rank, remainder{rem: q % weightSum, pos: uint32(i)})
	}
	slices.SortFunc(b.rank, func(x, y remainder) int {
		if c := cmp.Compare(y.rem, x.rem); c != 0 {
			return c // largest remainder first
		}
		return cmp.Compare(x.pos, y.pos)
	})
	for _, r := range b.rank[:m-assigned] {
		b.state[r.pos].quota++
	}
}

// probe looks at the slot t's permutation has reached: if it is free, t
// claims it. Either way t moves on to the next slot of its permutation.
func (b *Builder) probe(dst []uint32, t *turn) {
	c := t.pos
	if w, bit := &b.filled[c>>6], uint64(1)<<(c&63); *w&bit == 0 {
		*w |= bit
		dst[c] = t.id
		t.quota--
	}
	c += t.skip
	if c >= b.m {
		c -= b.m
	}
	t.pos = c
}

// fillRanked is ModeNative's population for equal weights. Where Maglev
// lets a backend whose turn comes skip occupied slots until it finds a free
// one, here every backend still below its quota looks at exactly one slot
// of its permutation per round, in table order, and claims it if it is
// free. A slot therefore goes to the backend that ranks it highest (earliest
// in its permutation) among those still short of slots, ties to the earlier
// backend: ownership follows preference rank instead of the race of who
// reaches a slot first, so a change to one backend displaces fewer slots of
// the others. See the package documentation for the measured effect.
func (b *Builder) fillRanked(dst []uint32) {
	rotation := b.rotation[:0]
	for i := range b.state {
		if b.state[i].quota > 0 {
			rotation = append(rotation, int32(i))
		}
	}
	for len(rotation) > 0 {
		kept := rotation[:0]
		for _, i := range rotation {
			t := &b.state[i]
			b.probe(dst, t)
			if t.quota > 0 {
				kept = append(kept, i)
			}
		}
		rotation = kept
	}
	b.rotation = rotation
}

// fillRankedPaced is fillRanked for unequal weights: each backend looks at
// slots at a pace proportional to its weight. Backend i's k-th look (k = 0,
// 1, ...) happens at virtual time (k + phase_i/2^32) / weight_i, where
// phase_i comes from the backend's hash, so backends reach their quotas at
// about the same time, and a backend's timing depends only on its own
// weight and identity, never on the other backends. Times are compared
// exactly, as 128-bit integer cross products, so tables are identical on
// every CPU.
//
// Only looks at free slots need to be ordered in time: a slot that is
// occupied stays occupied, so a look at it changes nothing. After each
// look, a backend therefore skips straight past the slots already taken and
// is scheduled at the time of its look at the next free one; if someone
// else claims that slot first, it skips on from there when its time comes.
// This visits the same slots at the same virtual times as looking one slot
// at a time, with a heap operation per claim instead of per look.
func (b *Builder) fillRankedPaced(dst []uint32) {
	h := b.events[:0]
	for i := range b.state {
		t := &b.state[i]
		if t.quota == 0 {
			continue
		}
		e := event{at: uint64(t.phase), weight: uint64(t.weight), backend: int32(i)}
		b.skipTaken(t, &e)
		h = append(h, e)
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	for len(h) > 0 {
		e := &h[0]
		t := &b.state[e.backend]
		b.probe(dst, t)
		e.at += 1 << 32
		if t.quota == 0 {
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
		} else {
			b.skipTaken(t, e)
		}
		siftDown(h, 0)
	}
	b.events = h
}

// skipTaken advances t past the occupied slots of its permutation, counting
// each skipped look in e's time.
func (b *Builder) skipTaken(t *turn, e *event) {
	m, c, filled := b.m, t.pos, b.filled
	for filled[c>>6]&(1<<(c&63)) != 0 {
		c += t.skip
		if c >= m {
			c -= m
		}
		e.at += 1 << 32
	}
	t.pos = c
}

// event is a backend's next look at a slot, at virtual time at/weight
// (at holds k<<32 | phase).
type event struct {
	at      uint64
	weight  uint64
	backend int32 // position in table order, the tie-breaker
}

// before reports whether x comes before y: x.at/x.weight < y.at/y.weight,
// compared exactly (x.at*y.weight < y.at*x.weight in 128 bits), ties to the
// backend earlier in table order.
func (x *event) before(y *event) bool {
	h1, l1 := bits.Mul64(x.at, y.weight)
	h2, l2 := bits.Mul64(y.at, x.weight)
	if h1 != h2 {
		return h1 < h2
	}
	if l1 != l2 {
		return l1 < l2
	}
	return x.backend < y.backend
}

// siftDown restores the min-heap order of h below position i. A heap of
// events is kept by hand rather than with container/heap: this is the
// innermost loop of weighted builds, and the interface calls would double
// its cost.
func siftDown(h []event, i int) {
	n := len(h)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if r := c + 1; r < n && h[r].before(&h[c]) {
			c = r
		}
		if !h[c].before(&h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}
