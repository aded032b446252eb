package ads

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/l7/xds"
)

// model is the Envoy resources of the last IR, kept per Gateway so that an
// Update translates only the Gateways that changed and rebuilds only the
// endpoint assignments whose endpoints changed. Guarded by Server.mu.
type model struct {
	opts xds.Options
	// tr translates, remembering each route and backend object it met
	// (the IR's objects are never modified once handed over).
	tr       *xds.Translator
	ir       *gatewayapi.IR
	gateways map[string]*gatewayModel
	keys     []string // of gateways, sorted
	// backends are copies of the last IR's backends, and backendPtrs the
	// objects they were copied from.
	backends    map[string]gatewayapi.Backend
	backendPtrs map[string]*gatewayapi.Backend
	// grpc is the gRPC projection, built for proxyless nodes only, and
	// again after a change of structure (grpcStale).
	grpc      *gatewayModel
	grpcStale bool
	// gen counts the changes of resources; lists numbers entry lists.
	gen   uint64
	lists uint64
}

// gatewayModel is one Gateway's resources (or the gRPC projection's).
type gatewayModel struct {
	key string
	gw  *gatewayapi.Gateway
	// refs are the backends the Gateway's routes name.
	refs  map[string]bool
	lists [numTypes]*entryList
	// vhosts are the serializations of the virtual hosts of its route
	// configurations (see marshalRouteConfig).
	vhosts map[*routev3.VirtualHost][]byte
	// errs are the translation's errors, but those of endpoint
	// assignments, which claErrs holds by cluster.
	errs    []error
	claErrs map[string]error
}

// entryList is one type's resources of a Gateway, sorted by name. A list
// is replaced, never changed, and its id tells it from its predecessors.
type entryList struct {
	id      uint64
	entries []*entry
}

func (l *entryList) find(name string) (int, bool) {
	return slices.BinarySearchFunc(l.entries, name, func(e *entry, n string) int { return strings.Compare(e.name, n) })
}

func newModel(opts xds.Options) *model {
	return &model{opts: opts, tr: xds.NewTranslator(opts), gateways: map[string]*gatewayModel{}, backends: map[string]gatewayapi.Backend{},
		backendPtrs: map[string]*gatewayapi.Backend{}, grpcStale: true}
}

// update takes a new IR. A Gateway is translated again when it is a new
// object or a backend its routes name changed other than in its
// endpoints; a backend whose endpoints alone changed gets a new endpoint
// assignment in the Gateways that use it. An IR is never modified once
// handed over (gatewayapi.IR), so an object of a new IR that is the
// object the last IR had is the same, and the translator reuses the
// translation of every route and backend object it met before: a Gateway
// object the controller rebuilt around one changed route costs about as
// much as that route. Backends that are new objects are compared by
// value. An IR that is the last one again is translated afresh, for
// callers that modify an IR and hand it over again. update returns "full"
// when it translated Gateways and "endpoints" otherwise, and every
// Gateway's translation errors.
func (m *model) update(ir *gatewayapi.IR) (string, error) {
	kind, err := m.apply(ir)
	if err != nil {
		// Half updated: start afresh at the next update.
		*m = *newModel(m.opts)
		return "", err
	}
	return kind, m.errors(false)
}

