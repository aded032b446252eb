package wire

import (
	"context"
	"strconv"

	"github.com/eniway/eniway/eni"
)

type describeInstancesResponse struct {
	header
	Reservations []xmlReservation `xml:"reservationSet>item"`
	NextToken    string           `xml:"nextToken,omitempty"`
}

func (h *Handler) describeInstances(ctx context.Context, name string, p params) (any, error) {
	ids := p.list("InstanceId")
	if len(ids) == 0 {
		return nil, eni.NewAPIError(name, "InvalidParameterValue", "the emulator describes instances by InstanceId only")
	}
	out := &describeInstancesResponse{}
	for i, id := range ids {
		in, err := h.cloud.DescribeInstance(ctx, id)
		if err != nil {
			return nil, err
		}
		out.Reservations = append(out.Reservations, xmlReservation{
			ReservationID: "r-" + strconv.Itoa(i+1), Instances: []xmlInstance{toXMLInstance(in)},
		})
	}
	return out, nil
}

type describeInstanceTypesResponse struct {
	header
	Types     []xmlInstanceType `xml:"instanceTypeSet>item"`
	NextToken string            `xml:"nextToken,omitempty"`
}

func (h *Handler) describeInstanceTypes(ctx context.Context, name string, p params) (any, error) {
	limits, err := h.cloud.DescribeInstanceTypes(ctx, p.list("InstanceType")...)
	if err != nil {
		return nil, err
	}
	limits, next, err := page(name, p, limits)
	if err != nil {
		return nil, err
	}
	out := &describeInstanceTypesResponse{NextToken: next}
	for _, l := range limits {
		out.Types = append(out.Types, xmlInstanceType{
			InstanceType: l.InstanceType, Hypervisor: l.Hypervisor, BareMetal: l.BareMetal,
			VCPUInfo: xmlVCPUInfo{DefaultVCPUs: l.VCPUs},
			NetworkInfo: xmlNetworkInfo{
				MaximumNetworkInterfaces: l.MaxENIs, IPv4AddressesPerInterface: l.IPv4PerENI,
				IPv6AddressesPerInterface: l.IPv6PerENI, MaximumNetworkCards: 1,
			},
		})
	}
	return out, nil
}

type describeENIsResponse struct {
	header
	ENIs      []xmlENI `xml:"networkInterfaceSet>item"`
	NextToken string   `xml:"nextToken,omitempty"`
}

func (h *Handler) describeNetworkInterfaces(ctx context.Context, name string, p params) (any, error) {
	f, err := p.filters(name, "attachment.instance-id", "subnet-id", "vpc-id", "status")
	if err != nil {
		return nil, err
	}
	enis, err := h.cloud.DescribeENIs(ctx, eni.ENIFilter{
		IDs: p.list("NetworkInterfaceId"), InstanceID: f["attachment.instance-id"], SubnetID: f["subnet-id"],
		VPCID: f["vpc-id"], Status: f["status"], Tags: tagFilters(f),
	})
	if err != nil {
		return nil, err
	}
	enis, next, err := page(name, p, enis)
	if err != nil {
		return nil, err
	}
	out := &describeENIsResponse{NextToken: next}
	for _, e := range enis {
		out.ENIs = append(out.ENIs, toXMLENI(e, false))
	}
	return out, nil
}

type describeSubnetsResponse struct {
	header
	Subnets   []xmlSubnet `xml:"subnetSet>item"`
	NextToken string      `xml:"nextToken,omitempty"`
}

func (h *Handler) describeSubnets(ctx context.Context, name string, p params) (any, error) {
	f, err := p.filters(name, "vpc-id", "availability-zone", "subnet-id")
	if err != nil {
		return nil, err
	}
	ids := p.list("SubnetId")
	if id := f["subnet-id"]; id != "" {
		ids = append(ids, id)
	}
	subnets, err := h.cloud.DescribeSubnets(ctx, eni.SubnetFilter{
		IDs: ids, VPCID: f["vpc-id"], AvailabilityZone: f["availability-zone"], Tags: tagFilters(f),
	})
	if err != nil {
		return nil, err
	}
	subnets, next, err := page(name, p, subnets)
	if err != nil {
		return nil, err
	}
	out := &describeSubnetsResponse{NextToken: next}
	for _, s := range subnets {
		out.Subnets = append(out.Subnets, xmlSubnet{
			SubnetID: s.ID, VPCID: s.VPCID, AvailabilityZone: s.AvailabilityZone, CIDRBlock: s.CIDR.String(),
			AvailableIPAddressCount: s.AvailableIPs, State: "available", Tags: tagSet(s.Tags),
		})
	}
	return out, nil
}

