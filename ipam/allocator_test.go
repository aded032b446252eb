package ipam

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func addrs(n int) []netip.Addr {
	out := make([]netip.Addr, n)
	a := netip.MustParseAddr("10.0.1.10")
	for i := range out {
		out[i] = a
		a = a.Next()
	}
	return out
}

func newAllocator(t *testing.T, opts AllocatorOptions, pool []netip.Addr) *Allocator {
	t.Helper()
	a, err := NewAllocator(opts)
	require.NoError(t, err)
	require.NoError(t, a.SetPool(pool))
	return a
}

func TestAllocateRelease(t *testing.T) {
	pool := addrs(3)
	a := newAllocator(t, AllocatorOptions{}, pool)
	got := map[string]netip.Addr{}
	for _, o := range []string{"pod-a", "pod-b", "pod-c"} {
		ad, err := a.Allocate(o)
		require.NoError(t, err)
		got[o] = ad
	}
	require.Equal(t, pool[0], got["pod-a"], "lowest free address first")
	again, err := a.Allocate("pod-b")
	require.NoError(t, err)
	require.Equal(t, got["pod-b"], again, "Allocate is idempotent per owner")

	_, err = a.Allocate("pod-d")
	require.ErrorIs(t, err, ErrPoolExhausted)
	_, err = a.Allocate("")
	require.ErrorIs(t, err, ErrInvalidOwner)

	require.NoError(t, a.Release("pod-a"))
	require.ErrorIs(t, a.Release("pod-a"), ErrUnknownOwner)
	ad, err := a.Allocate("pod-d")
	require.NoError(t, err)
	require.Equal(t, got["pod-a"], ad)
	require.Equal(t, AllocatorStats{Pool: 3, InUse: 3}, a.Stats())
	_, ok := a.Lookup("pod-a")
	require.False(t, ok)
}

func TestReuseDelay(t *testing.T) {
	now := time.Unix(1000, 0)
	a := newAllocator(t, AllocatorOptions{ReuseDelay: 30 * time.Second, Now: func() time.Time { return now }}, addrs(2))
	first, err := a.Allocate("pod-a")
	require.NoError(t, err)
	require.NoError(t, a.Release("pod-a"))
	second, err := a.Allocate("pod-b")
	require.NoError(t, err)
	require.NotEqual(t, first, second, "a released address cools down")
	_, err = a.Allocate("pod-c")
	require.ErrorIs(t, err, ErrPoolExhausted)
	require.Equal(t, 1, a.Stats().Cooling)
	now = now.Add(30 * time.Second)
	third, err := a.Allocate("pod-c")
	require.NoError(t, err)
	require.Equal(t, first, third)
}

func TestReleaseHandshake(t *testing.T) {
	pool := addrs(6)
	a := newAllocator(t, AllocatorOptions{}, pool)
	used, err := a.Allocate("pod-a")
	require.NoError(t, err)

	require.ErrorIs(t, a.Reserve([]netip.Addr{pool[1], used}), ErrPoolExhausted, "an address in use can never be reserved")
	require.Equal(t, 0, a.Stats().Releasing, "Reserve is all or nothing")

	reserved, err := a.ReserveFree(2)
	require.NoError(t, err)
	require.Equal(t, []netip.Addr{pool[5], pool[4]}, reserved, "highest free first")
	// Reserved addresses are never handed out.
	for _, o := range []string{"pod-b", "pod-c", "pod-d"} {
		ad, err := a.Allocate(o)
		require.NoError(t, err)
		require.NotContains(t, reserved, ad)
	}
	_, err = a.Allocate("pod-e")
	require.ErrorIs(t, err, ErrPoolExhausted)

	require.ErrorIs(t, a.CompleteRelease([]netip.Addr{pool[0]}), ErrNotReserved)
	require.NoError(t, a.AbortRelease(reserved[:1]))
	require.NoError(t, a.CompleteRelease(reserved[1:]))
	st := a.Stats()
	require.Equal(t, AllocatorStats{Pool: 5, InUse: 4, Free: 1}, st)
	ad, err := a.Allocate("pod-e")
	require.NoError(t, err)
	require.Equal(t, reserved[0], ad)

	// SetPool forgets reserved addresses EC2 no longer holds and keeps
	// allocations whose addresses left the pool as orphans.
	require.NoError(t, a.Release("pod-e"))
	require.NoError(t, a.Reserve([]netip.Addr{reserved[0]}))
	require.NoError(t, a.SetPool(pool[1:4]))
	require.Empty(t, a.Releasing())
	require.Equal(t, []string{"pod-a"}, a.Orphans())
	require.Equal(t, 1, a.Stats().Orphans)
}

