// Command maglev builds the Maglev lookup table of a service and prints it
// with its balance and disruption statistics: how evenly the backends share
// the table, and how much of it moves when a backend is removed, added or
// has its weight halved.
//
//	go run ./examples/maglev
//	go run ./examples/maglev -backends 100 -mode native -weights 1,2,3
package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/eniway/eniway/maglev"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "maglev:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("maglev", flag.ContinueOnError)
	n := fs.Int("backends", 10, "number of backends (10.0.x.y:8080/TCP)")
	m := fs.Int("table-size", 65521, "table size M, a prime (Cilium's maglev.tableSize)")
	seed := fs.String("seed", maglev.DefaultHashSeed, "base64 hash seed of 12 bytes (Cilium's maglev.hashSeed)")
	mode := fs.String("mode", "cilium", "algorithm: cilium (identical to Cilium's tables) or native")
	weights := fs.String("weights", "100", "comma-separated weights, repeated over the backends (Cilium's default backend weight is 100)")
	show := fs.Int("show", 32, "number of leading table slots to print")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := maglev.Config{TableSize: *m, HashSeed: *seed}
	switch *mode {
	case "cilium":
		cfg.Mode = maglev.ModeCilium
	case "native":
		cfg.Mode = maglev.ModeNative
	default:
		return fmt.Errorf("-mode %q: want cilium or native", *mode)
	}
	ws, err := parseWeights(*weights)
	if err != nil {
		return err
	}
	b, err := maglev.NewBuilder(cfg)
	if err != nil {
		return err
	}
	backends := make([]maglev.Backend, *n)
	for i := range backends {
		backends[i] = maglev.Backend{
			ID:       uint32(i + 1),
			Addr:     netip.AddrFrom4([4]byte{10, 0, byte((i + 1) >> 8), byte(i + 1)}),
			Port:     8080,
			Protocol: maglev.ProtocolTCP,
			Weight:   ws[i%len(ws)],
		}
	}

	start := time.Now()
	table, err := b.Table(backends)
	if err != nil {
		return err
	}
	took := time.Since(start)

	fmt.Fprintf(out, "service: %d backends, M=%d, mode %s, seed %s (built in %s)\n",
		len(backends), b.TableSize(), cfg.Mode, b.Seed(), took.Round(time.Microsecond))
	if len(table) == 0 {
		return nil
	}
	fmt.Fprintf(out, "first %d slots:", min(*show, len(table)))
	for _, id := range table[:min(*show, len(table))] {
		fmt.Fprintf(out, " %d", id)
	}
	fmt.Fprintln(out)

	st := maglev.ComputeStats(table, backends)
	if len(st.Backends) <= 20 {
		for _, bs := range st.Backends {
			fmt.Fprintf(out, "  backend %-3d %-20s weight %-5d slots %-6d share %6.3f%% (target %6.3f%%)\n",
				bs.ID, backends[bs.ID-1].String(), bs.Weight, bs.Slots, 100*bs.Share, 100*bs.Want)
		}
	}
	fmt.Fprintf(out, "balance: min %d, max %d slots, max/min %.4f, weight error %.3f%%\n",
		st.MinSlots, st.MaxSlots, st.MaxMinRatio, 100*st.WeightError)

	report := func(what string, changed []maglev.Backend) error {
		after, err := b.Table(changed)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "disruption, %s: %.3f%% of slots move\n", what, 100*maglev.Diff(table, after).Fraction)
		return nil
	}
	if len(backends) > 1 {
		if err := report("backend 1 removed", backends[1:]); err != nil {
			return err
		}
	}
	added := append(append([]maglev.Backend(nil), backends...), maglev.Backend{
		ID: uint32(len(backends) + 1), Addr: netip.MustParseAddr("10.1.0.1"), Port: 8080, Protocol: maglev.ProtocolTCP, Weight: ws[0],
	})
	if len(added) <= b.TableSize() {
		if err := report("one backend added", added); err != nil {
			return err
		}
	}
	halved := append([]maglev.Backend(nil), backends...)
	halved[0].Weight /= 2
	if halved[0].Weight == 0 {
		return nil
	}
	return report("backend 1's weight halved", halved)
}

func parseWeights(s string) ([]int64, error) {
	var out []int64
	for f := range strings.SplitSeq(s, ",") {
		w, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("-weights: %q is not an integer", f)
		}
		out = append(out, w)
	}
	return out, nil
}
