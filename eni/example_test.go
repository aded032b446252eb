package eni_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/eniway/eniway/eni"
	"github.com/eniway/eniway/eni/fake"
)

// Offline planning with the embedded snapshot.
func ExampleSnapshotLimits() {
	for _, typ := range []string{"m5.large", "m7g.xlarge", "t2.medium"} {
		l, ok := eni.SnapshotLimits(typ)
		if !ok {
			log.Fatalf("%s not in the snapshot", typ)
		}
		fmt.Printf("%s: %d ENIs x %d IPv4, %s, prefix delegation %t\n",
			l.InstanceType, l.MaxENIs, l.IPv4PerENI, l.Hypervisor, l.PrefixDelegation())
	}
	// Output:
	// m5.large: 3 ENIs x 10 IPv4, nitro, prefix delegation true
	// m7g.xlarge: 4 ENIs x 15 IPv4, nitro, prefix delegation true
	// t2.medium: 3 ENIs x 6 IPv4, xen, prefix delegation false
}

// The API answers, and its answers are cached; when it fails, the snapshot
// answers. Here eni/fake stands in for EC2 (eni/aws in production).
func ExampleLimitsCache() {
	ctx := context.Background()
	ec2 := fake.New(fake.Options{})
	limits := eni.NewLimitsCache(ec2, eni.LimitsCacheOptions{})

	l, err := limits.Get(ctx, "m5.4xlarge")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d ENIs x %d IPv4, %d vCPUs (from DescribeInstanceTypes)\n", l.InstanceType, l.MaxENIs, l.IPv4PerENI, l.VCPUs)

	// A second type within a minute of the first lookup: no lookup allowed
	// yet, so the snapshot answers (it does not know vCPUs).
	l, err = limits.Get(ctx, "m5.large")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d ENIs x %d IPv4, %d vCPUs (from the snapshot)\n", l.InstanceType, l.MaxENIs, l.IPv4PerENI, l.VCPUs)

	_, err = limits.Get(ctx, "x9.nonexistent")
	fmt.Println(errors.Is(err, eni.ErrUnknownInstanceType), ec2.Calls(fake.ActionDescribeInstanceTypes))
	// Output:
	// m5.4xlarge: 8 ENIs x 30 IPv4, 16 vCPUs (from DescribeInstanceTypes)
	// m5.large: 3 ENIs x 10 IPv4, 0 vCPUs (from the snapshot)
	// true 1
}