type describeSecurityGroupsResponse struct {
	header
	Groups    []xmlSecurityGroup `xml:"securityGroupInfo>item"`
	NextToken string             `xml:"nextToken,omitempty"`
}

func (h *Handler) describeSecurityGroups(ctx context.Context, name string, p params) (any, error) {
	f, err := p.filters(name, "vpc-id", "group-id")
	if err != nil {
		return nil, err
	}
	ids := p.list("GroupId")
	if id := f["group-id"]; id != "" {
		ids = append(ids, id)
	}
	groups, err := h.cloud.DescribeSecurityGroups(ctx, eni.SecurityGroupFilter{IDs: ids, VPCID: f["vpc-id"], Tags: tagFilters(f)})
	if err != nil {
		return nil, err
	}
	groups, next, err := page(name, p, groups)
	if err != nil {
		return nil, err
	}
	out := &describeSecurityGroupsResponse{NextToken: next}
	for _, g := range groups {
		out.Groups = append(out.Groups, xmlSecurityGroup{
			GroupID: g.ID, GroupName: g.Name, GroupDescription: g.Name, VPCID: g.VPCID, Tags: tagSet(g.Tags),
		})
	}
	return out, nil
}

type describeRouteTablesResponse struct {
	header
	Tables    []xmlRouteTable `xml:"routeTableSet>item"`
	NextToken string          `xml:"nextToken,omitempty"`
}

func (h *Handler) describeRouteTables(ctx context.Context, name string, p params) (any, error) {
	f, err := p.filters(name, "vpc-id", "association.subnet-id")
	if err != nil {
		return nil, err
	}
	if tags := tagFilters(f); len(tags) > 0 {
		return nil, eni.NewAPIError(name, "InvalidParameterValue", "the emulator does not filter route tables by tag")
	}
	tables, err := h.cloud.DescribeRouteTables(ctx, eni.RouteTableFilter{VPCID: f["vpc-id"], SubnetID: f["association.subnet-id"]})
	if err != nil {
		return nil, err
	}
	tables, next, err := page(name, p, tables)
	if err != nil {
		return nil, err
	}
	out := &describeRouteTablesResponse{NextToken: next}
	for _, r := range tables {
		out.Tables = append(out.Tables, toXMLRouteTable(r))
	}
	return out, nil
}

type createENIResponse struct {
	header
	ENI xmlENI `xml:"networkInterface"`
}

func (h *Handler) createNetworkInterface(ctx context.Context, name string, p params) (any, error) {
	in := eni.CreateENIInput{
		SubnetID: p.get("SubnetId"), SecurityGroupIDs: p.list("SecurityGroupId"), Description: p.get("Description"),
	}
	var err error
	if in.SecondaryIPs, err = p.int("SecondaryPrivateIpAddressCount"); err != nil {
		return nil, err
	}
	if in.Prefixes, err = p.int("Ipv4PrefixCount"); err != nil {
		return nil, err
	}
	for i := 1; ; i++ {
		prefix := "TagSpecification." + strconv.Itoa(i)
		rt := p.get(prefix + ".ResourceType")
		if rt == "" {
			break
		}
		if rt != "network-interface" {
			return nil, eni.NewAPIError(name, "InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", rt)
		}
		for k, v := range p.tagList(prefix + ".Tag") {
			if in.Tags == nil {
				in.Tags = eni.Tags{}
			}
			in.Tags[k] = v
		}
	}
	e, err := h.cloud.CreateENI(ctx, in)
	if err != nil {
		return nil, err
	}
	return &createENIResponse{ENI: toXMLENI(e, false)}, nil
}

type attachResponse struct {
	header
	AttachmentID     string `xml:"attachmentId"`
	NetworkCardIndex int    `xml:"networkCardIndex"`
}

func (h *Handler) attachNetworkInterface(ctx context.Context, name string, p params) (any, error) {
	in := eni.AttachInput{ENIID: p.get("NetworkInterfaceId"), InstanceID: p.get("InstanceId")}
	var err error
	if p.get("DeviceIndex") == "" {
		return nil, eni.NewAPIError(name, "MissingParameter", "The request must contain the parameter DeviceIndex")
	}
	if in.DeviceIndex, err = p.int("DeviceIndex"); err != nil {
		return nil, err
	}
	if in.NetworkCardIndex, err = p.int("NetworkCardIndex"); err != nil {
		return nil, err
	}
	id, err := h.cloud.AttachENI(ctx, in)
	if err != nil {
		return nil, err
	}
	return &attachResponse{AttachmentID: id, NetworkCardIndex: in.NetworkCardIndex}, nil
}

