// Package gatewaytest loads the Gateway API test cases under
// gatewayapi/testdata for the tests of gatewayapi and of the packages that
// consume its routing model: each case is a manifest file,
// <case>.in.yaml, whose "# eniway-test-options:" comment lines set
// translation options (controllerName=..., addresses=a,b).
package gatewaytest

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/gatewayapi/manifest"
)

// Case is one test case.
type Case struct {
	// Name is the file name without .in.yaml.
	Name string
	// Path is the manifest file.
	Path    string
	Input   *gatewayapi.Input
	Options gatewayapi.Options
}

// Dir is the directory of the cases: gatewayapi/testdata in this module.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "gatewayapi", "testdata")
}

// Load reads one case.
func Load(path string) (*Case, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	opts, err := ParseOptions(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	in, err := manifest.Load(path)
	if err != nil {
		return nil, err
	}
	return &Case{Name: strings.TrimSuffix(filepath.Base(path), ".in.yaml"), Path: path, Input: in, Options: opts}, nil
}

// All reads every case in Dir, in name order.
func All() ([]*Case, error) {
	paths, err := filepath.Glob(filepath.Join(Dir(), "*.in.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var out []*Case
	for _, p := range paths {
		c, err := Load(p)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// ParseOptions reads "# eniway-test-options: key=value ..." lines.
func ParseOptions(data []byte) (gatewayapi.Options, error) {
	var o gatewayapi.Options
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "# eniway-test-options:")
		if !ok {
			continue
		}
		for _, kv := range strings.Fields(rest) {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "controllerName":
				o.ControllerName = v
			case "addresses":
				for _, a := range strings.Split(v, ",") {
					addr, err := netip.ParseAddr(a)
					if err != nil {
						return o, fmt.Errorf("test option addresses: %w", err)
					}
					o.Addresses = append(o.Addresses, addr)
				}
			default:
				return o, fmt.Errorf("unknown test option %q", k)
			}
		}
	}
	return o, sc.Err()
}
