package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/eniway/eniway/eni"
)

// Page sizes (MaxResults) of describes that name no IDs: EC2's maximum for
// each action. A request with MaxResults is a paginated one, which EC2
// throttles less than an unfiltered, unpaginated one. EC2 refuses MaxResults
// together with IDs for some actions, so requests naming IDs go without.
const (
	pageENIs           = 1000
	pageSubnets        = 1000
	pageSecurityGroups = 1000
	pageRouteTables    = 100
	// maxInstanceTypes is how many types one DescribeInstanceTypes request
	// may name, and its largest page.
	maxInstanceTypes = 100
)

// DescribeInstance returns an instance and its attached interfaces, ordered
// by device index (then network card index), with one DescribeInstances
// request. The interfaces carry no Tags, since DescribeInstances does not
// report them (use DescribeENIs with InstanceID for tags), and the
// instance's availability zone. ErrInstanceNotFound if it does not exist;
// ErrInvalidParameter, before any request, for an empty ID.
func (c *Cloud) DescribeInstance(ctx context.Context, instanceID string) (eni.Instance, error) {
	const action = "DescribeInstances"
	if instanceID == "" {
		return eni.Instance{}, invalid(action, "empty instance ID")
	}
	p := ec2.NewDescribeInstancesPaginator(c.client,
		&ec2.DescribeInstancesInput{InstanceIds: []string{instanceID}},
		func(o *ec2.DescribeInstancesPaginatorOptions) { o.StopOnDuplicateToken = true })
	var found *types.Instance
	err := eachPage(ctx, c, action, p, func(out *ec2.DescribeInstancesOutput) {
		for _, r := range out.Reservations {
			for i := range r.Instances {
				if aws.ToString(r.Instances[i].InstanceId) == instanceID {
					found = &r.Instances[i]
				}
			}
		}
	})
	if err != nil {
		return eni.Instance{}, err
	}
	if found == nil {
		return eni.Instance{}, fmt.Errorf("eni/aws: %s: %s not in the response: %w", action, instanceID, eni.ErrInstanceNotFound)
	}
	in, err := fromInstance(*found)
	if err != nil {
		return eni.Instance{}, malformed(action, err)
	}
	return in, nil
}

// DescribeInstanceTypes returns the limits of the named types in the order
// asked (a name asked twice is answered twice), in requests of at most 100
// types, or, when none is named, of every type EC2 offers in the region,
// ordered by name, in pages of 100. ErrInvalidParameter names a type EC2
// does not know (EC2's InvalidInstanceType, or a type missing from its
// answer), or, before any request, an empty name.
func (c *Cloud) DescribeInstanceTypes(ctx context.Context, names ...string) ([]eni.Limits, error) {
	const action = "DescribeInstanceTypes"
	if len(names) == 0 {
		var all []eni.Limits
		p := ec2.NewDescribeInstanceTypesPaginator(c.client,
			&ec2.DescribeInstanceTypesInput{MaxResults: aws.Int32(maxInstanceTypes)},
			func(o *ec2.DescribeInstanceTypesPaginatorOptions) { o.StopOnDuplicateToken = true })
		err := eachPage(ctx, c, action, p, func(out *ec2.DescribeInstanceTypesOutput) {
			for _, it := range out.InstanceTypes {
				all = append(all, fromInstanceType(it))
			}
		})
		if err != nil {
			return nil, err
		}
		return sortedByID(all, func(l eni.Limits) string { return l.InstanceType }), nil
	}
	if slices.Contains(names, "") {
		return nil, invalid(action, "empty instance type name")
	}
	unique := slices.Compact(slices.Sorted(slices.Values(names)))
	limits := make(map[string]eni.Limits, len(unique))
	for chunk := range slices.Chunk(unique, maxInstanceTypes) {
		in := &ec2.DescribeInstanceTypesInput{InstanceTypes: make([]types.InstanceType, len(chunk))}
		for i, n := range chunk {
			in.InstanceTypes[i] = types.InstanceType(n)
		}
		p := ec2.NewDescribeInstanceTypesPaginator(c.client, in,
			func(o *ec2.DescribeInstanceTypesPaginatorOptions) { o.StopOnDuplicateToken = true })
		err := eachPage(ctx, c, action, p, func(out *ec2.DescribeInstanceTypesOutput) {
			for _, it := range out.InstanceTypes {
				limits[string(it.InstanceType)] = fromInstanceType(it)
			}
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]eni.Limits, len(names))
	for i, n := range names {
		l, ok := limits[n]
		if !ok {
			return nil, fmt.Errorf("eni/aws: %s: instance type %q not in the response: %w", action, n, eni.ErrInvalidParameter)
		}
		out[i] = l
	}
	return out, nil
}

// DescribeENIs returns the interfaces the filter selects, ordered by ID,
// from every page of DescribeNetworkInterfaces. Asking by ID for an
// interface that does not exist is ErrENINotFound.
//
// Filters: IDs as NetworkInterfaceIds; attachment.instance-id, subnet-id,
// vpc-id, status; tag:<key> for a tag with a value, tag-key for a key with
// an empty value (any value). One tag-key value goes in a request, so
// with more than one such key DescribeENIs asks for the first and keeps the
// interfaces that carry all.
func (c *Cloud) DescribeENIs(ctx context.Context, f eni.ENIFilter) ([]eni.ENI, error) {
	const action = "DescribeNetworkInterfaces"
	in := &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: slices.Clone(f.IDs)}
	in.Filters = filter(in.Filters, "attachment.instance-id", f.InstanceID)
	in.Filters = filter(in.Filters, "subnet-id", f.SubnetID)
	in.Filters = filter(in.Filters, "vpc-id", f.VPCID)
	in.Filters = filter(in.Filters, "status", f.Status)
	var postFilter bool
	in.Filters, postFilter = tagFilters(in.Filters, f.Tags)
	if len(f.IDs) == 0 {
		in.MaxResults = aws.Int32(pageENIs)
	}
	p := ec2.NewDescribeNetworkInterfacesPaginator(c.client, in,
		func(o *ec2.DescribeNetworkInterfacesPaginatorOptions) { o.StopOnDuplicateToken = true })
	var (
		enis []eni.ENI
		errs []error
	)
	err := eachPage(ctx, c, action, p, func(out *ec2.DescribeNetworkInterfacesOutput) {
		for _, n := range out.NetworkInterfaces {
			e, err := fromENI(n)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if postFilter && !e.Tags.Matches(f.Tags) {
				continue
			}
			enis = append(enis, e)
		}
	})
	if err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, malformed(action, err)
	}
	return sortedByID(enis, func(e eni.ENI) string { return e.ID }), nil
}

