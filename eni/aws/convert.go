package aws

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/eniway/eniway/eni"
)

// This file converts between the SDK's types and package eni's: strings to
// netip values and back happen here and nowhere else.

// parser collects what does not parse in one EC2 object.
type parser struct {
	object string // e.g. "network interface eni-0123"
	errs   []error
}

func (p *parser) fail(field, value string, err error) {
	p.errs = append(p.errs, fmt.Errorf("%s: field %s: value %q: %w", p.object, field, value, err))
}

// addr4 parses an IPv4 address; nil or empty is the zero Addr.
func (p *parser) addr4(field string, s *string) netip.Addr {
	if aws.ToString(s) == "" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(*s)
	if err == nil && !a.Is4() {
		err = errors.New("not an IPv4 address")
	}
	if err != nil {
		p.fail(field, *s, err)
		return netip.Addr{}
	}
	return a
}

// prefix4 parses an IPv4 prefix; nil or empty is the zero Prefix.
func (p *parser) prefix4(field string, s *string) netip.Prefix {
	if aws.ToString(s) == "" {
		return netip.Prefix{}
	}
	pfx, err := netip.ParsePrefix(*s)
	if err == nil && !pfx.Addr().Is4() {
		err = errors.New("not an IPv4 prefix")
	}
	if err != nil {
		p.fail(field, *s, err)
		return netip.Prefix{}
	}
	return pfx
}

// privateIP adds one of an interface's private IPv4 addresses to e.
func (p *parser) privateIP(e *eni.ENI, primary *bool, ip *string) {
	a := p.addr4("PrivateIpAddresses.PrivateIpAddress", ip)
	switch {
	case !a.IsValid():
	case !aws.ToBool(primary):
		e.SecondaryIPs = append(e.SecondaryIPs, a)
	case !e.PrimaryIP.IsValid():
		e.PrimaryIP = a
	}
}

// prefix adds one of an interface's /28 prefixes to e.
func (p *parser) prefix(e *eni.ENI, s *string) {
	if pfx := p.prefix4("Ipv4Prefixes.Ipv4Prefix", s); pfx.IsValid() {
		e.Prefixes = append(e.Prefixes, pfx)
	}
}

// attachment converts an attachment; nil for none or a detached one.
func attachment(id *string, instanceID string, deviceIndex, networkCard *int32, deleteOnTermination *bool, status types.AttachmentStatus) *eni.Attachment {
	if aws.ToString(id) == "" || status == types.AttachmentStatusDetached {
		return nil
	}
	return &eni.Attachment{
		ID:                  *id,
		InstanceID:          instanceID,
		DeviceIndex:         int(aws.ToInt32(deviceIndex)),
		NetworkCardIndex:    int(aws.ToInt32(networkCard)),
		DeleteOnTermination: aws.ToBool(deleteOnTermination),
	}
}

func (p *parser) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrMalformedResponse, errors.Join(p.errs...))
}

// malformed wraps a conversion error for action.
func malformed(action string, err error) error {
	return fmt.Errorf("eni/aws: %s: %w", action, err)
}

// fromTags converts EC2 tags; none is nil.
func fromTags(tags []types.Tag) eni.Tags {
	if len(tags) == 0 {
		return nil
	}
	t := make(eni.Tags, len(tags))
	for _, tag := range tags {
		t[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	return t
}

// toTags converts tags to EC2's, sorted by key so requests are
// deterministic.
func toTags(t eni.Tags) []types.Tag {
	tags := make([]types.Tag, 0, len(t))
	for _, k := range slices.Sorted(maps.Keys(t)) {
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(t[k])})
	}
	return tags
}

func groupIDs(groups []types.GroupIdentifier) []string {
	if len(groups) == 0 {
		return nil
	}
	ids := make([]string, 0, len(groups))
	for _, g := range groups {
		ids = append(ids, aws.ToString(g.GroupId))
	}
	return ids
}

