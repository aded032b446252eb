package kubetest

import "os"

// New returns [ErrNoAssets] if [AssetsEnv] is unset or empty and [ErrNotSupported] otherwise:
// controller-runtime's envtest (v0.25.2) does not compile for Windows. See the non-Windows New.
func New() (*Env, error) {
	if os.Getenv(AssetsEnv) == "" {
		return nil, ErrNoAssets
	}
	return nil, ErrNotSupported
}

// InstallCRDs returns [ErrNotSupported]: there is no [Env] on Windows.
func (e *Env) InstallCRDs(dirs ...string) error { return ErrNotSupported }
