package maglev_test

import (
	"fmt"
	"net/netip"

	"github.com/eniway/eniway/maglev"
)

// Build the table a Cilium agent programs for a service with three
// backends, see how evenly it is shared, what moves when a backend goes,
// and which backend a client's flow lands on.
func Example() {
	b, err := maglev.NewBuilder(maglev.Config{TableSize: 16381}) // ModeCilium, default seed
	if err != nil {
		panic(err)
	}
	backends := []maglev.Backend{
		{ID: 1, Addr: netip.MustParseAddr("10.0.1.10"), Port: 8080, Protocol: maglev.ProtocolTCP, Weight: 1},
		{ID: 2, Addr: netip.MustParseAddr("10.0.2.10"), Port: 8080, Protocol: maglev.ProtocolTCP, Weight: 1},
		{ID: 3, Addr: netip.MustParseAddr("10.0.3.10"), Port: 8080, Protocol: maglev.ProtocolTCP, Weight: 1},
	}
	table, err := b.Table(backends)
	if err != nil {
		panic(err)
	}
	st := maglev.ComputeStats(table, backends)
	for _, bs := range st.Backends {
		fmt.Printf("backend %d owns %d slots\n", bs.ID, bs.Slots)
	}

	after, err := b.Table(backends[:2])
	if err != nil {
		panic(err)
	}
	fmt.Printf("removing backend 3 moves %.1f%% of the table\n", 100*maglev.Diff(table, after).Fraction)

	flow := maglev.Flow{Src: netip.MustParseAddr("203.0.113.9"), SrcPort: 51000, DstPort: 80, Proto: 6}
	id, _ := maglev.Lookup(table, b.Seed(), flow)
	fmt.Printf("flow from 203.0.113.9:51000 goes to backend %d\n", id)
	// Output:
	// backend 1 owns 5461 slots
	// backend 2 owns 5460 slots
	// backend 3 owns 5460 slots
	// removing backend 3 moves 33.4% of the table
	// flow from 203.0.113.9:51000 goes to backend 1
}

// Reuse a Builder and a table buffer: after the first build, rebuilding
// allocates nothing.
func ExampleBuilder_Build() {
	b, err := maglev.NewBuilder(maglev.Config{Mode: maglev.ModeNative, TableSize: 251})
	if err != nil {
		panic(err)
	}
	table := make([]uint32, 0, b.TableSize())
	backends := []maglev.Backend{
		{ID: 10, Addr: netip.MustParseAddr("2001:db8::a"), Port: 443, Protocol: maglev.ProtocolTCP, Weight: 3},
		{ID: 20, Addr: netip.MustParseAddr("2001:db8::b"), Port: 443, Protocol: maglev.ProtocolTCP, Weight: 1},
	}
	table, err = b.Build(table, backends)
	if err != nil {
		panic(err)
	}
	st := maglev.ComputeStats(table, backends)
	fmt.Printf("%d slots: %d for weight 3, %d for weight 1\n", len(table), st.Backends[0].Slots, st.Backends[1].Slots)
	// Output:
	// 251 slots: 188 for weight 3, 63 for weight 1
}

// Errors name the backend and the field.
func ExampleBackendError() {
	b, _ := maglev.NewBuilder(maglev.Config{})
	_, err := b.Table([]maglev.Backend{
		{ID: 1, Addr: netip.MustParseAddr("10.0.0.1"), Port: 80, Protocol: maglev.ProtocolTCP, Weight: 1},
		{ID: 2, Addr: netip.MustParseAddr("10.0.0.1"), Port: 80, Protocol: maglev.ProtocolTCP, Weight: 1},
	})
	fmt.Println(err)
	// Output:
	// maglev: backends[1] (10.0.0.1:80/TCP) Addr: same address, port, protocol and cluster ID as backends[0]: duplicate backend
}
