package aws

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/eniway/eniway/eni"
)

// CreateENI creates an interface with CreateNetworkInterface: its tags in a
// TagSpecification (tagged atomically with the creation), secondary
// addresses as SecondaryPrivateIpAddressCount, prefixes as Ipv4PrefixCount.
// The SDK fills in a ClientToken once per call, so its retries cannot create
// a second interface. Negative counts, or both counts set, are
// ErrInvalidParameter before any request. The interface EC2 returns may be
// "pending" rather than "available" for a moment.
func (c *Cloud) CreateENI(ctx context.Context, in eni.CreateENIInput) (eni.ENI, error) {
	const action = "CreateNetworkInterface"
	switch {
	case in.SecondaryIPs < 0 || in.SecondaryIPs > math.MaxInt32:
		return eni.ENI{}, invalid(action, "SecondaryIPs %d out of range", in.SecondaryIPs)
	case in.Prefixes < 0 || in.Prefixes > math.MaxInt32:
		return eni.ENI{}, invalid(action, "Prefixes %d out of range", in.Prefixes)
	case in.SecondaryIPs > 0 && in.Prefixes > 0:
		return eni.ENI{}, invalid(action, "SecondaryIPs and Prefixes are exclusive")
	}
	req := &ec2.CreateNetworkInterfaceInput{
		SubnetId: aws.String(in.SubnetID),
		Groups:   slices.Clone(in.SecurityGroupIDs),
	}
	if in.Description != "" {
		req.Description = aws.String(in.Description)
	}
	if in.SecondaryIPs > 0 {
		req.SecondaryPrivateIpAddressCount = aws.Int32(int32(in.SecondaryIPs))
	}
	if in.Prefixes > 0 {
		req.Ipv4PrefixCount = aws.Int32(int32(in.Prefixes))
	}
	if len(in.Tags) > 0 {
		req.TagSpecifications = []types.TagSpecification{{
			ResourceType: types.ResourceTypeNetworkInterface,
			Tags:         toTags(in.Tags),
		}}
	}
	out, err := send(ctx, c, action, c.client.CreateNetworkInterface, req)
	if err != nil {
		return eni.ENI{}, err
	}
	if out.NetworkInterface == nil {
		return eni.ENI{}, fmt.Errorf("eni/aws: %s: no networkInterface in the response: %w", action, ErrMalformedResponse)
	}
	e, err := fromENI(*out.NetworkInterface)
	if err != nil {
		return eni.ENI{}, malformed(action, err)
	}
	return e, nil
}

// AttachENI attaches an interface with AttachNetworkInterface, at
// in.DeviceIndex on network card in.NetworkCardIndex, and returns the
// attachment ID. Negative indexes are ErrInvalidParameter before any
// request.
func (c *Cloud) AttachENI(ctx context.Context, in eni.AttachInput) (string, error) {
	const action = "AttachNetworkInterface"
	if in.DeviceIndex < 0 || in.DeviceIndex > math.MaxInt32 {
		return "", invalid(action, "DeviceIndex %d out of range", in.DeviceIndex)
	}
	if in.NetworkCardIndex < 0 || in.NetworkCardIndex > math.MaxInt32 {
		return "", invalid(action, "NetworkCardIndex %d out of range", in.NetworkCardIndex)
	}
	out, err := send(ctx, c, action, c.client.AttachNetworkInterface, &ec2.AttachNetworkInterfaceInput{
		NetworkInterfaceId: aws.String(in.ENIID),
		InstanceId:         aws.String(in.InstanceID),
		DeviceIndex:        aws.Int32(int32(in.DeviceIndex)),
		NetworkCardIndex:   aws.Int32(int32(in.NetworkCardIndex)),
	})
	if err != nil {
		return "", err
	}
	id := aws.ToString(out.AttachmentId)
	if id == "" {
		return "", fmt.Errorf("eni/aws: %s: no attachmentId in the response: %w", action, ErrMalformedResponse)
	}
	return id, nil
}

// DetachENI detaches an interface with DetachNetworkInterface.
func (c *Cloud) DetachENI(ctx context.Context, attachmentID string, force bool) error {
	_, err := send(ctx, c, "DetachNetworkInterface", c.client.DetachNetworkInterface, &ec2.DetachNetworkInterfaceInput{
		AttachmentId: aws.String(attachmentID),
		Force:        aws.Bool(force),
	})
	return err
}

// DeleteENI deletes an interface with DeleteNetworkInterface.
func (c *Cloud) DeleteENI(ctx context.Context, eniID string) error {
	_, err := send(ctx, c, "DeleteNetworkInterface", c.client.DeleteNetworkInterface, &ec2.DeleteNetworkInterfaceInput{
		NetworkInterfaceId: aws.String(eniID),
	})
	return err
}

// SetDeleteOnTermination sets the attachment's DeleteOnTermination with
// ModifyNetworkInterfaceAttribute.
func (c *Cloud) SetDeleteOnTermination(ctx context.Context, eniID, attachmentID string, deleteOnTermination bool) error {
	_, err := send(ctx, c, "ModifyNetworkInterfaceAttribute", c.client.ModifyNetworkInterfaceAttribute, &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(eniID),
		Attachment: &types.NetworkInterfaceAttachmentChanges{
			AttachmentId:        aws.String(attachmentID),
			DeleteOnTermination: aws.Bool(deleteOnTermination),
		},
	})
	return err
}

