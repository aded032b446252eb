package ads

import (
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/internal/gatewaytest"
	"github.com/eniway/eniway/l7/xds"
)

// TestMarshalRouteConfig requires marshalRouteConfig to give the bytes of
// deterministic proto.Marshal for every route configuration of every test
// case and of the scale input, serializing the virtual hosts afresh and
// from the serializations of the previous pass.
func TestMarshalRouteConfig(t *testing.T) {
	cases, err := gatewaytest.All()
	require.NoError(t, err)
	var irs []*gatewayapi.IR
	for _, c := range cases {
		if res, _ := gatewayapi.Translate(c.Input, c.Options); res != nil {
			irs = append(irs, res.IR)
		}
	}
	res, err := gatewayapi.Translate(gatewaytest.ScaleInput(200), gatewayapi.Options{})
	require.NoError(t, err)
	irs = append(irs, res.IR)
	checked := 0
	for _, ir := range irs {
		tr := xds.NewTranslator(xds.Options{})
		last := map[*routev3.VirtualHost][]byte{}
		for pass := range 2 {
			out, _ := tr.Translate(ir)
			next := map[*routev3.VirtualHost][]byte{}
			for _, r := range out {
				for _, rc := range r.Routes {
					want, err := proto.MarshalOptions{Deterministic: true}.Marshal(rc)
					require.NoError(t, err)
					got, err := marshalRouteConfig(rc, last, next)
					require.NoError(t, err)
					require.Equal(t, want, got, "%s, pass %d", rc.Name, pass)
					checked++
				}
			}
			if pass == 1 {
				for vh := range next {
					require.Contains(t, last, vh, "the second pass reuses every virtual host")
				}
			}
			last = next
		}
	}
	require.Greater(t, checked, 20)
}
