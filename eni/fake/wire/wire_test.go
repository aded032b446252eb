package wire_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/eni"
	"github.com/eniway/eniway/eni/fake"
	"github.com/eniway/eniway/eni/fake/wire"
)

type world struct {
	fake   *fake.Cloud
	subnet eni.Subnet
	inst   eni.Instance
	srv    *httptest.Server
	ec2    *ec2.Client
}

func newWorld(t *testing.T, opts fake.Options) *world {
	t.Helper()
	f := fake.New(opts)
	vpc, err := f.AddVPC(netip.MustParsePrefix("10.1.0.0/16"))
	require.NoError(t, err)
	subnet, err := f.AddSubnet(fake.SubnetSpec{VPCID: vpc, AvailabilityZone: "eu-west-1a", CIDR: netip.MustParsePrefix("10.1.0.0/24")})
	require.NoError(t, err)
	inst, err := f.AddInstance(fake.InstanceSpec{Type: "m5.large", SubnetID: subnet.ID})
	require.NoError(t, err)
	srv := httptest.NewServer(wire.NewHandler(f, nil))
	t.Cleanup(srv.Close)
	client := ec2.New(ec2.Options{
		Region:           "eu-west-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1,
		HTTPClient:       srv.Client(),
	})
	return &world{fake: f, subnet: subnet, inst: inst, srv: srv, ec2: client}
}

func TestPagination(t *testing.T) {
	w := newWorld(t, fake.Options{})
	var created []string
	for range 12 {
		e, err := w.fake.CreateENI(t.Context(), eni.CreateENIInput{SubnetID: w.subnet.ID})
		require.NoError(t, err)
		created = append(created, e.ID)
	}
	pages := 0
	var ids []string
	p := ec2.NewDescribeNetworkInterfacesPaginator(w.ec2, &ec2.DescribeNetworkInterfacesInput{
		MaxResults: aws.Int32(5),
		Filters:    []types.Filter{{Name: aws.String("subnet-id"), Values: []string{w.subnet.ID}}},
	})
	for p.HasMorePages() {
		out, err := p.NextPage(t.Context())
		require.NoError(t, err)
		pages++
		for _, ni := range out.NetworkInterfaces {
			ids = append(ids, aws.ToString(ni.NetworkInterfaceId))
		}
	}
	require.Equal(t, 3, pages, "13 interfaces in pages of 5")
	require.Len(t, ids, 13)
	require.True(t, slices.IsSorted(ids))
	for _, id := range created {
		require.Contains(t, ids, id)
	}
}

func TestCreateWithTagsThroughSDK(t *testing.T) {
	w := newWorld(t, fake.Options{})
	out, err := w.ec2.CreateNetworkInterface(t.Context(), &ec2.CreateNetworkInterfaceInput{
		SubnetId:                       aws.String(w.subnet.ID),
		SecondaryPrivateIpAddressCount: aws.Int32(2),
		TagSpecifications: []types.TagSpecification{{
			ResourceType: types.ResourceTypeNetworkInterface,
			Tags:         []types.Tag{{Key: aws.String("eniway.io/cluster"), Value: aws.String("demo")}},
		}},
	})
	require.NoError(t, err)
	ni := out.NetworkInterface
	require.Len(t, ni.PrivateIpAddresses, 3)
	require.True(t, aws.ToBool(ni.PrivateIpAddresses[0].Primary))
	require.Equal(t, types.NetworkInterfaceStatusAvailable, ni.Status)

	got, err := w.fake.DescribeENIs(t.Context(), eni.ENIFilter{Tags: eni.Tags{"eniway.io/cluster": "demo"}})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, aws.ToString(ni.NetworkInterfaceId), got[0].ID)
	require.Len(t, got[0].SecondaryIPs, 2)
}

func TestErrorsThroughSDK(t *testing.T) {
	w := newWorld(t, fake.Options{})
	_, err := w.ec2.DescribeNetworkInterfaces(t.Context(), &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{"eni-0000000000000dead"}})
	var apiErr smithy.APIError
	require.True(t, errors.As(err, &apiErr), "%v", err)
	require.Equal(t, "InvalidNetworkInterfaceID.NotFound", apiErr.ErrorCode())
	var respErr *smithyhttp.ResponseError
	require.True(t, errors.As(err, &respErr))
	require.Equal(t, http.StatusBadRequest, respErr.HTTPStatusCode())

	_, err = w.ec2.DescribeNetworkInterfaces(t.Context(), &ec2.DescribeNetworkInterfacesInput{
		Filters: []types.Filter{{Name: aws.String("owner-id"), Values: []string{"1"}}},
	})
	require.True(t, errors.As(err, &apiErr))
	require.Equal(t, "InvalidParameterValue", apiErr.ErrorCode())
}

