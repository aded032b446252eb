package ads

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/internal/gatewaytest"
	"github.com/eniway/eniway/l7/xds"
)

// TestBackendRefs checks that backendRefs names every backend the
// translation makes a cluster for, in every test case: a Gateway whose
// backends change is translated again only if it names them.
func TestBackendRefs(t *testing.T) {
	cases, err := gatewaytest.All()
	require.NoError(t, err)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			res, _ := gatewayapi.Translate(c.Input, c.Options)
			if res == nil {
				return
			}
			out, _ := xds.Translate(res.IR, xds.Options{})
			for _, g := range res.IR.Gateways {
				refs := backendRefs(g)
				for _, cl := range out[g.Namespace+"/"+g.Name].Clusters {
					require.True(t, refs[cl.Name], "Gateway %s/%s: cluster %s not in its refs %v", g.Namespace, g.Name, cl.Name, refs)
				}
			}
		})
	}
}

// snapOf is the snapshot a node serving every Gateway gets from s.
func snapOf(t *testing.T, s *Server) *nodeSnap {
	t.Helper()
	v, err := s.view(&nodeState{})
	require.NoError(t, err)
	return v.snap
}

func testServer() *Server {
	return &Server{model: newModel(xds.Options{}), views: map[string]*view{}}
}

// requireSameSnap compares two snapshots by resource names and hashes.
func requireSameSnap(t *testing.T, want, got *nodeSnap, step string) {
	t.Helper()
	for typ := range numTypes {
		w, g := map[string]string{}, map[string]string{}
		for n, e := range want[typ].items {
			w[n] = e.version
		}
		for n, e := range got[typ].items {
			g[n] = e.version
		}
		require.Equal(t, w, g, "%s: %s", step, typeURLs[typ])
		require.Equal(t, want[typ].version, got[typ].version, "%s: %s version", step, typeURLs[typ])
	}
}

