package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/pkg/consts"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/gatewayapi/apis/v1alpha1"
)

// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gatewayclasses;gateways;httproutes;grpcroutes;tlsroutes;referencegrants,verbs=get;list;watch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gatewayclasses/status;gateways/status;httproutes/status;grpcroutes/status;tlsroutes/status,verbs=update
// +kubebuilder:rbac:groups=gateway.eniway.io,resources=localratelimitpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=gateway.eniway.io,resources=localratelimitpolicies/status,verbs=update
// +kubebuilder:rbac:groups="",resources=namespaces;secrets;configmaps;services,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=services,verbs=create;update
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get

// Sink receives every new IR. Implementations need not be safe for
// concurrent use: the reconciler calls Update from one goroutine at a time.
type Sink interface {
	// Update takes an IR that differs from the one before. It must not
	// modify the IR. An error makes the reconcile retry.
	Update(ctx context.Context, ir *gatewayapi.IR) error
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(ctx context.Context, ir *gatewayapi.IR) error

// Update calls f.
func (f SinkFunc) Update(ctx context.Context, ir *gatewayapi.IR) error { return f(ctx, ir) }

// Feedback tells the reconciler which Gateways' configuration the data
// plane rejected. Implementations must be safe for concurrent use.
// l7/ads's Server implements it, from the NACKs of its nodes.
type Feedback interface {
	// Rejections returns, by Gateway ("namespace/name"), a description of
	// each rejection of its configuration: which node rejected what, and
	// the node's error detail. Gateways without any are left out.
	Rejections() map[string][]string
	// RejectionsChanged returns a channel that is closed when Rejections
	// may have changed; each call returns the channel for the next change.
	RejectionsChanged() <-chan struct{}
}

// Options configure the reconciler. The zero value is valid.
type Options struct {
	// ControllerName selects the GatewayClasses to handle
	// (gatewayapi.DefaultControllerName when empty).
	ControllerName string
	// Sink receives each new IR; nil discards them.
	Sink Sink
	// Feedback, when set, turns the Programmed condition of a Gateway
	// whose configuration the data plane rejected False (reason Invalid,
	// with the rejections as message), and True again once it has none.
	// A change of Feedback's rejections triggers a reconcile.
	Feedback Feedback
	// Logger receives the reconciler's logs; nil discards them.
	Logger *slog.Logger
	// Addresses and ServiceSelector are passed to gatewayapi.Options.
	Addresses       []netip.Addr
	ServiceSelector map[string]string
}

// Validate reports invalid options.
func (o Options) Validate() error {
	return o.translateOptions().Validate()
}

func (o Options) translateOptions() gatewayapi.Options {
	return gatewayapi.Options{ControllerName: o.ControllerName, Addresses: o.Addresses, ServiceSelector: o.ServiceSelector}
}

// Reconciler translates the cluster's Gateway API objects and writes
// their status. Create it with New and add it to a manager with
// SetupWithManager.
type Reconciler struct {
	client   client.Client
	reader   client.Reader
	opts     Options
	tOpts    gatewayapi.Options
	log      *slog.Logger
	policies bool
	// last is what was last handed to the Sink.
	last *shared
}

// workItem is the one key every event maps to.
var workItem = reconcile.Request{NamespacedName: types.NamespacedName{Name: "eniway-gateway"}}

// New returns a reconciler that reads through c (the manager's cached
// client) and reads fresh copies for conflict retries and the CRD bundle
// version through reader (the manager's API reader).
func New(c client.Client, reader client.Reader, opts Options) (*Reconciler, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tOpts := opts.translateOptions()
	if tOpts.ControllerName == "" {
		tOpts.ControllerName = gatewayapi.DefaultControllerName
	}
	return &Reconciler{client: c, reader: reader, opts: opts, tOpts: tOpts, log: log}, nil
}

// SetupWithManager registers the watches with mgr. LocalRateLimitPolicies
// are watched only when their CRD is installed and their type is in the
// manager's scheme.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	enqueue := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{workItem}
	})
	b := ctrl.NewControllerManagedBy(mgr).Named("eniway-gateway")
	for _, obj := range []client.Object{
		&gwv1.GatewayClass{}, &gwv1.Gateway{}, &gwv1.HTTPRoute{}, &gwv1.GRPCRoute{}, &gwv1.TLSRoute{},
		&gwv1.ReferenceGrant{}, &corev1.Namespace{}, &corev1.Service{}, &discoveryv1.EndpointSlice{},
		&corev1.Secret{}, &corev1.ConfigMap{},
	} {
		b = b.Watches(obj, enqueue)
	}
	gvk := v1alpha1.GroupVersion.WithKind(v1alpha1.KindLocalRateLimitPolicy)
	if mgr.GetScheme().Recognizes(gvk) {
		if _, err := mgr.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version); err == nil {
			r.policies = true
			b = b.Watches(&v1alpha1.LocalRateLimitPolicy{}, enqueue)
		} else if !meta.IsNoMatchError(err) {
			return fmt.Errorf("look up %s: %w", gvk.Kind, err)
		}
	}
	if fb := r.opts.Feedback; fb != nil {
		b = b.WatchesRawSource(source.Func(func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
			go func() {
				ch := fb.RejectionsChanged()
				for {
					select {
					case <-ctx.Done():
						return
					case <-ch:
					}
					// The next channel first: a reconcile that comes after
					// it sees every change it missed.
					ch = fb.RejectionsChanged()
					q.Add(workItem)
				}
			}()
			return nil
		}))
	}
	return b.Complete(r)
}

