package aws

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/eniway/eniway/eni"
)

// newCloud returns a Cloud over f with no rate limit.
func newCloud(t *testing.T, f *fakeEC2) *Cloud {
	t.Helper()
	c, err := New(t.Context(), Options{Client: f, RateLimit: rate.Inf})
	require.NoError(t, err)
	return c
}

func filt(name string, values ...string) types.Filter {
	return types.Filter{Name: aws.String(name), Values: values}
}

func tag(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }

// requireInvalid checks that err is a client-side ErrInvalidParameter and
// that no request was made.
func requireInvalid(t *testing.T, f *fakeEC2, err error) {
	t.Helper()
	require.ErrorIs(t, err, eni.ErrInvalidParameter)
	var apiErr *eni.APIError
	require.False(t, errors.As(err, &apiErr), "client-side refusal %v must not be an APIError", err)
	require.Zero(t, f.count(), "no request")
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		o       Options
		wantErr bool
	}{
		{"zero", Options{}, false},
		{"full", Options{Region: "us-east-1", BaseEndpoint: "http://127.0.0.1:8080", RateLimit: 10, Burst: 5, MaxAttempts: 1, Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}, false},
		{"client", Options{Client: newFake(), RateLimit: rate.Inf, Logger: slog.Default()}, false},
		{"negative rate", Options{RateLimit: -1}, true},
		{"NaN rate", Options{RateLimit: rate.Limit(math.NaN())}, true},
		{"negative burst", Options{Burst: -1}, true},
		{"negative attempts", Options{MaxAttempts: -1}, true},
		{"relative endpoint", Options{BaseEndpoint: "127.0.0.1:8080"}, true},
		{"ftp endpoint", Options{BaseEndpoint: "ftp://example.com"}, true},
		{"client and region", Options{Client: newFake(), Region: "us-east-1"}, true},
		{"client and endpoint", Options{Client: newFake(), BaseEndpoint: "http://127.0.0.1"}, true},
		{"client and config", Options{Client: newFake(), Config: &aws.Config{}}, true},
		{"client and credentials", Options{Client: newFake(), Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}, true},
		{"client and attempts", Options{Client: newFake(), MaxAttempts: 2}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if !tc.wantErr {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			_, err = New(t.Context(), tc.o)
			require.Error(t, err, "New validates")
		})
	}
}

func TestOptionsDefaults(t *testing.T) {
	d := Options{}.withDefaults()
	require.Equal(t, DefaultRateLimit, d.RateLimit)
	require.Equal(t, DefaultBurst, d.Burst)
	require.Equal(t, DefaultMaxAttempts, d.MaxAttempts)
	require.NotNil(t, d.Logger)
	require.False(t, d.Logger.Enabled(t.Context(), slog.LevelError), "nil Logger discards")
	require.NoError(t, d.Validate(), "defaults are valid")

	// Explicit values stay; a caller's client keeps its own retryer.
	set := Options{RateLimit: rate.Inf, Burst: 1, MaxAttempts: 1}.withDefaults()
	require.Equal(t, rate.Inf, set.RateLimit)
	require.Equal(t, 1, set.Burst)
	require.Equal(t, 1, set.MaxAttempts)
	require.Zero(t, Options{Client: newFake()}.withDefaults().MaxAttempts)

	// The defaults stay under the smallest EC2 bucket (refill 5/s, size 50).
	require.LessOrEqual(t, float64(DefaultRateLimit), 5.0)
	require.Less(t, DefaultBurst, 50)

	c, err := New(t.Context(), Options{Client: newFake()})
	require.NoError(t, err)
	require.Equal(t, DefaultRateLimit, c.limiter.Limit())
	require.Equal(t, DefaultBurst, c.limiter.Burst())
}