// TestIncrementalUpdate feeds one server a series of changes, as
// translations of the changed cluster objects (every object new) and as
// copies of the last IR that share what did not change, and checks after
// each that it serves what a server given only that IR serves.
func TestIncrementalUpdate(t *testing.T) {
	in := gatewaytest.ScaleInput(60)
	rng := rand.New(rand.NewPCG(1, 2))
	translate := func() *gatewayapi.IR {
		// Errors (a backend removed, say) go to the routes' status; the IR
		// is still whole.
		res, _ := gatewayapi.Translate(in, gatewayapi.Options{})
		require.NotNil(t, res)
		return res.IR
	}
	s := testServer()
	ir := translate()
	_, err := s.model.update(ir)
	require.NoError(t, err)
	type step struct {
		name string
		next func() *gatewayapi.IR
	}
	steps := []step{
		{"header value", func() *gatewayapi.IR {
			r := in.HTTPRoutes[rng.IntN(len(in.HTTPRoutes))]
			r.Spec.Rules[1].Matches[0].Headers[0].Value = fmt.Sprintf("v%d", rng.Int())
			return translate()
		}},
		{"weights", func() *gatewayapi.IR {
			r := in.HTTPRoutes[rng.IntN(len(in.HTTPRoutes))]
			r.Spec.Rules[2].BackendRefs[1].Weight = ptr.To(int32(rng.IntN(50) + 1))
			return translate()
		}},
		{"endpoints", func() *gatewayapi.IR {
			sl := in.EndpointSlices[rng.IntN(len(in.EndpointSlices))]
			sl.Endpoints[0].Addresses = []string{fmt.Sprintf("10.250.%d.%d", rng.IntN(250), rng.IntN(250))}
			return translate()
		}},
		{"backend protocol", func() *gatewayapi.IR {
			svc := in.Services[rng.IntN(len(in.Services))]
			p := &svc.Spec.Ports[0]
			if p.AppProtocol == nil {
				p.AppProtocol = ptr.To("kubernetes.io/h2c")
			} else {
				p.AppProtocol = nil
			}
			return translate()
		}},
		{"new backend", func() *gatewayapi.IR {
			r := in.HTTPRoutes[rng.IntN(len(in.HTTPRoutes))]
			name := fmt.Sprintf("extra-%d", rng.Int())
			r.Spec.Rules[0].BackendRefs = append(r.Spec.Rules[0].BackendRefs, gwv1.HTTPBackendRef{BackendRef: gwv1.BackendRef{
				BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(name), Port: ptr.To(gwv1.PortNumber(8080))},
			}})
			svc := in.Services[0].DeepCopy()
			svc.Namespace, svc.Name = r.Namespace, name
			in.Services = append(in.Services, svc)
			return translate()
		}},
		{"route removed", func() *gatewayapi.IR {
			i := rng.IntN(len(in.HTTPRoutes))
			in.HTTPRoutes = slices.Delete(in.HTTPRoutes, i, i+1)
			return translate()
		}},
		{"Service removed", func() *gatewayapi.IR {
			i := rng.IntN(len(in.Services))
			in.Services = slices.Delete(in.Services, i, i+1)
			return translate()
		}},
		{"Gateway removed", func() *gatewayapi.IR {
			if len(in.Gateways) > 2 {
				in.Gateways = in.Gateways[:len(in.Gateways)-1]
			}
			return translate()
		}},
		{"shared copy, endpoints", func() *gatewayapi.IR {
			next := *ir
			next.Backends = slices.Clone(ir.Backends)
			i := rng.IntN(len(next.Backends))
			b := *next.Backends[i]
			b.Endpoints = append(slices.Clone(b.Endpoints), gatewayapi.Endpoint{Addr: netip.MustParseAddrPort(fmt.Sprintf("10.251.0.%d:80", rng.IntN(250)))})
			next.Backends[i] = &b
			return &next
		}},
		{"shared copy, route", func() *gatewayapi.IR {
			next, vh := gatewaytest.CopyFirstVirtualHost(ir)
			r := *vh.Routes[0]
			r.Path.Value = fmt.Sprintf("/moved-%d", rng.Int())
			vh.Routes[0] = &r
			return next
		}},
		{"same IR modified", func() *gatewayapi.IR {
			b := ir.Backends[rng.IntN(len(ir.Backends))]
			b.Endpoints = b.Endpoints[:len(b.Endpoints)-1]
			return ir
		}},
	}
	for i := range 60 {
		st := steps[rng.IntN(len(steps))]
		if i < len(steps) {
			st = steps[i]
		}
		ir = st.next()
		_, err := s.model.update(ir)
		require.NoError(t, err, st.name)
		fresh := testServer()
		_, err = fresh.model.update(ir)
		require.NoError(t, err)
		requireSameSnap(t, snapOf(t, fresh), snapOf(t, s), fmt.Sprintf("step %d (%s)", i, st.name))
	}
}

// TestNameTable: request names are replaced by the model's copies, others
// left as they are, and the table follows the model's names.
func TestNameTable(t *testing.T) {
	s := testServer()
	ir := gatewaytest.ScaleInput(10)
	res, err := gatewayapi.Translate(ir, gatewayapi.Options{})
	require.NoError(t, err)
	_, err = s.model.update(res.IR)
	require.NoError(t, err)
	var table nameTable
	table.intern([]string{"x"}) // empty: nothing to do
	table.update(s.model)
	own := s.model.gateways[s.model.keys[0]].lists[typeEndpoint].entries[0].name
	names := []string{string([]byte(own)), "not-a-resource"}
	table.intern(names)
	require.Equal(t, []string{own, "not-a-resource"}, names)
	require.Same(t, unsafe.StringData(own), unsafe.StringData(names[0]), "the model's copy")
	before := table.p.Load()
	table.update(s.model)
	require.Same(t, before, table.p.Load(), "no new name: the same table")
}
