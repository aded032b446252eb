package fake_test

import (
	"testing"

	"github.com/eniway/eniway/eni"
	"github.com/eniway/eniway/eni/enitest"
	"github.com/eniway/eniway/eni/fake"
)

// TestConformance runs the eni.Cloud conformance suite against the fake
// itself.
func TestConformance(t *testing.T) {
	enitest.Run(t, func(t *testing.T, world *fake.Cloud) eni.Cloud {
		t.Cleanup(func() {
			if err := world.CheckInvariants(); err != nil {
				t.Error(err)
			}
		})
		return world
	})
}
