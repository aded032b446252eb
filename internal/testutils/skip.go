package testutils

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

// RequirePrivilegedEnv names the environment variable that turns the skips of this package into failures.
// Privileged CI sets it to "1" so that a test which cannot run fails instead of passing as skipped. See
// [SkipOrFail].
const RequirePrivilegedEnv = "ENIWAY_REQUIRE_PRIVILEGED"

// PrivilegedRequired reports whether [RequirePrivilegedEnv] is set to a true value as understood by
// [strconv.ParseBool]. It reports false for unset, empty, false and malformed values; [SkipOrFail] still fails
// on a malformed value.
func PrivilegedRequired() bool {
	required, err := strconv.ParseBool(os.Getenv(RequirePrivilegedEnv))
	return err == nil && required
}

// SkipOrFail skips tb with the reason formatted from format and args, unless [RequirePrivilegedEnv] says
// skips are not allowed: if the variable holds a true value, or a value [strconv.ParseBool] rejects, it calls
// tb.Fatalf with the same reason and a note naming the variable.
//
// Like tb.Skipf and tb.Fatalf, it ends the test through [runtime.Goexit], so it must be called from the test
// goroutine, and code after it does not run.
func SkipOrFail(tb testing.TB, format string, args ...any) {
	tb.Helper()
	reason := fmt.Sprintf(format, args...)
	raw := os.Getenv(RequirePrivilegedEnv)
	if raw == "" {
		tb.Skip(reason)
		return
	}
	required, err := strconv.ParseBool(raw)
	switch {
	case err != nil:
		tb.Fatalf("%s (%s=%q is not a boolean, so this skip is treated as a failure: set it to 1 or 0)",
			reason, RequirePrivilegedEnv, raw)
	case required:
		tb.Fatalf("%s (%s=%s turned this skip into a failure)", reason, RequirePrivilegedEnv, raw)
	default:
		tb.Skip(reason)
	}
}

// RequireFeature runs probe and, if it returns an error, skips tb (see [SkipOrFail]) with "kernel feature
// name unavailable: error". Use it for kernel features the other gates do not cover, with a probe that
// really exercises the feature (create the map, load the program, open the socket) rather than comparing
// kernel versions.
func RequireFeature(tb testing.TB, name string, probe func() error) {
	tb.Helper()
	if err := probe(); err != nil {
		SkipOrFail(tb, "kernel feature %s unavailable: %v", name, err)
	}
}
