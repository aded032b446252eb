package ipammetrics_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/eni"
	"github.com/eniway/eniway/eni/fake"
	"github.com/eniway/eniway/ipam"
	"github.com/eniway/eniway/ipam/ipammetrics"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	metrics, err := ipammetrics.New(reg)
	require.NoError(t, err)
	_, err = ipammetrics.New(reg)
	require.Error(t, err, "registering twice fails")

	cloud := fake.New(fake.Options{})
	vpc, err := cloud.AddVPC(netip.MustParsePrefix("10.0.0.0/16"))
	require.NoError(t, err)
	subnet, err := cloud.AddSubnet(fake.SubnetSpec{VPCID: vpc, AvailabilityZone: "us-east-1a", CIDR: netip.MustParsePrefix("10.0.0.0/24")})
	require.NoError(t, err)
	in, err := cloud.AddInstance(fake.InstanceSpec{Type: "m5.large", SubnetID: subnet.ID})
	require.NoError(t, err)
	w := struct{ cloud *fake.Cloud }{cloud}
	w.cloud.SetFault(fake.ActionAttachNetworkInterface, func(fake.Call) error {
		return eni.NewAPIError(fake.ActionAttachNetworkInterface, "AttachmentLimitExceeded", "no")
	})
	m, err := ipam.NewManager(ipam.ManagerOptions{
		Cloud: metrics.InstrumentCloud(w.cloud), Cluster: "demo", Pool: ipam.PoolConfig{PreAllocate: 2}, Observer: metrics,
	})
	require.NoError(t, err)
	m.SetNode("n1", in.ID, 3, 10) // 15 needed: more than the primary interface's 9
	require.Error(t, m.Reconcile(t.Context()))
	w.cloud.SetFault(fake.ActionAttachNetworkInterface, nil)
	require.NoError(t, m.Reconcile(t.Context()))

	alloc, err := ipam.NewAllocator(ipam.AllocatorOptions{Observer: metrics})
	require.NoError(t, err)
	require.NoError(t, alloc.SetPool(m.Pool("n1")))
	_, err = alloc.Allocate("pod-a")
	require.NoError(t, err)
	metrics.ObserveRateLimitWait(0)

	expected := `
# HELP eniway_ipam_available_ips Pod addresses in the node's pool.
# TYPE eniway_ipam_available_ips gauge
eniway_ipam_available_ips{node="n1"} 15
# HELP eniway_ipam_interface_creations_total Network interfaces the manager created, by result (attached, failed).
# TYPE eniway_ipam_interface_creations_total counter
eniway_ipam_interface_creations_total{result="attached"} 1
eniway_ipam_interface_creations_total{result="failed"} 1
# HELP eniway_ipam_needed_ips Pod addresses the node's pool should hold: use, pending pods and pre-allocation.
# TYPE eniway_ipam_needed_ips gauge
eniway_ipam_needed_ips{node="n1"} 15
# HELP eniway_ipam_used_ips Pod addresses handed to pods on the node.
# TYPE eniway_ipam_used_ips gauge
eniway_ipam_used_ips{node="n1"} 3
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(expected),
		"eniway_ipam_available_ips", "eniway_ipam_needed_ips", "eniway_ipam_used_ips", "eniway_ipam_interface_creations_total"))

	calls := `
# HELP eniway_ipam_ec2_calls_total EC2 calls by action and outcome (ok, or the AWS error code, or error).
# TYPE eniway_ipam_ec2_calls_total counter
eniway_ipam_ec2_calls_total{action="AssignPrivateIpAddresses",outcome="ok"} 1
eniway_ipam_ec2_calls_total{action="AttachNetworkInterface",outcome="AttachmentLimitExceeded"} 1
eniway_ipam_ec2_calls_total{action="AttachNetworkInterface",outcome="ok"} 1
eniway_ipam_ec2_calls_total{action="CreateNetworkInterface",outcome="ok"} 2
eniway_ipam_ec2_calls_total{action="DeleteNetworkInterface",outcome="ok"} 1
eniway_ipam_ec2_calls_total{action="DescribeInstanceTypes",outcome="ok"} 1
eniway_ipam_ec2_calls_total{action="DescribeInstances",outcome="ok"} 2
eniway_ipam_ec2_calls_total{action="DescribeSubnets",outcome="ok"} 1
eniway_ipam_ec2_calls_total{action="ModifyNetworkInterfaceAttribute",outcome="ok"} 1
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(calls), "eniway_ipam_ec2_calls_total"))
	n, err := testutil.GatherAndCount(reg, "eniway_ipam_allocation_duration_seconds", "eniway_ipam_rate_limit_wait_seconds", "eniway_ipam_ec2_call_duration_seconds")
	require.NoError(t, err)
	require.Equal(t, 2+8, n, "two histograms, and latency for the 8 actions called")

	m.RemoveNode("n1")
	n, err = testutil.GatherAndCount(reg, "eniway_ipam_available_ips")
	require.NoError(t, err)
	require.Zero(t, n)

	var none *ipammetrics.Metrics
	require.Same(t, w.cloud, none.InstrumentCloud(w.cloud).(*fake.Cloud), "nil metrics record nothing")
}