// apply is update but for the translation errors; an error it returns is
// the model's own (a resource that cannot be serialized, say).
func (m *model) apply(ir *gatewayapi.IR) (string, error) {
	trust := ir != m.ir
	if !trust {
		m.tr.Reset()
	}
	structural := map[string]bool{}
	var endpoints []*gatewayapi.Backend
	if !trust || m.ir == nil || !sameSlice(ir.Backends, m.ir.Backends) {
		structural, endpoints = m.diffBackends(ir, trust)
	}

	// Which Gateways to translate: new objects, and those whose backends
	// changed other than in endpoints.
	gateways := make(map[string]*gatewayModel, len(ir.Gateways))
	present := make(map[string]bool, len(ir.Gateways))
	var again []*gatewayapi.Gateway
	for _, g := range ir.Gateways {
		key := g.Namespace + "/" + g.Name
		present[key] = true
		if gm := m.gateways[key]; gm != nil && trust && gm.gw == g && !namesAny(gm.refs, structural) {
			gateways[key] = gm
			continue
		}
		again = append(again, g)
	}
	for key := range m.gateways {
		if !present[key] {
			m.tr.Forget(key)
		}
	}
	var tr translation
	if len(again) > 0 {
		tr = m.translate(again, ir.Backends)
	}
	// A cluster or endpoint assignment is a function of its backend alone
	// (and the translation options): one a Gateway had for a backend that
	// did not change is kept without serializing it again.
	endpointsChanged := map[string]bool{}
	for _, b := range endpoints {
		endpointsChanged[b.Name] = true
	}
	unchanged := func(typ int, name string) bool {
		switch typ {
		case typeCluster:
			return !structural[name]
		case typeEndpoint:
			return !structural[name] && !endpointsChanged[name]
		}
		return false
	}
	translated := map[string]bool{}
	if len(again) > 0 {
		res, errs := tr.res, tr.errs
		for i, g := range again {
			key := g.Namespace + "/" + g.Name
			ge := errs[key]
			if i == 0 {
				ge = append(ge, errs[""]...) // not tied to a Gateway
			}
			gm, err := m.fromResources(key, m.gateways[key], res[key], ge, unchanged)
			if err != nil {
				return "", err
			}
			gm.gw, gm.refs = g, backendRefs(g)
			gateways[key], translated[key] = gm, true
		}
	}
	for key, gm := range gateways {
		if !translated[key] {
			if err := m.patchEndpoints(gm, endpoints); err != nil {
				return "", err
			}
		}
	}
	if len(again) > 0 || len(structural) > 0 || len(gateways) != len(m.gateways) {
		m.grpcStale = true
	} else if m.grpc != nil && !m.grpcStale {
		if err := m.patchEndpoints(m.grpc, endpoints); err != nil {
			return "", err
		}
	}
	m.ir, m.gateways = ir, gateways
	m.keys = sortedKeys(gateways)
	m.gen++
	if len(again) > 0 || len(structural) > 0 {
		return "full", nil
	}
	return "endpoints", nil
}

// translation is the result of translate.
type translation struct {
	res  map[string]*xds.Resources
	errs map[string][]error
}

// translate translates gateways; it does not touch the model (it may run
// while update does).
func (m *model) translate(gateways []*gatewayapi.Gateway, backends []*gatewayapi.Backend) translation {
	res, err := m.tr.Translate(&gatewayapi.IR{Gateways: gateways, Backends: backends})
	return translation{res: res, errs: splitErrors(err)}
}

// diffBackends compares the backends of ir with the last IR's, and
// records them: it returns the names of those that are new, gone, or
// changed other than in their endpoints, and those whose endpoints alone
// changed. With trust, a backend that is the last IR's object is not
// looked at.
func (m *model) diffBackends(ir *gatewayapi.IR, trust bool) (map[string]bool, []*gatewayapi.Backend) {
	structural := map[string]bool{}
	var endpoints []*gatewayapi.Backend
	known := 0
	for _, b := range ir.Backends {
		old, ok := m.backends[b.Name]
		if ok {
			known++
		}
		if trust && ok && m.backendPtrs[b.Name] == b {
			continue
		}
		v := *b
		v.Endpoints = slices.Clone(b.Endpoints)
		m.backends[b.Name], m.backendPtrs[b.Name] = v, b
		switch {
		case !ok || !sameBackend(&old, b):
			structural[b.Name] = true
		case !slices.Equal(old.Endpoints, b.Endpoints):
			endpoints = append(endpoints, b)
		}
	}
	if known != len(m.backends) || len(ir.Backends) != len(m.backends) {
		names := make(map[string]bool, len(ir.Backends))
		for _, b := range ir.Backends {
			names[b.Name] = true
		}
		for name := range m.backends {
			if !names[name] {
				structural[name] = true
				delete(m.backends, name)
				delete(m.backendPtrs, name)
			}
		}
	}
	return structural, endpoints
}

// sameSlice says whether a and b are the same slice (not only equal).
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// errors joins every Gateway's translation errors, and the gRPC
// projection's when withGRPC.
func (m *model) errors(withGRPC bool) error {
	var errs []error
	all := make([]*gatewayModel, 0, len(m.keys)+1)
	for _, k := range m.keys {
		all = append(all, m.gateways[k])
	}
	if withGRPC && m.grpc != nil {
		all = append(all, m.grpc)
	}
	for _, gm := range all {
		errs = append(errs, gm.errs...)
		for _, name := range sortedKeys(gm.claErrs) {
			errs = append(errs, gm.claErrs[name])
		}
	}
	return errors.Join(errs...)
}