// DescribeSubnets returns the subnets the filter selects, ordered by ID,
// from every page of DescribeSubnets. Filters: IDs as SubnetIds; vpc-id,
// availability-zone; tags as DescribeENIs. Asking by ID for a subnet that
// does not exist is ErrSubnetNotFound.
func (c *Cloud) DescribeSubnets(ctx context.Context, f eni.SubnetFilter) ([]eni.Subnet, error) {
	const action = "DescribeSubnets"
	in := &ec2.DescribeSubnetsInput{SubnetIds: slices.Clone(f.IDs)}
	in.Filters = filter(in.Filters, "vpc-id", f.VPCID)
	in.Filters = filter(in.Filters, "availability-zone", f.AvailabilityZone)
	var postFilter bool
	in.Filters, postFilter = tagFilters(in.Filters, f.Tags)
	if len(f.IDs) == 0 {
		in.MaxResults = aws.Int32(pageSubnets)
	}
	p := ec2.NewDescribeSubnetsPaginator(c.client, in,
		func(o *ec2.DescribeSubnetsPaginatorOptions) { o.StopOnDuplicateToken = true })
	var (
		subnets []eni.Subnet
		errs    []error
	)
	err := eachPage(ctx, c, action, p, func(out *ec2.DescribeSubnetsOutput) {
		for _, s := range out.Subnets {
			subnet, err := fromSubnet(s)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if postFilter && !subnet.Tags.Matches(f.Tags) {
				continue
			}
			subnets = append(subnets, subnet)
		}
	})
	if err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, malformed(action, err)
	}
	return sortedByID(subnets, func(s eni.Subnet) string { return s.ID }), nil
}

// DescribeSecurityGroups returns the groups the filter selects, ordered by
// ID, from every page of DescribeSecurityGroups. Filters: IDs as GroupIds;
// vpc-id; tags as DescribeENIs. Asking by ID for a group that does not exist
// is ErrSecurityGroupNotFound.
func (c *Cloud) DescribeSecurityGroups(ctx context.Context, f eni.SecurityGroupFilter) ([]eni.SecurityGroup, error) {
	const action = "DescribeSecurityGroups"
	in := &ec2.DescribeSecurityGroupsInput{GroupIds: slices.Clone(f.IDs)}
	in.Filters = filter(in.Filters, "vpc-id", f.VPCID)
	var postFilter bool
	in.Filters, postFilter = tagFilters(in.Filters, f.Tags)
	if len(f.IDs) == 0 {
		in.MaxResults = aws.Int32(pageSecurityGroups)
	}
	p := ec2.NewDescribeSecurityGroupsPaginator(c.client, in,
		func(o *ec2.DescribeSecurityGroupsPaginatorOptions) { o.StopOnDuplicateToken = true })
	var groups []eni.SecurityGroup
	err := eachPage(ctx, c, action, p, func(out *ec2.DescribeSecurityGroupsOutput) {
		for _, g := range out.SecurityGroups {
			sg := fromSecurityGroup(g)
			if postFilter && !sg.Tags.Matches(f.Tags) {
				continue
			}
			groups = append(groups, sg)
		}
	})
	if err != nil {
		return nil, err
	}
	return sortedByID(groups, func(g eni.SecurityGroup) string { return g.ID }), nil
}

// DescribeRouteTables returns the route tables the filter selects, ordered
// by ID, from every page of DescribeRouteTables. Filters: vpc-id,
// association.subnet-id (tables explicitly associated with the subnet; a
// subnet without an association uses its VPC's main table, which this
// filter does not return).
func (c *Cloud) DescribeRouteTables(ctx context.Context, f eni.RouteTableFilter) ([]eni.RouteTable, error) {
	const action = "DescribeRouteTables"
	in := &ec2.DescribeRouteTablesInput{MaxResults: aws.Int32(pageRouteTables)}
	in.Filters = filter(in.Filters, "vpc-id", f.VPCID)
	in.Filters = filter(in.Filters, "association.subnet-id", f.SubnetID)
	p := ec2.NewDescribeRouteTablesPaginator(c.client, in,
		func(o *ec2.DescribeRouteTablesPaginatorOptions) { o.StopOnDuplicateToken = true })
	var tables []eni.RouteTable
	err := eachPage(ctx, c, action, p, func(out *ec2.DescribeRouteTablesOutput) {
		for _, rt := range out.RouteTables {
			tables = append(tables, fromRouteTable(rt))
		}
	})
	if err != nil {
		return nil, err
	}
	return sortedByID(tables, func(rt eni.RouteTable) string { return rt.ID }), nil
}
