package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	"github.com/eniway/eniway/l7/xds"
)

// cluster is a compiled Cluster with its connection pool. A cluster whose
// resource is unchanged by an update keeps its pool.
type cluster struct {
	name    string
	service string // the EDS service name
	static  bool   // STATIC: endpoints from load_assignment
	h2c     bool
	dialer  *net.Dialer
	// transport pools HTTP connections to the endpoints.
	transport *http.Transport
	// h1 serves bodiless requests of HTTP/1.1 clusters.
	h1   *h1Pool
	eps  atomic.Pointer[[]netip.AddrPort]
	next atomic.Uint64
}

func compileCluster(c *clusterv3.Cluster, maxIdle int) (*cluster, error) {
	if err := checkFields(c, ""); err != nil {
		return nil, err
	}
	out := &cluster{name: c.GetName(), service: c.GetName()}
	switch c.GetType() {
	case clusterv3.Cluster_EDS:
		if n := c.GetEdsClusterConfig().GetServiceName(); n != "" {
			out.service = n
		}
	case clusterv3.Cluster_STATIC:
		out.static = true
		eps, err := compileEndpoints(c.GetLoadAssignment(), "load_assignment")
		if err != nil {
			return nil, err
		}
		out.eps.Store(&eps)
	default:
		return nil, unsupported("type", "cluster discovery type %s", c.GetType())
	}
	if c.GetLbPolicy() != clusterv3.Cluster_ROUND_ROBIN {
		return nil, unsupported("lb_policy", "load balancing policy %s", c.GetLbPolicy())
	}
	timeout := 5 * time.Second
	if c.GetConnectTimeout() != nil {
		timeout = c.GetConnectTimeout().AsDuration()
	}
	for name, a := range c.GetTypedExtensionProtocolOptions() {
		at := "typed_extension_protocol_options[" + name + "]"
		if name != xds.UpstreamHTTPProtocolOptions {
			return nil, unsupported(at, "protocol options %q", name)
		}
		o := &httpv3.HttpProtocolOptions{}
		if err := unpack(a, o, at); err != nil {
			return nil, err
		}
		if e := o.GetExplicitHttpConfig(); e != nil {
			_, out.h2c = e.GetProtocolConfig().(*httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions)
		}
	}
	out.dialer = &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	out.transport = &http.Transport{
		DialContext:           out.dialer.DialContext,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   maxIdle,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: 0,
		ExpectContinueTimeout: time.Second,
	}
	if !out.h2c {
		out.h1 = newH1Pool(out.dialer, maxIdle)
	}
	if out.h2c {
		out.transport.Protocols = new(http.Protocols)
		out.transport.Protocols.SetUnencryptedHTTP2(true)
	}
	return out, nil
}

// compileEndpoints flattens a ClusterLoadAssignment into the endpoints
// round robin goes over: healthy (or unknown) endpoints of every locality
// whose weight is not 0, each repeated by its load_balancing_weight.
func compileEndpoints(cla *endpointv3.ClusterLoadAssignment, at string) ([]netip.AddrPort, error) {
	if err := checkFields(cla, at); err != nil {
		return nil, err
	}
	var eps []netip.AddrPort
	for i, l := range cla.GetEndpoints() {
		if w := l.GetLoadBalancingWeight(); w != nil && w.GetValue() == 0 {
			continue
		}
		for j, e := range l.GetLbEndpoints() {
			eat := fmt.Sprintf("%s.endpoints[%d].lb_endpoints[%d]", at, i, j)
			switch e.GetHealthStatus() {
			case corev3.HealthStatus_UNKNOWN, corev3.HealthStatus_HEALTHY, corev3.HealthStatus_DEGRADED:
			default:
				continue
			}
			sa := e.GetEndpoint().GetAddress().GetSocketAddress()
			if sa == nil {
				return nil, invalid(eat+".endpoint.address", errors.New("not a socket address"))
			}
			addr, err := netip.ParseAddr(sa.GetAddress())
			if err != nil {
				return nil, invalid(eat+".endpoint.address.socket_address.address", err)
			}
			ap := netip.AddrPortFrom(addr, uint16(sa.GetPortValue()))
			w := 1
			if lw := e.GetLoadBalancingWeight(); lw != nil {
				w = int(min(lw.GetValue(), 128))
			}
			for range w {
				eps = append(eps, ap)
			}
		}
	}
	return eps, nil
}

// pick returns the next endpoint, round robin.
func (c *cluster) pick() (netip.AddrPort, bool) {
	p := c.eps.Load()
	if p == nil || len(*p) == 0 {
		return netip.AddrPort{}, false
	}
	eps := *p
	return eps[(c.next.Add(1)-1)%uint64(len(eps))], true
}

func (c *cluster) close() {
	c.transport.CloseIdleConnections()
	if c.h1 != nil {
		c.h1.close()
	}
}

// roundTrip sends one try to an endpoint.
func (c *cluster) roundTrip(req *http.Request, ep netip.AddrPort) (*http.Response, error) {
	if c.h1 != nil && (req.Body == nil || req.Body == http.NoBody) && req.Header.Get("Upgrade") == "" {
		return c.h1.roundTrip(req, ep)
	}
	req.URL.Host = ep.String()
	return c.transport.RoundTrip(req)
}
