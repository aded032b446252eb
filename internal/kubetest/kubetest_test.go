package kubetest_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/eniway/eniway/internal/kubetest"
	"github.com/eniway/eniway/internal/testutils"
)

// TestGatewayAPI checks that the API server serves the Gateway API CRDs with their schemas (defaults,
// validation), their v1beta1 versions and the status subresource.
func TestGatewayAPI(t *testing.T) {
	env := kube.Get(t)
	c := env.Client
	ctx := t.Context()
	ns := env.Namespace(t)

	gc := &gatewayv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: "kubetest"},
		Spec:       gatewayv1.GatewayClassSpec{ControllerName: "eniway.io/kubetest"},
	}
	require.NoError(t, c.Create(ctx, gc))
	gw := &gatewayv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: ns},
		Spec: gatewayv1.GatewaySpec{
			GatewayClassName: gatewayv1.ObjectName(gc.Name),
			Listeners: []gatewayv1.Listener{
				{Name: "http", Port: 80, Protocol: gatewayv1.HTTPProtocolType},
			},
		},
	}
	require.NoError(t, c.Create(ctx, gw))

	t.Run("read back with defaults", func(t *testing.T) {
		var gotGC gatewayv1.GatewayClass
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(gc), &gotGC))
		assert.Equal(t, gc.Spec.ControllerName, gotGC.Spec.ControllerName)
		// The CRD defaults the status to Accepted=Unknown, reason Pending.
		accepted := meta.FindStatusCondition(gotGC.Status.Conditions, string(gatewayv1.GatewayClassConditionStatusAccepted))
		require.NotNil(t, accepted, "defaulted Accepted condition")
		assert.Equal(t, metav1.ConditionUnknown, accepted.Status)
		assert.Equal(t, string(gatewayv1.GatewayClassReasonPending), accepted.Reason)

		var gotGW gatewayv1.Gateway
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(gw), &gotGW))
		require.Len(t, gotGW.Spec.Listeners, 1)
		l := gotGW.Spec.Listeners[0]
		assert.Equal(t, gatewayv1.SectionName("http"), l.Name)
		assert.Equal(t, gatewayv1.PortNumber(80), l.Port)
		// The CRD defaults a listener's allowed routes to its own namespace.
		require.NotNil(t, l.AllowedRoutes)
		require.NotNil(t, l.AllowedRoutes.Namespaces)
		require.NotNil(t, l.AllowedRoutes.Namespaces.From)
		assert.Equal(t, gatewayv1.NamespacesFromSame, *l.AllowedRoutes.Namespaces.From)
	})

	t.Run("v1beta1", func(t *testing.T) {
		var beta gatewayv1beta1.Gateway
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(gw), &beta))
		assert.Equal(t, gw.UID, beta.UID)
		assert.Equal(t, gatewayv1beta1.ObjectName(gc.Name), beta.Spec.GatewayClassName)
	})

	t.Run("schema validation", func(t *testing.T) {
		bad := &gatewayv1.GatewayClass{
			ObjectMeta: metav1.ObjectMeta{Name: "kubetest-invalid"},
			Spec:       gatewayv1.GatewayClassSpec{ControllerName: "not a controller name"},
		}
		err := c.Create(ctx, bad)
		require.Error(t, err)
		assert.True(t, apierrors.IsInvalid(err), "want Invalid, got %v", err)
	})

	t.Run("status subresource", func(t *testing.T) {
		var cur gatewayv1.GatewayClass
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(gc), &cur))
		accepted := metav1.Condition{
			Type:               string(gatewayv1.GatewayClassConditionStatusAccepted),
			Status:             metav1.ConditionTrue,
			Reason:             string(gatewayv1.GatewayClassReasonAccepted),
			Message:            "accepted by kubetest",
			ObservedGeneration: cur.Generation,
		}

		// With a status subresource, an update of the main resource ignores status.
		viaMain := cur.DeepCopy()
		meta.SetStatusCondition(&viaMain.Status.Conditions, accepted)
		viaMain.Labels = map[string]string{"updated": "yes"}
		require.NoError(t, c.Update(ctx, viaMain))
		var got gatewayv1.GatewayClass
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(gc), &got))
		assert.Equal(t, "yes", got.Labels["updated"])
		assert.Equal(t, metav1.ConditionUnknown,
			meta.FindStatusCondition(got.Status.Conditions, accepted.Type).Status)

		// The status subresource updates status, and only status.
		viaStatus := got.DeepCopy()
		meta.SetStatusCondition(&viaStatus.Status.Conditions, accepted)
		viaStatus.Labels = nil
		require.NoError(t, c.Status().Update(ctx, viaStatus))
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(gc), &got))
		assert.Equal(t, "yes", got.Labels["updated"])
		cond := meta.FindStatusCondition(got.Status.Conditions, accepted.Type)
		require.NotNil(t, cond)
		assert.Equal(t, metav1.ConditionTrue, cond.Status)
		assert.Equal(t, accepted.Reason, cond.Reason)
		assert.Equal(t, got.Generation, cond.ObservedGeneration)
	})
}

// recordTB records Skip and Fatalf and ends the goroutine, as the real ones do.
type recordTB struct {
	testing.TB
	skipped, failed string
}

func (r *recordTB) Helper() {}

func (r *recordTB) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recordTB) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with tb on a goroutine of its own, which Skip and Fatalf end.
func run(tb *recordTB, f func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(tb)
	}()
	<-done
}

func TestNoAssets(t *testing.T) {
	t.Setenv(kubetest.AssetsEnv, "")
	_, err := kubetest.New()
	require.ErrorIs(t, err, kubetest.ErrNoAssets)

	starts := map[string]func(testing.TB){
		"Start":      func(tb testing.TB) { kubetest.Start(tb) },
		"Shared.Get": func(tb testing.TB) { new(kubetest.Shared).Get(tb) },
	}
	tests := []struct {
		require  string
		wantFail bool
	}{
		{require: "", wantFail: false},
		{require: "0", wantFail: false},
		{require: "1", wantFail: true},
	}
	for name, start := range starts {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%s=%q", name, testutils.RequirePrivilegedEnv, tt.require), func(t *testing.T) {
				t.Setenv(testutils.RequirePrivilegedEnv, tt.require)
				tb := &recordTB{TB: t}
				run(tb, start)
				msg := tb.skipped
				if tt.wantFail {
					assert.Empty(t, tb.skipped)
					msg = tb.failed
				} else {
					assert.Empty(t, tb.failed)
				}
				assert.Contains(t, msg, "KUBEBUILDER_ASSETS is not set")
				assert.Contains(t, msg, "bash .ci/kube-assets")
			})
		}
	}
}

func TestSharedAfterStop(t *testing.T) {
	var s kubetest.Shared
	require.NoError(t, s.Stop())
	require.NoError(t, s.Stop())
	tb := &recordTB{TB: t}
	run(tb, func(tb testing.TB) { s.Get(tb) })
	assert.Contains(t, tb.failed, "after Stop")
}
