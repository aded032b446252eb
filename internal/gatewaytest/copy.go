package gatewaytest

import (
	"slices"

	"github.com/eniway/eniway/gatewayapi"
)

// CopyFirstVirtualHost returns a shallow copy of ir whose first Gateway's
// first port's first listener's first virtual host, and everything on the
// way to it, are copies too, with that virtual host: the caller can change
// its routes (replacing, not modifying, each one it changes) and hand the
// new IR over while ir stays as it was, as a controller would.
func CopyFirstVirtualHost(ir *gatewayapi.IR) (*gatewayapi.IR, *gatewayapi.VirtualHost) {
	next := *ir
	next.Gateways = slices.Clone(ir.Gateways)
	g := *next.Gateways[0]
	next.Gateways[0] = &g
	g.Ports = slices.Clone(g.Ports)
	p := *g.Ports[0]
	g.Ports[0] = &p
	p.Listeners = slices.Clone(p.Listeners)
	l := *p.Listeners[0]
	p.Listeners[0] = &l
	l.VirtualHosts = slices.Clone(l.VirtualHosts)
	vh := *l.VirtualHosts[0]
	l.VirtualHosts[0] = &vh
	vh.Routes = slices.Clone(vh.Routes)
	return &next, &vh
}