func TestReleaseOrphanedOwners(t *testing.T) {
	a := newAllocator(t, AllocatorOptions{}, addrs(4))
	for _, o := range []string{"pod-a", "pod-b", "pod-c"} {
		_, err := a.Allocate(o)
		require.NoError(t, err)
	}
	dead, err := a.ReleaseOrphanedOwners(func(o string) bool { return o == "pod-b" })
	require.NoError(t, err)
	require.Equal(t, []string{"pod-a", "pod-c"}, dead)
	require.Len(t, a.Allocations(), 1)
}

func TestCheckpointRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipam.json")
	pool := addrs(5)
	a := newAllocator(t, AllocatorOptions{CheckpointPath: path}, pool)
	for _, o := range []string{"pod-a", "pod-b"} {
		_, err := a.Allocate(o)
		require.NoError(t, err)
	}
	reserved, err := a.ReserveFree(1)
	require.NoError(t, err)

	b := newAllocator(t, AllocatorOptions{CheckpointPath: path}, pool)
	require.Equal(t, a.Allocations(), b.Allocations())
	require.Equal(t, reserved, b.Releasing())
	ad, err := b.Allocate("pod-c")
	require.NoError(t, err)
	require.NotContains(t, reserved, ad)
	require.NotContains(t, []netip.Addr{a.Allocations()["pod-a"], a.Allocations()["pod-b"]}, ad)
}

