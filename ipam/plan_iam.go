package ipam

import (
	"maps"
	"slices"
)

// IAMOptions are the parts of a configuration that change which EC2 actions
// the pool manager calls. The zero value is the default configuration.
type IAMOptions struct {
	// ReleaseExcessIPs: addresses above the watermarks go back to EC2
	// (Cilium's awsReleaseExcessIPs), and an interface left with none in
	// use is detached and deleted.
	ReleaseExcessIPs bool
	// SecurityGroupTags: the security groups of new interfaces are chosen
	// by tags (rather than by ID, or copied from the primary interface).
	SecurityGroupTags bool
	// NoDeleteOnTermination: new interfaces are not marked to be deleted
	// with their instance (by default they are; garbage collection then
	// deletes leaked ones).
	NoDeleteOnTermination bool
}

// ec2Actions maps each eni.Cloud method to the EC2 action its AWS backend
// (package eni/aws) calls; a test checks it covers eni.Cloud, and
// examples/ipam-plan checks the actions against eni/aws's IAMActions.
var ec2Actions = map[string]string{
	"DescribeInstance":       "DescribeInstances",
	"DescribeInstanceTypes":  "DescribeInstanceTypes",
	"DescribeENIs":           "DescribeNetworkInterfaces",
	"DescribeSubnets":        "DescribeSubnets",
	"DescribeSecurityGroups": "DescribeSecurityGroups",
	"DescribeRouteTables":    "DescribeRouteTables",
	"CreateENI":              "CreateNetworkInterface",
	"AttachENI":              "AttachNetworkInterface",
	"DetachENI":              "DetachNetworkInterface",
	"DeleteENI":              "DeleteNetworkInterface",
	"SetDeleteOnTermination": "ModifyNetworkInterfaceAttribute",
	"AssignIPs":              "AssignPrivateIpAddresses",
	"AssignPrefixes":         "AssignPrivateIpAddresses",
	"UnassignIPs":            "UnassignPrivateIpAddresses",
	"UnassignPrefixes":       "UnassignPrivateIpAddresses",
	"CreateTags":             "CreateTags",
}

// cloudMethods returns the eni.Cloud methods the pool manager calls in a
// configuration.
func cloudMethods(m Mode, o IAMOptions) []string {
	ms := []string{
		"DescribeInstance",      // a node's interfaces and their addresses
		"DescribeInstanceTypes", // limits, refreshed when an unknown type appears
		"DescribeENIs",          // reconciling pools and checkpoints; garbage collection
		"DescribeSubnets",       // subnet selection, free-address counts
		"DescribeRouteTables",   // subnet selection
		"CreateENI",
		"AttachENI",
		"DeleteENI", // interfaces created but never attached; leaked ones
		"AssignIPs", // with prefix delegation too: the fallback when no /28 is free
		"CreateTags",
	}
	if m != ModeSecondaryIPs {
		// A /28 whose addresses are all free is given back whatever
		// ReleaseExcessIPs says.
		ms = append(ms, "AssignPrefixes", "UnassignPrefixes")
	}
	if o.ReleaseExcessIPs {
		ms = append(ms, "UnassignIPs", "DetachENI")
	}
	if o.SecurityGroupTags {
		ms = append(ms, "DescribeSecurityGroups")
	}
	if !o.NoDeleteOnTermination {
		ms = append(ms, "SetDeleteOnTermination")
	}
	return ms
}

// IAMActions returns the IAM actions ("ec2:Action", sorted) the pool manager
// needs in mode m with options opts. It derives them from the eni.Cloud
// methods the configuration calls and the EC2 action each calls in package
// eni/aws. Every configuration needs
//
//	ec2:DescribeInstances          a node's interfaces and addresses
//	ec2:DescribeInstanceTypes      the limits of the nodes' instance types
//	ec2:DescribeNetworkInterfaces  reconciliation, garbage collection
//	ec2:DescribeSubnets            subnet selection, free addresses
//	ec2:DescribeRouteTables        subnet selection
//	ec2:CreateNetworkInterface
//	ec2:AttachNetworkInterface
//	ec2:DeleteNetworkInterface     leaked interfaces, and those never attached
//	ec2:AssignPrivateIpAddresses   secondary addresses and /28 prefixes alike
//	ec2:CreateTags                 the eniway tags, set at creation
//
// and, by configuration,
//
//	ec2:UnassignPrivateIpAddresses       prefix delegation (free /28s go back), or ReleaseExcessIPs
//	ec2:DetachNetworkInterface           ReleaseExcessIPs
//	ec2:DescribeSecurityGroups           SecurityGroupTags
//	ec2:ModifyNetworkInterfaceAttribute  unless NoDeleteOnTermination
//
// ec2:CreateTags is needed even though tags are set by
// CreateNetworkInterface itself: EC2 authorizes tagging on creation as
// ec2:CreateTags (with the condition key ec2:CreateAction). A mode that is
// neither declared one gets prefix delegation's actions, the larger set.
// The union over all configurations is exactly what eni/aws calls
// (eniaws.IAMActions).
//
// The list the guide gives is outdated: Cilium 1.18's operator also needs
// ec2:DescribeVpcs, ec2:DescribeRouteTables and ec2:DescribeInstanceTypes.
// Ours follows our code: it needs ec2:DescribeRouteTables and
// ec2:DescribeInstanceTypes too, but not ec2:DescribeVpcs, which package eni
// never calls (the VPC comes with the instance, its interfaces and the
// subnets).
func IAMActions(m Mode, opts IAMOptions) []string {
	set := make(map[string]bool)
	for _, method := range cloudMethods(m, opts) {
		set["ec2:"+ec2Actions[method]] = true
	}
	return slices.Sorted(maps.Keys(set))
}
