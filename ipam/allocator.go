package ipam

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// AllocatorOptions configure an Allocator. The zero value is valid: state
// kept in memory only, released addresses reusable at once.
type AllocatorOptions struct {
	// CheckpointPath is the file the allocator persists its allocations
	// to; "" keeps them in memory only. The directory must exist.
	CheckpointPath string
	// ReuseDelay keeps a released address out of circulation for this long,
	// so that a new pod does not inherit connections still addressed to
	// the old one.
	ReuseDelay time.Duration
	// Now returns the time; nil means time.Now.
	Now func() time.Time
	// Logger receives state changes at debug level; nil discards.
	Logger *slog.Logger
	// Observer, if set, is told how long each Allocate took.
	Observer Observer
}

// Allocator hands the addresses of one node's pool to pods. The pool (the
// addresses the node's ENIs hold in EC2) is set by its owner, the pool
// manager, with SetPool; the allocator never talks to EC2.
//
// Every change is written to the checkpoint before the call returns:
// atomically (temporary file, fsync, rename, fsync of the directory), so a
// crash at any point leaves either the old or the new state on disk, never
// a torn one. Allocate is idempotent per owner, and Release of an owner
// holding nothing is answered ErrUnknownOwner, so a caller that lost an
// answer to a crash retries and gets the same result: no address is ever
// handed to two owners, and none leaks.
//
// Releasing addresses back to EC2 goes through a handshake: Reserve or
// ReserveFree takes free addresses out of circulation (persisted, so they
// stay out after a crash), the manager unassigns them in EC2, then
// CompleteRelease drops them from the pool or AbortRelease returns them.
// An address handed to a pod can never be reserved, and a reserved one is
// never handed out.
//
// An Allocator is safe for concurrent use.
type Allocator struct {
	opts AllocatorOptions
	log  *slog.Logger
	now  func() time.Time

	mu        sync.Mutex
	pool      map[netip.Addr]bool
	owners    map[string]netip.Addr
	users     map[netip.Addr]string
	releasing map[netip.Addr]bool
	cooling   map[netip.Addr]time.Time // released at

	// persistHook, for tests, runs at each stage of a checkpoint write
	// ("write", "sync", "rename", "done"); an error aborts the write there.
	persistHook func(stage string) error
}

// checkpointVersion is the version of the checkpoint format written.
const checkpointVersion = 1

type checkpoint struct {
	Version     int          `json:"version"`
	Allocations []allocation `json:"allocations"`
	Releasing   []netip.Addr `json:"releasing"`
}

type allocation struct {
	Owner   string     `json:"owner"`
	Address netip.Addr `json:"address"`
}

