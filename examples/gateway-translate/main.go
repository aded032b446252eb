// Command gateway-translate translates Gateway API manifests (files or
// directories) with package gatewayapi, without a cluster, and prints the
// routing model (IR) and the status every object would get, as YAML. The
// problems found (the same as the status conditions say) go to stderr.
//
//	go run ./examples/gateway-translate -f gatewayapi/testdata/guide-canary.in.yaml
//	go run ./examples/gateway-translate -f manifests/ -controller-name io.cilium/gateway-controller -only status
//	go run ./examples/gateway-translate -f gateway.yaml -strict   # exit 1 on any problem
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/gatewayapi/manifest"
)

func main() {
	code, err := run(os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway-translate:", err)
	}
	os.Exit(code)
}

type paths []string

func (p *paths) String() string     { return strings.Join(*p, ",") }
func (p *paths) Set(v string) error { *p = append(*p, v); return nil }

func run(args []string, out, errOut io.Writer) (int, error) {
	fs := flag.NewFlagSet("gateway-translate", flag.ContinueOnError)
	var files paths
	fs.Var(&files, "f", "a manifest file or directory (repeatable)")
	controller := fs.String("controller-name", "", "GatewayClass controllerName to handle (default "+gatewayapi.DefaultControllerName+")")
	only := fs.String("only", "", "print only the ir or the status")
	strict := fs.Bool("strict", false, "exit 1 when any object has a problem")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	if len(files) == 0 {
		return 2, errors.New("no manifests: give -f")
	}
	in, err := manifest.Load(files...)
	if err != nil {
		// Objects that decoded are still translated.
		fmt.Fprintln(errOut, err)
	}
	res, terr := gatewayapi.Translate(in, gatewayapi.Options{ControllerName: *controller})
	if res == nil {
		return 2, terr
	}
	var v any = res
	switch *only {
	case "":
	case "ir":
		v = res.IR
	case "status":
		v = res.Status
	default:
		return 2, fmt.Errorf("-only %q: want ir or status", *only)
	}
	b, merr := yaml.Marshal(v)
	if merr != nil {
		return 2, merr
	}
	if _, err := out.Write(b); err != nil {
		return 2, err
	}
	if terr != nil {
		fmt.Fprintln(errOut, terr)
	}
	if *strict && (err != nil || terr != nil) {
		return 1, nil
	}
	return 0, nil
}