// projection returns the gRPC projection, translated again if the
// structure changed since.
func (m *model) projection() (*gatewayModel, error) {
	if !m.grpcStale && m.grpc != nil {
		return m.grpc, nil
	}
	res, terr := xds.TranslateGRPC(m.irOrEmpty(), m.opts)
	var errs []error
	for _, list := range splitErrors(terr) {
		errs = append(errs, list...)
	}
	gm, err := m.fromResources(grpcKey, m.grpc, res, errs, nil)
	if err != nil {
		return nil, err
	}
	m.grpc, m.grpcStale = gm, false
	return gm, nil
}

func (m *model) irOrEmpty() *gatewayapi.IR {
	if m.ir == nil {
		return &gatewayapi.IR{}
	}
	return m.ir
}

// fromResources turns translated resources into entry lists, keeping
// old's lists (and entries) where nothing changed, so that unchanged
// resources keep their identity down to the nodes' snapshots.
// unchanged, when set, says which old entries stand for a new resource of
// the same name without a comparison.
func (m *model) fromResources(key string, old *gatewayModel, r *xds.Resources, errs []error, unchanged func(typ int, name string) bool) (*gatewayModel, error) {
	if r == nil {
		r = &xds.Resources{}
	}
	gm := &gatewayModel{key: key, claErrs: map[string]error{}, vhosts: map[*routev3.VirtualHost][]byte{}}
	var lastVH map[*routev3.VirtualHost][]byte
	if old != nil {
		lastVH = old.vhosts
	}
	for _, err := range errs {
		var re *xds.ResourceError
		if errors.As(err, &re) && re.Type == "ClusterLoadAssignment" {
			gm.claErrs[re.Name] = err
			continue
		}
		gm.errs = append(gm.errs, err)
	}
	var items [numTypes][]types.Resource
	var names [numTypes][]string
	for _, x := range r.Listeners {
		items[typeListener], names[typeListener] = append(items[typeListener], x), append(names[typeListener], x.Name)
	}
	for _, x := range r.Routes {
		items[typeRoute], names[typeRoute] = append(items[typeRoute], x), append(names[typeRoute], x.Name)
	}
	for _, x := range r.Clusters {
		items[typeCluster], names[typeCluster] = append(items[typeCluster], x), append(names[typeCluster], x.Name)
	}
	for _, x := range r.Endpoints {
		items[typeEndpoint], names[typeEndpoint] = append(items[typeEndpoint], x), append(names[typeEndpoint], x.ClusterName)
	}
	for _, x := range r.Secrets {
		items[typeSecret], names[typeSecret] = append(items[typeSecret], x), append(names[typeSecret], x.Name)
	}
	for typ := range numTypes {
		var prev *entryList
		if old != nil {
			prev = old.lists[typ]
		}
		var keep func(string) bool
		if unchanged != nil {
			keep = func(name string) bool { return unchanged(typ, name) }
		}
		var encode func(types.Resource) ([]byte, error)
		if typ == typeRoute {
			encode = func(r types.Resource) ([]byte, error) {
				return marshalRouteConfig(r.(*routev3.RouteConfiguration), lastVH, gm.vhosts)
			}
		}
		list, err := m.list(typ, prev, names[typ], items[typ], keep, encode)
		if err != nil {
			return nil, err
		}
		gm.lists[typ] = list
	}
	return gm, nil
}

// list makes the entry list of resources (names[i] is the name of
// res[i]), which prev stands for if it holds the same. keep, when set,
// says which of prev's entries stand for the new resource of their name
// without a comparison.
// encode, when set, serializes a resource.
func (m *model) list(typ int, prev *entryList, names []string, res []types.Resource, keep func(string) bool, encode func(types.Resource) ([]byte, error)) (*entryList, error) {
	entries := make([]*entry, 0, len(res))
	same := prev != nil && len(prev.entries) == len(res)
	for i, r := range res {
		var e *entry
		j, found := -1, false
		if prev != nil {
			j, found = prev.find(names[i])
		}
		if found && keep != nil && keep(names[i]) {
			e = prev.entries[j]
		} else {
			var err error
			if encode == nil {
				e, err = newEntry(typ, names[i], r)
			} else {
				var b []byte
				if b, err = encode(r); err == nil {
					e = newEntryBytes(typ, names[i], r, b)
				}
			}
			if err != nil {
				return nil, err
			}
			if found && prev.entries[j].version == e.version {
				e = prev.entries[j]
			}
		}
		same = same && prev.entries[i] == e
		entries = append(entries, e)
	}
	if same {
		return prev, nil
	}
	slices.SortFunc(entries, func(a, b *entry) int { return strings.Compare(a.name, b.name) })
	entries = slices.CompactFunc(entries, func(a, b *entry) bool { return a.name == b.name })
	m.lists++
	return &entryList{id: m.lists, entries: entries}, nil
}