// NewAllocator returns an Allocator, restoring the allocations and
// reserved addresses of the checkpoint if there is one. Its pool is empty
// until SetPool. An unreadable, corrupt or newer checkpoint is an error
// wrapping ErrCheckpoint: starting without it could hand an address out
// twice.
func NewAllocator(opts AllocatorOptions) (*Allocator, error) {
	a := &Allocator{
		opts:      opts,
		log:       opts.Logger,
		now:       opts.Now,
		pool:      map[netip.Addr]bool{},
		owners:    map[string]netip.Addr{},
		users:     map[netip.Addr]string{},
		releasing: map[netip.Addr]bool{},
		cooling:   map[netip.Addr]time.Time{},
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if opts.ReuseDelay < 0 {
		return nil, fmt.Errorf("ipam: AllocatorOptions.ReuseDelay %s is negative", opts.ReuseDelay)
	}
	if opts.CheckpointPath == "" {
		return a, nil
	}
	data, err := os.ReadFile(opts.CheckpointPath)
	if errors.Is(err, fs.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ipam: read %w %s: %w", ErrCheckpoint, opts.CheckpointPath, err)
	}
	var cp checkpoint
	if err := json.Unmarshal(data, &cp); err != nil {
		return nil, fmt.Errorf("ipam: decode %w %s: %w", ErrCheckpoint, opts.CheckpointPath, err)
	}
	if cp.Version != checkpointVersion {
		return nil, fmt.Errorf("ipam: %w %s has version %d, this allocator reads version %d", ErrCheckpoint, opts.CheckpointPath, cp.Version, checkpointVersion)
	}
	for i, al := range cp.Allocations {
		switch {
		case al.Owner == "" || !al.Address.IsValid():
			return nil, fmt.Errorf("ipam: %w %s: allocations[%d] has no owner or address", ErrCheckpoint, opts.CheckpointPath, i)
		case a.users[al.Address] != "":
			return nil, fmt.Errorf("ipam: %w %s: allocations[%d]: address %s is held by %q and %q", ErrCheckpoint, opts.CheckpointPath, i, al.Address, a.users[al.Address], al.Owner)
		case a.owners[al.Owner].IsValid():
			return nil, fmt.Errorf("ipam: %w %s: allocations[%d]: owner %q holds two addresses", ErrCheckpoint, opts.CheckpointPath, i, al.Owner)
		}
		a.owners[al.Owner] = al.Address
		a.users[al.Address] = al.Owner
	}
	for _, r := range cp.Releasing {
		if a.users[r] != "" {
			return nil, fmt.Errorf("ipam: %w %s: address %s is both allocated and being released", ErrCheckpoint, opts.CheckpointPath, r)
		}
		a.releasing[r] = true
	}
	return a, nil
}

// SetPool sets the addresses the node holds in EC2. Allocations of
// addresses that left the pool stay (their pods still use them; see
// Orphans); reserved addresses that left the pool were released and are
// forgotten.
func (a *Allocator) SetPool(addrs []netip.Addr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	pool := make(map[netip.Addr]bool, len(addrs))
	for _, ad := range addrs {
		pool[ad] = true
	}
	var gone []netip.Addr
	for r := range a.releasing {
		if !pool[r] {
			gone = append(gone, r)
		}
	}
	a.pool = pool
	if len(gone) == 0 {
		return nil
	}
	for _, r := range gone {
		delete(a.releasing, r)
	}
	if err := a.persistLocked(); err != nil {
		for _, r := range gone {
			a.releasing[r] = true
		}
		return err
	}
	return nil
}

// Allocate hands owner a free address, or the one it already holds.
// Errors: ErrInvalidOwner, ErrPoolExhausted, ErrCheckpoint (nothing
// allocated).
func (a *Allocator) Allocate(owner string) (netip.Addr, error) {
	if owner == "" {
		return netip.Addr{}, fmt.Errorf("ipam: allocate: %w: empty owner", ErrInvalidOwner)
	}
	if a.opts.Observer != nil {
		defer func(start time.Time) { a.opts.Observer.Allocated(time.Since(start)) }(time.Now())
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if ad, ok := a.owners[owner]; ok {
		return ad, nil
	}
	ad, ok := a.firstFreeLocked(a.now())
	if !ok {
		return netip.Addr{}, fmt.Errorf("ipam: allocate for %q: %w (%d addresses, %d in use, %d being released, %d cooling down)",
			owner, ErrPoolExhausted, len(a.pool), len(a.users), len(a.releasing), len(a.cooling))
	}
	a.owners[owner] = ad
	a.users[ad] = owner
	if err := a.persistLocked(); err != nil {
		delete(a.owners, owner)
		delete(a.users, ad)
		return netip.Addr{}, err
	}
	delete(a.cooling, ad)
	a.log.Debug("address allocated", "owner", owner, "address", ad)
	return ad, nil
}

// firstFreeLocked returns the lowest address that is in the pool, not in
// use, not reserved and not cooling down.
func (a *Allocator) firstFreeLocked(now time.Time) (netip.Addr, bool) {
	var best netip.Addr
	for ad := range a.pool {
		if !a.freeLocked(ad, now) {
			continue
		}
		if !best.IsValid() || ad.Less(best) {
			best = ad
		}
	}
	return best, best.IsValid()
}

func (a *Allocator) freeLocked(ad netip.Addr, now time.Time) bool {
	if !a.pool[ad] || a.users[ad] != "" || a.releasing[ad] {
		return false
	}
	if at, ok := a.cooling[ad]; ok && now.Sub(at) < a.opts.ReuseDelay {
		return false
	}
	return true
}

// Release returns owner's address to the pool. Errors: ErrUnknownOwner
// (nothing to release: a retried release after a crash gets this),
// ErrCheckpoint (nothing released).
func (a *Allocator) Release(owner string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ad, ok := a.owners[owner]
	if !ok {
		return fmt.Errorf("ipam: release %q: %w", owner, ErrUnknownOwner)
	}
	delete(a.owners, owner)
	delete(a.users, ad)
	if err := a.persistLocked(); err != nil {
		a.owners[owner] = ad
		a.users[ad] = owner
		return err
	}
	if a.opts.ReuseDelay > 0 {
		a.cooling[ad] = a.now()
	}
	a.log.Debug("address released", "owner", owner, "address", ad)
	return nil
}

// Lookup returns owner's address.
func (a *Allocator) Lookup(owner string) (netip.Addr, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ad, ok := a.owners[owner]
	return ad, ok
}

// ReleaseOrphanedOwners releases the addresses of owners that live says
// are gone (pods deleted while the node agent was down) and returns them,
// sorted.
func (a *Allocator) ReleaseOrphanedOwners(live func(owner string) bool) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var dead []string
	for o := range a.owners {
		if !live(o) {
			dead = append(dead, o)
		}
	}
	if len(dead) == 0 {
		return nil, nil
	}
	slices.Sort(dead)
	saved := make(map[string]netip.Addr, len(dead))
	for _, o := range dead {
		saved[o] = a.owners[o]
		delete(a.users, a.owners[o])
		delete(a.owners, o)
	}
	if err := a.persistLocked(); err != nil {
		for o, ad := range saved {
			a.owners[o] = ad
			a.users[ad] = o
		}
		return nil, err
	}
	now := a.now()
	for _, ad := range saved {
		if a.opts.ReuseDelay > 0 {
			a.cooling[ad] = now
		}
	}
	return dead, nil
}

// Reserve takes the given addresses out of circulation for release, all or
// none: each must be in the pool and not in use (cooling down is fine).
// Errors: ErrPoolExhausted naming an address that is not free,
// ErrCheckpoint.
func (a *Allocator) Reserve(addrs []netip.Addr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ad := range addrs {
		if !a.pool[ad] || a.users[ad] != "" || a.releasing[ad] {
			return fmt.Errorf("ipam: reserve %s for release: %w: not a free address of the pool", ad, ErrPoolExhausted)
		}
	}
	return a.reserveLocked(addrs)
}

// ReserveFree reserves up to n free addresses for release, the highest
// first, and returns them.
func (a *Allocator) ReserveFree(n int) ([]netip.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var free []netip.Addr
	for ad := range a.pool {
		if a.users[ad] == "" && !a.releasing[ad] {
			free = append(free, ad)
		}
	}
	slices.SortFunc(free, func(x, y netip.Addr) int { return y.Compare(x) })
	free = free[:min(n, len(free))]
	if len(free) == 0 {
		return nil, nil
	}
	if err := a.reserveLocked(free); err != nil {
		return nil, err
	}
	return free, nil
}

func (a *Allocator) reserveLocked(addrs []netip.Addr) error {
	for _, ad := range addrs {
		a.releasing[ad] = true
	}
	if err := a.persistLocked(); err != nil {
		for _, ad := range addrs {
			delete(a.releasing, ad)
		}
		return err
	}
	return nil
}

// CompleteRelease ends the handshake for addresses EC2 has unassigned:
// they leave the pool. Errors: ErrNotReserved (nothing changed),
// ErrCheckpoint.
func (a *Allocator) CompleteRelease(addrs []netip.Addr) error {
	return a.endRelease(addrs, true)
}

// AbortRelease ends the handshake for addresses EC2 did not unassign: they
// are free again. Errors as CompleteRelease.
func (a *Allocator) AbortRelease(addrs []netip.Addr) error {
	return a.endRelease(addrs, false)
}

func (a *Allocator) endRelease(addrs []netip.Addr, done bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ad := range addrs {
		if !a.releasing[ad] {
			return fmt.Errorf("ipam: end release of %s: %w", ad, ErrNotReserved)
		}
	}
	for _, ad := range addrs {
		delete(a.releasing, ad)
	}
	if err := a.persistLocked(); err != nil {
		for _, ad := range addrs {
			a.releasing[ad] = true
		}
		return err
	}
	if done {
		for _, ad := range addrs {
			delete(a.pool, ad)
			delete(a.cooling, ad)
		}
	}
	return nil
}

// AllocatorStats counts a node's addresses.
type AllocatorStats struct {
	Pool      int // addresses the node holds in EC2
	InUse     int // handed to pods (orphans included)
	Releasing int // reserved for release
	Cooling   int // released, waiting out ReuseDelay
	Free      int // ready to hand out
	Orphans   int // in use but no longer in the pool
}

// Stats returns the allocator's counts.
func (a *Allocator) Stats() AllocatorStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	st := AllocatorStats{Pool: len(a.pool), InUse: len(a.users), Releasing: len(a.releasing)}
	for ad := range a.pool {
		switch {
		case a.freeLocked(ad, now):
			st.Free++
		case a.users[ad] == "" && !a.releasing[ad]:
			st.Cooling++
		}
	}
	for ad := range a.users {
		if !a.pool[ad] {
			st.Orphans++
		}
	}
	return st
}

