package controller_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/gatewayapi/apis/v1alpha1"
	"github.com/eniway/eniway/gatewayapi/controller"
	"github.com/eniway/eniway/internal/kubetest"
)

var kube kubetest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := kube.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// recordingSink keeps the IRs it is handed.
type recordingSink struct {
	mu  sync.Mutex
	irs []*gatewayapi.IR
}

func (s *recordingSink) Update(_ context.Context, ir *gatewayapi.IR) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.irs = append(s.irs, ir)
	return nil
}

func (s *recordingSink) last() (*gatewayapi.IR, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.irs) == 0 {
		return nil, 0
	}
	return s.irs[len(s.irs)-1], len(s.irs)
}

// harness is a running manager with the reconciler, acting as a user that
// holds exactly the generated ClusterRole.
type harness struct {
	env  *kubetest.Env
	c    client.Client // admin client, no cache
	rec  *controller.Reconciler
	sink *recordingSink
	name string // controller name, unique per test
}

func start(t *testing.T) *harness { return startWith(t, nil) }

// startWith is start with the manager's client wrapped by wrap, and the
// reconciler's options changed by opts.
func startWith(t *testing.T, wrap func(client.Client) client.Client, opts ...func(*controller.Options)) *harness {
	t.Helper()
	env := kube.Get(t)
	ctx := t.Context()
	require.NoError(t, env.InstallCRDs("../config/crd"))
	scheme, err := kubetest.NewScheme()
	require.NoError(t, err)
	require.NoError(t, v1alpha1.AddToScheme(scheme))
	admin, err := client.New(env.Config, client.Options{Scheme: scheme})
	require.NoError(t, err)

	// RBAC: the generated ClusterRole, bound to a user the manager
	// impersonates.
	role := &rbacv1.ClusterRole{}
	data, err := os.ReadFile("../config/rbac/role.yaml")
	require.NoError(t, err)
	require.NoError(t, yaml.UnmarshalStrict(data, role))
	user := "eniway-" + t.Name()
	role.Name = user
	require.NoError(t, client.IgnoreAlreadyExists(admin.Create(ctx, role)))
	require.NoError(t, client.IgnoreAlreadyExists(admin.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	})))
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}

	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	require.NoError(t, err)
	h := &harness{env: env, c: admin, sink: &recordingSink{}, name: "eniway.io/test-" + fmt.Sprint(time.Now().UnixNano())}
	c := mgr.GetClient()
	if wrap != nil {
		c = wrap(c)
	}
	o := controller.Options{ControllerName: h.name, Sink: h.sink}
	for _, f := range opts {
		f(&o)
	}
	h.rec, err = controller.New(c, mgr.GetAPIReader(), o)
	require.NoError(t, err)
	require.NoError(t, h.rec.SetupWithManager(mgr))
	mctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	require.True(t, mgr.GetCache().WaitForCacheSync(ctx))
	return h
}

func (h *harness) eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 20*time.Second, 50*time.Millisecond, what)
}

func condition(conds []metav1.Condition, typ string) *metav1.Condition {
	return meta.FindStatusCondition(conds, typ)
}