// Reconcile translates everything and writes the results. The request is
// ignored: there is one work item.
func (r *Reconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	start := time.Now()
	in, err := r.input(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	opts := r.tOpts
	opts.Now = time.Now().Truncate(time.Second)
	res, terr := gatewayapi.Translate(in, opts)
	if res == nil {
		return reconcile.Result{}, terr
	}
	var problems int
	if terr != nil {
		if j, ok := terr.(interface{ Unwrap() []error }); ok {
			problems = len(j.Unwrap())
		}
	}
	var errs []error
	for _, g := range res.IR.Gateways {
		errs = append(errs, r.applyService(ctx, in, g))
	}
	var rejections map[string][]string
	if r.opts.Feedback != nil {
		rejections = r.opts.Feedback.Rejections()
	}
	errs = append(errs, r.writeStatus(ctx, in, res.Status, rejections, metav1.NewTime(opts.Now))...)
	if err := r.handOver(ctx, res.IR); err != nil {
		errs = append(errs, err)
	}
	err = errors.Join(errs...)
	r.log.Debug("reconciled", "gateways", len(res.IR.Gateways), "backends", len(res.IR.Backends),
		"problems", problems, "took", time.Since(start), "error", err)
	return reconcile.Result{}, err
}

// input lists everything from the cache.
func (r *Reconciler) input(ctx context.Context) (*gatewayapi.Input, error) {
	in := &gatewayapi.Input{}
	var (
		classes  gwv1.GatewayClassList
		gws      gwv1.GatewayList
		https    gwv1.HTTPRouteList
		grpcs    gwv1.GRPCRouteList
		tlss     gwv1.TLSRouteList
		grants   gwv1.ReferenceGrantList
		nss      corev1.NamespaceList
		svcs     corev1.ServiceList
		slices   discoveryv1.EndpointSliceList
		secrets  corev1.SecretList
		cms      corev1.ConfigMapList
		policies v1alpha1.LocalRateLimitPolicyList
	)
	lists := []client.ObjectList{&classes, &gws, &https, &grpcs, &tlss, &grants, &nss, &svcs, &slices, &secrets, &cms}
	if r.policies {
		lists = append(lists, &policies)
	}
	for _, l := range lists {
		if err := r.client.List(ctx, l); err != nil {
			return nil, fmt.Errorf("list %T: %w", l, err)
		}
	}
	in.GatewayClasses = ptrs(classes.Items)
	in.Gateways = ptrs(gws.Items)
	in.HTTPRoutes = ptrs(https.Items)
	in.GRPCRoutes = ptrs(grpcs.Items)
	in.TLSRoutes = ptrs(tlss.Items)
	in.ReferenceGrants = ptrs(grants.Items)
	in.Namespaces = ptrs(nss.Items)
	in.Services = ptrs(svcs.Items)
	in.EndpointSlices = ptrs(slices.Items)
	in.Secrets = ptrs(secrets.Items)
	in.ConfigMaps = ptrs(cms.Items)
	in.LocalRateLimitPolicies = ptrs(policies.Items)
	crd := &metav1.PartialObjectMetadata{}
	crd.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	switch err := r.reader.Get(ctx, types.NamespacedName{Name: "gateways." + gwv1.GroupName}, crd); {
	case err == nil:
		in.BundleVersion = crd.Annotations[consts.BundleVersionAnnotation]
	case apierrors.IsNotFound(err):
	default:
		return nil, fmt.Errorf("read the Gateway CRD's bundle version: %w", err)
	}
	return in, nil
}

func ptrs[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

// applyService creates or updates the Service generated for a Gateway.
func (r *Reconciler) applyService(ctx context.Context, in *gatewayapi.Input, g *gatewayapi.Gateway) error {
	want := g.Service.Object()
	var owner *gwv1.Gateway
	for _, gw := range in.Gateways {
		if gw.Namespace == g.Namespace && gw.Name == g.Name {
			owner = gw
		}
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: want.Namespace, Name: want.Name}}
	op, err := controllerutil.CreateOrUpdate(ctx, r.client, svc, func() error {
		if svc.Labels == nil {
			svc.Labels = map[string]string{}
		}
		maps.Copy(svc.Labels, want.Labels)
		if len(want.Annotations) > 0 && svc.Annotations == nil {
			svc.Annotations = map[string]string{}
		}
		maps.Copy(svc.Annotations, want.Annotations)
		svc.Spec.Type = want.Spec.Type
		svc.Spec.Selector = want.Spec.Selector
		ports := make([]corev1.ServicePort, 0, len(want.Spec.Ports))
		for _, p := range want.Spec.Ports {
			// Keep the node port the API server assigned.
			for _, old := range svc.Spec.Ports {
				if old.Port == p.Port {
					p.NodePort = old.NodePort
				}
			}
			ports = append(ports, p)
		}
		svc.Spec.Ports = ports
		if owner != nil {
			return controllerutil.SetOwnerReference(owner, svc, r.client.Scheme())
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("apply Service %s/%s for Gateway %s/%s: %w", want.Namespace, want.Name, g.Namespace, g.Name, err)
	}
	if op != controllerutil.OperationResultNone {
		r.log.Info("applied Service", "service", want.Namespace+"/"+want.Name, "operation", op)
	}
	return nil
}

// handOver passes the IR to the sink when it changed, keeping the last
// IR's objects for the Gateways and Backends that did not change (share).
func (r *Reconciler) handOver(ctx context.Context, ir *gatewayapi.IR) error {
	if r.opts.Sink == nil {
		return nil
	}
	next, last, changed, err := share(r.last, ir)
	if err != nil || !changed {
		return err
	}
	if err := r.opts.Sink.Update(ctx, next); err != nil {
		return fmt.Errorf("hand the IR to the sink: %w", err)
	}
	r.last = last
	return nil
}

// updateStatus writes obj's status when mutate changes it. mutate gets the
// object (the cached copy first, a fresh one after a conflict) and reports
// whether it changed anything.
func (r *Reconciler) updateStatus(ctx context.Context, obj client.Object, mutate func(client.Object) bool) error {
	first := true
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := obj.DeepCopyObject().(client.Object)
		if !first {
			if err := r.reader.Get(ctx, client.ObjectKeyFromObject(obj), cur); err != nil {
				return err
			}
		}
		first = false
		if !mutate(cur) {
			return nil
		}
		return r.client.Status().Update(ctx, cur)
	})
	if apierrors.IsNotFound(err) {
		return nil // deleted meanwhile; its events bring another reconcile
	}
	if err != nil {
		return fmt.Errorf("update status of %T %s: %w", obj, client.ObjectKeyFromObject(obj), err)
	}
	return nil
}

// mergeConditions returns want with the lastTransitionTime of old kept for
// conditions whose status did not change, and now for the others.
func mergeConditions(old, want []metav1.Condition, now metav1.Time) []metav1.Condition {
	out := make([]metav1.Condition, len(want))
	for i, c := range want {
		if o := meta.FindStatusCondition(old, c.Type); o != nil && o.Status == c.Status {
			c.LastTransitionTime = o.LastTransitionTime
		} else {
			c.LastTransitionTime = now
		}
		out[i] = c
	}
	return out
}

func equalStatus(a, b any) bool { return equality.Semantic.DeepEqual(a, b) }
