package controller

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/eniway/eniway/gatewayapi"
)

// shared is what was last handed to the Sink: the IR, and the hash of the
// serialization of each of its Gateways and Backends and of the rest, and
// each Gateway's routes by the hash of their serialization.
type shared struct {
	ir       *gatewayapi.IR
	rest     [sha256.Size]byte
	gateways map[string]hashed[*gatewayapi.Gateway]
	backends map[string]hashed[*gatewayapi.Backend]
	routes   map[string]map[[sha256.Size]byte]*gatewayapi.Route
}

type hashed[T any] struct {
	obj T
	sum [sha256.Size]byte
}

func sum(v any) ([sha256.Size]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// share compares ir with what was last handed over (prev, nil for none)
// and says whether it changed. The IR it returns is ir with the last IR's
// objects for the Gateways and Backends that serialize the same (and the
// last IR's Backends slice when every backend is the same, in the same
// order), and, in a Gateway that changed, the last IR's objects for the
// routes of that Gateway that serialize the same, so that a Sink can tell
// what changed by pointer: IRs are never modified once handed over. The
// serialization leaves certificate PEM out but carries its hash. share
// does not change prev; it changes ir, which is not handed over yet.
func share(prev *shared, ir *gatewayapi.IR) (*gatewayapi.IR, *shared, bool, error) {
	next := &shared{gateways: make(map[string]hashed[*gatewayapi.Gateway], len(ir.Gateways)),
		backends: make(map[string]hashed[*gatewayapi.Backend], len(ir.Backends)),
		routes:   make(map[string]map[[sha256.Size]byte]*gatewayapi.Route, len(ir.Gateways))}
	rest := *ir
	rest.Gateways, rest.Backends = nil, nil
	var err error
	if next.rest, err = sum(&rest); err != nil {
		return nil, nil, false, fmt.Errorf("serialize IR: %w", err)
	}
	changed := prev == nil || next.rest != prev.rest ||
		len(ir.Gateways) != len(prev.gateways) || len(ir.Backends) != len(prev.backends)
	out := rest
	out.Gateways = make([]*gatewayapi.Gateway, len(ir.Gateways))
	for i, g := range ir.Gateways {
		key := g.Namespace + "/" + g.Name
		h := hashed[*gatewayapi.Gateway]{obj: g}
		var routes map[[sha256.Size]byte]*gatewayapi.Route
		if h.sum, routes, err = gatewaySum(g, prev.routesOf(key)); err != nil {
			return nil, nil, false, fmt.Errorf("serialize Gateway %s: %w", key, err)
		}
		if old, ok := prev.gateway(key); ok && old.sum == h.sum {
			h.obj, routes = old.obj, prev.routes[key]
		} else {
			changed = true
		}
		out.Gateways[i], next.gateways[key], next.routes[key] = h.obj, h, routes
	}
	out.Backends = make([]*gatewayapi.Backend, len(ir.Backends))
	sameSlice := prev != nil && len(ir.Backends) == len(prev.ir.Backends)
	for i, b := range ir.Backends {
		h := hashed[*gatewayapi.Backend]{obj: b}
		if h.sum, err = sum(b); err != nil {
			return nil, nil, false, fmt.Errorf("serialize Backend %s: %w", b.Name, err)
		}
		if old, ok := prev.backend(b.Name); ok && old.sum == h.sum {
			h.obj = old.obj
		} else {
			changed = true
		}
		out.Backends[i], next.backends[b.Name] = h.obj, h
		sameSlice = sameSlice && prev.ir.Backends[i] == h.obj
	}
	if sameSlice {
		out.Backends = prev.ir.Backends
	}
	if !changed {
		return prev.ir, prev, false, nil
	}
	next.ir = &out
	return next.ir, next, true, nil
}

// gatewaySum hashes the serialization of g: of g without its routes, and
// of each route. It replaces each route of g that serializes as one of
// old by that object, and returns g's routes by their hash.
func gatewaySum(g *gatewayapi.Gateway, old map[[sha256.Size]byte]*gatewayapi.Route) ([sha256.Size]byte, map[[sha256.Size]byte]*gatewayapi.Route, error) {
	routes := map[[sha256.Size]byte]*gatewayapi.Route{}
	h := sha256.New()
	shell := *g
	shell.Ports = make([]*gatewayapi.Port, len(g.Ports))
	for i, p := range g.Ports {
		sp := *p
		sp.Listeners = make([]*gatewayapi.Listener, len(p.Listeners))
		for j, l := range p.Listeners {
			sl := *l
			sl.VirtualHosts = make([]*gatewayapi.VirtualHost, len(l.VirtualHosts))
			for k, vh := range l.VirtualHosts {
				sl.VirtualHosts[k] = &gatewayapi.VirtualHost{Hostname: vh.Hostname}
				// Where the routes that follow belong.
				h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(vh.Routes))))
				for n, r := range vh.Routes {
					rs, err := sum(r)
					if err != nil {
						return [sha256.Size]byte{}, nil, err
					}
					if o := old[rs]; o != nil {
						vh.Routes[n] = o
					}
					routes[rs] = vh.Routes[n]
					h.Write(rs[:])
				}
			}
			sp.Listeners[j] = &sl
		}
		shell.Ports[i] = &sp
	}
	b, err := json.Marshal(&shell)
	if err != nil {
		return [sha256.Size]byte{}, nil, err
	}
	h.Write(b)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out, routes, nil
}

func (s *shared) routesOf(key string) map[[sha256.Size]byte]*gatewayapi.Route {
	if s == nil {
		return nil
	}
	return s.routes[key]
}

func (s *shared) gateway(key string) (hashed[*gatewayapi.Gateway], bool) {
	if s == nil {
		return hashed[*gatewayapi.Gateway]{}, false
	}
	h, ok := s.gateways[key]
	return h, ok
}

func (s *shared) backend(name string) (hashed[*gatewayapi.Backend], bool) {
	if s == nil {
		return hashed[*gatewayapi.Backend]{}, false
	}
	h, ok := s.backends[name]
	return h, ok
}
