// Package testutils holds the helpers that privileged and kernel tests in eniway build on: gates that skip
// a test when the machine cannot run it, and fresh network namespaces to run it in.
//
// # Gates
//
// [RequireRoot], [RequireKernel], [RequireBPF] and [RequireFeature] each check one precondition and, when it
// does not hold, skip the test with a message saying what is missing and how to get it (for example "run as
// root or with sudo"). A plain `go test ./...` as an unprivileged user therefore passes, skipping the kernel
// tests. Every gate skips through [SkipOrFail], and so can anything else that needs the same behaviour.
//
// # ENIWAY_REQUIRE_PRIVILEGED
//
// On a machine that is meant to run the kernel tests (privileged CI, a developer's VM), a skip hides a
// broken setup. Setting [RequirePrivilegedEnv] (ENIWAY_REQUIRE_PRIVILEGED) to a true value as understood by
// [strconv.ParseBool] ("1", "true") makes [SkipOrFail] fail the test with the same reason instead of skipping
// it. A value that [strconv.ParseBool] rejects also fails, so a misspelt setting cannot quietly turn the check
// off. Unset, empty or false values skip as usual.
//
// # Network namespaces
//
// [NewNetNS] creates a fresh, unnamed network namespace containing only an up loopback device, and closes it
// when the test ends. Unnamed means nothing is bind-mounted under /run/netns: the kernel destroys the
// namespace, with every device in it, once the last reference is gone (the handle, any socket created in it,
// any thread still in it), so a test that dies leaks nothing. [NetNS.NetlinkHandle] gives a netlink handle
// bound to the namespace, for creating links, addresses and routes from outside without switching threads.
// [NetNS.Do] runs a function inside the namespace. [RunInNetNS] runs a whole test body inside a fresh one.
//
// # Threads and namespaces
//
// A network namespace belongs to an OS thread, not to a process or a goroutine, and the Go scheduler moves
// goroutines between threads at will. The helpers therefore lock the calling goroutine to its thread
// ([runtime.LockOSThread]), switch the thread in with setns(2), run the function, switch back and unlock.
// From that follow the rules a test must respect:
//
//   - Only the goroutine that called [NetNS.Do] or [RunInNetNS] is in the namespace, and only until the call
//     returns. Goroutines it starts (servers, t.Run subtests, helpers that start goroutines) run on other
//     threads, in the original namespace. Give each of them its own [NetNS.Do].
//   - A socket belongs to the namespace of the thread that created it, for its whole life. A listener created
//     inside [NetNS.Do] can be accepted from any goroutine afterwards; a connection dialled to another
//     namespace must be dialled from inside that namespace's [NetNS.Do].
//   - Threads the runtime starts while a goroutine is locked are cloned from a clean template thread, so they
//     never inherit the namespace.
//   - If switching back fails, the helpers leave the goroutine locked to the thread. The runtime terminates a
//     locked thread when its goroutine exits, so the thread is discarded rather than reused in the wrong
//     namespace; the caller gets an error and should end the test.
//
// Switching back happens in a deferred call, so it also runs when the function panics or calls t.FailNow
// (through testing's require).
//
// # Other platforms
//
// The package builds everywhere. Off Linux [RequireRoot], [RequireKernel], [RequireBPF], [NewNetNS] and
// [RunInNetNS] skip (or fail, see above) with "needs Linux", and [KernelVersion] returns [ErrNotSupported].
// [RequireFeature] and [SkipOrFail] behave the same on every platform.
package testutils
