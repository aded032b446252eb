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
	have := map[Frontend]Service{}
	for _, s := range lb.Services() {
		have[s.Frontend] = s
	}
	keep := map[Frontend]bool{}
	var changed []Service
	for _, s := range want {
		keep[s.Frontend] = true
		if h, ok := have[s.Frontend]; !ok || !sameService(h, s) {
			changed = append(changed, s)
		}
	}
	var gone []Frontend
	for f := range have {
		if !keep[f] {
			gone = append(gone, f)
		}
	}
	slices.SortFunc(gone, CompareFrontend)
	if len(changed) > 0 {
		if err := lb.Upsert(changed...); err != nil {
			return 0, 0, err
		}
	}
	if len(gone) > 0 {
		if err := lb.Delete(gone...); err != nil {
			return len(changed), 0, fmt.Errorf("delete the services no longer wanted: %w", err)
		}
	}
	return len(changed), len(gone), nil
}

func sameService(a, b Service) bool {
	return a.Frontend == b.Frontend && a.Mode == b.Mode && a.Algorithm == b.Algorithm && slices.Equal(a.Backends, b.Backends)
}

// SyncRedirects makes r's redirects want: one batch sets those that are
// new or differ, then one deletes those want lacks. On an error of the
// first batch nothing has changed; of the second, the new ones stay. It
// returns how many redirects it set and deleted.
func SyncRedirects(r ProxyRedirect, want []Redirect) (set, deleted int, err error) {
	have := map[Frontend]Redirect{}
	for _, rd := range r.Redirects() {
		have[rd.Frontend] = rd
	}
	keep := map[Frontend]bool{}
	var changed []Redirect
	for _, rd := range want {
		keep[rd.Frontend] = true
		if h, ok := have[rd.Frontend]; !ok || h != rd {
			changed = append(changed, rd)
		}
	}
	var gone []Frontend
	for f := range have {
		if !keep[f] {
			gone = append(gone, f)
		}
	}
	slices.SortFunc(gone, CompareFrontend)
	if len(changed) > 0 {
		if err := r.Set(changed...); err != nil {
			return 0, 0, err
		}
	}
	if len(gone) > 0 {
		if err := r.Delete(gone...); err != nil {
			return len(changed), 0, fmt.Errorf("delete the redirects no longer wanted: %w", err)
		}
	}
	return len(changed), len(gone), nil
}
