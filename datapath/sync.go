package datapath

import (
	"fmt"
	"net/netip"
	"slices"
)

// SyncPrefilter makes p's deny list want in one batch, computed from the
// list it reads and applied on that list's revision (so a change made in
// between fails it with ErrStaleRevision, and nothing applies; at
// revision 0, the empty list, there is nothing to be stale against). It returns
// the revision after the batch; when the list is want already, it applies
// nothing and returns the current revision.
func SyncPrefilter(p Prefilter, want []netip.Prefix) (uint64, error) {
	have, rev := p.List()
	wanted := map[netip.Prefix]bool{}
	for _, w := range want {
		wanted[w] = true
	}
	had := map[netip.Prefix]bool{}
	b := PrefilterBatch{Revision: rev}
	for _, h := range have {
		had[h] = true
		if !wanted[h] {
			b.Delete = append(b.Delete, h)
		}
	}
	for _, w := range want {
		if !had[w] {
			b.Insert = append(b.Insert, w)
			had[w] = true // a duplicate in want is inserted once
		}
	}
	if len(b.Insert) == 0 && len(b.Delete) == 0 {
		return rev, nil
	}
	return p.Update(b)
}

// SyncServices makes lb's services want: one batch upserts the services
// that are new or differ, then one deletes those want lacks. On an error
// of the first batch nothing has changed; of the second, the upserts stay.
// It returns how many services it upserted and deleted.
func SyncServices(lb LoadBalancer, want []Service) (upserted, deleted int, err error) {
	return syncByFrontend(lb.Services(), want, func(s Service) Frontend { return s.Frontend }, sameService,
		lb.Upsert, lb.Delete, "services")
}

func sameService(a, b Service) bool {
	return a.Frontend == b.Frontend && a.Mode == b.Mode && a.Algorithm == b.Algorithm && slices.Equal(a.Backends, b.Backends)
}

// SyncRedirects makes r's redirects want: one batch sets those that are
// new or differ, then one deletes those want lacks. On an error of the
// first batch nothing has changed; of the second, the new ones stay. It
// returns how many redirects it set and deleted.
func SyncRedirects(r ProxyRedirect, want []Redirect) (set, deleted int, err error) {
	return syncByFrontend(r.Redirects(), want, func(rd Redirect) Frontend { return rd.Frontend },
		func(a, b Redirect) bool { return a == b }, r.Set, r.Delete, "redirects")
}

// syncByFrontend makes a table keyed by frontend, holding have, hold
// want: set takes the entries that are new or differ, then del the
// frontends want lacks.
func syncByFrontend[T any](have, want []T, key func(T) Frontend, same func(a, b T) bool,
	set func(...T) error, del func(...Frontend) error, what string) (changed, deleted int, err error) {
	had := map[Frontend]T{}
	for _, h := range have {
		had[key(h)] = h
	}
	keep := map[Frontend]bool{}
	var changes []T
	for _, w := range want {
		keep[key(w)] = true
		if h, ok := had[key(w)]; !ok || !same(h, w) {
			changes = append(changes, w)
		}
	}
	var gone []Frontend
	for f := range had {
		if !keep[f] {
			gone = append(gone, f)
		}
	}
	slices.SortFunc(gone, CompareFrontend)
	if len(changes) > 0 {
		if err := set(changes...); err != nil {
			return 0, 0, err
		}
	}
	if len(gone) > 0 {
		if err := del(gone...); err != nil {
			return len(changes), 0, fmt.Errorf("delete the %s no longer wanted: %w", what, err)
		}
	}
	return len(changes), len(gone), nil
}
