package testutils

import (
	"context"
	"errors"
	"testing"
)

func TestRun(t *testing.T) {
	stopped := false
	t.Run("runs until the test ends", func(t *testing.T) {
		Run(t, func(ctx context.Context) error {
			<-ctx.Done()
			stopped = true
			return nil
		})
	})
	if !stopped {
		t.Fatal("the runner was not stopped and waited for")
	}
	rec := &recordTB{TB: t}
	func() {
		defer func() {
			for i := len(rec.cleanups) - 1; i >= 0; i-- {
				rec.cleanups[i]()
			}
		}()
		Run(rec, func(ctx context.Context) error { <-ctx.Done(); return errors.New("boom") })
	}()
	if !rec.failed {
		t.Fatal("an error from Start did not fail the test")
	}
}

// recordTB records cleanups and failures instead of acting on them.
type recordTB struct {
	testing.TB
	cleanups []func()
	failed   bool
}

func (r *recordTB) Helper()               { r.TB.Helper() }
func (r *recordTB) Cleanup(f func())      { r.cleanups = append(r.cleanups, f) }
func (r *recordTB) Errorf(string, ...any) { r.failed = true }