func TestNewNeedsRegion(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	_, err := New(t.Context(), Options{Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
	require.ErrorContains(t, err, "no AWS region")

	c, err := New(t.Context(), Options{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
	require.NoError(t, err)
	client, ok := c.client.(*ec2.Client)
	require.True(t, ok)
	require.Equal(t, "eu-west-1", client.Options().Region)
	require.Equal(t, DefaultMaxAttempts, client.Options().RetryMaxAttempts)
}

func TestIAMActions(t *testing.T) {
	var methods []string
	api := reflect.TypeFor[EC2API]()
	for i := range api.NumMethod() {
		methods = append(methods, "ec2:"+api.Method(i).Name)
	}
	slices.Sort(methods)
	require.Equal(t, methods, IAMActions())
}

func TestDescribeENIsFilters(t *testing.T) {
	for _, tc := range []struct {
		name        string
		f           eni.ENIFilter
		wantIDs     []string
		wantFilters []types.Filter
		wantMax     *int32
	}{
		{name: "zero", f: eni.ENIFilter{}, wantMax: aws.Int32(1000)},
		{name: "IDs", f: eni.ENIFilter{IDs: []string{"eni-2", "eni-1"}}, wantIDs: []string{"eni-2", "eni-1"}},
		{
			name: "every field",
			f: eni.ENIFilter{
				IDs: []string{"eni-1"}, InstanceID: "i-1", SubnetID: "subnet-1", VPCID: "vpc-1", Status: eni.StatusAvailable,
				Tags: eni.Tags{"eniway.io/node": "n1", "eniway.io/cluster": ""},
			},
			wantIDs: []string{"eni-1"},
			wantFilters: []types.Filter{
				filt("attachment.instance-id", "i-1"),
				filt("subnet-id", "subnet-1"),
				filt("vpc-id", "vpc-1"),
				filt("status", "available"),
				filt("tag-key", "eniway.io/cluster"),
				filt("tag:eniway.io/node", "n1"),
			},
		},
		{
			name:        "wildcards escaped",
			f:           eni.ENIFilter{Tags: eni.Tags{"k": `a*b?c\`}},
			wantFilters: []types.Filter{filt("tag:k", `a\*b\?c\\`)},
			wantMax:     aws.Int32(1000),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			_, err := newCloud(t, f).DescribeENIs(t.Context(), tc.f)
			require.NoError(t, err)
			in := f.inputs("DescribeNetworkInterfaces")
			require.Len(t, in, 1)
			got := in[0].(*ec2.DescribeNetworkInterfacesInput)
			require.Equal(t, tc.wantIDs, got.NetworkInterfaceIds)
			require.Equal(t, tc.wantFilters, got.Filters)
			require.Equal(t, tc.wantMax, got.MaxResults)
		})
	}
}

// fullENI is an SDK interface with every field package eni reads, and want
// what it converts to.
func fullENI() (types.NetworkInterface, eni.ENI) {
	n := types.NetworkInterface{
		NetworkInterfaceId: aws.String("eni-b"),
		SubnetId:           aws.String("subnet-1"),
		VpcId:              aws.String("vpc-1"),
		AvailabilityZone:   aws.String("us-east-1a"),
		MacAddress:         aws.String("02:00:00:00:00:01"),
		Description:        aws.String("pods"),
		Groups:             []types.GroupIdentifier{{GroupId: aws.String("sg-2")}, {GroupId: aws.String("sg-1")}},
		PrivateIpAddress:   aws.String("10.0.1.10"),
		PrivateIpAddresses: []types.NetworkInterfacePrivateIpAddress{
			{Primary: aws.Bool(true), PrivateIpAddress: aws.String("10.0.1.10")},
			{Primary: aws.Bool(false), PrivateIpAddress: aws.String("10.0.1.12")},
			{PrivateIpAddress: aws.String("10.0.1.11")},
		},
		Ipv4Prefixes: []types.Ipv4PrefixSpecification{{Ipv4Prefix: aws.String("10.0.1.32/28")}, {Ipv4Prefix: aws.String("10.0.1.16/28")}},
		Status:       types.NetworkInterfaceStatusInUse,
		Attachment: &types.NetworkInterfaceAttachment{
			AttachmentId: aws.String("eni-attach-1"), InstanceId: aws.String("i-1"),
			DeviceIndex: aws.Int32(2), NetworkCardIndex: aws.Int32(1), DeleteOnTermination: aws.Bool(true),
			Status: types.AttachmentStatusAttached,
		},
		TagSet: []types.Tag{tag("eniway.io/cluster", "demo")},
	}
	want := eni.ENI{
		ID: "eni-b", SubnetID: "subnet-1", VPCID: "vpc-1", AvailabilityZone: "us-east-1a",
		MAC: "02:00:00:00:00:01", Description: "pods", SecurityGroupIDs: []string{"sg-2", "sg-1"},
		PrimaryIP:    netip.MustParseAddr("10.0.1.10"),
		SecondaryIPs: []netip.Addr{netip.MustParseAddr("10.0.1.12"), netip.MustParseAddr("10.0.1.11")},
		Prefixes:     []netip.Prefix{netip.MustParsePrefix("10.0.1.32/28"), netip.MustParsePrefix("10.0.1.16/28")},
		Status:       eni.StatusInUse,
		Attachment:   &eni.Attachment{ID: "eni-attach-1", InstanceID: "i-1", DeviceIndex: 2, NetworkCardIndex: 1, DeleteOnTermination: true},
		Tags:         eni.Tags{"eniway.io/cluster": "demo"},
	}
	return n, want
}

func TestDescribeENIsPages(t *testing.T) {
	n, want := fullENI()
	detached := types.NetworkInterface{
		NetworkInterfaceId: aws.String("eni-c"), Status: types.NetworkInterfaceStatusAvailable,
		PrivateIpAddress: aws.String("10.0.1.20"),
		Attachment:       &types.NetworkInterfaceAttachment{AttachmentId: aws.String("eni-attach-old"), Status: types.AttachmentStatusDetached},
	}
	f := newFake().on("DescribeNetworkInterfaces",
		&ec2.DescribeNetworkInterfacesOutput{NetworkInterfaces: []types.NetworkInterface{n, detached}, NextToken: aws.String("1")},
		&ec2.DescribeNetworkInterfacesOutput{NextToken: aws.String("2")}, // EC2 may return empty pages
		&ec2.DescribeNetworkInterfacesOutput{NetworkInterfaces: []types.NetworkInterface{
			{NetworkInterfaceId: aws.String("eni-a"), Status: types.NetworkInterfaceStatusAvailable},
			n, // seen again on a later page
		}},
	)
	got, err := newCloud(t, f).DescribeENIs(t.Context(), eni.ENIFilter{VPCID: "vpc-1"})
	require.NoError(t, err)
	require.Equal(t, []string{"eni-a", "eni-b", "eni-c"}, ids(got))
	require.Equal(t, want, got[1])
	require.Nil(t, got[2].Attachment, "a detached attachment is no attachment")
	require.Nil(t, got[0].Tags)

	in := f.inputs("DescribeNetworkInterfaces")
	require.Len(t, in, 3, "every page")
	for i, tok := range []*string{nil, aws.String("1"), aws.String("2")} {
		req := in[i].(*ec2.DescribeNetworkInterfacesInput)
		require.Equal(t, tok, req.NextToken)
		require.Equal(t, aws.Int32(1000), req.MaxResults)
		require.Equal(t, []types.Filter{filt("vpc-id", "vpc-1")}, req.Filters)
	}
}

func ids(enis []eni.ENI) []string {
	var s []string
	for _, e := range enis {
		s = append(s, e.ID)
	}
	return s
}

func TestDescribeENIsTagKeys(t *testing.T) {
	withTags := func(id string, tags ...types.Tag) types.NetworkInterface {
		return types.NetworkInterface{NetworkInterfaceId: aws.String(id), TagSet: tags}
	}
	f := newFake().on("DescribeNetworkInterfaces", &ec2.DescribeNetworkInterfacesOutput{NetworkInterfaces: []types.NetworkInterface{
		withTags("eni-1", tag("a", "x"), tag("b", "y")),
		withTags("eni-2", tag("a", "x")), // no b
	}})
	got, err := newCloud(t, f).DescribeENIs(t.Context(), eni.ENIFilter{Tags: eni.Tags{"a": "", "b": ""}})
	require.NoError(t, err)
	require.Equal(t, []string{"eni-1"}, ids(got), "every key must be present")
	req := f.inputs("DescribeNetworkInterfaces")[0].(*ec2.DescribeNetworkInterfacesInput)
	require.Equal(t, []types.Filter{filt("tag-key", "a")}, req.Filters, "one single-valued tag-key filter; the rest checked here")
}

func TestDescribeInstance(t *testing.T) {
	ni := func(id string, device int32, ip string) types.InstanceNetworkInterface {
		return types.InstanceNetworkInterface{
			NetworkInterfaceId: aws.String(id), SubnetId: aws.String("subnet-1"), VpcId: aws.String("vpc-1"),
			PrivateIpAddress: aws.String(ip), Status: types.NetworkInterfaceStatusInUse,
			Groups:             []types.GroupIdentifier{{GroupId: aws.String("sg-1")}},
			PrivateIpAddresses: []types.InstancePrivateIpAddress{{Primary: aws.Bool(true), PrivateIpAddress: aws.String(ip)}},
			Attachment: &types.InstanceNetworkInterfaceAttachment{
				AttachmentId: aws.String("att-" + id), DeviceIndex: aws.Int32(device), NetworkCardIndex: aws.Int32(0),
				DeleteOnTermination: aws.Bool(device == 0), Status: types.AttachmentStatusAttached,
			},
		}
	}
	primary := ni("eni-0", 0, "10.0.1.4")
	primary.PrivateIpAddresses = append(primary.PrivateIpAddresses, types.InstancePrivateIpAddress{PrivateIpAddress: aws.String("10.0.1.5")})
	primary.Ipv4Prefixes = []types.InstanceIpv4Prefix{{Ipv4Prefix: aws.String("10.0.1.16/28")}}
	f := newFake().on("DescribeInstances", &ec2.DescribeInstancesOutput{Reservations: []types.Reservation{{Instances: []types.Instance{{
		InstanceId: aws.String("i-1"), InstanceType: types.InstanceTypeM5Large, VpcId: aws.String("vpc-1"), SubnetId: aws.String("subnet-1"),
		Placement:         &types.Placement{AvailabilityZone: aws.String("us-east-1a")},
		NetworkInterfaces: []types.InstanceNetworkInterface{ni("eni-2", 2, "10.0.1.7"), primary, ni("eni-1", 1, "10.0.1.6")},
	}}}}})
	c := newCloud(t, f)
	in, err := c.DescribeInstance(t.Context(), "i-1")
	require.NoError(t, err)
	require.Equal(t, "i-1", in.ID)
	require.Equal(t, "m5.large", in.Type)
	require.Equal(t, "vpc-1", in.VPCID)
	require.Equal(t, "subnet-1", in.SubnetID)
	require.Equal(t, "us-east-1a", in.AvailabilityZone)
	require.Equal(t, []string{"eni-0", "eni-1", "eni-2"}, ids(in.ENIs), "ordered by device index")
	require.Equal(t, eni.ENI{
		ID: "eni-0", SubnetID: "subnet-1", VPCID: "vpc-1", AvailabilityZone: "us-east-1a",
		SecurityGroupIDs: []string{"sg-1"}, PrimaryIP: netip.MustParseAddr("10.0.1.4"),
		SecondaryIPs: []netip.Addr{netip.MustParseAddr("10.0.1.5")},
		Prefixes:     []netip.Prefix{netip.MustParsePrefix("10.0.1.16/28")},
		Status:       eni.StatusInUse,
		Attachment:   &eni.Attachment{ID: "att-eni-0", InstanceID: "i-1", DeleteOnTermination: true},
	}, in.ENIs[0])
	req := f.inputs("DescribeInstances")[0].(*ec2.DescribeInstancesInput)
	require.Equal(t, []string{"i-1"}, req.InstanceIds)
	require.Nil(t, req.MaxResults, "EC2 refuses MaxResults with InstanceIds")

	_, err = c.DescribeInstance(t.Context(), "i-2")
	require.ErrorIs(t, err, eni.ErrInstanceNotFound, "an answer without the instance")

	f = newFake()
	_, err = newCloud(t, f).DescribeInstance(t.Context(), "")
	requireInvalid(t, f, err)
}

func instanceType(name string, hv types.InstanceTypeHypervisor, metal bool, vcpus, enis, ipv4, ipv6 int32) types.InstanceTypeInfo {
	return types.InstanceTypeInfo{
		InstanceType: types.InstanceType(name), Hypervisor: hv, BareMetal: aws.Bool(metal),
		VCpuInfo: &types.VCpuInfo{DefaultVCpus: aws.Int32(vcpus)},
		NetworkInfo: &types.NetworkInfo{
			MaximumNetworkInterfaces: aws.Int32(enis), Ipv4AddressesPerInterface: aws.Int32(ipv4), Ipv6AddressesPerInterface: aws.Int32(ipv6),
		},
	}
}

func TestDescribeInstanceTypes(t *testing.T) {
	f := newFake().on("DescribeInstanceTypes",
		&ec2.DescribeInstanceTypesOutput{NextToken: aws.String("1"), InstanceTypes: []types.InstanceTypeInfo{
			instanceType("t2.medium", types.InstanceTypeHypervisorXen, false, 2, 3, 6, 6),
			instanceType("m5.large", types.InstanceTypeHypervisorNitro, false, 2, 3, 10, 10),
		}},
		&ec2.DescribeInstanceTypesOutput{InstanceTypes: []types.InstanceTypeInfo{
			instanceType("m5.metal", "", true, 96, 15, 50, 50),
		}},
	)
	c := newCloud(t, f)
	got, err := c.DescribeInstanceTypes(t.Context(), "m5.large", "m5.metal", "t2.medium", "m5.large")
	require.NoError(t, err)
	require.Equal(t, []eni.Limits{
		{InstanceType: "m5.large", MaxENIs: 3, IPv4PerENI: 10, IPv6PerENI: 10, Hypervisor: "nitro", VCPUs: 2},
		{InstanceType: "m5.metal", MaxENIs: 15, IPv4PerENI: 50, IPv6PerENI: 50, BareMetal: true, VCPUs: 96},
		{InstanceType: "t2.medium", MaxENIs: 3, IPv4PerENI: 6, IPv6PerENI: 6, Hypervisor: "xen", VCPUs: 2},
		{InstanceType: "m5.large", MaxENIs: 3, IPv4PerENI: 10, IPv6PerENI: 10, Hypervisor: "nitro", VCPUs: 2},
	}, got, "in the order asked")
	require.True(t, got[1].PrefixDelegation())
	require.False(t, got[2].PrefixDelegation())
	in := f.inputs("DescribeInstanceTypes")
	require.Len(t, in, 2)
	require.Equal(t, []types.InstanceType{"m5.large", "m5.metal", "t2.medium"}, in[0].(*ec2.DescribeInstanceTypesInput).InstanceTypes, "each type once")

	_, err = c.DescribeInstanceTypes(t.Context(), "m5.large", "x9.nonexistent")
	require.ErrorIs(t, err, eni.ErrInvalidParameter, "a type missing from the answer")

	f = newFake()
	_, err = newCloud(t, f).DescribeInstanceTypes(t.Context(), "m5.large", "")
	requireInvalid(t, f, err)
}

func TestDescribeAllInstanceTypes(t *testing.T) {
	f := newFake().on("DescribeInstanceTypes",
		&ec2.DescribeInstanceTypesOutput{NextToken: aws.String("1"), InstanceTypes: []types.InstanceTypeInfo{
			instanceType("t2.medium", types.InstanceTypeHypervisorXen, false, 2, 3, 6, 6),
			instanceType("m5.large", types.InstanceTypeHypervisorNitro, false, 2, 3, 10, 10),
		}},
		&ec2.DescribeInstanceTypesOutput{InstanceTypes: []types.InstanceTypeInfo{
			instanceType("m5.4xlarge", types.InstanceTypeHypervisorNitro, false, 16, 8, 30, 30),
		}},
	)
	got, err := newCloud(t, f).DescribeInstanceTypes(t.Context())
	require.NoError(t, err)
	var names []string
	for _, l := range got {
		names = append(names, l.InstanceType)
	}
	require.Equal(t, []string{"m5.4xlarge", "m5.large", "t2.medium"}, names, "every type, by name")
	in := f.inputs("DescribeInstanceTypes")
	require.Len(t, in, 2, "every page")
	for _, req := range in {
		require.Empty(t, req.(*ec2.DescribeInstanceTypesInput).InstanceTypes)
		require.Equal(t, aws.Int32(100), req.(*ec2.DescribeInstanceTypesInput).MaxResults)
	}
}

func TestDescribeInstanceTypesChunks(t *testing.T) {
	var names []string
	var infos []types.InstanceTypeInfo
	for i := range 150 {
		name := "x" + strconv.Itoa(1000+i) + ".large"
		names = append(names, name)
		infos = append(infos, instanceType(name, types.InstanceTypeHypervisorNitro, false, 2, 3, 10, 10))
	}
	f := newFake().on("DescribeInstanceTypes", &ec2.DescribeInstanceTypesOutput{InstanceTypes: infos})
	got, err := newCloud(t, f).DescribeInstanceTypes(t.Context(), names...)
	require.NoError(t, err)
	require.Len(t, got, 150)
	in := f.inputs("DescribeInstanceTypes")
	require.Len(t, in, 2)
	require.Len(t, in[0].(*ec2.DescribeInstanceTypesInput).InstanceTypes, 100)
	require.Len(t, in[1].(*ec2.DescribeInstanceTypesInput).InstanceTypes, 50)
}

func TestDescribeSubnets(t *testing.T) {
	subnet := func(id, cidr string, free int32, tags ...types.Tag) types.Subnet {
		return types.Subnet{
			SubnetId: aws.String(id), VpcId: aws.String("vpc-1"), AvailabilityZone: aws.String("us-east-1a"),
			CidrBlock: aws.String(cidr), AvailableIpAddressCount: aws.Int32(free), Tags: tags,
		}
	}
	f := newFake().on("DescribeSubnets",
		&ec2.DescribeSubnetsOutput{NextToken: aws.String("1"), Subnets: []types.Subnet{subnet("subnet-b", "10.0.2.0/28", 11)}},
		&ec2.DescribeSubnetsOutput{Subnets: []types.Subnet{subnet("subnet-a", "10.0.1.0/24", 250, tag("eniway.io/pool", "a"))}},
	)
	c := newCloud(t, f)
	got, err := c.DescribeSubnets(t.Context(), eni.SubnetFilter{VPCID: "vpc-1", AvailabilityZone: "us-east-1a", Tags: eni.Tags{"eniway.io/pool": ""}})
	require.NoError(t, err)
	require.Equal(t, []eni.Subnet{
		{ID: "subnet-a", VPCID: "vpc-1", AvailabilityZone: "us-east-1a", CIDR: netip.MustParsePrefix("10.0.1.0/24"), AvailableIPs: 250, Tags: eni.Tags{"eniway.io/pool": "a"}},
		{ID: "subnet-b", VPCID: "vpc-1", AvailabilityZone: "us-east-1a", CIDR: netip.MustParsePrefix("10.0.2.0/28"), AvailableIPs: 11},
	}, got)
	req := f.inputs("DescribeSubnets")[0].(*ec2.DescribeSubnetsInput)
	require.Equal(t, []types.Filter{filt("vpc-id", "vpc-1"), filt("availability-zone", "us-east-1a"), filt("tag-key", "eniway.io/pool")}, req.Filters)
	require.Equal(t, aws.Int32(1000), req.MaxResults)
	require.Len(t, f.inputs("DescribeSubnets"), 2)

	_, err = c.DescribeSubnets(t.Context(), eni.SubnetFilter{IDs: []string{"subnet-a"}})
	require.NoError(t, err)
	req = f.inputs("DescribeSubnets")[2].(*ec2.DescribeSubnetsInput)
	require.Equal(t, []string{"subnet-a"}, req.SubnetIds)
	require.Nil(t, req.MaxResults)
	require.Empty(t, req.Filters)
}

func TestDescribeSecurityGroups(t *testing.T) {
	f := newFake().on("DescribeSecurityGroups", &ec2.DescribeSecurityGroupsOutput{SecurityGroups: []types.SecurityGroup{
		{GroupId: aws.String("sg-2"), VpcId: aws.String("vpc-1"), GroupName: aws.String("b")},
		{GroupId: aws.String("sg-1"), VpcId: aws.String("vpc-1"), GroupName: aws.String("nodes"), Tags: []types.Tag{tag("eniway.io/role", "nodes")}},
	}})
	got, err := newCloud(t, f).DescribeSecurityGroups(t.Context(), eni.SecurityGroupFilter{IDs: []string{"sg-1", "sg-2"}, VPCID: "vpc-1", Tags: eni.Tags{"eniway.io/role": "nodes"}})
	require.NoError(t, err)
	require.Equal(t, []eni.SecurityGroup{
		{ID: "sg-1", VPCID: "vpc-1", Name: "nodes", Tags: eni.Tags{"eniway.io/role": "nodes"}},
		{ID: "sg-2", VPCID: "vpc-1", Name: "b"},
	}, got, "sorted; EC2's filtering is trusted")
	req := f.inputs("DescribeSecurityGroups")[0].(*ec2.DescribeSecurityGroupsInput)
	require.Equal(t, []string{"sg-1", "sg-2"}, req.GroupIds)
	require.Equal(t, []types.Filter{filt("vpc-id", "vpc-1"), filt("tag:eniway.io/role", "nodes")}, req.Filters)
	require.Nil(t, req.MaxResults)
}

func TestDescribeRouteTables(t *testing.T) {
	f := newFake().on("DescribeRouteTables", &ec2.DescribeRouteTablesOutput{RouteTables: []types.RouteTable{
		{RouteTableId: aws.String("rtb-2"), VpcId: aws.String("vpc-1"), Associations: []types.RouteTableAssociation{
			{SubnetId: aws.String("subnet-b")},
		}},
		{RouteTableId: aws.String("rtb-1"), VpcId: aws.String("vpc-1"), Tags: []types.Tag{tag("Name", "main")}, Associations: []types.RouteTableAssociation{
			{Main: aws.Bool(true)}, {SubnetId: aws.String("subnet-a")}, {SubnetId: aws.String("subnet-c")},
		}},
	}})
	got, err := newCloud(t, f).DescribeRouteTables(t.Context(), eni.RouteTableFilter{VPCID: "vpc-1", SubnetID: "subnet-a"})
	require.NoError(t, err)
	require.Equal(t, []eni.RouteTable{
		{ID: "rtb-1", VPCID: "vpc-1", Main: true, SubnetIDs: []string{"subnet-a", "subnet-c"}, Tags: eni.Tags{"Name": "main"}},
		{ID: "rtb-2", VPCID: "vpc-1", SubnetIDs: []string{"subnet-b"}},
	}, got)
	req := f.inputs("DescribeRouteTables")[0].(*ec2.DescribeRouteTablesInput)
	require.Equal(t, []types.Filter{filt("vpc-id", "vpc-1"), filt("association.subnet-id", "subnet-a")}, req.Filters)
	require.Equal(t, aws.Int32(100), req.MaxResults)
}

func TestCreateENI(t *testing.T) {
	n, want := fullENI()
	f := newFake().on("CreateNetworkInterface", &ec2.CreateNetworkInterfaceOutput{NetworkInterface: &n})
	c := newCloud(t, f)
	got, err := c.CreateENI(t.Context(), eni.CreateENIInput{
		SubnetID: "subnet-1", SecurityGroupIDs: []string{"sg-1"}, Description: "pods", SecondaryIPs: 2,
		Tags: eni.Tags{"eniway.io/node": "n1", "eniway.io/cluster": "demo"},
	})
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Equal(t, &ec2.CreateNetworkInterfaceInput{
		SubnetId: aws.String("subnet-1"), Groups: []string{"sg-1"}, Description: aws.String("pods"),
		SecondaryPrivateIpAddressCount: aws.Int32(2),
		TagSpecifications: []types.TagSpecification{{
			ResourceType: types.ResourceTypeNetworkInterface,
			Tags:         []types.Tag{tag("eniway.io/cluster", "demo"), tag("eniway.io/node", "n1")},
		}},
	}, f.inputs("CreateNetworkInterface")[0])

	_, err = c.CreateENI(t.Context(), eni.CreateENIInput{SubnetID: "subnet-1", Prefixes: 3})
	require.NoError(t, err)
	require.Equal(t, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String("subnet-1"), Ipv4PrefixCount: aws.Int32(3)}, f.inputs("CreateNetworkInterface")[1])

	for _, in := range []eni.CreateENIInput{
		{SubnetID: "subnet-1", SecondaryIPs: 1, Prefixes: 1},
		{SubnetID: "subnet-1", SecondaryIPs: -1},
		{SubnetID: "subnet-1", Prefixes: -1},
	} {
		f := newFake()
		_, err := newCloud(t, f).CreateENI(t.Context(), in)
		requireInvalid(t, f, err)
	}

	f = newFake().on("CreateNetworkInterface", &ec2.CreateNetworkInterfaceOutput{})
	_, err = newCloud(t, f).CreateENI(t.Context(), eni.CreateENIInput{SubnetID: "subnet-1"})
	require.ErrorIs(t, err, ErrMalformedResponse)
}

func TestAttachDetachDelete(t *testing.T) {
	f := newFake().on("AttachNetworkInterface", &ec2.AttachNetworkInterfaceOutput{AttachmentId: aws.String("eni-attach-1")})
	c := newCloud(t, f)
	id, err := c.AttachENI(t.Context(), eni.AttachInput{ENIID: "eni-1", InstanceID: "i-1", DeviceIndex: 2, NetworkCardIndex: 1})
	require.NoError(t, err)
	require.Equal(t, "eni-attach-1", id)
	require.Equal(t, &ec2.AttachNetworkInterfaceInput{
		NetworkInterfaceId: aws.String("eni-1"), InstanceId: aws.String("i-1"), DeviceIndex: aws.Int32(2), NetworkCardIndex: aws.Int32(1),
	}, f.inputs("AttachNetworkInterface")[0])

	require.NoError(t, c.DetachENI(t.Context(), "eni-attach-1", true))
	require.Equal(t, &ec2.DetachNetworkInterfaceInput{AttachmentId: aws.String("eni-attach-1"), Force: aws.Bool(true)}, f.inputs("DetachNetworkInterface")[0])
	require.NoError(t, c.DeleteENI(t.Context(), "eni-1"))
	require.Equal(t, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String("eni-1")}, f.inputs("DeleteNetworkInterface")[0])
	require.NoError(t, c.SetDeleteOnTermination(t.Context(), "eni-1", "eni-attach-1", true))
	require.Equal(t, &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String("eni-1"),
		Attachment:         &types.NetworkInterfaceAttachmentChanges{AttachmentId: aws.String("eni-attach-1"), DeleteOnTermination: aws.Bool(true)},
	}, f.inputs("ModifyNetworkInterfaceAttribute")[0])

	for _, in := range []eni.AttachInput{{ENIID: "eni-1", InstanceID: "i-1", DeviceIndex: -1}, {ENIID: "eni-1", InstanceID: "i-1", DeviceIndex: 1, NetworkCardIndex: -1}} {
		f := newFake()
		_, err := newCloud(t, f).AttachENI(t.Context(), in)
		requireInvalid(t, f, err)
	}

	f = newFake().on("AttachNetworkInterface", &ec2.AttachNetworkInterfaceOutput{})
	_, err = newCloud(t, f).AttachENI(t.Context(), eni.AttachInput{ENIID: "eni-1", InstanceID: "i-1", DeviceIndex: 1})
	require.ErrorIs(t, err, ErrMalformedResponse, "no attachment ID")
}

func TestAddresses(t *testing.T) {
	f := newFake().on("AssignPrivateIpAddresses", &ec2.AssignPrivateIpAddressesOutput{
		AssignedPrivateIpAddresses: []types.AssignedPrivateIpAddress{{PrivateIpAddress: aws.String("10.0.1.9")}, {PrivateIpAddress: aws.String("10.0.1.8")}},
		AssignedIpv4Prefixes:       []types.Ipv4PrefixSpecification{{Ipv4Prefix: aws.String("10.0.1.48/28")}},
	})
	c := newCloud(t, f)
	ips, err := c.AssignIPs(t.Context(), "eni-1", 2)
	require.NoError(t, err)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.1.9"), netip.MustParseAddr("10.0.1.8")}, ips)
	prefixes, err := c.AssignPrefixes(t.Context(), "eni-1", 1)
	require.NoError(t, err)
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.1.48/28")}, prefixes)
	require.Equal(t, []any{
		&ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String("eni-1"), SecondaryPrivateIpAddressCount: aws.Int32(2)},
		&ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String("eni-1"), Ipv4PrefixCount: aws.Int32(1)},
	}, f.inputs("AssignPrivateIpAddresses"))

	require.NoError(t, c.UnassignIPs(t.Context(), "eni-1", ips))
	require.NoError(t, c.UnassignPrefixes(t.Context(), "eni-1", prefixes))
	require.Equal(t, []any{
		&ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: aws.String("eni-1"), PrivateIpAddresses: []string{"10.0.1.9", "10.0.1.8"}},
		&ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: aws.String("eni-1"), Ipv4Prefixes: []string{"10.0.1.48/28"}},
	}, f.inputs("UnassignPrivateIpAddresses"))

	for name, call := range map[string]func(c *Cloud) error{
		"assign 0 IPs":         func(c *Cloud) error { _, err := c.AssignIPs(t.Context(), "eni-1", 0); return err },
		"assign -1 prefixes":   func(c *Cloud) error { _, err := c.AssignPrefixes(t.Context(), "eni-1", -1); return err },
		"unassign no IPs":      func(c *Cloud) error { return c.UnassignIPs(t.Context(), "eni-1", nil) },
		"unassign zero Addr":   func(c *Cloud) error { return c.UnassignIPs(t.Context(), "eni-1", []netip.Addr{{}}) },
		"unassign no prefixes": func(c *Cloud) error { return c.UnassignPrefixes(t.Context(), "eni-1", nil) },
		"unassign zero Prefix": func(c *Cloud) error { return c.UnassignPrefixes(t.Context(), "eni-1", []netip.Prefix{{}}) },
		"tag nothing":          func(c *Cloud) error { return c.CreateTags(t.Context(), nil, eni.Tags{"a": "b"}) },
		"tag with no tags":     func(c *Cloud) error { return c.CreateTags(t.Context(), []string{"eni-1"}, nil) },
		"describe no instance": func(c *Cloud) error { _, err := c.DescribeInstance(t.Context(), ""); return err },
		"describe empty type":  func(c *Cloud) error { _, err := c.DescribeInstanceTypes(t.Context(), ""); return err },
		"create both addresses": func(c *Cloud) error {
			_, err := c.CreateENI(t.Context(), eni.CreateENIInput{SecondaryIPs: 1, Prefixes: 1})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake()
			requireInvalid(t, f, call(newCloud(t, f)))
		})
	}
}

func TestCreateTags(t *testing.T) {
	f := newFake()
	require.NoError(t, newCloud(t, f).CreateTags(t.Context(), []string{"eni-1", "subnet-1"}, eni.Tags{"b": "2", "a": "1"}))
	require.Equal(t, &ec2.CreateTagsInput{
		Resources: []string{"eni-1", "subnet-1"},
		Tags:      []types.Tag{tag("a", "1"), tag("b", "2")},
	}, f.inputs("CreateTags")[0])
}

// sdkError wraps an EC2 error the way the SDK returns it after its retries.
func sdkError(op, code, msg string) error {
	return &smithy.OperationError{
		ServiceID: "EC2", OperationName: op,
		Err: &retry.MaxAttemptsError{Attempt: 3, Err: &smithy.GenericAPIError{Code: code, Message: msg}},
	}
}

func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		code     string
		sentinel error
	}{
		{"InsufficientCidrBlocks", eni.ErrInsufficientCIDRBlocks},
		{"InsufficientFreeAddressesInSubnet", eni.ErrInsufficientFreeAddresses},
		{"PrivateIpAddressLimitExceeded", eni.ErrAddressLimitExceeded},
		{"RequestLimitExceeded", eni.ErrThrottled},
		{"InvalidNetworkInterfaceID.NotFound", eni.ErrENINotFound},
		{"UnauthorizedOperation", eni.ErrUnauthorized},
		{"SomethingNew", nil},
	} {
		t.Run(tc.code, func(t *testing.T) {
			f := newFake().fail("AssignPrivateIpAddresses", sdkError("AssignPrivateIpAddresses", tc.code, "it failed"))
			_, err := newCloud(t, f).AssignPrefixes(t.Context(), "eni-1", 1)
			require.Error(t, err)
			var apiErr *eni.APIError
			require.True(t, errors.As(err, &apiErr))
			require.Equal(t, eni.APIError{Action: "AssignPrivateIpAddresses", Code: tc.code, Message: "it failed"}, *apiErr)
			if tc.sentinel != nil {
				require.ErrorIs(t, err, tc.sentinel)
			} else {
				require.Nil(t, errors.Unwrap(err), "an unknown code wraps no sentinel")
			}
		})
	}
	t.Run("not found", func(t *testing.T) {
		f := newFake().fail("DescribeInstances", sdkError("DescribeInstances", "InvalidInstanceID.NotFound", "no such instance"))
		_, err := newCloud(t, f).DescribeInstance(t.Context(), "i-dead")
		require.ErrorIs(t, err, eni.ErrInstanceNotFound)
		require.ErrorIs(t, err, eni.ErrNotFound)
	})
	t.Run("not an API error", func(t *testing.T) {
		boom := errors.New("connection reset")
		f := newFake().fail("DeleteNetworkInterface", boom)
		err := newCloud(t, f).DeleteENI(t.Context(), "eni-1")
		require.ErrorIs(t, err, boom)
		var apiErr *eni.APIError
		require.False(t, errors.As(err, &apiErr))
		require.ErrorContains(t, err, "eni/aws: DeleteNetworkInterface: ")
	})
	t.Run("describe page", func(t *testing.T) {
		f := newFake().fail("DescribeSubnets", sdkError("DescribeSubnets", "InvalidSubnetID.NotFound", "gone"))
		_, err := newCloud(t, f).DescribeSubnets(t.Context(), eni.SubnetFilter{IDs: []string{"subnet-1"}})
		require.ErrorIs(t, err, eni.ErrSubnetNotFound)
	})
}

func TestMalformedResponse(t *testing.T) {
	for _, tc := range []struct {
		name  string
		call  func(c *Cloud) error
		f     *fakeEC2
		field string
		value string
	}{
		{
			name: "ENI primary address",
			f: newFake().on("DescribeNetworkInterfaces", &ec2.DescribeNetworkInterfacesOutput{NetworkInterfaces: []types.NetworkInterface{
				{NetworkInterfaceId: aws.String("eni-1"), PrivateIpAddress: aws.String("10.0.1.300")},
			}}),
			call:  func(c *Cloud) error { _, err := c.DescribeENIs(t.Context(), eni.ENIFilter{}); return err },
			field: "PrivateIpAddress", value: "10.0.1.300",
		},
		{
			name: "ENI prefix",
			f: newFake().on("DescribeNetworkInterfaces", &ec2.DescribeNetworkInterfacesOutput{NetworkInterfaces: []types.NetworkInterface{
				{NetworkInterfaceId: aws.String("eni-1"), Ipv4Prefixes: []types.Ipv4PrefixSpecification{{Ipv4Prefix: aws.String("10.0.1.16")}}},
			}}),
			call:  func(c *Cloud) error { _, err := c.DescribeENIs(t.Context(), eni.ENIFilter{}); return err },
			field: "Ipv4Prefixes.Ipv4Prefix", value: "10.0.1.16",
		},
		{
			name: "IPv6 where IPv4 belongs",
			f: newFake().on("AssignPrivateIpAddresses", &ec2.AssignPrivateIpAddressesOutput{
				AssignedPrivateIpAddresses: []types.AssignedPrivateIpAddress{{PrivateIpAddress: aws.String("2001:db8::1")}},
			}),
			call:  func(c *Cloud) error { _, err := c.AssignIPs(t.Context(), "eni-1", 1); return err },
			field: "AssignedPrivateIpAddresses.PrivateIpAddress", value: "2001:db8::1",
		},
		{
			name: "subnet CIDR",
			f: newFake().on("DescribeSubnets", &ec2.DescribeSubnetsOutput{Subnets: []types.Subnet{
				{SubnetId: aws.String("subnet-1"), CidrBlock: aws.String("10.0.1.0/33")},
			}}),
			call:  func(c *Cloud) error { _, err := c.DescribeSubnets(t.Context(), eni.SubnetFilter{}); return err },
			field: "CidrBlock", value: "10.0.1.0/33",
		},
		{
			name: "instance interface",
			f: newFake().on("DescribeInstances", &ec2.DescribeInstancesOutput{Reservations: []types.Reservation{{Instances: []types.Instance{{
				InstanceId:        aws.String("i-1"),
				NetworkInterfaces: []types.InstanceNetworkInterface{{NetworkInterfaceId: aws.String("eni-1"), PrivateIpAddresses: []types.InstancePrivateIpAddress{{PrivateIpAddress: aws.String("ten")}}}},
			}}}}}),
			call:  func(c *Cloud) error { _, err := c.DescribeInstance(t.Context(), "i-1"); return err },
			field: "PrivateIpAddresses.PrivateIpAddress", value: "ten",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(newCloud(t, tc.f))
			require.ErrorIs(t, err, ErrMalformedResponse)
			// The message is the contract here: it must name the field
			// and the value.
			require.ErrorContains(t, err, "field "+tc.field+": ")
			require.ErrorContains(t, err, strconv.Quote(tc.value))
		})
	}
}

func TestRateLimiter(t *testing.T) {
	f := newFake()
	c, err := New(t.Context(), Options{Client: f, RateLimit: 1, Burst: 1})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	require.NoError(t, c.DeleteENI(ctx, "eni-1"))
	err = c.DeleteENI(ctx, "eni-2")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, ctx.Err(), "fails at once, without waiting for the deadline")
	require.Equal(t, 1, f.count(), "the second call never reached EC2")

	// Pages draw from the limiter one by one.
	f = newFake().on("DescribeRouteTables",
		&ec2.DescribeRouteTablesOutput{NextToken: aws.String("1")},
		&ec2.DescribeRouteTablesOutput{},
	)
	c, err = New(t.Context(), Options{Client: f, RateLimit: 1, Burst: 1})
	require.NoError(t, err)
	ctx, cancel = context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err = c.DescribeRouteTables(ctx, eni.RouteTableFilter{})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, 1, f.count(), "the second page waited for a token")

	// A canceled context fails before any request.
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	f = newFake()
	c, err = New(t.Context(), Options{Client: f, RateLimit: 1, Burst: 1})
	require.NoError(t, err)
	require.ErrorIs(t, c.DeleteENI(canceled, "eni-1"), context.Canceled)
	require.Zero(t, f.count())
}

func TestOnRateLimitWait(t *testing.T) {
	var (
		mu    sync.Mutex
		waits []time.Duration
	)
	c, err := New(t.Context(), Options{Client: newFake(), RateLimit: 20, Burst: 1, OnRateLimitWait: func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, d)
	}})
	require.NoError(t, err)
	require.NoError(t, c.DeleteENI(t.Context(), "eni-1"))
	require.NoError(t, c.DeleteENI(t.Context(), "eni-2"))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, waits, 2, "every request reports its wait")
	require.Positive(t, waits[1], "the second request waited for a token")
}

// FuzzFromENI checks that whatever address strings EC2 sends either convert
// to IPv4 values or fail with ErrMalformedResponse: never a panic, never a
// value silently dropped.
func FuzzFromENI(f *testing.F) {
	f.Add("10.0.1.10", "10.0.1.11", "10.0.1.16/28")
	f.Add("10.0.1.300", "", "10.0.1.16")
	f.Add("2001:db8::1", "::ffff:10.0.0.1", "2001:db8::/64")
	f.Add("", "10.0.0.1%eth0", "10.0.0.0/33")
	f.Fuzz(func(t *testing.T, primary, secondary, prefix string) {
		e, err := fromENI(types.NetworkInterface{
			NetworkInterfaceId: aws.String("eni-1"),
			PrivateIpAddress:   aws.String(primary),
			PrivateIpAddresses: []types.NetworkInterfacePrivateIpAddress{{PrivateIpAddress: aws.String(secondary)}},
			Ipv4Prefixes:       []types.Ipv4PrefixSpecification{{Ipv4Prefix: aws.String(prefix)}},
		})
		if err != nil {
			require.ErrorIs(t, err, ErrMalformedResponse)
			return
		}
		require.Equal(t, primary != "", e.PrimaryIP.IsValid())
		require.Equal(t, primary != "", e.PrimaryIP.Is4())
		require.Len(t, e.SecondaryIPs, min(len(secondary), 1))
		for _, a := range e.SecondaryIPs {
			require.True(t, a.Is4())
		}
		require.Len(t, e.Prefixes, min(len(prefix), 1))
		for _, p := range e.Prefixes {
			require.True(t, p.Addr().Is4())
		}
	})
}