func (h *Handler) detachNetworkInterface(ctx context.Context, _ string, p params) (any, error) {
	if err := h.cloud.DetachENI(ctx, p.get("AttachmentId"), p.get("Force") == "true"); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

func (h *Handler) deleteNetworkInterface(ctx context.Context, _ string, p params) (any, error) {
	if err := h.cloud.DeleteENI(ctx, p.get("NetworkInterfaceId")); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

func (h *Handler) modifyNetworkInterfaceAttribute(ctx context.Context, name string, p params) (any, error) {
	att, dot := p.get("Attachment.AttachmentId"), p.get("Attachment.DeleteOnTermination")
	if att == "" || dot == "" {
		return nil, eni.NewAPIError(name, "InvalidParameterCombination", "the emulator modifies Attachment.DeleteOnTermination only")
	}
	if err := h.cloud.SetDeleteOnTermination(ctx, p.get("NetworkInterfaceId"), att, dot == "true"); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

type assignResponse struct {
	header
	ENIID    string         `xml:"networkInterfaceId"`
	IPs      []xmlPrivateIP `xml:"assignedPrivateIpAddressesSet>item"`
	Prefixes []xmlPrefix    `xml:"assignedIpv4PrefixSet>item"`
}

func (h *Handler) assignPrivateIPAddresses(ctx context.Context, name string, p params) (any, error) {
	id := p.get("NetworkInterfaceId")
	ipCount, err := p.int("SecondaryPrivateIpAddressCount")
	if err != nil {
		return nil, err
	}
	prefixCount, err := p.int("Ipv4PrefixCount")
	if err != nil {
		return nil, err
	}
	if len(p.list("PrivateIpAddress")) > 0 || len(p.list("Ipv4Prefix")) > 0 {
		return nil, eni.NewAPIError(name, "InvalidParameterValue", "the emulator assigns by count only")
	}
	out := &assignResponse{ENIID: id}
	switch {
	case ipCount > 0 && prefixCount > 0, ipCount == 0 && prefixCount == 0:
		return nil, eni.NewAPIError(name, "InvalidParameterCombination", "Specify exactly one of SecondaryPrivateIpAddressCount and Ipv4PrefixCount")
	case ipCount > 0 || p.get("SecondaryPrivateIpAddressCount") != "":
		ips, err := h.cloud.AssignIPs(ctx, id, ipCount)
		if err != nil {
			return nil, err
		}
		for _, a := range ips {
			out.IPs = append(out.IPs, xmlPrivateIP{PrivateIPAddress: a.String()})
		}
	default:
		prefixes, err := h.cloud.AssignPrefixes(ctx, id, prefixCount)
		if err != nil {
			return nil, err
		}
		for _, pf := range prefixes {
			out.Prefixes = append(out.Prefixes, xmlPrefix{IPv4Prefix: pf.String()})
		}
	}
	return out, nil
}

func (h *Handler) unassignPrivateIPAddresses(ctx context.Context, name string, p params) (any, error) {
	id := p.get("NetworkInterfaceId")
	addrs, err := parseAddrs(name, "PrivateIpAddress", p.list("PrivateIpAddress"))
	if err != nil {
		return nil, err
	}
	prefixes, err := parsePrefixes(name, "Ipv4Prefix", p.list("Ipv4Prefix"))
	if err != nil {
		return nil, err
	}
	switch {
	case len(addrs) > 0 && len(prefixes) > 0, len(addrs) == 0 && len(prefixes) == 0:
		return nil, eni.NewAPIError(name, "InvalidParameterCombination", "Specify exactly one of PrivateIpAddress and Ipv4Prefix")
	case len(addrs) > 0:
		err = h.cloud.UnassignIPs(ctx, id, addrs)
	default:
		err = h.cloud.UnassignPrefixes(ctx, id, prefixes)
	}
	if err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

func (h *Handler) createTags(ctx context.Context, name string, p params) (any, error) {
	ids := p.list("ResourceId")
	tags := p.tagList("Tag")
	if len(ids) == 0 || len(tags) == 0 {
		return nil, eni.NewAPIError(name, "MissingParameter", "The request must contain the parameters ResourceId and Tag")
	}
	if err := h.cloud.CreateTags(ctx, ids, tags); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}
