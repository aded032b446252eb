package aws

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// fakeEC2 is an EC2API returning canned SDK outputs. pages[action] are the
// outputs of successive pages: a request with NextToken "n" gets pages[n],
// one without gets pages[0]; the fixtures set NextToken themselves. errs
// fail an action. Every request is recorded.
type fakeEC2 struct {
	mu    sync.Mutex
	pages map[string][]any
	errs  map[string]error
	calls []fakeCall
}

type fakeCall struct {
	action string
	input  any
}

func newFake() *fakeEC2 {
	return &fakeEC2{pages: map[string][]any{}, errs: map[string]error{}}
}

// on sets the pages action answers with.
func (f *fakeEC2) on(action string, pages ...any) *fakeEC2 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pages[action] = pages
	return f
}

// fail makes action fail with err.
func (f *fakeEC2) fail(action string, err error) *fakeEC2 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[action] = err
	return f
}

// inputs returns the inputs of the recorded requests for action.
func (f *fakeEC2) inputs(action string) []any {
	f.mu.Lock()
	defer f.mu.Unlock()
	var in []any
	for _, c := range f.calls {
		if c.action == action {
			in = append(in, c.input)
		}
	}
	return in
}

func (f *fakeEC2) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func respond[O any](f *fakeEC2, action string, in any, token *string) (*O, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fakeCall{action, in})
	if err := f.errs[action]; err != nil {
		return nil, err
	}
	i := 0
	if t := aws.ToString(token); t != "" {
		var err error
		if i, err = strconv.Atoi(t); err != nil {
			return nil, fmt.Errorf("fake: bad token %q", t)
		}
	}
	pages := f.pages[action]
	if i >= len(pages) {
		if i == 0 { // no fixture: an empty answer
			return new(O), nil
		}
		return nil, fmt.Errorf("fake: no page %d for %s", i, action)
	}
	return pages[i].(*O), nil
}

func (f *fakeEC2) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	return respond[ec2.DescribeInstancesOutput](f, "DescribeInstances", in, in.NextToken)
}

func (f *fakeEC2) DescribeInstanceTypes(_ context.Context, in *ec2.DescribeInstanceTypesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstanceTypesOutput, error) {
	return respond[ec2.DescribeInstanceTypesOutput](f, "DescribeInstanceTypes", in, in.NextToken)
}

func (f *fakeEC2) DescribeNetworkInterfaces(_ context.Context, in *ec2.DescribeNetworkInterfacesInput, _ ...func(*ec2.Options)) (*ec2.DescribeNetworkInterfacesOutput, error) {
	return respond[ec2.DescribeNetworkInterfacesOutput](f, "DescribeNetworkInterfaces", in, in.NextToken)
}

func (f *fakeEC2) DescribeSubnets(_ context.Context, in *ec2.DescribeSubnetsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error) {
	return respond[ec2.DescribeSubnetsOutput](f, "DescribeSubnets", in, in.NextToken)
}

func (f *fakeEC2) DescribeSecurityGroups(_ context.Context, in *ec2.DescribeSecurityGroupsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error) {
	return respond[ec2.DescribeSecurityGroupsOutput](f, "DescribeSecurityGroups", in, in.NextToken)
}

func (f *fakeEC2) DescribeRouteTables(_ context.Context, in *ec2.DescribeRouteTablesInput, _ ...func(*ec2.Options)) (*ec2.DescribeRouteTablesOutput, error) {
	return respond[ec2.DescribeRouteTablesOutput](f, "DescribeRouteTables", in, in.NextToken)
}

func (f *fakeEC2) CreateNetworkInterface(_ context.Context, in *ec2.CreateNetworkInterfaceInput, _ ...func(*ec2.Options)) (*ec2.CreateNetworkInterfaceOutput, error) {
	return respond[ec2.CreateNetworkInterfaceOutput](f, "CreateNetworkInterface", in, nil)
}

func (f *fakeEC2) AttachNetworkInterface(_ context.Context, in *ec2.AttachNetworkInterfaceInput, _ ...func(*ec2.Options)) (*ec2.AttachNetworkInterfaceOutput, error) {
	return respond[ec2.AttachNetworkInterfaceOutput](f, "AttachNetworkInterface", in, nil)
}

func (f *fakeEC2) DetachNetworkInterface(_ context.Context, in *ec2.DetachNetworkInterfaceInput, _ ...func(*ec2.Options)) (*ec2.DetachNetworkInterfaceOutput, error) {
	return respond[ec2.DetachNetworkInterfaceOutput](f, "DetachNetworkInterface", in, nil)
}

func (f *fakeEC2) DeleteNetworkInterface(_ context.Context, in *ec2.DeleteNetworkInterfaceInput, _ ...func(*ec2.Options)) (*ec2.DeleteNetworkInterfaceOutput, error) {
	return respond[ec2.DeleteNetworkInterfaceOutput](f, "DeleteNetworkInterface", in, nil)
}

func (f *fakeEC2) ModifyNetworkInterfaceAttribute(_ context.Context, in *ec2.ModifyNetworkInterfaceAttributeInput, _ ...func(*ec2.Options)) (*ec2.ModifyNetworkInterfaceAttributeOutput, error) {
	return respond[ec2.ModifyNetworkInterfaceAttributeOutput](f, "ModifyNetworkInterfaceAttribute", in, nil)
}

func (f *fakeEC2) AssignPrivateIpAddresses(_ context.Context, in *ec2.AssignPrivateIpAddressesInput, _ ...func(*ec2.Options)) (*ec2.AssignPrivateIpAddressesOutput, error) {
	return respond[ec2.AssignPrivateIpAddressesOutput](f, "AssignPrivateIpAddresses", in, nil)
}

func (f *fakeEC2) UnassignPrivateIpAddresses(_ context.Context, in *ec2.UnassignPrivateIpAddressesInput, _ ...func(*ec2.Options)) (*ec2.UnassignPrivateIpAddressesOutput, error) {
	return respond[ec2.UnassignPrivateIpAddressesOutput](f, "UnassignPrivateIpAddresses", in, nil)
}

func (f *fakeEC2) CreateTags(_ context.Context, in *ec2.CreateTagsInput, _ ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	return respond[ec2.CreateTagsOutput](f, "CreateTags", in, nil)
}

var _ EC2API = (*fakeEC2)(nil)
