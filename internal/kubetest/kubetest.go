package kubetest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/eniway/eniway/internal/testutils"
)

// AssetsEnv names the environment variable that holds the directory with the kube-apiserver and etcd
// binaries envtest runs. `bash .ci/kube-assets` prints a directory to put in it; `make test` sets it.
const AssetsEnv = "KUBEBUILDER_ASSETS"

// gatewayAPIModule is the module whose standard-channel CRDs every Env installs.
const gatewayAPIModule = "sigs.k8s.io/gateway-api"

// Env is a running kube-apiserver and etcd with the Gateway API CRDs installed. Get one from [Start],
// [Shared.Get] or [New]. Its fields are set once when it starts and must not be changed; the client is
// safe for concurrent use.
type Env struct {
	// Config reaches the API server as a member of system:masters, with a high client-side rate limit.
	// Give a copy ([rest.CopyConfig]) to code that changes it, such as a controller-runtime manager.
	Config *rest.Config
	// Client is a controller-runtime client for Config that talks directly to the API server (no cache)
	// and whose scheme is Scheme.
	Client client.Client
	// Scheme holds client-go's built-in types and Gateway API v1 and v1beta1.
	Scheme *runtime.Scheme

	stop     func() error // Stops the control plane.
	stopOnce sync.Once
	stopErr  error
}

// NewScheme returns a new scheme with client-go's built-in Kubernetes types and the Gateway API v1 and
// v1beta1 types, the scheme of every [Env].
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
		gatewayv1.Install,
		gatewayv1beta1.Install,
	} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("build scheme: %w", err)
		}
	}
	return s, nil
}

// GatewayAPICRDs returns the directory of the standard-channel Gateway API CRDs
// (config/crd/standard) in the sigs.k8s.io/gateway-api module the current module requires. It runs
// `go list -m` in the working directory, so it needs the go command and a working directory inside the
// module, as under go test; see the package documentation.
func GatewayAPICRDs() (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", gatewayAPIModule)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("find module %s with go list: %w: %s", gatewayAPIModule, err,
			strings.TrimSpace(stderr.String()))
	}
	mod := strings.TrimSpace(stdout.String())
	if mod == "" {
		return "", fmt.Errorf("find module %s with go list: no directory (vendored, or not downloaded?)",
			gatewayAPIModule)
	}
	dir := filepath.Join(mod, "config", "crd", "standard")
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("find Gateway API CRDs: %w", err)
	}
	return dir, nil
}

// Stop stops the API server and etcd and removes etcd's data. Later calls return the first call's result.
// It is safe for concurrent use.
func (e *Env) Stop() error {
	e.stopOnce.Do(func() {
		if err := e.stop(); err != nil {
			e.stopErr = fmt.Errorf("stop kube-apiserver and etcd: %w", err)
		}
	})
	return e.stopErr
}

// Namespace creates a namespace with a generated name for tb and returns its name. The namespace is not
// deleted when tb ends (envtest has no controller that would finish the deletion); it goes away with the
// [Env].
func (e *Env) Namespace(tb testing.TB) string {
	tb.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"}}
	if err := e.Client.Create(tb.Context(), ns); err != nil {
		tb.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// skippable reports whether err from [New] means that the machine cannot run a control plane, rather
// than that starting one failed.
func skippable(err error) bool {
	return errors.Is(err, ErrNoAssets) || errors.Is(err, ErrNotSupported)
}

// Start starts an [Env] for tb with [New] and stops it when tb ends. If [New] returns [ErrNoAssets] or
// [ErrNotSupported] it skips tb, or fails it when ENIWAY_REQUIRE_PRIVILEGED asks for that
// ([testutils.SkipOrFail]); any other error fails tb. Like tb.Skip and tb.Fatal, it must be called from the test goroutine.
func Start(tb testing.TB) *Env {
	tb.Helper()
	env, err := New()
	if skippable(err) {
		testutils.SkipOrFail(tb, "%v", err)
	}
	if err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
	tb.Cleanup(func() {
		if err := env.Stop(); err != nil {
			tb.Errorf("kubetest: %v", err)
		}
	})
	return env
}

// Shared is one [Env] for all the tests of a test binary, started by the first [Shared.Get] and stopped by
// [Shared.Stop], so that the control plane starts once rather than once per test. Declare one as a
// package-level variable of the test package and stop it in TestMain:
//
//	var kube kubetest.Shared
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		if err := kube.Stop(); err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			code = 1
//		}
//		os.Exit(code)
//	}
//
// The zero value is ready to use. [Shared.Get] is safe for concurrent use (parallel tests);
// [Shared.Stop] must not run concurrently with it.
type Shared struct {
	once    sync.Once
	env     *Env
	err     error
	stopped bool
}

// errStopped is what [Shared.Get] fails with after [Shared.Stop].
var errStopped = errors.New("kubetest.Shared used after Stop")

// Get returns the shared [Env], starting it with [New] on the first call. It skips or fails tb as [Start]
// does; if starting failed, every call fails its tb with the same error. It must be called from the test
// goroutine.
func (s *Shared) Get(tb testing.TB) *Env {
	tb.Helper()
	s.once.Do(func() { s.env, s.err = New() })
	if skippable(s.err) {
		testutils.SkipOrFail(tb, "%v", s.err)
	}
	if s.err != nil {
		tb.Fatalf("kubetest: %v", s.err)
	}
	return s.env
}

// Stop stops the shared [Env] if [Shared.Get] started it; later calls to [Shared.Get] fail. Call it in
// TestMain after m.Run returns.
func (s *Shared) Stop() error {
	s.once.Do(func() {}) // Never start after Stop.
	if s.stopped {
		return nil
	}
	s.stopped = true
	env := s.env
	s.env, s.err = nil, errStopped
	if env == nil {
		return nil
	}
	return env.Stop()
}
