package fake

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/eniway/eniway/eni"
)

// begin is every eni.Cloud call's preamble: the context check, the call
// counter, the latency, the throttle and the fault hook, in that order. A
// non-nil error ends the call with nothing changed.
func (c *Cloud) begin(ctx context.Context, call Call, class throttleClass) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.calls[call.Action]++
	c.mu.Unlock()
	if c.latency > 0 {
		if err := c.clock.Sleep(ctx, c.latency); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	c.mu.Lock()
	if c.throttle && !c.buckets[class].take(c.clock.Now()) {
		c.throttled[call.Action]++
		c.mu.Unlock()
		return apiError(call.Action, "RequestLimitExceeded", "Request limit exceeded.")
	}
	fault := c.faults[call.Action]
	if fault != nil {
		c.resolveLocked(&call)
	}
	c.mu.Unlock()
	if fault != nil {
		return fault(call)
	}
	return nil
}

// resolveLocked completes a Call from the state: an attachment's interface,
// an interface's subnet, instance and attachment.
func (c *Cloud) resolveLocked(call *Call) {
	if call.ENIID == "" && call.AttachmentID != "" {
		call.ENIID = c.attachments[call.AttachmentID]
	}
	e := c.enis[call.ENIID]
	if e == nil {
		return
	}
	if call.SubnetID == "" {
		call.SubnetID = e.SubnetID
	}
	if e.Attachment != nil {
		if call.InstanceID == "" {
			call.InstanceID = e.Attachment.InstanceID
		}
		if call.AttachmentID == "" {
			call.AttachmentID = e.Attachment.ID
		}
	}
}

func (e *iface) visible(now time.Time) bool { return !now.Before(e.visibleAt) }

// slots returns the address slots the interface uses: its primary address,
// its secondary addresses and its prefixes.
func (e *iface) slots() int { return 1 + len(e.SecondaryIPs) + len(e.Prefixes) }

func eniNotFound(action, id string) error {
	return apiError(action, "InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '%s' does not exist", id)
}