// AssignIPs assigns count secondary addresses with AssignPrivateIpAddresses
// (SecondaryPrivateIpAddressCount) and returns the addresses EC2 reports
// assigned. A count below 1 is ErrInvalidParameter before any request.
func (c *Cloud) AssignIPs(ctx context.Context, eniID string, count int) ([]netip.Addr, error) {
	const action = "AssignPrivateIpAddresses"
	if count < 1 || count > math.MaxInt32 {
		return nil, invalid(action, "count %d out of range", count)
	}
	out, err := send(ctx, c, action, c.client.AssignPrivateIpAddresses, &ec2.AssignPrivateIpAddressesInput{
		NetworkInterfaceId:             aws.String(eniID),
		SecondaryPrivateIpAddressCount: aws.Int32(int32(count)),
	})
	if err != nil {
		return nil, err
	}
	p := parser{object: "network interface " + eniID}
	addrs := make([]netip.Addr, 0, len(out.AssignedPrivateIpAddresses))
	for _, a := range out.AssignedPrivateIpAddresses {
		if ip := p.addr4("AssignedPrivateIpAddresses.PrivateIpAddress", a.PrivateIpAddress); ip.IsValid() {
			addrs = append(addrs, ip)
		}
	}
	if err := p.err(); err != nil {
		return nil, malformed(action, err)
	}
	return addrs, nil
}

// AssignPrefixes assigns count /28 prefixes with AssignPrivateIpAddresses
// (Ipv4PrefixCount) and returns the prefixes EC2 reports assigned. A count
// below 1 is ErrInvalidParameter before any request.
func (c *Cloud) AssignPrefixes(ctx context.Context, eniID string, count int) ([]netip.Prefix, error) {
	const action = "AssignPrivateIpAddresses"
	if count < 1 || count > math.MaxInt32 {
		return nil, invalid(action, "count %d out of range", count)
	}
	out, err := send(ctx, c, action, c.client.AssignPrivateIpAddresses, &ec2.AssignPrivateIpAddressesInput{
		NetworkInterfaceId: aws.String(eniID),
		Ipv4PrefixCount:    aws.Int32(int32(count)),
	})
	if err != nil {
		return nil, err
	}
	p := parser{object: "network interface " + eniID}
	prefixes := make([]netip.Prefix, 0, len(out.AssignedIpv4Prefixes))
	for _, a := range out.AssignedIpv4Prefixes {
		if pfx := p.prefix4("AssignedIpv4Prefixes.Ipv4Prefix", a.Ipv4Prefix); pfx.IsValid() {
			prefixes = append(prefixes, pfx)
		}
	}
	if err := p.err(); err != nil {
		return nil, malformed(action, err)
	}
	return prefixes, nil
}

// UnassignIPs unassigns secondary addresses with UnassignPrivateIpAddresses
// (PrivateIpAddresses). No addresses, or an invalid one, is
// ErrInvalidParameter before any request.
func (c *Cloud) UnassignIPs(ctx context.Context, eniID string, addrs []netip.Addr) error {
	const action = "UnassignPrivateIpAddresses"
	if len(addrs) == 0 {
		return invalid(action, "no addresses")
	}
	ips := make([]string, len(addrs))
	for i, a := range addrs {
		if !a.IsValid() {
			return invalid(action, "address %d is the zero netip.Addr", i)
		}
		ips[i] = a.String()
	}
	_, err := send(ctx, c, action, c.client.UnassignPrivateIpAddresses, &ec2.UnassignPrivateIpAddressesInput{
		NetworkInterfaceId: aws.String(eniID),
		PrivateIpAddresses: ips,
	})
	return err
}

// UnassignPrefixes unassigns /28 prefixes with UnassignPrivateIpAddresses
// (Ipv4Prefixes). No prefixes, or an invalid one, is ErrInvalidParameter
// before any request.
func (c *Cloud) UnassignPrefixes(ctx context.Context, eniID string, prefixes []netip.Prefix) error {
	const action = "UnassignPrivateIpAddresses"
	if len(prefixes) == 0 {
		return invalid(action, "no prefixes")
	}
	ps := make([]string, len(prefixes))
	for i, p := range prefixes {
		if !p.IsValid() {
			return invalid(action, "prefix %d is the zero netip.Prefix", i)
		}
		ps[i] = p.String()
	}
	_, err := send(ctx, c, action, c.client.UnassignPrivateIpAddresses, &ec2.UnassignPrivateIpAddressesInput{
		NetworkInterfaceId: aws.String(eniID),
		Ipv4Prefixes:       ps,
	})
	return err
}

// CreateTags adds or overwrites tags with CreateTags, tags sorted by key. No
// resources or no tags is ErrInvalidParameter before any request.
func (c *Cloud) CreateTags(ctx context.Context, resourceIDs []string, tags eni.Tags) error {
	const action = "CreateTags"
	if len(resourceIDs) == 0 || len(tags) == 0 {
		return invalid(action, "%d resources, %d tags: need at least one of each", len(resourceIDs), len(tags))
	}
	_, err := send(ctx, c, action, c.client.CreateTags, &ec2.CreateTagsInput{
		Resources: slices.Clone(resourceIDs),
		Tags:      toTags(tags),
	})
	return err
}
