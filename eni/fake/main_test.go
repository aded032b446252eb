package fake_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind, such as a
// call still sleeping on a ManualClock.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