func instanceNotFound(action, id string) error {
	return apiError(action, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
}

func subnetNotFound(action, id string) error {
	return apiError(action, "InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
}

func insufficientAddresses(action string) error {
	return apiError(action, "InsufficientFreeAddressesInSubnet", "The specified subnet does not have enough free addresses to satisfy the request.")
}

func insufficientBlocks(action string) error {
	return apiError(action, "InsufficientCidrBlocks", "The specified subnet does not have enough free cidr blocks to satisfy the request.")
}

func invalidParameter(action, format string, args ...any) error {
	return apiError(action, "InvalidParameterValue", format, args...)
}

func (c *Cloud) checkGroups(action string, sn *subnet, ids []string) error {
	for _, id := range ids {
		if g := c.groups[id]; g == nil || g.VPCID != sn.VPCID {
			return apiError(action, "InvalidGroup.NotFound", "The security group '%s' does not exist in VPC '%s'", id, sn.VPCID)
		}
	}
	return nil
}

// addressLimit returns the address slots the interface may use and, if it
// is attached, its instance's type.
func (c *Cloud) addressLimit(e *iface) (int, eni.Limits, bool) {
	if e.Attachment == nil {
		return UnattachedAddressLimit, eni.Limits{}, false
	}
	l := c.types[c.instances[e.Attachment.InstanceID].Type]
	return l.IPv4PerENI, l, true
}

func limitExceeded(action, id string, limit int) error {
	return apiError(action, "PrivateIpAddressLimitExceeded", "Number of private addresses will exceed limit of %d for network interface %s.", limit, id)
}

func (c *Cloud) newENI(sn *subnet, primary netip.Addr, groups []string, desc string, tags eni.Tags, visibleAt time.Time) *iface {
	e := &iface{
		ENI: eni.ENI{
			ID: c.newID("eni"), SubnetID: sn.ID, VPCID: sn.VPCID, AvailabilityZone: sn.AvailabilityZone,
			MAC: c.newMAC(), Description: desc, SecurityGroupIDs: groups, PrimaryIP: primary,
			Status: eni.StatusAvailable, Tags: tags,
		},
		visibleAt: visibleAt,
	}
	c.enis[e.ID] = e
	return e
}

func (c *Cloud) attachLocked(e *iface, in *instance, index int, deleteOnTermination bool) string {
	a := &eni.Attachment{ID: c.newID("eni-attach"), InstanceID: in.ID, DeviceIndex: index, DeleteOnTermination: deleteOnTermination}
	e.Attachment = a
	e.Status = eni.StatusInUse
	in.devices[index] = e.ID
	c.attachments[a.ID] = e.ID
	return a.ID
}

func (c *Cloud) detachLocked(e *iface) {
	a := e.Attachment
	delete(c.instances[a.InstanceID].devices, a.DeviceIndex)
	delete(c.attachments, a.ID)
	e.Attachment = nil
	e.Status = eni.StatusAvailable
}

// deleteLocked deletes a detached interface and releases its addresses.
func (c *Cloud) deleteLocked(e *iface) {
	sn := c.subnets[e.SubnetID]
	sn.releaseAddr(e.PrimaryIP)
	for _, a := range e.SecondaryIPs {
		sn.releaseAddr(a)
	}
	for _, p := range e.Prefixes {
		sn.releasePrefix(p)
	}
	delete(c.enis, e.ID)
}

func (c *Cloud) describeInstanceLocked(in *instance, now time.Time, all bool) eni.Instance {
	out := in.Instance
	out.ENIs = make([]eni.ENI, 0, len(in.devices))
	for _, idx := range slices.Sorted(maps.Keys(in.devices)) {
		if e := c.enis[in.devices[idx]]; all || e.visible(now) {
			out.ENIs = append(out.ENIs, e.Clone())
		}
	}
	return out
}

// DescribeInstance implements eni.InstanceDescriber (DescribeInstances):
// the instance with its attached interfaces ordered by device index, less
// those still hidden by Options.DescribeDelay. Errors:
// InvalidInstanceID.NotFound.
func (c *Cloud) DescribeInstance(ctx context.Context, instanceID string) (eni.Instance, error) {
	const action = ActionDescribeInstances
	if err := c.begin(ctx, Call{Action: action, InstanceID: instanceID}, classDescribe); err != nil {
		return eni.Instance{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	in := c.instances[instanceID]
	if in == nil {
		return eni.Instance{}, instanceNotFound(action, instanceID)
	}
	out := c.describeInstanceLocked(in, c.clock.Now(), false)
	for i := range out.ENIs {
		out.ENIs[i].Tags = nil // DescribeInstances does not report interface tags
	}
	return out, nil
}

// DescribeInstanceTypes implements eni.InstanceTypeDescriber: the limits of
// the named types in the order asked, or of every known type, ordered by
// name, when none is named (as EC2 does without a filter). Errors:
// InvalidInstanceType.
func (c *Cloud) DescribeInstanceTypes(ctx context.Context, types ...string) ([]eni.Limits, error) {
	const action = ActionDescribeInstanceTypes
	if err := c.begin(ctx, Call{Action: action}, classDescribe); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(types) == 0 {
		types = slices.Sorted(maps.Keys(c.types))
	}
	out := make([]eni.Limits, 0, len(types))
	for _, t := range types {
		l, ok := c.types[t]
		if !ok {
			return nil, apiError(action, "InvalidInstanceType", "The following supplied instance types do not exist: [%s]", t)
		}
		out = append(out, l)
	}
	return out, nil
}

// DescribeENIs implements eni.ENIDescriber (DescribeNetworkInterfaces):
// deep copies of the visible interfaces the filter selects, ordered by ID.
// Errors: InvalidNetworkInterfaceID.NotFound when f.IDs names an interface
// that does not exist or is still hidden by Options.DescribeDelay.
func (c *Cloud) DescribeENIs(ctx context.Context, f eni.ENIFilter) ([]eni.ENI, error) {
	const action = ActionDescribeNetworkInterfaces
	call := Call{Action: action, InstanceID: f.InstanceID, SubnetID: f.SubnetID}
	if len(f.IDs) == 1 {
		call.ENIID = f.IDs[0]
	}
	class := classDescribe
	if f.IsZero() {
		class = classUnfiltered
	}
	if err := c.begin(ctx, call, class); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	for _, id := range f.IDs {
		if e := c.enis[id]; e == nil || !e.visible(now) {
			return nil, eniNotFound(action, id)
		}
	}
	var out []eni.ENI
	for _, e := range c.enis {
		if e.visible(now) && f.Match(e.ENI) {
			out = append(out, e.Clone())
		}
	}
	slices.SortFunc(out, func(a, b eni.ENI) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// DescribeSubnets implements eni.NetworkDescriber: the subnets the filter
// selects, ordered by ID, with their current AvailableIPs. Errors:
// InvalidSubnetID.NotFound when f.IDs names a subnet that does not exist.
func (c *Cloud) DescribeSubnets(ctx context.Context, f eni.SubnetFilter) ([]eni.Subnet, error) {
	const action = ActionDescribeSubnets
	call := Call{Action: action}
	if len(f.IDs) == 1 {
		call.SubnetID = f.IDs[0]
	}
	if err := c.begin(ctx, call, classDescribe); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range f.IDs {
		if c.subnets[id] == nil {
			return nil, subnetNotFound(action, id)
		}
	}
	var out []eni.Subnet
	for _, s := range c.subnets {
		if f.Match(s.Subnet) {
			out = append(out, s.view())
		}
	}
	slices.SortFunc(out, func(a, b eni.Subnet) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// DescribeSecurityGroups implements eni.NetworkDescriber: the groups the
// filter selects, ordered by ID. Errors: InvalidGroup.NotFound when f.IDs
// names a group that does not exist.
func (c *Cloud) DescribeSecurityGroups(ctx context.Context, f eni.SecurityGroupFilter) ([]eni.SecurityGroup, error) {
	const action = ActionDescribeSecurityGroups
	class := classDescribe
	if f.IsZero() {
		class = classUnfiltered
	}
	if err := c.begin(ctx, Call{Action: action}, class); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range f.IDs {
		if c.groups[id] == nil {
			return nil, apiError(action, "InvalidGroup.NotFound", "The security group '%s' does not exist", id)
		}
	}
	var out []eni.SecurityGroup
	for _, g := range c.groups {
		if f.Match(*g) {
			v := *g
			v.Tags = v.Tags.Clone()
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b eni.SecurityGroup) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// DescribeRouteTables implements eni.NetworkDescriber: the route tables the
// filter selects, ordered by ID.
func (c *Cloud) DescribeRouteTables(ctx context.Context, f eni.RouteTableFilter) ([]eni.RouteTable, error) {
	const action = ActionDescribeRouteTables
	if err := c.begin(ctx, Call{Action: action, SubnetID: f.SubnetID}, classDescribe); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []eni.RouteTable
	for _, rt := range c.routeTables {
		if f.Match(*rt) {
			v := *rt
			v.SubnetIDs = slices.Clone(v.SubnetIDs)
			v.Tags = v.Tags.Clone()
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b eni.RouteTable) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// CreateENI implements eni.ENILifecycle (CreateNetworkInterface): an
// available interface with the subnet's next free address as its primary
// one and, if asked, secondary addresses or /28 prefixes, all or nothing.
// Errors: InvalidParameterValue (negative counts),
// InvalidParameterCombination (both counts set), InvalidSubnetID.NotFound,
// InvalidGroup.NotFound (also for a group of another VPC),
// PrivateIpAddressLimitExceeded (more than UnattachedAddressLimit slots),
// InsufficientFreeAddressesInSubnet, InsufficientCidrBlocks.
func (c *Cloud) CreateENI(ctx context.Context, in eni.CreateENIInput) (eni.ENI, error) {
	const action = ActionCreateNetworkInterface
	if err := c.begin(ctx, Call{Action: action, SubnetID: in.SubnetID}, classMutate); err != nil {
		return eni.ENI{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case in.SecondaryIPs < 0 || in.Prefixes < 0:
		return eni.ENI{}, invalidParameter(action, "Invalid value for secondaryPrivateIpAddressCount (%d) or ipv4PrefixCount (%d).", in.SecondaryIPs, in.Prefixes)
	case in.SecondaryIPs > 0 && in.Prefixes > 0:
		return eni.ENI{}, apiError(action, "InvalidParameterCombination", "You cannot specify both secondaryPrivateIpAddressCount and ipv4PrefixCount.")
	}
	sn := c.subnets[in.SubnetID]
	if sn == nil {
		return eni.ENI{}, subnetNotFound(action, in.SubnetID)
	}
	if err := c.checkGroups(action, sn, in.SecurityGroupIDs); err != nil {
		return eni.ENI{}, err
	}
	if slots := 1 + in.SecondaryIPs + in.Prefixes; slots > UnattachedAddressLimit {
		return eni.ENI{}, limitExceeded(action, "(new)", UnattachedAddressLimit)
	}
	addrs, ok := sn.allocAddrs(1+in.SecondaryIPs, c.rng)
	if !ok {
		return eni.ENI{}, insufficientAddresses(action)
	}
	var prefixes []netip.Prefix
	if in.Prefixes > 0 {
		if prefixes, ok = sn.allocPrefixes(in.Prefixes, c.rng); !ok {
			sn.releaseAddr(addrs[0])
			return eni.ENI{}, insufficientBlocks(action)
		}
	}
	e := c.newENI(sn, addrs[0], slices.Clone(in.SecurityGroupIDs), in.Description, in.Tags.Clone(), c.clock.Now().Add(c.delay))
	if len(addrs) > 1 {
		e.SecondaryIPs = addrs[1:]
	}
	e.Prefixes = prefixes
	return e.Clone(), nil
}

// AttachENI implements eni.ENILifecycle (AttachNetworkInterface). The
// attachment is complete when it returns: the interface is in use, with
// DeleteOnTermination false. Errors, in the order checked:
// InvalidNetworkInterfaceID.NotFound, InvalidInstanceID.NotFound,
// InvalidNetworkInterface.InUse, InvalidParameterValue (another AZ, a
// network card index other than 0, a negative device index),
// AttachmentLimitExceeded (MaxENIs attached), InvalidParameterValue (device
// index taken, or not below MaxENIs), PrivateIpAddressLimitExceeded (the
// interface holds more addresses than the type allows),
// InvalidParameterValue (it holds prefixes and the type cannot).
func (c *Cloud) AttachENI(ctx context.Context, in eni.AttachInput) (string, error) {
	const action = ActionAttachNetworkInterface
	if err := c.begin(ctx, Call{Action: action, ENIID: in.ENIID, InstanceID: in.InstanceID}, classAttach); err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.enis[in.ENIID]
	if e == nil {
		return "", eniNotFound(action, in.ENIID)
	}
	inst := c.instances[in.InstanceID]
	if inst == nil {
		return "", instanceNotFound(action, in.InstanceID)
	}
	if e.Attachment != nil {
		return "", apiError(action, "InvalidNetworkInterface.InUse", "Interface: [%s] in use.", e.ID)
	}
	if e.AvailabilityZone != inst.AvailabilityZone {
		return "", invalidParameter(action, "Instance '%s' (%s) and network interface '%s' (%s) are not in the same availability zone", inst.ID, inst.AvailabilityZone, e.ID, e.AvailabilityZone)
	}
	if in.NetworkCardIndex != 0 {
		return "", invalidParameter(action, "Invalid value '%d' for networkCardIndex: instance '%s' has one network card", in.NetworkCardIndex, inst.ID)
	}
	if in.DeviceIndex < 0 {
		return "", invalidParameter(action, "Invalid value '%d' for deviceIndex", in.DeviceIndex)
	}
	l := c.types[inst.Type]
	if len(inst.devices) >= l.MaxENIs {
		return "", apiError(action, "AttachmentLimitExceeded", "Interface count %d exceeds the limit for %s", len(inst.devices)+1, inst.Type)
	}
	if in.DeviceIndex >= l.MaxENIs {
		return "", invalidParameter(action, "Invalid value '%d' for deviceIndex: %s has %d device indexes", in.DeviceIndex, inst.Type, l.MaxENIs)
	}
	if _, taken := inst.devices[in.DeviceIndex]; taken {
		return "", invalidParameter(action, "Instance '%s' already has an interface attached at device index '%d'.", inst.ID, in.DeviceIndex)
	}
	if e.slots() > l.IPv4PerENI {
		return "", limitExceeded(action, e.ID, l.IPv4PerENI)
	}
	if len(e.Prefixes) > 0 && !l.PrefixDelegation() {
		return "", invalidParameter(action, "Instance type %s does not support IPv4 prefixes, which interface %s holds", inst.Type, e.ID)
	}
	return c.attachLocked(e, inst, in.DeviceIndex, false), nil
}

// DetachENI implements eni.ENILifecycle (DetachNetworkInterface). The
// interface is available when it returns; force changes nothing. Errors:
// InvalidAttachmentID.NotFound, OperationNotPermitted (device index 0).
func (c *Cloud) DetachENI(ctx context.Context, attachmentID string, force bool) error {
	const action = ActionDetachNetworkInterface
	if err := c.begin(ctx, Call{Action: action, AttachmentID: attachmentID}, classAttach); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.attachments[attachmentID]
	if !ok {
		return apiError(action, "InvalidAttachmentID.NotFound", "The attachment ID '%s' does not exist", attachmentID)
	}
	e := c.enis[id]
	if e.Attachment.DeviceIndex == 0 {
		return apiError(action, "OperationNotPermitted", "The network interface at device index 0 and networkCard index 0 cannot be detached.")
	}
	c.detachLocked(e)
	return nil
}

// DeleteENI implements eni.ENILifecycle (DeleteNetworkInterface): the
// interface goes and its addresses and prefixes return to the subnet.
// Errors: InvalidNetworkInterfaceID.NotFound, InvalidNetworkInterface.InUse
// (attached; a primary interface always is).
func (c *Cloud) DeleteENI(ctx context.Context, eniID string) error {
	const action = ActionDeleteNetworkInterface
	if err := c.begin(ctx, Call{Action: action, ENIID: eniID}, classMutate); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.enis[eniID]
	if e == nil {
		return eniNotFound(action, eniID)
	}
	if e.Attachment != nil {
		return apiError(action, "InvalidNetworkInterface.InUse", "Network interface '%s' is currently in use.", eniID)
	}
	c.deleteLocked(e)
	return nil
}

// SetDeleteOnTermination implements eni.ENIModifier
// (ModifyNetworkInterfaceAttribute). Errors:
// InvalidNetworkInterfaceID.NotFound, InvalidAttachmentID.NotFound (the
// attachment is not the interface's).
func (c *Cloud) SetDeleteOnTermination(ctx context.Context, eniID, attachmentID string, deleteOnTermination bool) error {
	const action = ActionModifyNetworkInterfaceAttribute
	if err := c.begin(ctx, Call{Action: action, ENIID: eniID, AttachmentID: attachmentID}, classMutate); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.enis[eniID]
	if e == nil {
		return eniNotFound(action, eniID)
	}
	if e.Attachment == nil || e.Attachment.ID != attachmentID {
		return apiError(action, "InvalidAttachmentID.NotFound", "The attachment ID '%s' does not exist for network interface '%s'", attachmentID, eniID)
	}
	e.Attachment.DeleteOnTermination = deleteOnTermination
	return nil
}

// AssignIPs implements eni.AddressAssigner (AssignPrivateIpAddresses):
// count more secondary addresses, all or none. Errors:
// InvalidParameterValue (count <= 0), InvalidNetworkInterfaceID.NotFound,
// PrivateIpAddressLimitExceeded, InsufficientFreeAddressesInSubnet.
func (c *Cloud) AssignIPs(ctx context.Context, eniID string, count int) ([]netip.Addr, error) {
	const action = ActionAssignPrivateIPAddresses
	if err := c.begin(ctx, Call{Action: action, ENIID: eniID}, classMutate); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if count <= 0 {
		return nil, invalidParameter(action, "Invalid value '%d' for secondaryPrivateIpAddressCount", count)
	}
	e := c.enis[eniID]
	if e == nil {
		return nil, eniNotFound(action, eniID)
	}
	if limit, _, _ := c.addressLimit(e); e.slots()+count > limit {
		return nil, limitExceeded(action, eniID, limit)
	}
	addrs, ok := c.subnets[e.SubnetID].allocAddrs(count, c.rng)
	if !ok {
		return nil, insufficientAddresses(action)
	}
	e.SecondaryIPs = append(e.SecondaryIPs, addrs...)
	return addrs, nil
}

// UnassignIPs implements eni.AddressAssigner (UnassignPrivateIpAddresses),
// all or nothing; an address listed twice is unassigned once. Errors:
// InvalidParameterValue (no address, the primary address, or one the
// interface does not hold as a secondary address),
// InvalidNetworkInterfaceID.NotFound.
func (c *Cloud) UnassignIPs(ctx context.Context, eniID string, addrs []netip.Addr) error {
	const action = ActionUnassignPrivateIPAddresses
	if err := c.begin(ctx, Call{Action: action, ENIID: eniID}, classMutate); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(addrs) == 0 {
		return invalidParameter(action, "No private IP address given")
	}
	e := c.enis[eniID]
	if e == nil {
		return eniNotFound(action, eniID)
	}
	drop := map[netip.Addr]bool{}
	for _, a := range addrs {
		if a == e.PrimaryIP {
			return invalidParameter(action, "The primary private IP address %s of network interface %s cannot be unassigned", a, eniID)
		}
		if !slices.Contains(e.SecondaryIPs, a) {
			return invalidParameter(action, "Some of the specified addresses are not assigned to interface %s: %s", eniID, a)
		}
		drop[a] = true
	}
	sn := c.subnets[e.SubnetID]
	for a := range drop {
		sn.releaseAddr(a)
	}
	e.SecondaryIPs = slices.DeleteFunc(e.SecondaryIPs, func(a netip.Addr) bool { return drop[a] })
	return nil
}

// AssignPrefixes implements eni.AddressAssigner (AssignPrivateIpAddresses
// with Ipv4PrefixCount): count aligned /28 prefixes wholly free in the
// subnet, all or none. Errors: InvalidParameterValue (count <= 0, or
// attached to a type without prefix delegation),
// InvalidNetworkInterfaceID.NotFound, PrivateIpAddressLimitExceeded,
// InsufficientCidrBlocks.
func (c *Cloud) AssignPrefixes(ctx context.Context, eniID string, count int) ([]netip.Prefix, error) {
	const action = ActionAssignPrivateIPAddresses
	if err := c.begin(ctx, Call{Action: action, ENIID: eniID}, classMutate); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if count <= 0 {
		return nil, invalidParameter(action, "Invalid value '%d' for ipv4PrefixCount", count)
	}
	e := c.enis[eniID]
	if e == nil {
		return nil, eniNotFound(action, eniID)
	}
	limit, l, attached := c.addressLimit(e)
	if attached && !l.PrefixDelegation() {
		return nil, invalidParameter(action, "Instance type %s does not support IPv4 prefixes", l.InstanceType)
	}
	if e.slots()+count > limit {
		return nil, limitExceeded(action, eniID, limit)
	}
	prefixes, ok := c.subnets[e.SubnetID].allocPrefixes(count, c.rng)
	if !ok {
		return nil, insufficientBlocks(action)
	}
	e.Prefixes = append(e.Prefixes, prefixes...)
	return prefixes, nil
}

// UnassignPrefixes implements eni.AddressAssigner
// (UnassignPrivateIpAddresses with Ipv4Prefixes), all or nothing; a prefix
// listed twice is unassigned once. Errors: InvalidParameterValue (no
// prefix, or one the interface does not hold),
// InvalidNetworkInterfaceID.NotFound.
func (c *Cloud) UnassignPrefixes(ctx context.Context, eniID string, prefixes []netip.Prefix) error {
	const action = ActionUnassignPrivateIPAddresses
	if err := c.begin(ctx, Call{Action: action, ENIID: eniID}, classMutate); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(prefixes) == 0 {
		return invalidParameter(action, "No IPv4 prefix given")
	}
	e := c.enis[eniID]
	if e == nil {
		return eniNotFound(action, eniID)
	}
	drop := map[netip.Prefix]bool{}
	for _, p := range prefixes {
		if !slices.Contains(e.Prefixes, p) {
			return invalidParameter(action, "Some of the specified prefixes are not assigned to interface %s: %s", eniID, p)
		}
		drop[p] = true
	}
	sn := c.subnets[e.SubnetID]
	for p := range drop {
		sn.releasePrefix(p)
	}
	e.Prefixes = slices.DeleteFunc(e.Prefixes, func(p netip.Prefix) bool { return drop[p] })
	return nil
}

// CreateTags implements eni.Tagger: tags are added to, or overwrite those
// of, interfaces, subnets, instances, security groups, VPCs and route
// tables, all or nothing. Errors: MissingParameter (no resource or no tag),
// the resource's NotFound code (InvalidNetworkInterfaceID.NotFound,
// InvalidSubnetID.NotFound, InvalidInstanceID.NotFound,
// InvalidGroup.NotFound, InvalidVpcID.NotFound,
// InvalidRouteTableID.NotFound), InvalidID for an ID of no taggable kind.
func (c *Cloud) CreateTags(ctx context.Context, resourceIDs []string, tags eni.Tags) error {
	const action = ActionCreateTags
	call := Call{Action: action}
	for _, id := range resourceIDs {
		switch {
		case strings.HasPrefix(id, "eni-attach-"):
		case strings.HasPrefix(id, "eni-") && call.ENIID == "":
			call.ENIID = id
		case strings.HasPrefix(id, "i-") && call.InstanceID == "":
			call.InstanceID = id
		case strings.HasPrefix(id, "subnet-") && call.SubnetID == "":
			call.SubnetID = id
		}
	}
	if err := c.begin(ctx, call, classMutate); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(resourceIDs) == 0 {
		return apiError(action, "MissingParameter", "The request must contain the parameter resourceIdSet")
	}
	if len(tags) == 0 {
		return apiError(action, "MissingParameter", "The request must contain the parameter tagSet")
	}
	targets := make([]*eni.Tags, 0, len(resourceIDs))
	for _, id := range resourceIDs {
		t, err := c.tagsOf(action, id)
		if err != nil {
			return err
		}
		targets = append(targets, t)
	}
	for _, t := range targets {
		if *t == nil {
			*t = eni.Tags{}
		}
		maps.Copy(*t, tags)
	}
	return nil
}

// tagsOf returns the tags of the resource an ID names.
func (c *Cloud) tagsOf(action, id string) (*eni.Tags, error) {
	notFound := func(code, kind string) (*eni.Tags, error) {
		return nil, apiError(action, code, "The %s ID '%s' does not exist", kind, id)
	}
	switch {
	case strings.HasPrefix(id, "eni-attach-"):
	case strings.HasPrefix(id, "eni-"):
		if e := c.enis[id]; e != nil {
			return &e.Tags, nil
		}
		return notFound("InvalidNetworkInterfaceID.NotFound", "networkInterface")
	case strings.HasPrefix(id, "subnet-"):
		if s := c.subnets[id]; s != nil {
			return &s.Tags, nil
		}
		return notFound("InvalidSubnetID.NotFound", "subnet")
	case strings.HasPrefix(id, "i-"):
		if in := c.instances[id]; in != nil {
			return &in.tags, nil
		}
		return notFound("InvalidInstanceID.NotFound", "instance")
	case strings.HasPrefix(id, "sg-"):
		if g := c.groups[id]; g != nil {
			return &g.Tags, nil
		}
		return notFound("InvalidGroup.NotFound", "security group")
	case strings.HasPrefix(id, "vpc-"):
		if v := c.vpcs[id]; v != nil {
			return &v.tags, nil
		}
		return notFound("InvalidVpcID.NotFound", "vpc")
	case strings.HasPrefix(id, "rtb-"):
		if rt := c.routeTables[id]; rt != nil {
			return &rt.Tags, nil
		}
		return notFound("InvalidRouteTableID.NotFound", "route table")
	}
	return nil, apiError(action, "InvalidID", "The ID '%s' is not valid", id)
}