// patchEndpoints gives gm a new endpoint assignment for each of backends
// it has a cluster for.
func (m *model) patchEndpoints(gm *gatewayModel, backends []*gatewayapi.Backend) error {
	var eds []*entry
	var changed bool
	for _, b := range backends {
		if _, ok := gm.lists[typeCluster].find(b.Name); !ok {
			continue
		}
		if !changed {
			eds = slices.Clone(gm.lists[typeEndpoint].entries)
			changed = true
		}
		i, found := slices.BinarySearchFunc(eds, b.Name, func(e *entry, n string) int { return strings.Compare(e.name, n) })
		cla, err := xds.ClusterLoadAssignment(b)
		if err != nil {
			gm.claErrs[b.Name] = &xds.ResourceError{Gateway: gm.key, Type: "ClusterLoadAssignment", Name: b.Name, Err: err}
			if found {
				eds = slices.Delete(eds, i, i+1)
			}
			continue
		}
		delete(gm.claErrs, b.Name)
		e, err := newEntry(typeEndpoint, b.Name, cla)
		if err != nil {
			return err
		}
		if found {
			eds[i] = e
		} else {
			eds = slices.Insert(eds, i, e)
		}
	}
	if changed {
		m.lists++
		gm.lists[typeEndpoint] = &entryList{id: m.lists, entries: eds}
	}
	return nil
}

// grpcKey is the Gateway xds.TranslateGRPC's errors name.
const grpcKey = "grpc"

// splitErrors sorts the translation's errors by Gateway ("" for the
// others).
func splitErrors(err error) map[string][]error {
	out := map[string][]error{}
	if err == nil {
		return out
	}
	list := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	for _, e := range list {
		var re *xds.ResourceError
		key := ""
		if errors.As(e, &re) {
			key = re.Gateway
		}
		out[key] = append(out[key], e)
	}
	return out
}

// sameBackend says whether a and b differ in nothing but endpoints.
func sameBackend(a, b *gatewayapi.Backend) bool {
	x, y := *a, *b
	x.Endpoints, y.Endpoints = nil, nil
	return reflect.DeepEqual(x, y)
}

// backendRefs are the names of the backends g's routes send requests to
// or mirror them to.
func backendRefs(g *gatewayapi.Gateway) map[string]bool {
	refs := map[string]bool{}
	for name := range g.BackendNames() {
		refs[name] = true
	}
	return refs
}

func namesAny(set, names map[string]bool) bool {
	if len(names) < len(set) {
		for n := range names {
			if set[n] {
				return true
			}
		}
		return false
	}
	for n := range set {
		if names[n] {
			return true
		}
	}
	return false
}

// view is the snapshot of every node that serves the same Gateways (or
// the gRPC projection): built once per change for all of them.
type view struct {
	gateways []string // nil: every Gateway
	grpc     bool
	gen      uint64 // the model's gen it was built for
	// lists are the entry lists of each type the snapshot was built from,
	// in the order of its Gateways (later ones win a name).
	lists [numTypes][]*entryList
	snap  *nodeSnap
	err   error
	used  bool
}

// viewKey names the view of a node.
func (s *Server) viewKey(n *nodeState) string {
	switch {
	case n.proxyless:
		return "\x00grpc"
	case s.opts.Gateways == nil:
		return "*"
	}
	return strings.Join(n.gateways, "\x00")
}