func TestThrottlingThroughSDK(t *testing.T) {
	clock := fake.NewManualClock(time.Unix(1_700_000_000, 0))
	w := newWorld(t, fake.Options{Throttle: true, Clock: clock})
	// Unfiltered DescribeNetworkInterfaces: a bucket of 50.
	for i := range 50 {
		_, err := w.ec2.DescribeNetworkInterfaces(t.Context(), &ec2.DescribeNetworkInterfacesInput{})
		require.NoError(t, err, "call %d", i)
	}
	_, err := w.ec2.DescribeNetworkInterfaces(t.Context(), &ec2.DescribeNetworkInterfacesInput{})
	var apiErr smithy.APIError
	require.True(t, errors.As(err, &apiErr), "%v", err)
	require.Equal(t, "RequestLimitExceeded", apiErr.ErrorCode())
	var respErr *smithyhttp.ResponseError
	require.True(t, errors.As(err, &respErr))
	require.Equal(t, http.StatusServiceUnavailable, respErr.HTTPStatusCode())
	require.Equal(t, 1, w.fake.Throttled("DescribeNetworkInterfaces"))
	clock.Advance(time.Second) // refills 10
	_, err = w.ec2.DescribeNetworkInterfaces(t.Context(), &ec2.DescribeNetworkInterfacesInput{})
	require.NoError(t, err)
}

func TestProtocolErrors(t *testing.T) {
	w := newWorld(t, fake.Options{})
	for _, tc := range []struct {
		form   url.Values
		code   string
		status int
	}{
		{url.Values{"Action": {"RunInstances"}, "Version": {wire.Version}}, "InvalidAction", http.StatusBadRequest},
		{url.Values{"Action": {"DescribeSubnets"}, "Version": {"2014-01-01"}}, "InvalidParameterValue", http.StatusBadRequest},
		{url.Values{"Action": {"DescribeInstances"}, "Version": {wire.Version}}, "InvalidParameterValue", http.StatusBadRequest},
		{url.Values{"Action": {"AttachNetworkInterface"}, "Version": {wire.Version}, "NetworkInterfaceId": {"eni-1"}}, "MissingParameter", http.StatusBadRequest},
	} {
		resp, err := w.srv.Client().PostForm(w.srv.URL, tc.form)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, tc.status, resp.StatusCode, "%v", tc.form)
		require.Contains(t, string(body), "<Code>"+tc.code+"</Code>", "%v", tc.form)
		require.Contains(t, string(body), "<RequestID>")
	}
}

func TestDescribeInstanceThroughSDK(t *testing.T) {
	w := newWorld(t, fake.Options{})
	out, err := w.ec2.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{InstanceIds: []string{w.inst.ID}})
	require.NoError(t, err)
	require.Len(t, out.Reservations, 1)
	in := out.Reservations[0].Instances[0]
	require.Equal(t, types.InstanceType("m5.large"), in.InstanceType)
	require.Equal(t, "eu-west-1a", aws.ToString(in.Placement.AvailabilityZone))
	require.Len(t, in.NetworkInterfaces, 1)
	require.Equal(t, int32(0), aws.ToInt32(in.NetworkInterfaces[0].Attachment.DeviceIndex))
	require.Equal(t, w.inst.ENIs[0].PrimaryIP.String(), aws.ToString(in.PrivateIpAddress))

	types_, err := w.ec2.DescribeInstanceTypes(t.Context(), &ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{"m5.4xlarge"}})
	require.NoError(t, err)
	require.Equal(t, int32(8), aws.ToInt32(types_.InstanceTypes[0].NetworkInfo.MaximumNetworkInterfaces))
	require.Equal(t, int32(30), aws.ToInt32(types_.InstanceTypes[0].NetworkInfo.Ipv4AddressesPerInterface))
	require.Equal(t, types.InstanceTypeHypervisorNitro, types_.InstanceTypes[0].Hypervisor)
}
