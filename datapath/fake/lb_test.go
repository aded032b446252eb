package fake_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/datapath/datapathtest"
	"github.com/eniway/eniway/datapath/fake"
)

func TestLBConformance(t *testing.T) {
	datapathtest.RunLB(t, func(t *testing.T, opts datapath.LBOptions) datapathtest.LBBackend {
		l, err := fake.NewLoadBalancer(opts)
		require.NoError(t, err)
		return l
	})
}