// Orphans returns the owners whose addresses are no longer in the pool,
// sorted.
func (a *Allocator) Orphans() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for ad, o := range a.users {
		if !a.pool[ad] {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return out
}

// Releasing returns the addresses reserved for release, sorted: after a
// restart, the manager finishes their release.
func (a *Allocator) Releasing() []netip.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]netip.Addr, 0, len(a.releasing))
	for ad := range a.releasing {
		out = append(out, ad)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// Allocations returns owner -> address, a copy.
func (a *Allocator) Allocations() map[string]netip.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]netip.Addr, len(a.owners))
	for o, ad := range a.owners {
		out[o] = ad
	}
	return out
}

// persistLocked writes the checkpoint atomically.
func (a *Allocator) persistLocked() error {
	if a.opts.CheckpointPath == "" {
		return nil
	}
	cp := checkpoint{Version: checkpointVersion, Allocations: make([]allocation, 0, len(a.owners)), Releasing: make([]netip.Addr, 0, len(a.releasing))}
	for o, ad := range a.owners {
		cp.Allocations = append(cp.Allocations, allocation{Owner: o, Address: ad})
	}
	slices.SortFunc(cp.Allocations, func(x, y allocation) int { return x.Address.Compare(y.Address) })
	for ad := range a.releasing {
		cp.Releasing = append(cp.Releasing, ad)
	}
	slices.SortFunc(cp.Releasing, netip.Addr.Compare)
	data, err := json.MarshalIndent(cp, "", "  ")
	if err != nil {
		return fmt.Errorf("ipam: encode %w: %w", ErrCheckpoint, err)
	}
	if err := a.writeAtomic(data); err != nil {
		return fmt.Errorf("ipam: write %w %s: %w", ErrCheckpoint, a.opts.CheckpointPath, err)
	}
	return nil
}

func (a *Allocator) hook(stage string) error {
	if a.persistHook == nil {
		return nil
	}
	return a.persistHook(stage)
}

// writeAtomic replaces the checkpoint file with data: a temporary file in
// the same directory, fsync, rename over the old file, fsync of the
// directory.
func (a *Allocator) writeAtomic(data []byte) (err error) {
	path := a.opts.CheckpointPath
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := a.hook("write"); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := a.hook("sync"); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := a.hook("rename"); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return a.hook("done")
}
