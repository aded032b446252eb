package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/eniway/eniway/internal/kubetest"
	"github.com/eniway/eniway/internal/testutils"
	"github.com/eniway/eniway/l7/proxy"
)

// TestQuickstart runs the whole gateway on one machine: a real API server,
// this controller with its ADS server, and the embedded data plane as its
// ADS client; a Gateway and an HTTPRoute created through the API server
// carry a request to a local backend, and the Gateway's status says
// Accepted.
func TestQuickstart(t *testing.T) {
	env := kubetest.Start(t)
	require.NoError(t, env.InstallCRDs("../../gatewayapi/config/crd"))
	ctx := t.Context()

	// The backend, on an address an EndpointSlice may hold (not loopback).
	hostIP := nonLoopbackIPv4(t)
	bl, err := net.Listen("tcp", netip.AddrPortFrom(hostIP, 0).String())
	require.NoError(t, err)
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from the backend: %s %s", r.Host, r.URL.Path)
	})}
	go func() { _ = backend.Serve(bl) }()
	defer backend.Close()

	adsAddr := freePort(t)
	name := "eniway.io/quickstart"
	testutils.Run(t, func(ctx context.Context) error {
		return run(ctx, []string{"-ads-listen", adsAddr, "-controller-name", name}, env.Config, io.Discard)
	})

	p, err := proxy.New(proxy.Options{
		Server: adsAddr, Node: &corev3.Node{Id: "node-1"},
		Bind: func(string, netip.AddrPort) netip.AddrPort { return netip.MustParseAddrPort("127.0.0.1:0") },
	})
	require.NoError(t, err)
	testutils.Run(t, p.Start)

	ns := env.Namespace(t)
	bport := int32(bl.Addr().(*net.TCPAddr).Port)
	require.NoError(t, env.Client.Create(ctx, &gwv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: "quickstart-" + ns},
		Spec:       gwv1.GatewayClassSpec{ControllerName: gwv1.GatewayController(name)},
	}))
	require.NoError(t, env.Client.Create(ctx, &gwv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gw"},
		Spec: gwv1.GatewaySpec{
			GatewayClassName: gwv1.ObjectName("quickstart-" + ns),
			Listeners:        []gwv1.Listener{{Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 80}},
		},
	}))
	require.NoError(t, env.Client.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}))
	require.NoError(t, env.Client.Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: "app-1", Labels: map[string]string{discoveryv1.LabelServiceName: "app"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(bport)}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{hostIP.String()}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}))
	require.NoError(t, env.Client.Create(ctx, &gwv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"},
		Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "gw"}}},
			Hostnames:       []gwv1.Hostname{"app.example.com"},
			Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{
				BackendObjectReference: gwv1.BackendObjectReference{Name: "app", Port: ptr.To(gwv1.PortNumber(80))},
			}}}}},
		},
	}))

	var body string
	require.Eventually(t, func() bool {
		a := p.ListenerAddr(ns + "/gw/80")
		if a == nil {
			body = "no listener"
			return false
		}
		req, _ := http.NewRequest("GET", "http://"+a.String()+"/hello", nil)
		req.Host = "app.example.com"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			body = err.Error()
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = fmt.Sprintf("%d %s", resp.StatusCode, b)
		return resp.StatusCode == 200
	}, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, "200 hello from the backend: app.example.com /hello", body)

	gw := &gwv1.Gateway{}
	require.Eventually(t, func() bool {
		if env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gw"}, gw) != nil {
			return false
		}
		// Accepted; Programmed waits for the load balancer's address,
		// which no one assigns in a test cluster.
		c := meta.FindStatusCondition(gw.Status.Conditions, string(gwv1.GatewayConditionAccepted))
		return c != nil && c.Status == metav1.ConditionTrue
	}, 30*time.Second, 50*time.Millisecond)
}

func nonLoopbackIPv4(t *testing.T) netip.Addr {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	require.NoError(t, err)
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			if ip := p.Addr(); ip.Is4() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
				return ip
			}
		}
	}
	testutils.SkipOrFail(t, "no non-loopback IPv4 address for the backend (an EndpointSlice may not hold a loopback address)")
	return netip.Addr{}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}