func TestReconcilerAgainstAPIServer(t *testing.T) {
	h := start(t)
	ctx := t.Context()
	gwNS, appNS := h.env.Namespace(t), h.env.Namespace(t)
	class := "class-" + gwNS

	require.NoError(t, h.c.Create(ctx, &gwv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: class},
		Spec:       gwv1.GatewayClassSpec{ControllerName: gwv1.GatewayController(h.name)},
	}))
	all := gwv1.NamespacesFromAll
	gw := &gwv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: gwNS, Name: "gw", Annotations: map[string]string{
			"service.beta.kubernetes.io/aws-load-balancer-type":            "nlb",
			"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
		}},
		Spec: gwv1.GatewaySpec{
			GatewayClassName: gwv1.ObjectName(class),
			Listeners: []gwv1.Listener{{
				Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType,
				AllowedRoutes: &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: &all}},
			}},
		},
	}
	require.NoError(t, h.c.Create(ctx, gw))
	require.NoError(t, h.c.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "api"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}},
	}))
	require.NoError(t, h.c.Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: appNS, Name: "api-1", Labels: map[string]string{discoveryv1.LabelServiceName: "api"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(8080))}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.1.10"}}, {Addresses: []string{"10.0.2.11"}}},
	}))
	route := &gwv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "api"},
		Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{
				{Namespace: ptr.To(gwv1.Namespace(gwNS)), Name: "gw"},
				{Namespace: ptr.To(gwv1.Namespace(gwNS)), Name: "someone-elses"},
			}},
			Hostnames: []gwv1.Hostname{"api.example.com"},
			Rules: []gwv1.HTTPRouteRule{{
				Matches:     []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: ptr.To(gwv1.PathMatchPathPrefix), Value: ptr.To("/api/v1")}}},
				BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: "api", Port: ptr.To(gwv1.PortNumber(8080))}}}},
			}},
		},
	}
	require.NoError(t, h.c.Create(ctx, route))
	// Another controller's entry, which must survive our writes.
	foreign := gwv1.RouteParentStatus{
		ParentRef:      gwv1.ParentReference{Namespace: ptr.To(gwv1.Namespace(gwNS)), Name: "someone-elses"},
		ControllerName: "example.com/other",
		Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted",
			LastTransitionTime: metav1.NewTime(time.Unix(1700000000, 0))}},
	}
	route.Status.Parents = []gwv1.RouteParentStatus{foreign}
	require.NoError(t, h.c.Status().Update(ctx, route))

	get := func(obj client.Object, ns, name string) {
		t.Helper()
		require.NoError(t, h.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, obj))
	}
	ours := func(r *gwv1.HTTPRoute) *gwv1.RouteParentStatus {
		for i := range r.Status.Parents {
			if string(r.Status.Parents[i].ControllerName) == h.name {
				return &r.Status.Parents[i]
			}
		}
		return nil
	}

	t.Run("status and IR", func(t *testing.T) {
		h.eventually(t, "GatewayClass accepted", func() bool {
			var gc gwv1.GatewayClass
			get(&gc, "", class)
			c := condition(gc.Status.Conditions, "Accepted")
			return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == gc.Generation
		})
		h.eventually(t, "route accepted with the foreign entry kept", func() bool {
			var r gwv1.HTTPRoute
			get(&r, appNS, "api")
			p := ours(&r)
			if p == nil || len(r.Status.Parents) != 2 {
				return false
			}
			c := condition(p.Conditions, "Accepted")
			return c != nil && c.Status == metav1.ConditionTrue && equalParents(r.Status.Parents[0], foreign)
		})
		var g gwv1.Gateway
		get(&g, gwNS, "gw")
		require.Len(t, g.Status.Listeners, 1)
		require.Equal(t, int32(1), g.Status.Listeners[0].AttachedRoutes)
		require.Equal(t, metav1.ConditionTrue, condition(g.Status.Conditions, "Accepted").Status)
		prog := condition(g.Status.Conditions, "Programmed")
		require.Equal(t, string(gwv1.GatewayReasonAddressNotAssigned), prog.Reason)

		h.eventually(t, "sink got the route", func() bool {
			ir, _ := h.sink.last()
			return ir != nil && len(ir.Gateways) == 1 && len(ir.Backends) == 1 && len(ir.Backends[0].Endpoints) == 2
		})
	})

	svcName := "gw-" + class
	t.Run("generated Service and its address", func(t *testing.T) {
		var svc corev1.Service
		h.eventually(t, "Service generated", func() bool {
			return h.c.Get(ctx, types.NamespacedName{Namespace: gwNS, Name: svcName}, &svc) == nil
		})
		require.Equal(t, corev1.ServiceTypeLoadBalancer, svc.Spec.Type)
		require.Equal(t, "nlb", svc.Annotations["service.beta.kubernetes.io/aws-load-balancer-type"])
		require.Equal(t, "gw", svc.Labels[gwv1.GatewayNameLabelKey])
		require.Len(t, svc.OwnerReferences, 1)
		require.Equal(t, "Gateway", svc.OwnerReferences[0].Kind)
		require.Equal(t, int32(80), svc.Spec.Ports[0].Port)
		// What the AWS Load Balancer Controller does once the NLB exists.
		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: "k8s-gw-0123.elb.ap-northeast-2.amazonaws.com"}}
		require.NoError(t, h.c.Status().Update(ctx, &svc))
		h.eventually(t, "Gateway programmed with the NLB's address", func() bool {
			var g gwv1.Gateway
			get(&g, gwNS, "gw")
			c := condition(g.Status.Conditions, "Programmed")
			return c != nil && c.Status == metav1.ConditionTrue && len(g.Status.Addresses) == 1 &&
				g.Status.Addresses[0].Value == "k8s-gw-0123.elb.ap-northeast-2.amazonaws.com" &&
				*g.Status.Addresses[0].Type == gwv1.HostnameAddressType
		})
	})

	t.Run("an unchanged status is not written again", func(t *testing.T) {
		var before gwv1.HTTPRoute
		get(&before, appNS, "api")
		var gBefore gwv1.Gateway
		get(&gBefore, gwNS, "gw")
		_, n := h.sink.last()
		for range 3 {
			_, err := h.rec.Reconcile(ctx, reconcile.Request{})
			require.NoError(t, err)
		}
		var after gwv1.HTTPRoute
		get(&after, appNS, "api")
		var gAfter gwv1.Gateway
		get(&gAfter, gwNS, "gw")
		require.Equal(t, before.ResourceVersion, after.ResourceVersion)
		require.Equal(t, gBefore.ResourceVersion, gAfter.ResourceVersion)
		_, m := h.sink.last()
		require.Equal(t, n, m, "an unchanged IR is not handed over again")
	})

	t.Run("route status follows a change of its Gateway", func(t *testing.T) {
		var g gwv1.Gateway
		get(&g, gwNS, "gw")
		same := gwv1.NamespacesFromSame
		g.Spec.Listeners[0].AllowedRoutes.Namespaces.From = &same
		require.NoError(t, h.c.Update(ctx, &g))
		h.eventually(t, "route not allowed", func() bool {
			var r gwv1.HTTPRoute
			get(&r, appNS, "api")
			p := ours(&r)
			if p == nil {
				return false
			}
			c := condition(p.Conditions, "Accepted")
			return c != nil && c.Status == metav1.ConditionFalse && c.Reason == string(gwv1.RouteReasonNotAllowedByListeners)
		})
		h.eventually(t, "sink got an IR without the route", func() bool {
			ir, _ := h.sink.last()
			return ir != nil && len(ir.Gateways) == 1 && len(ir.Backends) == 0
		})
	})

	t.Run("our entry goes when the parentRef goes", func(t *testing.T) {
		var r gwv1.HTTPRoute
		get(&r, appNS, "api")
		r.Spec.ParentRefs = r.Spec.ParentRefs[1:]
		require.NoError(t, h.c.Update(ctx, &r))
		h.eventually(t, "only the foreign entry left", func() bool {
			var r gwv1.HTTPRoute
			get(&r, appNS, "api")
			return len(r.Status.Parents) == 1 && equalParents(r.Status.Parents[0], foreign)
		})
	})
}