func TestCheckpointRejectsBadFiles(t *testing.T) {
	for name, body := range map[string]string{
		"corrupt":          `{"version": 1, "allocations": [`,
		"newer version":    `{"version": 2, "allocations": []}`,
		"address twice":    `{"version": 1, "allocations": [{"owner": "a", "address": "10.0.0.1"}, {"owner": "b", "address": "10.0.0.1"}]}`,
		"owner twice":      `{"version": 1, "allocations": [{"owner": "a", "address": "10.0.0.1"}, {"owner": "a", "address": "10.0.0.2"}]}`,
		"empty owner":      `{"version": 1, "allocations": [{"owner": "", "address": "10.0.0.1"}]}`,
		"used and release": `{"version": 1, "allocations": [{"owner": "a", "address": "10.0.0.1"}], "releasing": ["10.0.0.1"]}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ipam.json")
			require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
			_, err := NewAllocator(AllocatorOptions{CheckpointPath: path})
			require.ErrorIs(t, err, ErrCheckpoint)
			require.Contains(t, err.Error(), path)
		})
	}
	_, err := NewAllocator(AllocatorOptions{CheckpointPath: filepath.Join(t.TempDir(), "missing", "ipam.json")})
	require.NoError(t, err, "no checkpoint yet is a clean start")
}

var errInjected = errors.New("injected failure")

// TestFailedWriteChangesNothing checks that a checkpoint write failing at
// any stage leaves both memory and disk as they were.
func TestFailedWriteChangesNothing(t *testing.T) {
	for _, stage := range []string{"write", "sync", "rename"} {
		t.Run(stage, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "ipam.json")
			a := newAllocator(t, AllocatorOptions{CheckpointPath: path}, addrs(4))
			_, err := a.Allocate("pod-a")
			require.NoError(t, err)
			before, err := os.ReadFile(path)
			require.NoError(t, err)
			a.persistHook = func(s string) error {
				if s == stage {
					return errInjected
				}
				return nil
			}
			_, err = a.Allocate("pod-b")
			require.ErrorIs(t, err, ErrCheckpoint)
			require.ErrorIs(t, err, errInjected)
			require.ErrorIs(t, a.Release("pod-a"), ErrCheckpoint)
			_, err = a.ReserveFree(1)
			require.ErrorIs(t, err, ErrCheckpoint)
			require.Len(t, a.Allocations(), 1)
			require.Empty(t, a.Releasing())
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, before, after)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Len(t, entries, 1, "no temporary file left behind")
		})
	}
}

// TestCrashAnywhere drives the allocator the way a CNI runtime does, pod
// adds and deletes retried until answered, and crashes it at random stages
// of its checkpoint writes (before the rename: the old state survives;
// after it: the new one does, but the answer is lost). After every step
// the addresses the caller knows are exactly the allocations, in memory
// and on disk: none handed out twice, none leaked, none lost.
func TestCrashAnywhere(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipam.json")
	pool := addrs(12)
	r := rand.New(rand.NewPCG(42, 42))
	open := func() *Allocator { return newAllocator(t, AllocatorOptions{CheckpointPath: path}, pool) }
	a := open()
	known := map[string]netip.Addr{}
	crashes := 0
	stages := []string{"write", "sync", "rename", "done"}
	for step := range 3000 {
		var owner string
		add := len(known) < len(pool) && (len(known) == 0 || r.IntN(2) == 0)
		if add {
			for {
				owner = fmt.Sprintf("pod-%d", r.IntN(40))
				if _, ok := known[owner]; !ok {
					break
				}
			}
		} else {
			for o := range known {
				owner = o
				break
			}
		}
		crashAt := ""
		if r.IntN(4) == 0 {
			crashAt = stages[r.IntN(len(stages))]
		}
		a.persistHook = func(s string) error {
			if s == crashAt {
				return errInjected
			}
			return nil
		}
		var ad netip.Addr
		var err error
		if add {
			ad, err = a.Allocate(owner)
		} else {
			err = a.Release(owner)
		}
		if errors.Is(err, errInjected) {
			// The process dies; a new one starts from the checkpoint and
			// the runtime retries the operation it got no answer for.
			crashes++
			a = open()
			if add {
				ad, err = a.Allocate(owner)
			} else if err = a.Release(owner); errors.Is(err, ErrUnknownOwner) {
				err = nil // the crashed release had reached the disk
			}
		}
		require.NoError(t, err, "step %d", step)
		if add {
			known[owner] = ad
		} else {
			delete(known, owner)
		}
		require.Equal(t, known, a.Allocations(), "step %d: memory", step)
		require.Equal(t, len(known), a.Stats().InUse, "step %d: an address leaked", step)
		disk, err := NewAllocator(AllocatorOptions{CheckpointPath: path})
		require.NoError(t, err)
		require.Equal(t, known, disk.Allocations(), "step %d: disk", step)
		seen := map[netip.Addr]bool{}
		for _, v := range known {
			require.False(t, seen[v], "step %d: %s handed out twice", step, v)
			seen[v] = true
		}
	}
	require.Greater(t, crashes, 500)
}

func TestConcurrentAllocate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipam.json")
	a := newAllocator(t, AllocatorOptions{CheckpointPath: path}, addrs(64))
	var wg sync.WaitGroup
	results := make([]netip.Addr, 64)
	for i := range 64 {
		wg.Go(func() {
			ad, err := a.Allocate(fmt.Sprintf("pod-%d", i))
			if err == nil {
				results[i] = ad
			}
		})
	}
	wg.Wait()
	seen := map[netip.Addr]bool{}
	for i, ad := range results {
		require.True(t, ad.IsValid(), "pod-%d got no address", i)
		require.False(t, seen[ad], "%s handed out twice", ad)
		seen[ad] = true
	}
	b, err := NewAllocator(AllocatorOptions{CheckpointPath: path})
	require.NoError(t, err)
	require.Len(t, b.Allocations(), 64)
}
