//go:build !windows

package kubetest

import (
	"errors"
	"fmt"
	"os"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// New starts a kube-apiserver and etcd from the directory in [AssetsEnv], installs the Gateway API CRDs
// (see [GatewayAPICRDs]) and waits until they are served. The caller must call [Env.Stop]. It returns
// [ErrNoAssets] if [AssetsEnv] is unset or empty, and [ErrNotSupported] on Windows. Tests should prefer
// [Start] or [Shared], which skip instead; New is for code that has no [testing.TB].
func New() (*Env, error) {
	assets := os.Getenv(AssetsEnv)
	if assets == "" {
		return nil, ErrNoAssets
	}
	crds, err := GatewayAPICRDs()
	if err != nil {
		return nil, err
	}
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	useExisting := false
	te := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{crds},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
		UseExistingCluster:    &useExisting,
	}
	cfg, err := te.Start()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("start kube-apiserver and etcd from %s: %w", assets, err), te.Stop())
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("create client: %w", err), te.Stop())
	}
	return &Env{Config: cfg, Client: c, Scheme: scheme, stop: te.Stop}, nil
}

// InstallCRDs installs the CRDs in the YAML files of dirs (for example a
// package's own policy CRDs) and waits until they are served. Installing a
// CRD that exists already updates it.
func (e *Env) InstallCRDs(dirs ...string) error {
	if _, err := envtest.InstallCRDs(e.Config, envtest.CRDInstallOptions{Paths: dirs, ErrorIfPathMissing: true}); err != nil {
		return fmt.Errorf("install CRDs from %v: %w", dirs, err)
	}
	return nil
}