func equalParents(a, b gwv1.RouteParentStatus) bool {
	return a.ControllerName == b.ControllerName && a.ParentRef.Name == b.ParentRef.Name &&
		len(a.Conditions) == len(b.Conditions) && a.Conditions[0].LastTransitionTime.Equal(&b.Conditions[0].LastTransitionTime)
}

func objMeta(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name} }

// TestStatusConflictRetry makes the first status write of every object
// fail with 409 Conflict, as when the cache is stale, and checks that the
// reconciler retries on a fresh copy and the status lands.
func TestStatusConflictRetry(t *testing.T) {
	var mu sync.Mutex
	failed := map[string]bool{}
	conflicts := 0
	h := startWith(t, func(c client.Client) client.Client {
		return conflictingClient{Client: c, inject: func(obj client.Object) error {
			key := fmt.Sprintf("%T/%s", obj, client.ObjectKeyFromObject(obj))
			mu.Lock()
			defer mu.Unlock()
			if failed[key] {
				return nil
			}
			failed[key] = true
			conflicts++
			return apierrors.NewConflict(schema.GroupResource{Resource: "status"}, obj.GetName(), errors.New("injected conflict"))
		}}
	})
	ctx := t.Context()
	class := "conflict-" + h.env.Namespace(t)
	require.NoError(t, h.c.Create(ctx, &gwv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: class},
		Spec:       gwv1.GatewayClassSpec{ControllerName: gwv1.GatewayController(h.name)},
	}))
	h.eventually(t, "GatewayClass accepted despite a conflict", func() bool {
		var gc gwv1.GatewayClass
		require.NoError(t, h.c.Get(ctx, types.NamespacedName{Name: class}, &gc))
		c := condition(gc.Status.Conditions, "Accepted")
		return c != nil && c.Status == metav1.ConditionTrue
	})
	mu.Lock()
	defer mu.Unlock()
	require.Positive(t, conflicts)
}

