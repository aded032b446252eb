package testutils

import (
	"context"
	"testing"
)

// Run runs start (a runner's Start) in a goroutine until the test ends:
// the test's cleanup cancels its context, waits for it to return and
// fails the test if it returned an error.
func Run(tb testing.TB, start func(context.Context) error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- start(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Start: %v", err)
		}
	})
}
