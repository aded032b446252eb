// Command fake-ec2 serves an in-memory EC2 (eni/fake) over the EC2 Query
// protocol (eni/fake/wire), standalone, so that the AWS CLI, the AWS SDKs
// and any other EC2 tooling can be pointed at it:
//
//	go run ./examples/fake-ec2
//	go run ./examples/fake-ec2 -subnets 4 -az us-west-2a,us-west-2b -instances m5.large=2,m5.4xlarge=1 -throttle -latency 50ms
//
// It seeds a world with eni/fake's seeding API: a VPC (-vpc-cidr); -subnets
// subnets splitting the VPC's block evenly, in the -az zones in turn; a
// security group named default; a main route table for every subnet; and
// the -instances (type=count, comma-separated), each with its primary
// interface, spread over the subnets in turn. It prints their IDs, the
// endpoint, an AWS CLI command and the AWS SDK BaseEndpoint to use, then
// serves until SIGINT or SIGTERM and shuts down gracefully.
//
// -listen defaults to 127.0.0.1:8080, the address eni/aws's documentation
// uses for the emulator; 127.0.0.1:0 picks a free port, printed on the
// endpoint line. The emulator checks no signatures, so any credentials do,
// and any region: the one printed is the first zone's without its letter.
// -throttle turns on AWS's per-action token buckets (RequestLimitExceeded)
// and -latency delays every call, as eni/fake documents. It speaks the 14
// actions eni.Cloud uses and nothing else (see eni/fake/wire).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eniway/eniway/eni/fake"
	"github.com/eniway/eniway/eni/fake/wire"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake-ec2:", err)
		os.Exit(1)
	}
}

// shutdownTimeout bounds the wait for requests in flight at shutdown.
const shutdownTimeout = 5 * time.Second

// run seeds the world, prints it and serves until ctx ends.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("fake-ec2", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve on; port 0 picks a free one")
	vpcCIDR := fs.String("vpc-cidr", "10.0.0.0/16", "the VPC's IPv4 block, /16 to /28")
	subnets := fs.Int("subnets", 3, "number of subnets, splitting the VPC's block evenly")
	azs := fs.String("az", "us-east-1a,us-east-1b,us-east-1c", "comma-separated availability zones, used by the subnets in turn")
	instances := fs.String("instances", "m5.large=1", "comma-separated type=count instances to launch, e.g. m5.large=2,m5.4xlarge=1")
	throttle := fs.Bool("throttle", false, "answer RequestLimitExceeded as AWS's per-action token buckets would")
	latency := fs.Duration("latency", 0, "delay every call this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	vpc, err := netip.ParsePrefix(*vpcCIDR)
	if err != nil {
		return fmt.Errorf("-vpc-cidr: %w", err)
	}
	zones := splitList(*azs)
	if len(zones) == 0 {
		return errors.New("-az: no availability zone")
	}
	blocks, err := split(vpc, *subnets)
	if err != nil {
		return err
	}
	launches, err := parseInstances(*instances)
	if err != nil {
		return err
	}
	if *latency < 0 {
		return fmt.Errorf("-latency %v: negative", *latency)
	}

	cloud := fake.New(fake.Options{Throttle: *throttle, Latency: *latency})
	if err := seed(cloud, vpc, blocks, zones, launches, stdout); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           wire.NewHandler(cloud, slog.New(slog.NewTextHandler(stdout, nil))),
		ReadHeaderTimeout: 10 * time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	endpoint := "http://" + ln.Addr().String()
	region := strings.TrimRight(zones[0], "abcdefghijklmnopqrstuvwxyz")
	fmt.Fprintf(stdout, "throttling %t, latency %v\n\n", *throttle, *latency)
	fmt.Fprintf(stdout, "endpoint: %s (EC2 Query API %s; signatures are not checked: any credentials and region do)\n", endpoint, wire.Version)
	fmt.Fprintf(stdout, "AWS CLI:  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test aws --endpoint-url %s --region %s ec2 describe-network-interfaces\n", endpoint, region)
	fmt.Fprintf(stdout, "AWS SDK:  BaseEndpoint %q, region %q, static credentials (Go: ec2.Options.BaseEndpoint; eni/aws: Options.BaseEndpoint)\n", endpoint, region)
	fmt.Fprintln(stdout, "serving until SIGINT or SIGTERM")

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintln(stdout, "stopped")
	return nil
}

// launch is one -instances entry.
type launch struct {
	typ   string
	count int
}

func parseInstances(s string) ([]launch, error) {
	var out []launch
	for _, item := range splitList(s) {
		typ, n, ok := strings.Cut(item, "=")
		count, err := strconv.Atoi(n)
		if !ok || typ == "" || err != nil || count < 0 {
			return nil, fmt.Errorf("-instances: %q: want type=count, e.g. m5.large=2", item)
		}
		out = append(out, launch{typ, count})
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// split cuts an IPv4 block into the first n of its 2^k equal parts, 2^k the
// smallest power of two >= n, each between /16 and /28 as EC2 requires.
func split(vpc netip.Prefix, n int) ([]netip.Prefix, error) {
	if n < 1 {
		return nil, fmt.Errorf("-subnets %d: want at least 1", n)
	}
	if !vpc.Addr().Is4() || vpc != vpc.Masked() {
		return nil, fmt.Errorf("-vpc-cidr %s: want an IPv4 block with no host bits", vpc)
	}
	size := max(vpc.Bits()+bits.Len(uint(n-1)), 16)
	if size > 28 {
		return nil, fmt.Errorf("-subnets %d: %s cannot hold that many subnets of /28 or more", n, vpc)
	}
	base := vpc.Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	out := make([]netip.Prefix, n)
	for i := range out {
		a := start + uint32(i)<<(32-size)
		out[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), size)
	}
	return out, nil
}

// seed builds the world with the fake's seeding API and prints it.
func seed(cloud *fake.Cloud, vpc netip.Prefix, blocks []netip.Prefix, zones []string, launches []launch, w io.Writer) error {
	vpcID, err := cloud.AddVPC(vpc)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "vpc       %s  %s\n", vpcID, vpc)
	var subnetIDs []string
	for i, p := range blocks {
		s, err := cloud.AddSubnet(fake.SubnetSpec{VPCID: vpcID, AvailabilityZone: zones[i%len(zones)], CIDR: p})
		if err != nil {
			return err
		}
		subnetIDs = append(subnetIDs, s.ID)
		fmt.Fprintf(w, "subnet    %s  %s  %s  %d free\n", s.ID, s.CIDR, s.AvailabilityZone, s.AvailableIPs)
	}
	sg, err := cloud.AddSecurityGroup(vpcID, "default", nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "sg        %s  default\n", sg)
	rtb, err := cloud.AddRouteTable(vpcID, true, subnetIDs...)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "rtb       %s  main, every subnet\n", rtb)
	n := 0
	for _, l := range launches {
		for range l.count {
			in, err := cloud.AddInstance(fake.InstanceSpec{Type: l.typ, SubnetID: subnetIDs[n%len(subnetIDs)], SecurityGroupIDs: []string{sg}})
			if err != nil {
				return fmt.Errorf("-instances %s: %w", l.typ, err)
			}
			n++
			e := in.ENIs[0]
			fmt.Fprintf(w, "instance  %s  %s  %s  %s  primary %s %s\n", in.ID, in.Type, in.SubnetID, in.AvailabilityZone, e.ID, e.PrimaryIP)
		}
	}
	return nil
}
