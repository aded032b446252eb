// Command ipam-sim runs the real ipam manager and allocators against an
// in-memory EC2 (eni/fake) on a virtual clock and prints what it took to
// give every pod an address: EC2 calls, throttling, simulated time, pod
// wait, subnet use, leaks and double assignments.
//
//	go run ./examples/ipam-sim -mode secondary -arrival trickle
//	go run ./examples/ipam-sim -nodes 100 -mode pd -throttle -latency 50ms -json
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"

	"github.com/eniway/eniway/ipam"
	"github.com/eniway/eniway/ipam/ipamsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ipam-sim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	def := ipamsim.DefaultConfig()
	fs := flag.NewFlagSet("ipam-sim", flag.ContinueOnError)
	nodes := fs.Int("nodes", def.Nodes, "number of nodes")
	typ := fs.String("instance-type", def.InstanceType, "instance type of every node")
	pods := fs.Int("pods", def.PodsPerNode, "pods per node")
	mode := fs.String("mode", "secondary", "address mode: secondary or pd (prefix delegation)")
	arrival := fs.String("arrival", def.Arrival, "pod arrival: burst (all at once) or trickle (one at a time)")
	interval := fs.Duration("interval", def.Interval, "time between pods with -arrival trickle")
	latency := fs.Duration("latency", def.Latency, "latency of every EC2 call")
	throttle := fs.Bool("throttle", false, "apply AWS's EC2 throttling buckets")
	subnet := fs.String("subnet", def.SubnetCIDR.String(), "pod subnet inside 10.0.0.0/16")
	preAllocate := fs.Int("pre-allocate", def.Pool.PreAllocate, "free addresses kept ready per node")
	above := fs.Int("max-above-watermark", def.Pool.MaxAboveWatermark, "addresses allocated beyond the need when allocating")
	fill := fs.Bool("fill-interfaces", def.Pool.FillInterfaces, "fill each interface touched (secondary addresses)")
	crashes := fs.Int("crashes", 0, "kill the manager this many times between creating and attaching an interface")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := def
	m, err := ipam.ParseMode(*mode)
	if err != nil {
		return err
	}
	prefix, err := netip.ParsePrefix(*subnet)
	if err != nil {
		return fmt.Errorf("-subnet: %w", err)
	}
	cfg.Nodes, cfg.InstanceType, cfg.PodsPerNode, cfg.Arrival = *nodes, *typ, *pods, *arrival
	cfg.Interval, cfg.Latency, cfg.Throttle, cfg.SubnetCIDR = *interval, *latency, *throttle, prefix
	cfg.Pool.Mode, cfg.Pool.PreAllocate, cfg.Pool.MaxAboveWatermark, cfg.Pool.FillInterfaces = m, *preAllocate, *above, *fill
	cfg.Crashes = *crashes
	res, err := ipamsim.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(out, "%d nodes x %d pods, %s, %s, %s arrival, latency %s, throttling %v\n",
		cfg.Nodes, cfg.PodsPerNode, cfg.InstanceType, m, cfg.Arrival, cfg.Latency, cfg.Throttle)
	fmt.Fprintf(out, "EC2 calls: %d mutating, %d describe, %d throttled\n", res.MutatingCalls, res.DescribeCalls, res.ThrottledCalls)
	fmt.Fprintf(out, "every pod had an address after %.2f s (simulated); p99 pod wait %.2f s\n", res.TimeToAllIPs, res.P99PodWait)
	fmt.Fprintf(out, "subnet addresses used: %d; leaked interfaces %d, leaked addresses %d, double assignments %d\n",
		res.SubnetIPsUsed, res.LeakedENIs, res.LeakedIPs, res.DoubleAssignedIPs)
	if res.Crashes > 0 {
		fmt.Fprintf(out, "manager crashes: %d; interfaces the garbage collector removed: %d\n", res.Crashes, res.CollectedENIs)
	}
	return nil
}
