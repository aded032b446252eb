package fake_test

import (
	"testing"

	"github.com/eniway/eniway/datapath/datapathtest"
	"github.com/eniway/eniway/datapath/fake"
)

func TestRedirectConformance(t *testing.T) {
	r := fake.NewProxyRedirect(8)
	datapathtest.RunRedirect(t, r)
}
