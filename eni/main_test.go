package eni_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind, such as a
// LimitsCache lookup that was never answered or cancelled.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
