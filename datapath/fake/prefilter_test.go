package fake_test

import (
	"testing"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/datapath/datapathtest"
	"github.com/eniway/eniway/datapath/fake"
)

func TestPrefilterConformance(t *testing.T) {
	datapathtest.RunPrefilter(t, func(_ *testing.T, opts datapath.PrefilterOptions) datapathtest.PrefilterBackend {
		return fake.NewPrefilter(opts)
	})
}