// view returns the node's view, built for the current model. Must hold
// s.mu.
func (s *Server) view(n *nodeState) (*view, error) {
	key := s.viewKey(n)
	v := s.views[key]
	if v == nil {
		v = &view{grpc: n.proxyless}
		if !n.proxyless && s.opts.Gateways != nil {
			v.gateways = n.gateways
		}
		s.views[key] = v
	}
	v.used = true
	var models []*gatewayModel
	if v.grpc {
		gm, err := s.model.projection()
		if err != nil {
			return nil, err
		}
		models = []*gatewayModel{gm}
	}
	if v.gen == s.model.gen && v.snap != nil {
		return v, v.err
	}
	if !v.grpc {
		keys := v.gateways
		if keys == nil {
			keys = s.model.keys
		}
		for _, k := range keys {
			if gm := s.model.gateways[k]; gm != nil {
				models = append(models, gm)
			}
		}
	}
	next := nodeSnap{}
	if v.snap != nil {
		next = *v.snap
	}
	changed := v.snap == nil
	for typ := range numTypes {
		lists := make([]*entryList, len(models))
		for i, gm := range models {
			lists[i] = gm.lists[typ]
		}
		old := v.lists[typ]
		if v.snap != nil && slices.Equal(lists, old) {
			continue
		}
		if v.snap != nil && len(lists) == len(old) && sameOwners(lists, old) {
			next[typ] = patchTypeSnap(v.snap[typ], old, lists)
		} else {
			var prev *typeSnap
			if v.snap != nil {
				prev = v.snap[typ]
			}
			next[typ] = newTypeSnap(typ, mergeLists(lists), prev)
		}
		v.lists[typ] = lists
		changed = true
	}
	v.gen = s.model.gen
	if changed {
		old := v.snap
		v.snap = &next
		if v.grpc {
			v.err = projectionConsistent(v.snap)
		} else if old == nil || v.err != nil || needsCheck(old, v.snap) {
			v.err = consistent(v.snap)
		}
	}
	return v, v.err
}

// mergeLists is the resources of lists by name; a later list wins a
// name.
func mergeLists(lists []*entryList) map[string]*entry {
	size := 0
	for _, l := range lists {
		size += len(l.entries)
	}
	items := make(map[string]*entry, size)
	for _, l := range lists {
		for _, e := range l.entries {
			items[e.name] = e
		}
	}
	return items
}

// sameOwners says whether lists and old are lists of the same Gateways:
// each list is its Gateway's own, so lists that differ in entries share
// nothing but names.
func sameOwners(lists, old []*entryList) bool {
	for i := range lists {
		if (lists[i] == nil) != (old[i] == nil) {
			return false
		}
	}
	return true
}

// patchTypeSnap is the successor of prev, built from old lists, for new
// lists of the same Gateways: only the names of the lists that changed
// are looked at.
func patchTypeSnap(prev *typeSnap, old, lists []*entryList) *typeSnap {
	touched := map[string]bool{}
	for i := range lists {
		if lists[i] == old[i] {
			continue
		}
		a, b := old[i].entries, lists[i].entries
		for len(a) > 0 || len(b) > 0 {
			switch {
			case len(b) == 0 || (len(a) > 0 && a[0].name < b[0].name):
				touched[a[0].name], a = true, a[1:]
			case len(a) == 0 || b[0].name < a[0].name:
				touched[b[0].name], b = true, b[1:]
			default:
				if a[0] != b[0] {
					touched[a[0].name] = true
				}
				a, b = a[1:], b[1:]
			}
		}
	}
	var changed []*entry
	var removed []string
	for name := range touched {
		var winner *entry
		for i := len(lists) - 1; i >= 0 && winner == nil; i-- {
			if j, ok := lists[i].find(name); ok {
				winner = lists[i].entries[j]
			}
		}
		switch was := prev.items[name]; {
		case winner == was:
		case winner == nil:
			removed = append(removed, name)
		default:
			changed = append(changed, winner)
		}
	}
	if len(changed) == 0 && len(removed) == 0 {
		return prev
	}
	items := maps.Clone(prev.items)
	for _, e := range changed {
		items[e.name] = e
	}
	for _, name := range removed {
		delete(items, name)
	}
	return nextTypeSnap(prev, items, changed, removed)
}

// needsCheck says whether the references between types may have changed
// from old to snap.
func needsCheck(old, snap *nodeSnap) bool {
	for _, typ := range []int{typeListener, typeCluster} {
		if old[typ] != snap[typ] {
			return true
		}
	}
	for _, typ := range []int{typeRoute, typeEndpoint} {
		if old[typ] != snap[typ] && !snap[typ].sameNames() {
			return true
		}
	}
	return false
}

// references are the names of the resources of the referenced type (route
// configurations, endpoint assignments) t's listeners or clusters name.
func (t *typeSnap) references() map[string]bool {
	t.refsOnce.Do(func() {
		withTTL := make(map[string]types.ResourceWithTTL, len(t.items))
		for name, e := range t.items {
			withTTL[name] = types.ResourceWithTTL{Resource: e.res}
		}
		refs := cachev3.GetResourceReferences(withTTL)
		switch t.typ {
		case typeListener:
			t.refs = refs[resourcev3.RouteType]
		case typeCluster:
			t.refs = refs[resourcev3.EndpointType]
		}
		if t.refs == nil {
			t.refs = map[string]bool{}
		}
	})
	return t.refs
}

