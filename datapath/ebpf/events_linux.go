package ebpf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/eniway/eniway/datapath"
)

// eventSwitch turns a program's reporting (a global variable) on while
// streams are open. It is guarded by the owner's lock.
type eventSwitch struct {
	on      *ebpf.Variable
	streams int
}

// open counts a stream, turning reporting on for the first.
func (s *eventSwitch) open() error {
	s.streams++
	if s.streams == 1 {
		if err := s.on.Set(uint32(1)); err != nil {
			s.streams--
			return err
		}
	}
	return nil
}

// close uncounts a stream, turning reporting off after the last.
func (s *eventSwitch) close() error {
	s.streams--
	if s.streams == 0 {
		return s.on.Set(uint32(0))
	}
	return nil
}

// ringStream reads the records of a ring buffer, decoded by decode (the
// record and the boot time the program's monotonic stamps count from).
type ringStream[T any] struct {
	r       *ringbuf.Reader
	boot    time.Time
	what    string
	decode  func(raw []byte, boot time.Time) (T, error)
	onClose func() error
	once    sync.Once
}

func newRingStream[T any](m *ebpf.Map, what string, decode func([]byte, time.Time) (T, error)) (*ringStream[T], error) {
	r, err := ringbuf.NewReader(m)
	if err != nil {
		return nil, fmt.Errorf("datapath/ebpf: %s: %w", what, err)
	}
	var mono unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("datapath/ebpf: %s: %w", what, err)
	}
	return &ringStream[T]{r: r, boot: time.Now().Add(-time.Duration(mono.Nano())), what: what, decode: decode}, nil
}

func (s *ringStream[T]) Next(ctx context.Context) (T, error) {
	var zero T
	for {
		if err := ctx.Err(); err != nil {
			return zero, err
		}
		// Wake up now and then to see ctx.
		s.r.SetDeadline(time.Now().Add(50 * time.Millisecond))
		rec, err := s.r.Read()
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			continue
		case errors.Is(err, os.ErrClosed):
			return zero, datapath.ErrStreamClosed
		case err != nil:
			return zero, fmt.Errorf("datapath/ebpf: %s: %w", s.what, err)
		}
		e, err := s.decode(rec.RawSample, s.boot)
		if err != nil {
			return zero, fmt.Errorf("datapath/ebpf: %s: %w", s.what, err)
		}
		return e, nil
	}
}

func (s *ringStream[T]) Close() error {
	var err error
	s.once.Do(func() {
		err = s.r.Close()
		if s.onClose != nil {
			err = errors.Join(err, s.onClose())
		}
	})
	return err
}

// openEvents opens a stream of m's records, reporting switched on by sw
// while it is open. The caller holds mu, its owner's lock, under which
// closed says whether the owner has closed (after which closing the
// stream leaves the switch alone).
func openEvents[T any](mu *sync.Mutex, closed *bool, sw *eventSwitch, m *ebpf.Map, what string,
	decode func([]byte, time.Time) (T, error)) (*ringStream[T], error) {
	s, err := newRingStream(m, what, decode)
	if err != nil {
		return nil, err
	}
	if err := sw.open(); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("datapath/ebpf: %s: %w", what, err)
	}
	s.onClose = func() error {
		mu.Lock()
		defer mu.Unlock()
		if *closed {
			return nil
		}
		return sw.close()
	}
	return s, nil
}
