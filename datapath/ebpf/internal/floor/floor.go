// Package floor is the floor of the load balancer's established-flow
// benchmark: a minimal XDP program (bpf/floor.c) that does for a tracked
// IPv4 TCP flow the least a load balancer can, so that BenchmarkLBFloor
// can measure it on the same frame as BenchmarkLB/dnat/established.
package floor

//go:generate go tool bpf2go -cc clang-16 -strip llvm-strip-16 -target bpfel -tags linux -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" floor bpf/floor.c
