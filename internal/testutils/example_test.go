package testutils_test

import (
	"fmt"
	"net"
	"testing"

	"github.com/eniway/eniway/internal/testutils"
)

func ExampleParseKernelRelease() {
	major, minor, patch, err := testutils.ParseKernelRelease("6.6.30+deb13")
	if err != nil {
		panic(err)
	}
	fmt.Println(major, minor, patch)
	// Output: 6 6 30
}

// A test body that serves TCP inside a fresh namespace. Examples get no *testing.T, so this one is only
// compiled; TestNetNS runs the same steps for real.
func ExampleNetNS_Do() {
	testEcho := func(t *testing.T) {
		ns := testutils.NewNetNS(t) // Skips unless root; closed when t ends.

		var ln net.Listener
		err := ns.Do(func() error {
			var err error
			ln, err = net.Listen("tcp", "127.0.0.1:0") // The socket stays in ns for life.
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()

		// Accepting works from any goroutine; dialling must happen inside ns.
		err = ns.Do(func() error {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				return err
			}
			return c.Close()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	_ = testEcho // In a real test: testEcho(t).
}
