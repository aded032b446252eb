package controller

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/eniway/eniway/gatewayapi"
)

// shared is what was last handed to the Sink: the IR, and the hash of the
// serialization of each of its Gateways and Backends and of the rest.
type shared struct {
	ir       *gatewayapi.IR
	rest     [sha256.Size]byte
	gateways map[string]hashed[*gatewayapi.Gateway]
	backends map[string]hashed[*gatewayapi.Backend]
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
// order), so that a Sink can tell what changed by pointer: IRs are never
// modified once handed over. The serialization leaves certificate PEM out
// but carries its hash. share does not change prev.
func share(prev *shared, ir *gatewayapi.IR) (*gatewayapi.IR, *shared, bool, error) {
	next := &shared{gateways: make(map[string]hashed[*gatewayapi.Gateway], len(ir.Gateways)),
		backends: make(map[string]hashed[*gatewayapi.Backend], len(ir.Backends))}
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
		if h.sum, err = sum(g); err != nil {
			return nil, nil, false, fmt.Errorf("serialize Gateway %s: %w", key, err)
		}
		if old, ok := prev.gateway(key); ok && old.sum == h.sum {
			h.obj = old.obj
		} else {
			changed = true
		}
		out.Gateways[i], next.gateways[key] = h.obj, h
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
