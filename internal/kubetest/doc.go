// Package kubetest runs tests against a real kube-apiserver and etcd, with the Gateway API CRDs installed,
// through controller-runtime's envtest. It is for tests of code that talks to the Kubernetes API
// (controllers, status writers), where a fake client would hide what the API server enforces: CRD schemas
// and CEL rules, defaulting, the status subresource, resource versions and conflicts.
//
// # Binaries
//
// envtest starts the kube-apiserver and etcd binaries found in the directory named by the
// KUBEBUILDER_ASSETS environment variable ([AssetsEnv]). eniway does not download them: `bash .ci/kube-assets`
// builds both from the Go module proxy, at the versions hack/kubeassets/go.mod pins, into a cache outside
// the repository, and prints the directory. `make test` runs it and exports KUBEBUILDER_ASSETS for the
// tests (the first build takes minutes, later runs reuse the cache). To run one package by hand:
//
//	KUBEBUILDER_ASSETS="$(bash .ci/kube-assets)" go test ./internal/kubetest/
//
// Without KUBEBUILDER_ASSETS, [Start] and [Shared.Get] skip the test with a message saying how to get the
// binaries, or fail it when ENIWAY_REQUIRE_PRIVILEGED is set, as CI does (see
// [testutils.SkipOrFail]); [New] returns [ErrNoAssets].
//
// # CRDs
//
// The CRDs are the standard channel of the sigs.k8s.io/gateway-api module this module's go.mod requires,
// read from its config/crd/standard directory. The directory is found by running
// `go list -m -f {{.Dir}} sigs.k8s.io/gateway-api` in the test's working directory (under go test, the
// package directory), which resolves the module the way the build did, replace directives included, so
// the CRDs always match the Go types the tests compile against. That needs the go command on PATH and
// module mode (no vendor directory), which go test provides; a copy of the YAML in this repository would
// instead drift from the types on every gateway-api upgrade.
//
// # Lifetimes
//
// Starting a control plane takes seconds, so there are two ways to get one:
//
//   - [Start] gives one test its own [Env], stopped by tb.Cleanup: isolation for tests that change
//     cluster-wide state.
//   - [Shared] starts one [Env] for the whole test binary, lazily, on the first [Shared.Get], and is stopped
//     by [Shared.Stop] in TestMain after m.Run. Tests sharing it must not collide: use a fresh namespace
//     from [Env.Namespace] for namespaced objects and unique names (for example derived from t.Name()) for
//     cluster-scoped ones such as GatewayClasses.
//
// # Caveats
//
// envtest runs only the API server and etcd: no controller-manager, so no garbage collection through owner
// references and no namespace deletion (a deleted namespace stays Terminating with its objects), and no
// scheduler or kubelet. The control plane's own output is discarded unless
// KUBEBUILDER_ATTACH_CONTROL_PLANE_OUTPUT=true. Each [Env] listens on free localhost ports and keeps its
// etcd data in a temporary directory removed when it stops. An [Env] never talks to an existing cluster,
// whatever USE_EXISTING_CLUSTER says.
//
// On Windows the package compiles but [New] returns [ErrNotSupported] (so [Start] and [Shared.Get] skip):
// envtest itself does not compile there (controller-runtime v0.25.2 declares signalProcess twice).
//
// controller-runtime logs through a process-wide logger that this package leaves alone. If nothing sets it
// (sigs.k8s.io/controller-runtime/pkg/log.SetLogger) within 30 seconds of the test binary starting, the
// next log call prints a one-time warning with a stack trace; a long-running test package can set a
// logger in TestMain, for example logr.Discard().
package kubetest
