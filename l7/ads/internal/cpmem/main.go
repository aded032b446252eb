// Command cpmem measures the resident memory of the control plane's xDS
// side: an ads.Server that took the IR of gatewaytest.ScaleInput's
// -routes HTTPRoutes through Update, with -clients ADS clients (adsclient,
// Envoy's behaviour) connected and in sync. The clients run in a child
// process (this program again, with -child), so the figures are the
// server's process alone: the Go runtime, the gRPC server and its
// streams, the IR, its translation, and the translation of the input into
// the IR (which the Gateway controller does in the same process; the
// controller's informer caches are not included). It prints VmRSS after a
// garbage collection, VmHWM (the peak, setup included) and the Go heap.
//
//	go run ./l7/ads/internal/cpmem -routes 1000 -clients 100
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/internal/gatewaytest"
	"github.com/eniway/eniway/l7/ads"
	"github.com/eniway/eniway/l7/ads/internal/adsclient"
)

func main() {
	routes := flag.Int("routes", 1000, "HTTPRoutes (gatewaytest.ScaleInput)")
	clients := flag.Int("clients", 100, "ADS clients, each its own node")
	delta := flag.Bool("delta", false, "incremental clients (state of the world by default)")
	wait := flag.Duration("wait", 5*time.Minute, "how long the clients may take to get in sync")
	child := flag.Bool("child", false, "run the clients (internal)")
	addr := flag.String("addr", "", "server address (with -child)")
	heap := flag.String("heapprofile", "", "write a heap profile of the server's process, once in sync")
	flag.Parse()
	var err error
	if *child {
		err = runClients(*addr, *clients, *delta, *wait)
	} else {
		err = measure(*routes, *clients, *delta, *wait, *heap)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cpmem:", err)
		os.Exit(1)
	}
}

func measure(routes, clients int, delta bool, wait time.Duration, heapProfile string) error {
	srv, err := ads.New(ads.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	start := time.Now()
	if err := load(ctx, srv, routes); err != nil {
		return err
	}
	loaded := time.Since(start)

	cmd := exec.Command(os.Args[0], "-child", "-addr", srv.Addr().String(),
		"-clients", strconv.Itoa(clients), "-delta="+strconv.FormatBool(delta), "-wait", wait.String())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the clients: %w", err)
	}
	defer func() {
		_ = stdin.Close() // the child exits when its stdin closes
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "synced") {
		return fmt.Errorf("the clients did not get in sync: %q: %w", line, err)
	}
	synced := time.Since(start)

	runtime.GC()
	st, err := procStatus()
	if err != nil {
		return err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	debug.FreeOSMemory()
	freed, err := procStatus()
	if err != nil {
		return err
	}
	if heapProfile != "" {
		if err := writeHeapProfile(heapProfile); err != nil {
			return err
		}
	}
	proto := "state of the world"
	if delta {
		proto = "incremental"
	}
	fmt.Printf("routes=%d clients=%d (%s), loaded in %v, clients in sync after %v\n",
		routes, clients, proto, loaded.Round(time.Millisecond), synced.Round(time.Millisecond))
	fmt.Printf("VmRSS %.1f MiB after GC (anonymous %.1f, file-backed %.1f: the binary), VmHWM %.1f MiB\n",
		mib(st.rss), mib(st.anon), mib(st.file), mib(st.hwm))
	fmt.Printf("VmRSS %.1f MiB once freed pages are returned to the OS; Go heap in use %.1f MiB, stacks %.1f MiB, from the OS %.1f MiB\n",
		mib(freed.rss), mib(ms.HeapInuse), mib(ms.StackInuse), mib(ms.Sys))
	cancel()
	return <-done
}

// load updates srv with the IR of routes HTTPRoutes, translated here as
// the Gateway controller would.
func load(ctx context.Context, srv *ads.Server, routes int) error {
	res, err := gatewayapi.Translate(gatewaytest.ScaleInput(routes), gatewayapi.Options{})
	if err != nil {
		return fmt.Errorf("translate: %w", err)
	}
	return srv.Update(ctx, res.IR)
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// memStatus is what procStatus reads.
type memStatus struct{ rss, hwm, anon, file uint64 }

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// runClients connects the clients, says "synced" on stdout once they all
// are, and keeps them until stdin closes.
func runClients(addr string, n int, delta bool, wait time.Duration) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, n)
	var cs []*adsclient.Client
	for i := range n {
		c, err := adsclient.Dial(ctx, addr, adsclient.Options{Node: fmt.Sprintf("node-%03d", i), Delta: delta})
		if err != nil {
			return err
		}
		defer c.Close()
		cs = append(cs, c)
		go func() { errc <- c.Run(ctx) }()
	}
	deadline := time.Now().Add(wait)
	for {
		behind := 0
		for _, c := range cs {
			if !c.Synced() {
				behind++
			}
		}
		if behind == 0 {
			break
		}
		select {
		case err := <-errc:
			return fmt.Errorf("a client stopped: %w", err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d clients not in sync after %v", behind, n, wait)
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("synced")
	if _, err := io.Copy(io.Discard, os.Stdin); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}
