package ads_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eniway/eniway/l7/ads/internal/adsclient"
)

// The push harness's clients run in a child process, this test binary
// again, as the nodes of a cluster run their proxies apart from the
// control plane: the server's process then holds and collects only its
// own memory, and the figures are the server's (the clients still share
// the CPU). The child speaks lines on its stdin and stdout:
//
//	child:  synced
//	parent: expect <seq> <type URL> <marker in hex>
//	child:  expecting <seq>
//	child:  arrival <node> <seq> <receipt, Unix ns>
//	child:  behind <client state>      (when not in sync in time, then exits)
//
// The child exits when its stdin closes.

// fleetEnv holds the child's settings: address, clients, delta, wait.
const fleetEnv = "ENIWAY_ADS_TEST_FLEET"

// fleet is the parent's side of the child process.
type fleet struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	lines    chan string // the child's lines but arrivals
	arrivals chan arrival
}

// startFleet starts n clients of the server at addr in a child process
// and waits until they are in sync.
func startFleet(tb testing.TB, addr string, n int, delta bool, wait time.Duration) *fleet {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d,%v,%s", fleetEnv, addr, n, delta, wait))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start the clients' process: %v", err)
	}
	f := &fleet{cmd: cmd, stdin: stdin, lines: make(chan string, 16), arrivals: make(chan arrival, n)}
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer close(f.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if a, ok := parseArrival(line); ok {
				f.arrivals <- a
				continue
			}
			f.lines <- line
		}
	}()
	tb.Cleanup(func() {
		_ = stdin.Close() // the child exits when its stdin closes
		<-read
		if err := cmd.Wait(); err != nil {
			tb.Errorf("the clients' process: %v", err)
		}
	})
	var behind []string
	for line := range f.lines {
		if line == "synced" {
			return f
		}
		behind = append(behind, strings.TrimPrefix(line, "behind "))
	}
	tb.Fatalf("%d of %d clients not in sync after %v:\n%s", len(behind), n, wait, joinLines(behind, 10))
	return nil
}

// expect tells the child the change to look for, and returns once the
// child has it.
func (f *fleet) expect(tb testing.TB, e *expectation) {
	tb.Helper()
	if _, err := fmt.Fprintf(f.stdin, "expect %d %s %x\n", e.seq, e.typeURL, e.marker); err != nil {
		tb.Fatalf("clients' process: %v", err)
	}
	want := "expecting " + strconv.Itoa(e.seq)
	if line, ok := <-f.lines; !ok || line != want {
		tb.Fatalf("clients' process: got %q, want %q", line, want)
	}
}

func parseArrival(line string) (arrival, bool) {
	var a arrival
	var at int64
	if _, err := fmt.Sscanf(line, "arrival %s %d %d", &a.client, &a.seq, &at); err != nil {
		return a, false
	}
	a.at = time.Unix(0, at)
	return a, true
}

// runFleet is the child: it runs the clients that its environment value
// describes.
func runFleet(spec string) error {
	parts := strings.Split(spec, ",")
	if len(parts) != 4 {
		return fmt.Errorf("%s=%q: want address,clients,delta,wait", fleetEnv, spec)
	}
	n, err1 := strconv.Atoi(parts[1])
	delta, err2 := strconv.ParseBool(parts[2])
	wait, err3 := time.ParseDuration(parts[3])
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("%s=%q: %w", fleetEnv, spec, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out sync.Mutex // guards stdout
	say := func(format string, args ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	var expect atomic.Pointer[expectation]
	arrived := make(chan arrival, n)
	go func() {
		for a := range arrived {
			say("arrival %s %d %d", a.client, a.seq, a.at.UnixNano())
		}
	}()
	var clients []*adsclient.Client
	var wg sync.WaitGroup
	defer func() {
		cancel()
		for _, c := range clients {
			_ = c.Close()
		}
		wg.Wait()
	}()
	for i := range n {
		id := fmt.Sprintf("node-%03d", i)
		c, err := adsclient.Dial(ctx, parts[0], adsclient.Options{Node: id, Delta: delta,
			OnResponse: watcher(id, &expect, arrived)})
		if err != nil {
			return err
		}
		clients = append(clients, c)
		wg.Go(func() { _ = c.Run(ctx) }) // a failure shows in c.String()
	}
	deadline := time.Now().Add(wait)
	for {
		var behind []string
		for _, c := range clients {
			if !c.Synced() {
				behind = append(behind, c.String())
			}
		}
		if len(behind) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, b := range behind {
				say("behind %s", strings.ReplaceAll(b, "\n", " "))
			}
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	say("synced")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var e expectation
		var marker string
		if _, err := fmt.Sscanf(sc.Text(), "expect %d %s %s", &e.seq, &e.typeURL, &marker); err != nil {
			return fmt.Errorf("from the parent: %q: %w", sc.Text(), err)
		}
		var err error
		if e.marker, err = hex.DecodeString(marker); err != nil {
			return fmt.Errorf("from the parent: %q: %w", sc.Text(), err)
		}
		expect.Store(&e)
		say("expecting %d", e.seq)
	}
	return sc.Err()
}