// conflictingClient fails status updates when inject says so.
type conflictingClient struct {
	client.Client
	inject func(client.Object) error
}

func (c conflictingClient) Status() client.SubResourceWriter {
	return conflictingWriter{SubResourceWriter: c.Client.Status(), inject: c.inject}
}

type conflictingWriter struct {
	client.SubResourceWriter
	inject func(client.Object) error
}

func (w conflictingWriter) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	if err := w.inject(obj); err != nil {
		return err
	}
	return w.SubResourceWriter.Update(ctx, obj, opts...)
}

// TestReferenceGrantRevocation grants a route a Service in another
// namespace, then deletes the grant: the route's backend share turns into
// an invalid one and ResolvedRefs into RefNotPermitted.
func TestReferenceGrantRevocation(t *testing.T) {
	h := start(t)
	ctx := t.Context()
	gwNS, appNS, svcNS := h.env.Namespace(t), h.env.Namespace(t), h.env.Namespace(t)
	class := "grant-" + gwNS
	require.NoError(t, h.c.Create(ctx, &gwv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: class},
		Spec:       gwv1.GatewayClassSpec{ControllerName: gwv1.GatewayController(h.name)},
	}))
	all := gwv1.NamespacesFromAll
	require.NoError(t, h.c.Create(ctx, &gwv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: gwNS, Name: "gw"},
		Spec: gwv1.GatewaySpec{GatewayClassName: gwv1.ObjectName(class), Listeners: []gwv1.Listener{{
			Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType,
			AllowedRoutes: &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: &all}},
		}}},
	}))
	require.NoError(t, h.c.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: svcNS, Name: "shared"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}))
	grant := &gwv1.ReferenceGrant{
		ObjectMeta: metav1.ObjectMeta{Namespace: svcNS, Name: "allow"},
		Spec: gwv1.ReferenceGrantSpec{
			From: []gwv1.ReferenceGrantFrom{{Group: gwv1.GroupName, Kind: "HTTPRoute", Namespace: gwv1.Namespace(appNS)}},
			To:   []gwv1.ReferenceGrantTo{{Kind: "Service"}},
		},
	}
	require.NoError(t, h.c.Create(ctx, grant))
	require.NoError(t, h.c.Create(ctx, &gwv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "r"},
		Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Namespace: ptr.To(gwv1.Namespace(gwNS)), Name: "gw"}}},
			Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{
				BackendObjectReference: gwv1.BackendObjectReference{Name: "shared", Namespace: ptr.To(gwv1.Namespace(svcNS)), Port: ptr.To(gwv1.PortNumber(80))},
			}}}}},
		},
	}))
	resolved := func(status metav1.ConditionStatus, reason string) func() bool {
		return func() bool {
			var r gwv1.HTTPRoute
			require.NoError(t, h.c.Get(ctx, types.NamespacedName{Namespace: appNS, Name: "r"}, &r))
			for _, p := range r.Status.Parents {
				if string(p.ControllerName) == h.name {
					c := condition(p.Conditions, "ResolvedRefs")
					return c != nil && c.Status == status && c.Reason == reason
				}
			}
			return false
		}
	}
	h.eventually(t, "granted", resolved(metav1.ConditionTrue, string(gwv1.RouteReasonResolvedRefs)))
	require.NoError(t, h.c.Delete(ctx, grant))
	h.eventually(t, "revoked", resolved(metav1.ConditionFalse, string(gwv1.RouteReasonRefNotPermitted)))
	h.eventually(t, "the share answers 500", func() bool {
		ir, _ := h.sink.last()
		if ir == nil {
			return false
		}
		for _, g := range ir.Gateways {
			if g.Namespace != gwNS {
				continue
			}
			rs := g.Ports[0].Listeners[0].VirtualHosts[0].Routes
			return len(rs) == 1 && rs[0].Action.Direct != nil && rs[0].Action.Direct.Status == 500
		}
		return false
	})
}

