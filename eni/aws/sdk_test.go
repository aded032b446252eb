package aws

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/eniway/eniway/eni"
)

// These tests run the real SDK client against an httptest.Server answering
// with hand-written EC2 Query XML: serialization, deserialization, the
// retryer and error mapping, for real.

// ec2Server answers requests with queued replies and records them.
type ec2Server struct {
	*httptest.Server
	mu      sync.Mutex
	forms   []url.Values
	auth    []string
	replies []reply
}

type reply struct {
	status int
	body   string
}

func newEC2Server(t *testing.T, replies ...reply) *ec2Server {
	t.Helper()
	s := &ec2Server{replies: replies}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, err := url.ParseQuery(string(body))
		s.mu.Lock()
		s.forms = append(s.forms, form)
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		var rep reply
		if len(s.replies) > 0 {
			rep, s.replies = s.replies[0], s.replies[1:]
		}
		s.mu.Unlock()
		if err != nil || r.Method != http.MethodPost || rep.status == 0 {
			rep = reply{http.StatusBadRequest, errorXML("InvalidRequest", "unexpected request")}
		}
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
		w.WriteHeader(rep.status)
		_, _ = io.WriteString(w, rep.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *ec2Server) requests() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.forms
}

func errorXML(code, msg string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>` + code + `</Code><Message>` + msg + `</Message></Error></Errors><RequestID>req-err</RequestID></Response>`
}

var throttled = reply{http.StatusServiceUnavailable, errorXML("RequestLimitExceeded", "Request limit exceeded.")}

const instanceTypesPage1 = `<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstanceTypesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>req-1</requestId>
  <instanceTypeSet>
    <item>
      <instanceType>m7g.xlarge</instanceType>
      <hypervisor>nitro</hypervisor>
      <bareMetal>false</bareMetal>
      <vCpuInfo><defaultVCpus>4</defaultVCpus><defaultCores>4</defaultCores></vCpuInfo>
      <networkInfo>
        <networkPerformance>Up to 12.5 Gigabit</networkPerformance>
        <maximumNetworkInterfaces>4</maximumNetworkInterfaces>
        <ipv4AddressesPerInterface>15</ipv4AddressesPerInterface>
        <ipv6AddressesPerInterface>15</ipv6AddressesPerInterface>
        <ipv6Supported>true</ipv6Supported>
      </networkInfo>
    </item>
  </instanceTypeSet>
  <nextToken>page-2</nextToken>
</DescribeInstanceTypesResponse>`

const instanceTypesPage2 = `<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstanceTypesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>req-2</requestId>
  <instanceTypeSet>
    <item>
      <instanceType>m5.large</instanceType>
      <hypervisor>nitro</hypervisor>
      <bareMetal>false</bareMetal>
      <vCpuInfo><defaultVCpus>2</defaultVCpus></vCpuInfo>
      <networkInfo>
        <maximumNetworkInterfaces>3</maximumNetworkInterfaces>
        <ipv4AddressesPerInterface>10</ipv4AddressesPerInterface>
        <ipv6AddressesPerInterface>10</ipv6AddressesPerInterface>
      </networkInfo>
    </item>
  </instanceTypeSet>
</DescribeInstanceTypesResponse>`

// isolateEnv keeps the developer's AWS configuration out of the test.
func isolateEnv(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": dir + "/config", "AWS_SHARED_CREDENTIALS_FILE": dir + "/credentials",
		"AWS_PROFILE": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "",
		"AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_EC2": "", "AWS_MAX_ATTEMPTS": "", "AWS_RETRY_MODE": "",
	} {
		t.Setenv(k, v)
	}
}

var static = credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")

func TestSDKDescribeInstanceTypes(t *testing.T) {
	isolateEnv(t)
	srv := newEC2Server(t,
		reply{http.StatusOK, instanceTypesPage1},
		reply{http.StatusOK, instanceTypesPage2},
		throttled,
		reply{http.StatusOK, instanceTypesPage2}, // never asked for: MaxAttempts 1
	)
	c, err := New(t.Context(), Options{
		Region: "us-east-1", BaseEndpoint: srv.URL, Credentials: static, MaxAttempts: 1, RateLimit: rate.Inf,
	})
	require.NoError(t, err)

	got, err := c.DescribeInstanceTypes(t.Context(), "m5.large", "m7g.xlarge")
	require.NoError(t, err)
	require.Equal(t, []eni.Limits{
		{InstanceType: "m5.large", MaxENIs: 3, IPv4PerENI: 10, IPv6PerENI: 10, Hypervisor: "nitro", VCPUs: 2},
		{InstanceType: "m7g.xlarge", MaxENIs: 4, IPv4PerENI: 15, IPv6PerENI: 15, Hypervisor: "nitro", VCPUs: 4},
	}, got)
	require.Equal(t, 14, got[1].MaxSecondaryIPv4())

	reqs := srv.requests()
	require.Len(t, reqs, 2)
	for i, r := range reqs {
		require.Equal(t, "DescribeInstanceTypes", r.Get("Action"))
		require.Equal(t, "2016-11-15", r.Get("Version"))
		require.Equal(t, "m5.large", r.Get("InstanceType.1"))
		require.Equal(t, "m7g.xlarge", r.Get("InstanceType.2"))
		require.Empty(t, r.Get("MaxResults"))
		require.Contains(t, srv.auth[i], "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
		require.Contains(t, srv.auth[i], "/us-east-1/ec2/aws4_request")
	}
	require.Empty(t, reqs[0].Get("NextToken"))
	require.Equal(t, "page-2", reqs[1].Get("NextToken"))

	_, err = c.DescribeInstanceTypes(t.Context(), "m5.large")
	require.ErrorIs(t, err, eni.ErrThrottled)
	var apiErr *eni.APIError
	require.True(t, errors.As(err, &apiErr))
	require.Equal(t, eni.APIError{Action: "DescribeInstanceTypes", Code: "RequestLimitExceeded", Message: "Request limit exceeded."}, *apiErr)
	require.Len(t, srv.requests(), 3, "MaxAttempts 1: no retry")
}

// noBackoff is an SDK configuration whose retryer retries at once.
func noBackoff() *aws.Config {
	return &aws.Config{
		Region:      "us-east-1",
		Credentials: static,
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		},
	}
}

func TestSDKRetriesDrawFromLimiter(t *testing.T) {
	t.Run("retry takes a token", func(t *testing.T) {
		srv := newEC2Server(t, throttled, reply{http.StatusOK, instanceTypesPage2})
		c, err := New(t.Context(), Options{Config: noBackoff(), BaseEndpoint: srv.URL, MaxAttempts: 2, RateLimit: 0.001, Burst: 2})
		require.NoError(t, err)
		got, err := c.DescribeInstanceTypes(t.Context(), "m5.large")
		require.NoError(t, err, "the retry succeeds")
		require.Equal(t, "m5.large", got[0].InstanceType)
		require.Len(t, srv.requests(), 2)
		require.Less(t, c.limiter.Tokens(), 0.5, "both attempts took a token")
	})
	t.Run("retry waits for a token", func(t *testing.T) {
		srv := newEC2Server(t, throttled, reply{http.StatusOK, instanceTypesPage2})
		c, err := New(t.Context(), Options{Config: noBackoff(), BaseEndpoint: srv.URL, MaxAttempts: 2, RateLimit: 1, Burst: 1})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		_, err = c.DescribeInstanceTypes(ctx, "m5.large")
		require.ErrorIs(t, err, context.DeadlineExceeded, "the retry's token comes after the deadline")
		require.Len(t, srv.requests(), 1, "the retry was never sent")
	})
}

const createdENI = `<?xml version="1.0" encoding="UTF-8"?>
<CreateNetworkInterfaceResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>req-3</requestId>
  <networkInterface>
    <networkInterfaceId>eni-0123</networkInterfaceId>
    <subnetId>subnet-1</subnetId>
    <vpcId>vpc-1</vpcId>
    <availabilityZone>us-east-1a</availabilityZone>
    <description>pods</description>
    <macAddress>02:00:00:00:00:01</macAddress>
    <privateIpAddress>10.0.1.10</privateIpAddress>
    <status>pending</status>
    <groupSet><item><groupId>sg-1</groupId><groupName>nodes</groupName></item></groupSet>
    <privateIpAddressesSet>
      <item><privateIpAddress>10.0.1.10</privateIpAddress><primary>true</primary></item>
      <item><privateIpAddress>10.0.1.11</privateIpAddress><primary>false</primary></item>
    </privateIpAddressesSet>
    <tagSet><item><key>eniway.io/cluster</key><value>demo</value></item></tagSet>
  </networkInterface>
</CreateNetworkInterfaceResponse>`

func TestSDKCreateENI(t *testing.T) {
	srv := newEC2Server(t, throttled, reply{http.StatusOK, createdENI})
	c, err := New(t.Context(), Options{Config: noBackoff(), BaseEndpoint: srv.URL, MaxAttempts: 2, RateLimit: rate.Inf})
	require.NoError(t, err)
	e, err := c.CreateENI(t.Context(), eni.CreateENIInput{
		SubnetID: "subnet-1", SecurityGroupIDs: []string{"sg-1"}, Description: "pods", SecondaryIPs: 1,
		Tags: eni.Tags{"eniway.io/cluster": "demo"},
	})
	require.NoError(t, err)
	require.Equal(t, eni.ENI{
		ID: "eni-0123", SubnetID: "subnet-1", VPCID: "vpc-1", AvailabilityZone: "us-east-1a", MAC: "02:00:00:00:00:01",
		Description: "pods", SecurityGroupIDs: []string{"sg-1"}, PrimaryIP: netip.MustParseAddr("10.0.1.10"),
		SecondaryIPs: []netip.Addr{netip.MustParseAddr("10.0.1.11")}, Status: "pending",
		Tags: eni.Tags{"eniway.io/cluster": "demo"},
	}, e)

	reqs := srv.requests()
	require.Len(t, reqs, 2)
	want := url.Values{
		"Action":                          {"CreateNetworkInterface"},
		"Version":                         {"2016-11-15"},
		"SubnetId":                        {"subnet-1"},
		"SecurityGroupId.1":               {"sg-1"},
		"Description":                     {"pods"},
		"SecondaryPrivateIpAddressCount":  {"1"},
		"TagSpecification.1.ResourceType": {"network-interface"},
		"TagSpecification.1.Tag.1.Key":    {"eniway.io/cluster"},
		"TagSpecification.1.Tag.1.Value":  {"demo"},
	}
	token := reqs[0].Get("ClientToken")
	require.NotEmpty(t, token, "the SDK fills in the idempotency token")
	require.Equal(t, token, reqs[1].Get("ClientToken"), "the retry reuses it: no second interface")
	for _, r := range reqs {
		r.Del("ClientToken")
		require.Equal(t, want, r)
	}
}

func TestSDKErrorXML(t *testing.T) {
	for _, tc := range []struct {
		status   int
		code     string
		sentinel error
	}{
		{http.StatusBadRequest, "InsufficientCidrBlocks", eni.ErrInsufficientCIDRBlocks},
		{http.StatusBadRequest, "InvalidNetworkInterfaceID.NotFound", eni.ErrENINotFound},
		{http.StatusForbidden, "UnauthorizedOperation", eni.ErrUnauthorized},
	} {
		t.Run(tc.code, func(t *testing.T) {
			srv := newEC2Server(t, reply{tc.status, errorXML(tc.code, "no")})
			c, err := New(t.Context(), Options{Config: noBackoff(), BaseEndpoint: srv.URL, MaxAttempts: 3, RateLimit: rate.Inf})
			require.NoError(t, err)
			_, err = c.AssignPrefixes(t.Context(), "eni-1", 1)
			require.ErrorIs(t, err, tc.sentinel)
			var apiErr *eni.APIError
			require.True(t, errors.As(err, &apiErr))
			require.Equal(t, tc.code, apiErr.Code)
			require.Equal(t, "AssignPrivateIpAddresses", apiErr.Action)
			require.Len(t, srv.requests(), 1, "client errors are not retried")
			require.Equal(t, "1", srv.requests()[0].Get("Ipv4PrefixCount"))
			require.True(t, strings.HasPrefix(srv.requests()[0].Get("NetworkInterfaceId"), "eni-"))
		})
	}
}
