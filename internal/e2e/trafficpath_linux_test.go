package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/datapath/ebpf"
	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/gatewayapi/manifest"
	"github.com/eniway/eniway/internal/testutils"
	"github.com/eniway/eniway/l7/proxy"
	"github.com/eniway/eniway/l7/xds"
	"github.com/eniway/eniway/maglev"
)

// gateway is a Gateway on 127.0.0.1:18080 whose HTTPRoute sends
// app.example.com to the Service app, served at 127.0.0.1:18081 (the
// test's backend's port replaces it).
const gateway = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: eniway}
spec: {controllerName: eniway.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: eniway
  listeners: [{name: http, protocol: HTTP, port: 18080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [app.example.com]
  rules: [{backendRefs: [{name: app, port: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: app, namespace: default}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: app-1
  namespace: default
  labels: {kubernetes.io/service-name: app}
addressType: IPv4
ports: [{name: http, port: 18081}]
endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]
`

// TestTrafficPath sends HTTP from a client namespace to a Gateway VIP on a
// node namespace, where the XDP prefilter drops a denied source, the TC
// proxy redirect hands the allowed client's connection to the embedded L7
// data plane (l7/proxy) listening on 127.0.0.1, and the data plane routes
// the request by its HTTPRoute to the backend.
func TestTrafficPath(t *testing.T) {
	testutils.RequireBPF(t)
	client, node := testutils.NewNetNS(t), testutils.NewNetNS(t)
	hc, hn := client.NetlinkHandle(t), node.NetlinkHandle(t)
	allowed, denied, nodeAddr := netip.MustParseAddr("10.90.0.1"), netip.MustParseAddr("10.90.0.3"), netip.MustParseAddr("10.90.0.2")
	vip := netip.MustParseAddrPort("10.96.0.100:80")
	require.NoError(t, hc.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "tp-c"}, PeerName: "tp-n", PeerNamespace: netlink.NsFd(node.FD())}))
	for _, side := range []struct {
		h     *netlink.Handle
		name  string
		addrs []netip.Addr
	}{{hc, "tp-c", []netip.Addr{allowed, denied}}, {hn, "tp-n", []netip.Addr{nodeAddr}}} {
		l, err := side.h.LinkByName(side.name)
		require.NoError(t, err)
		for _, a := range side.addrs {
			require.NoError(t, side.h.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(24, 32)}}))
		}
		require.NoError(t, side.h.LinkSetUp(l))
	}
	testutils.WaitOperUp(t, hc, "tp-c")
	testutils.WaitOperUp(t, hn, "tp-n")
	// The client reaches the VIP through the node, which delivers it
	// locally.
	require.NoError(t, hc.RouteAdd(&netlink.Route{Dst: &net.IPNet{IP: vip.Addr().AsSlice(), Mask: net.CIDRMask(32, 32)}, Gw: nodeAddr.AsSlice()}))
	lo, err := hn.LinkByName("lo")
	require.NoError(t, err)
	require.NoError(t, hn.RouteAdd(&netlink.Route{Dst: &net.IPNet{IP: vip.Addr().AsSlice(), Mask: net.CIDRMask(32, 32)}, LinkIndex: lo.Attrs().Index,
		Type: unix.RTN_LOCAL, Table: unix.RT_TABLE_LOCAL, Scope: unix.RT_SCOPE_HOST}))
	nodeIf, err := hn.LinkByName("tp-n")
	require.NoError(t, err)

	// The backend, on the test's own loopback: the data plane connects to
	// backends from goroutines of its own, which run in the test's
	// namespace.
	backendLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "backend: %s %s", r.Host, r.URL.Path)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = backend.Serve(backendLn) }()
	defer backend.Close()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	manifests := strings.Replace(gateway, "18081", fmt.Sprint(backendLn.Addr().(*net.TCPAddr).Port), 1)
	require.NoError(t, os.WriteFile(path, []byte(manifests), 0o600))
	in, err := manifest.Load(path)
	require.NoError(t, err)
	res, err := gatewayapi.Translate(in, gatewayapi.Options{})
	require.NoError(t, err)
	all, err := xds.Translate(res.IR, xds.Options{ListenAddress: netip.MustParseAddr("127.0.0.1")})
	require.NoError(t, err)
	var rs []*xds.Resources
	for _, r := range all {
		rs = append(rs, r)
	}
	// The data plane, its listener bound in the node's namespace.
	p, err := proxy.New(proxy.Options{AccessLogOutput: io.Discard})
	require.NoError(t, err)
	require.NoError(t, node.Do(func() error { return p.Load(rs...) }))
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- p.Start(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-served)
	}()

	// The datapath on the node's interface: the prefilter (XDP) and the
	// redirect of the VIP to the data plane's listener (TC).
	pf, err := ebpf.NewPrefilter(datapath.PrefilterOptions{MaxEntries: 16})
	require.NoError(t, err)
	defer func() { require.NoError(t, pf.Close()) }()
	_, err = pf.Update(datapath.PrefilterBatch{Insert: []netip.Prefix{netip.PrefixFrom(denied, 32)}})
	require.NoError(t, err)
	rd, err := ebpf.NewProxyRedirect(datapath.RedirectOptions{})
	require.NoError(t, err)
	defer func() { require.NoError(t, rd.Close()) }()
	require.NoError(t, rd.Set(datapath.Redirect{Frontend: datapath.Frontend{Addr: vip, Protocol: maglev.ProtocolTCP},
		Proxy: netip.MustParseAddrPort("127.0.0.1:18080")}))
	require.NoError(t, node.Do(func() error {
		if _, err := pf.Attach(nodeIf.Attrs().Index, datapath.XDPModeAuto); err != nil {
			return err
		}
		_, err := rd.Attach(nodeIf.Attrs().Index, ebpf.TCModeAuto)
		return err
	}))

	get := func(src netip.Addr) (string, error) {
		var body string
		// The transport dials on its own goroutine: in the client's
		// namespace, too.
		dial := func(ctx context.Context, network, addr string) (conn net.Conn, err error) {
			err = client.Do(func() error {
				d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
				conn, err = d.DialContext(ctx, network, addr)
				return err
			})
			return conn, err
		}
		err := func() error {
			c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DialContext: dial}}
			defer c.CloseIdleConnections()
			req, err := http.NewRequest("GET", "http://"+vip.String()+"/hello", nil)
			if err != nil {
				return err
			}
			req.Host = "app.example.com"
			resp, err := c.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d: %s", resp.StatusCode, b)
			}
			body = string(b)
			return err
		}()
		return body, err
	}
	for i := range 5 {
		body, err := get(allowed)
		require.NoError(t, err, "request %d", i)
		require.Equal(t, "backend: app.example.com /hello", body)
	}
	_, err = get(denied)
	var timeout interface{ Timeout() bool }
	require.True(t, errors.As(err, &timeout) && timeout.Timeout(), "the denied source times out: %v", err)

	pc, err := pf.Counters()
	require.NoError(t, err)
	require.NotZero(t, pc.DroppedIPv4)
	rc, err := rd.Counters()
	require.NoError(t, err)
	require.NotZero(t, rc.Assigned)
}
