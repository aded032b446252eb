package ebpf

// The BPF programs are compiled by clang 16 from Debian 12 (clang-16
// 1:16.0.6-15~deb12u1, with libbpf-dev 1:1.1.2-0+deb12u1 for the helper
// headers); the objects and their Go bindings are committed, and make
// generate checks that this reproduces them byte for byte.
//go:generate go tool bpf2go -cc clang-16 -strip llvm-strip-16 -target bpfel -tags linux -type prefilter_event -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" prefilter bpf/prefilter.c
//go:generate go tool bpf2go -cc clang-16 -strip llvm-strip-16 -target bpfel -tags linux -type lb_event -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" lb bpf/lb.c
//go:generate go tool bpf2go -cc clang-16 -strip llvm-strip-16 -target bpfel -tags linux -type redirect_event -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" redirect bpf/redirect.c