// consistent checks that the route configurations are those the
// listeners name, and the endpoint assignments those the clusters name.
func consistent(snap *nodeSnap) error {
	for _, p := range [][2]int{{typeListener, typeRoute}, {typeCluster, typeEndpoint}} {
		refs, items := snap[p[0]].references(), snap[p[1]].items
		if len(refs) != len(items) {
			return fmt.Errorf("%w: %d %s named, %d present", ErrInconsistent, len(refs), shortType(typeURLs[p[1]]), len(items))
		}
		for name := range items {
			if !refs[name] {
				return fmt.Errorf("%w: %s %s not named", ErrInconsistent, shortType(typeURLs[p[1]]), name)
			}
		}
	}
	return nil
}

// nameTable interns the names of requests: every node asks for the same
// names (an Envoy's endpoint request names every cluster) and each
// stream's subscription keeps them, so that they are held once, not once
// per node. It is an immutable map of the resources' names, replaced (by
// Update, under Server.mu) only when new names appear; intern reads it
// without a lock.
type nameTable struct {
	p atomic.Pointer[map[string]string]
}

// intern replaces each of names that the table has by the table's copy.
func (t *nameTable) intern(names []string) {
	m := t.p.Load()
	if m == nil {
		return
	}
	for i, n := range names {
		if c, ok := (*m)[n]; ok {
			names[i] = c
		}
	}
}

// update adds the model's names to the table, and starts it afresh when
// most of it is gone.
func (t *nameTable) update(m *model) {
	old := t.p.Load()
	live, missing := 0, false
	each := func(f func(string)) {
		all := make([]*gatewayModel, 0, len(m.keys)+1)
		for _, k := range m.keys {
			all = append(all, m.gateways[k])
		}
		if m.grpc != nil {
			all = append(all, m.grpc)
		}
		for _, gm := range all {
			for _, l := range gm.lists {
				for _, e := range l.entries {
					f(e.name)
				}
			}
		}
	}
	each(func(n string) {
		live++
		if old == nil {
			missing = true
		} else if _, ok := (*old)[n]; !ok {
			missing = true
		}
	})
	if !missing && (old == nil || len(*old) <= 2*live+1024) {
		return
	}
	next := make(map[string]string, live)
	if old != nil && len(*old) <= 2*live+1024 {
		next = maps.Clone(*old)
	}
	each(func(n string) {
		if _, ok := next[n]; !ok {
			next[n] = n
		}
	})
	t.p.Store(&next)
}

// marshalRouteConfig serializes rc as deterministic proto.Marshal does,
// taking the serialization of each of its virtual hosts from last when
// there (xds.Translator keeps the virtual host object of unchanged routes)
// and recording it in next: after a change of one route, one virtual
// host is serialized again, not the thousands beside it.
func marshalRouteConfig(rc *routev3.RouteConfiguration, last, next map[*routev3.VirtualHost][]byte) ([]byte, error) {
	opts := proto.MarshalOptions{Deterministic: true}
	// Fields are serialized in number order: name (1), virtual_hosts (2),
	// then the rest.
	head, err := opts.Marshal(&routev3.RouteConfiguration{Name: rc.Name})
	if err != nil {
		return nil, err
	}
	rest := &routev3.RouteConfiguration{}
	dst := rest.ProtoReflect()
	rc.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Number() > rcVirtualHosts {
			dst.Set(fd, v)
		}
		return true
	})
	dst.SetUnknown(rc.ProtoReflect().GetUnknown())
	tail, err := opts.Marshal(rest)
	if err != nil {
		return nil, err
	}
	vhosts := make([][]byte, len(rc.VirtualHosts))
	size := len(head) + len(tail)
	for i, vh := range rc.VirtualHosts {
		b, ok := last[vh]
		if !ok {
			if b, err = opts.Marshal(vh); err != nil {
				return nil, err
			}
		}
		next[vh], vhosts[i] = b, b
		size += protowire.SizeTag(rcVirtualHosts) + protowire.SizeBytes(len(b))
	}
	out := make([]byte, 0, size)
	out = append(out, head...)
	for _, b := range vhosts {
		out = protowire.AppendTag(out, rcVirtualHosts, protowire.BytesType)
		out = protowire.AppendBytes(out, b)
	}
	return append(out, tail...), nil
}

// rcVirtualHosts is the field number of RouteConfiguration.virtual_hosts.
const rcVirtualHosts = 2