// fromENI converts a DescribeNetworkInterfaces or CreateNetworkInterface
// result.
func fromENI(n types.NetworkInterface) (eni.ENI, error) {
	p := parser{object: "network interface " + aws.ToString(n.NetworkInterfaceId)}
	e := eni.ENI{
		ID:               aws.ToString(n.NetworkInterfaceId),
		SubnetID:         aws.ToString(n.SubnetId),
		VPCID:            aws.ToString(n.VpcId),
		AvailabilityZone: aws.ToString(n.AvailabilityZone),
		MAC:              aws.ToString(n.MacAddress),
		Description:      aws.ToString(n.Description),
		SecurityGroupIDs: groupIDs(n.Groups),
		PrimaryIP:        p.addr4("PrivateIpAddress", n.PrivateIpAddress),
		Status:           string(n.Status),
		Tags:             fromTags(n.TagSet),
	}
	for _, a := range n.PrivateIpAddresses {
		p.privateIP(&e, a.Primary, a.PrivateIpAddress)
	}
	for _, pfx := range n.Ipv4Prefixes {
		p.prefix(&e, pfx.Ipv4Prefix)
	}
	if a := n.Attachment; a != nil {
		e.Attachment = attachment(a.AttachmentId, aws.ToString(a.InstanceId), a.DeviceIndex, a.NetworkCardIndex, a.DeleteOnTermination, a.Status)
	}
	return e, p.err()
}

// fromInstance converts a DescribeInstances result. Its interfaces carry no
// tags (DescribeInstances does not report them) and the instance's
// availability zone; they are ordered by device index, then network card.
func fromInstance(in types.Instance) (eni.Instance, error) {
	var errs []error
	out := eni.Instance{
		ID:       aws.ToString(in.InstanceId),
		Type:     string(in.InstanceType),
		VPCID:    aws.ToString(in.VpcId),
		SubnetID: aws.ToString(in.SubnetId),
	}
	if in.Placement != nil {
		out.AvailabilityZone = aws.ToString(in.Placement.AvailabilityZone)
	}
	for _, n := range in.NetworkInterfaces {
		p := parser{object: "instance " + out.ID + " network interface " + aws.ToString(n.NetworkInterfaceId)}
		e := eni.ENI{
			ID:               aws.ToString(n.NetworkInterfaceId),
			SubnetID:         aws.ToString(n.SubnetId),
			VPCID:            aws.ToString(n.VpcId),
			AvailabilityZone: out.AvailabilityZone,
			MAC:              aws.ToString(n.MacAddress),
			Description:      aws.ToString(n.Description),
			SecurityGroupIDs: groupIDs(n.Groups),
			PrimaryIP:        p.addr4("PrivateIpAddress", n.PrivateIpAddress),
			Status:           string(n.Status),
		}
		for _, a := range n.PrivateIpAddresses {
			p.privateIP(&e, a.Primary, a.PrivateIpAddress)
		}
		for _, pfx := range n.Ipv4Prefixes {
			p.prefix(&e, pfx.Ipv4Prefix)
		}
		if a := n.Attachment; a != nil {
			e.Attachment = attachment(a.AttachmentId, out.ID, a.DeviceIndex, a.NetworkCardIndex, a.DeleteOnTermination, a.Status)
		}
		if err := p.err(); err != nil {
			errs = append(errs, err)
			continue
		}
		out.ENIs = append(out.ENIs, e)
	}
	slices.SortStableFunc(out.ENIs, func(a, b eni.ENI) int {
		// Detached (nil attachment) last.
		if a.Attachment == nil || b.Attachment == nil {
			return cmpBool(a.Attachment == nil, b.Attachment == nil)
		}
		return cmp.Or(
			cmp.Compare(a.Attachment.DeviceIndex, b.Attachment.DeviceIndex),
			cmp.Compare(a.Attachment.NetworkCardIndex, b.Attachment.NetworkCardIndex),
		)
	})
	return out, errors.Join(errs...)
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case b:
		return -1
	}
	return 1
}