// fakeFeedback is a Feedback whose rejections the test sets.
type fakeFeedback struct {
	mu         sync.Mutex
	rejections map[string][]string
	changed    chan struct{}
}

func newFakeFeedback() *fakeFeedback { return &fakeFeedback{changed: make(chan struct{})} }

func (f *fakeFeedback) Rejections() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rejections
}

func (f *fakeFeedback) RejectionsChanged() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

func (f *fakeFeedback) set(rejections map[string][]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rejections = rejections
	close(f.changed)
	f.changed = make(chan struct{})
}

// TestRejectedConfiguration: a Gateway whose configuration the data plane
// rejects (Feedback) is not Programmed, with reason Invalid and the
// rejection as message, and is Programmed again once the rejection ends.
// Nothing but Feedback changes: its change alone brings the reconciles.
func TestRejectedConfiguration(t *testing.T) {
	fb := newFakeFeedback()
	h := startWith(t, nil, func(o *controller.Options) { o.Feedback = fb })
	ctx := t.Context()
	ns := h.env.Namespace(t)
	class := "feedback-" + ns
	require.NoError(t, h.c.Create(ctx, &gwv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: class},
		Spec:       gwv1.GatewayClassSpec{ControllerName: gwv1.GatewayController(h.name)},
	}))
	require.NoError(t, h.c.Create(ctx, &gwv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gw"},
		Spec: gwv1.GatewaySpec{GatewayClassName: gwv1.ObjectName(class), Listeners: []gwv1.Listener{{
			Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType,
		}}},
	}))
	// The NLB's address, as the AWS Load Balancer Controller sets it.
	var svc corev1.Service
	h.eventually(t, "Service generated", func() bool {
		return h.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "gw-" + class}, &svc) == nil
	})
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: "k8s-gw-0123.elb.ap-northeast-2.amazonaws.com"}}
	require.NoError(t, h.c.Status().Update(ctx, &svc))
	programmed := func() *metav1.Condition {
		var g gwv1.Gateway
		require.NoError(t, h.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "gw"}, &g))
		return condition(g.Status.Conditions, string(gwv1.GatewayConditionProgrammed))
	}
	h.eventually(t, "Programmed", func() bool {
		c := programmed()
		return c != nil && c.Status == metav1.ConditionTrue
	})

	const rejection = `node "envoy-7" rejected RouteConfiguration ` + "%s/gw/port/80: invalid regex"
	fb.set(map[string][]string{
		ns + "/gw":    {fmt.Sprintf(rejection, ns)},
		"other/gw-99": {"not this Gateway's"},
	})
	h.eventually(t, "not Programmed, with the rejection", func() bool {
		c := programmed()
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == string(gwv1.GatewayReasonInvalid)
	})
	c := programmed()
	require.Contains(t, c.Message, fmt.Sprintf(rejection, ns))
	require.NotContains(t, c.Message, "not this Gateway's")

	fb.set(nil)
	h.eventually(t, "Programmed again", func() bool {
		c := programmed()
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == string(gwv1.GatewayReasonProgrammed)
	})
}
