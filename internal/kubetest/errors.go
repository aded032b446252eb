package kubetest

import "errors"

// ErrNoAssets is returned by [New] when the KUBEBUILDER_ASSETS environment variable ([AssetsEnv]) is unset
// or empty, so there is no kube-apiserver and etcd to run.
var ErrNoAssets = errors.New("KUBEBUILDER_ASSETS is not set: run `make test`, or export " +
	"KUBEBUILDER_ASSETS=\"$(bash .ci/kube-assets)\" to build kube-apiserver and etcd (minutes the first time, cached after)")

// ErrNotSupported is returned by [New] on Windows, where controller-runtime's envtest does not compile.
var ErrNotSupported = errors.New("kubetest: envtest is not supported on this platform")
