package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/eniway/eniway/eni"
	eniaws "github.com/eniway/eniway/eni/aws"
)

// syncBuffer is a bytes.Buffer that run may write while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var (
	endpointLine = regexp.MustCompile(`(?m)^endpoint: (http://\S+) `)
	instanceLine = regexp.MustCompile(`(?m)^instance  (i-[0-9a-f]{17})  (\S+)  (subnet-[0-9a-f]{17})  `)
)

func TestRunServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{
			"-listen", "127.0.0.1:0", "-subnets", "3", "-az", "eu-west-3a,eu-west-3b",
			"-instances", "m5.large=2,m5.4xlarge=1", "-throttle", "-latency", "1ms",
		}, &out)
	}()
	var endpoint string
	require.Eventually(t, func() bool {
		m := endpointLine.FindStringSubmatch(out.String())
		if m != nil {
			endpoint = m[1]
		}
		return m != nil
	}, 10*time.Second, 5*time.Millisecond, "the endpoint is printed: %s", out.String())
	printed := out.String()
	require.Contains(t, printed, "--endpoint-url "+endpoint+" --region eu-west-3 ec2 ")
	require.Contains(t, printed, `BaseEndpoint "`+endpoint+`"`)
	instances := instanceLine.FindAllStringSubmatch(printed, -1)
	require.Len(t, instances, 3, printed)

	// One real SDK call, through eni/aws, per kind of resource printed.
	cloud, err := eniaws.New(t.Context(), eniaws.Options{
		Region:       "eu-west-3",
		BaseEndpoint: endpoint,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		RateLimit:    rate.Inf,
	})
	require.NoError(t, err)
	in, err := cloud.DescribeInstance(t.Context(), instances[2][1])
	require.NoError(t, err)
	require.Equal(t, "m5.4xlarge", in.Type)
	require.Equal(t, instances[2][3], in.SubnetID)
	require.Len(t, in.ENIs, 1)

	subnets, err := cloud.DescribeSubnets(t.Context(), eni.SubnetFilter{})
	require.NoError(t, err)
	require.Len(t, subnets, 3)
	for i, want := range []struct{ cidr, az string }{
		{"10.0.0.0/18", "eu-west-3a"}, {"10.0.64.0/18", "eu-west-3b"}, {"10.0.128.0/18", "eu-west-3a"},
	} {
		require.Equal(t, netip.MustParsePrefix(want.cidr), subnets[i].CIDR)
		require.Equal(t, want.az, subnets[i].AvailabilityZone)
	}

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, "clean shutdown")
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	require.Contains(t, out.String(), "\nstopped\n")
	u, err := url.Parse(endpoint)
	require.NoError(t, err)
	_, err = net.Dial("tcp", u.Host)
	require.Error(t, err, "the listener is closed")
}

func TestRunRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"-bogus"}, "bogus"},
		{"arguments", []string{"extra"}, "unexpected arguments"},
		{"bad CIDR", []string{"-vpc-cidr", "10.0.0.0"}, "-vpc-cidr"},
		{"host bits", []string{"-vpc-cidr", "10.0.0.1/16"}, "host bits"},
		{"IPv6", []string{"-vpc-cidr", "fd00::/56"}, "IPv4"},
		{"VPC too big", []string{"-vpc-cidr", "10.0.0.0/8", "-subnets", "1"}, "InvalidVpc.Range"},
		{"no subnets", []string{"-subnets", "0"}, "-subnets"},
		{"too many subnets", []string{"-vpc-cidr", "10.0.0.0/24", "-subnets", "17"}, "-subnets"},
		{"no zone", []string{"-az", " , "}, "-az"},
		{"bad instances", []string{"-instances", "m5.large"}, "type=count"},
		{"negative count", []string{"-instances", "m5.large=-1"}, "type=count"},
		{"unknown type", []string{"-instances", "x9.nonexistent=1"}, "x9.nonexistent"},
		{"full subnet", []string{"-vpc-cidr", "10.0.0.0/28", "-subnets", "1", "-instances", "m5.large=12"}, "InsufficientFreeAddressesInSubnet"},
		{"negative latency", []string{"-latency", "-1s"}, "-latency"},
		{"bad listen", []string{"-listen", "256.0.0.1:0"}, "256.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorContains(t, run(t.Context(), tc.args, io.Discard), tc.want)
		})
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		vpc  string
		n    int
		want []string
	}{
		{"10.0.0.0/16", 1, []string{"10.0.0.0/16"}},
		{"10.0.0.0/16", 2, []string{"10.0.0.0/17", "10.0.128.0/17"}},
		{"10.0.0.0/16", 3, []string{"10.0.0.0/18", "10.0.64.0/18", "10.0.128.0/18"}},
		{"192.168.0.0/24", 16, nil}, // 16 /28s
		{"172.16.0.0/12", 2, []string{"172.16.0.0/16", "172.17.0.0/16"}},
	} {
		got, err := split(netip.MustParsePrefix(tc.vpc), tc.n)
		require.NoError(t, err)
		require.Len(t, got, tc.n)
		if tc.want != nil {
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			require.Equal(t, tc.want, s)
		}
		for _, p := range got {
			require.LessOrEqual(t, p.Bits(), 28)
			require.GreaterOrEqual(t, p.Bits(), 16)
		}
	}
}