// fromInstanceType converts a DescribeInstanceTypes result.
func fromInstanceType(it types.InstanceTypeInfo) eni.Limits {
	l := eni.Limits{
		InstanceType: string(it.InstanceType),
		Hypervisor:   string(it.Hypervisor),
		BareMetal:    aws.ToBool(it.BareMetal),
	}
	if it.VCpuInfo != nil {
		l.VCPUs = int(aws.ToInt32(it.VCpuInfo.DefaultVCpus))
	}
	if ni := it.NetworkInfo; ni != nil {
		l.MaxENIs = int(aws.ToInt32(ni.MaximumNetworkInterfaces))
		l.IPv4PerENI = int(aws.ToInt32(ni.Ipv4AddressesPerInterface))
		l.IPv6PerENI = int(aws.ToInt32(ni.Ipv6AddressesPerInterface))
	}
	return l
}

func fromSubnet(s types.Subnet) (eni.Subnet, error) {
	p := parser{object: "subnet " + aws.ToString(s.SubnetId)}
	out := eni.Subnet{
		ID:               aws.ToString(s.SubnetId),
		VPCID:            aws.ToString(s.VpcId),
		AvailabilityZone: aws.ToString(s.AvailabilityZone),
		CIDR:             p.prefix4("CidrBlock", s.CidrBlock),
		AvailableIPs:     int(aws.ToInt32(s.AvailableIpAddressCount)),
		Tags:             fromTags(s.Tags),
	}
	return out, p.err()
}

func fromSecurityGroup(g types.SecurityGroup) eni.SecurityGroup {
	return eni.SecurityGroup{
		ID:    aws.ToString(g.GroupId),
		VPCID: aws.ToString(g.VpcId),
		Name:  aws.ToString(g.GroupName),
		Tags:  fromTags(g.Tags),
	}
}

func fromRouteTable(rt types.RouteTable) eni.RouteTable {
	out := eni.RouteTable{
		ID:    aws.ToString(rt.RouteTableId),
		VPCID: aws.ToString(rt.VpcId),
		Tags:  fromTags(rt.Tags),
	}
	for _, a := range rt.Associations {
		if aws.ToBool(a.Main) {
			out.Main = true
		}
		if id := aws.ToString(a.SubnetId); id != "" {
			out.SubnetIDs = append(out.SubnetIDs, id)
		}
	}
	return out
}

// filter returns an EC2 filter, or nothing for an empty value.
func filter(filters []types.Filter, name, value string) []types.Filter {
	if value == "" {
		return filters
	}
	return append(filters, types.Filter{Name: aws.String(name), Values: []string{value}})
}

// tagFilters appends the filters selecting resources that carry every tag
// in want: tag:<key>=<value> for each tag with a value, and one tag-key
// filter for the first key (in order) whose value is empty (any value).
// EC2 ORs the values of one filter, and repeating a filter name is not
// well defined, so further such keys are not sent: postFilter reports that
// the result is a superset the caller must check itself.
func tagFilters(filters []types.Filter, want eni.Tags) (_ []types.Filter, postFilter bool) {
	anyValue := 0
	for _, k := range slices.Sorted(maps.Keys(want)) {
		switch v := want[k]; {
		case v != "":
			filters = append(filters, types.Filter{Name: aws.String("tag:" + k), Values: []string{escapeFilterValue(v)}})
		case anyValue == 0:
			filters = append(filters, types.Filter{Name: aws.String("tag-key"), Values: []string{escapeFilterValue(k)}})
			anyValue++
		default:
			anyValue++
		}
	}
	return filters, anyValue > 1
}

// filterEscaper escapes the characters EC2 reads as wildcards in filter
// values, so that tag values match literally.
var filterEscaper = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`)

func escapeFilterValue(v string) string {
	if !strings.ContainsAny(v, `\*?`) {
		return v
	}
	return filterEscaper.Replace(v)
}

// sortedByID sorts s by ID and drops repeated IDs (a resource can show up on
// two pages when it changes during the listing).
func sortedByID[T any](s []T, id func(T) string) []T {
	slices.SortStableFunc(s, func(a, b T) int { return strings.Compare(id(a), id(b)) })
	return slices.CompactFunc(s, func(a, b T) bool { return id(a) == id(b) })
}
