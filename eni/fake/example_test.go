package fake_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/eniway/eniway/eni"
	"github.com/eniway/eniway/eni/fake"
)

// Seed a VPC with a subnet and an m5.large, then give the node a second
// interface with secondary addresses until the instance type's limit stops
// it, as EC2 would.
func Example() {
	ctx := context.Background()
	c := fake.New(fake.Options{})
	vpc, _ := c.AddVPC(netip.MustParsePrefix("10.0.0.0/16"))
	subnet, _ := c.AddSubnet(fake.SubnetSpec{VPCID: vpc, AvailabilityZone: "us-east-1a", CIDR: netip.MustParsePrefix("10.0.1.0/24")})
	node, _ := c.AddInstance(fake.InstanceSpec{Type: "m5.large", SubnetID: subnet.ID})
	fmt.Println("node primary address:", node.ENIs[0].PrimaryIP)

	e, err := c.CreateENI(ctx, eni.CreateENIInput{SubnetID: subnet.ID, Tags: eni.Tags{"eniway.io/node": node.ID}})
	if err != nil {
		panic(err)
	}
	if _, err := c.AttachENI(ctx, eni.AttachInput{ENIID: e.ID, InstanceID: node.ID, DeviceIndex: 1}); err != nil {
		panic(err)
	}
	ips, err := c.AssignIPs(ctx, e.ID, 9)
	if err != nil {
		panic(err)
	}
	fmt.Println("secondary addresses:", ips[0], "to", ips[len(ips)-1])

	_, err = c.AssignIPs(ctx, e.ID, 1)
	fmt.Println("one more:", errors.Is(err, eni.ErrAddressLimitExceeded))

	subnets, _ := c.DescribeSubnets(ctx, eni.SubnetFilter{IDs: []string{subnet.ID}})
	fmt.Println("free in subnet:", subnets[0].AvailableIPs)
	fmt.Println("EC2 calls:", c.Calls(fake.ActionAssignPrivateIPAddresses), "AssignPrivateIpAddresses")
	// Output:
	// node primary address: 10.0.1.4
	// secondary addresses: 10.0.1.6 to 10.0.1.14
	// one more: true
	// free in subnet: 240
	// EC2 calls: 2 AssignPrivateIpAddresses
}

// Throttling on a manual clock: the mutating bucket holds 100 tokens and
// refills 5 a second.
func Example_throttle() {
	ctx := context.Background()
	clock := fake.NewManualClock(epoch)
	c := fake.New(fake.Options{Clock: clock, Throttle: true})
	vpc, _ := c.AddVPC(netip.MustParsePrefix("10.0.0.0/16"))
	subnet, _ := c.AddSubnet(fake.SubnetSpec{VPCID: vpc, CIDR: netip.MustParsePrefix("10.0.0.0/20")})

	passed := 0
	for range 120 {
		if _, err := c.CreateENI(ctx, eni.CreateENIInput{SubnetID: subnet.ID}); err == nil {
			passed++
		}
	}
	fmt.Println("passed:", passed, "throttled:", c.Throttled(fake.ActionCreateNetworkInterface))
	clock.Advance(time.Second)
	_, err := c.CreateENI(ctx, eni.CreateENIInput{SubnetID: subnet.ID})
	fmt.Println("a second later:", err)
	// Output:
	// passed: 100 throttled: 20
	// a second later: <nil>
}
