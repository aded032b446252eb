// Package floor is the floor of the load balancer's established-flow
// benchmarks: minimal XDP programs (bpf/floor.c) that do for a tracked
// IPv4 TCP flow the least a load balancer can, DNAT or IPIP, so that
// BenchmarkLBFloor can measure them on the same frame as
// BenchmarkLB/dnat/established and dsr/established.
package floor

//go:generate go tool bpf2go -cc clang-16 -strip llvm-strip-16 -target bpfel -tags linux -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" floor bpf/floor.c
