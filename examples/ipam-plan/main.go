// Command ipam-plan plans the VPC addresses of ENI-mode nodes with package
// ipam's capacity planner: an instance type's max pods with the arithmetic,
// the addresses a node group needs (nodes x max pods x headroom), the
// smallest subnet that holds them (counting the 5 addresses AWS reserves and,
// with prefix delegation, /28 alignment), and the IAM actions it calls.
// Instance limits come from eni's embedded snapshot table.
//
//	go run ./examples/ipam-plan -nodes 10 -instance-type m5.4xlarge -mode pd
//	go run ./examples/ipam-plan -nodes 10 -max-pods 110 -instance-type ''
//	go run ./examples/ipam-plan -instance-type m7g.xlarge -mode pd -json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/eniway/eniway/eni"
	"github.com/eniway/eniway/ipam"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ipam-plan:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("ipam-plan", flag.ContinueOnError)
	nodes := fs.Int("nodes", 10, "number of nodes")
	instanceType := fs.String("instance-type", "m5.4xlarge", "the nodes' EC2 instance type, looked up in eni's snapshot table (\"\" with -max-pods: no limits)")
	mode := fs.String("mode", "secondary", "pod addresses: secondary (secondary IPv4 addresses) or pd (/28 prefix delegation)")
	maxPods := fs.Int("max-pods", 0, "max pods per node (kubelet's --max-pods); 0 takes the instance type's")
	headroom := fs.Float64("headroom", ipam.DefaultHeadroom, "addresses per pod planned, at least 1")
	vcpus := fs.Int("vcpus", 0, "the instance type's vCPUs, which cap max pods with prefix delegation; 0 takes the snapshot's (0 there means unknown)")
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	releaseExcess := fs.Bool("release-excess-ips", false, "IAM: addresses above the watermarks go back to EC2")
	sgTags := fs.Bool("security-group-tags", false, "IAM: security groups are selected by tags")
	noDoT := fs.Bool("no-delete-on-termination", false, "IAM: interfaces are not marked delete-on-termination")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	m, err := ipam.ParseMode(*mode)
	if err != nil {
		return fmt.Errorf("-mode: %w", err)
	}
	in := ipam.PlanInput{
		Nodes:          *nodes,
		InstanceType:   *instanceType,
		Mode:           m,
		MaxPodsPerNode: *maxPods,
		Headroom:       *headroom,
		IAM:            ipam.IAMOptions{ReleaseExcessIPs: *releaseExcess, SecurityGroupTags: *sgTags, NoDeleteOnTermination: *noDoT},
	}
	if *instanceType != "" {
		l, ok := eni.SnapshotLimits(*instanceType)
		if !ok {
			return unknownType(*instanceType)
		}
		if *vcpus != 0 {
			l.VCPUs = *vcpus
		}
		in.Limits = l
	}
	p, err := ipam.Plan(in)
	if err != nil {
		return err
	}
	if *asJSON {
		e := json.NewEncoder(out)
		e.SetIndent("", "  ")
		return e.Encode(p)
	}
	_, err = fmt.Fprint(out, p)
	return err
}

// unknownType is the error for a type the snapshot lacks, naming the types
// it knows of the same family.
func unknownType(t string) error {
	family, _, _ := strings.Cut(t, ".")
	var same []string
	for _, k := range eni.SnapshotTypes() {
		if strings.HasPrefix(k, family+".") {
			same = append(same, k)
		}
	}
	err := fmt.Errorf("-instance-type %q: not in eni's snapshot table of %d types", t, len(eni.SnapshotTypes()))
	if len(same) > 0 {
		err = fmt.Errorf("%w; the %s types it has: %s", err, family, strings.Join(same, ", "))
	}
	return err
}
