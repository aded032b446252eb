package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/eniway/eniway/gatewayapi"
)

// DefaultNamespace is the namespace given to namespaced objects without
// one when Options.DefaultNamespace is empty, as kubectl apply does in a
// context without a namespace.
const DefaultNamespace = "default"

// Options configure a Loader. The zero value is valid.
type Options struct {
	// DefaultNamespace is set on namespaced objects that have no
	// metadata.namespace (DefaultNamespace when empty); it plays the part of
	// the namespace of kubectl's context.
	DefaultNamespace string
}

// Validate reports an invalid option as a *gatewayapi.OptionError.
func (o Options) Validate() error {
	if o.DefaultNamespace != "" {
		if errs := validation.IsDNS1123Label(o.DefaultNamespace); len(errs) > 0 {
			return &gatewayapi.OptionError{Field: "DefaultNamespace", Value: o.DefaultNamespace, Reason: strings.Join(errs, "; ")}
		}
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.DefaultNamespace == "" {
		o.DefaultNamespace = DefaultNamespace
	}
	return o
}

// ObjectRef names an object read from a manifest, and where it was read.
type ObjectRef struct {
	// APIVersion and Kind are as written in the manifest (or inherited from
	// a typed List such as HTTPRouteList).
	APIVersion string
	Kind       string
	// Namespace is the object's namespace: for objects in the Input after
	// defaulting ("" for cluster-scoped ones), for skipped objects as
	// written.
	Namespace string
	Name      string
	Location
}

// String formats the reference as "apiVersion kind namespace/name (location)".
func (r ObjectRef) String() string {
	name := r.Name
	if r.Namespace != "" {
		name = r.Namespace + "/" + name
	}
	return fmt.Sprintf("%s %s %s (%v)", r.APIVersion, r.Kind, name, r.Location)
}

// Loader reads manifests into one gatewayapi.Input. Load and Decode may be
// called any number of times: the Loader merges everything it reads, in
// order, and reports an object read twice (in one file or across files) as
// ErrDuplicateObject, keeping the first. A Loader is not safe for
// concurrent use.
type Loader struct {
	opts    Options
	in      gatewayapi.Input
	objects []ObjectRef
	skipped []ObjectRef
	seen    map[objectKey]Location
}

type objectKey struct{ group, kind, namespace, name string }

// NewLoader returns an empty Loader, or the *gatewayapi.OptionError of
// opts.Validate.
func NewLoader(opts Options) (*Loader, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Loader{opts: opts.withDefaults(), seen: make(map[objectKey]Location)}, nil
}

// Load reads each path, a file or a directory. A directory is walked
// recursively for files named *.yaml, *.yml or *.json (any case), in the
// order of filepath.WalkDir (lexical within each directory, as kubectl
// apply -R reads them); names beginning with a dot are skipped below it, and
// symbolic links to files are followed but links to directories are not
// (so a mounted ConfigMap volume is read once). A file given by name is
// read whatever its extension.
//
// The error joins a *DecodeError for each bad document or object (it
// matches gatewayapi.ErrInvalid and one of ErrMalformed, ErrMissingField,
// ErrUnknownField, ErrDuplicateField, ErrUnknownKind or ErrDuplicateObject)
// and a wrapped *fs.PathError for each path that could not be read; every
// object that decoded is kept all the same.
func (l *Loader) Load(paths ...string) error {
	var errs []error
	for _, p := range paths {
		files, walkErrs := manifestFiles(p)
		errs = append(errs, walkErrs...)
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				errs = append(errs, fmt.Errorf("read manifest: %w", err))
				continue
			}
			errs = append(errs, l.decode(data, f)...)
		}
	}
	return errors.Join(errs...)
}

// Decode reads one stream of YAML documents or JSON values; name is used
// as Location.File in errors and references. The error joins a
// *DecodeError for each bad document or object, as for Load, or is the
// error of reading r; every object that decoded is kept all the same.
func (l *Loader) Decode(r io.Reader, name string) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read manifest %s: %w", name, err)
	}
	return errors.Join(l.decode(data, name)...)
}

// Input returns the objects read so far, in the order they were read. The
// slices are the caller's; the objects are shared with the Loader, which
// never modifies them after they are added.
func (l *Loader) Input() *gatewayapi.Input {
	return &gatewayapi.Input{
		GatewayClasses:         slices.Clone(l.in.GatewayClasses),
		Gateways:               slices.Clone(l.in.Gateways),
		HTTPRoutes:             slices.Clone(l.in.HTTPRoutes),
		GRPCRoutes:             slices.Clone(l.in.GRPCRoutes),
		TLSRoutes:              slices.Clone(l.in.TLSRoutes),
		ReferenceGrants:        slices.Clone(l.in.ReferenceGrants),
		Namespaces:             slices.Clone(l.in.Namespaces),
		Services:               slices.Clone(l.in.Services),
		EndpointSlices:         slices.Clone(l.in.EndpointSlices),
		Secrets:                slices.Clone(l.in.Secrets),
		ConfigMaps:             slices.Clone(l.in.ConfigMaps),
		LocalRateLimitPolicies: slices.Clone(l.in.LocalRateLimitPolicies),
	}
}

// Objects returns a reference to every object in Input, in the order read,
// so that a problem the translator reports about an object can be traced
// to its file and line.
func (l *Loader) Objects() []ObjectRef { return slices.Clone(l.objects) }

// Skipped returns the objects read but not put in the Input because the
// translator does not consume their kind (RBAC roles and bindings,
// Deployments, CustomResourceDefinitions, TCPRoutes, ...), in the order
// read. They are not decoded beyond apiVersion, kind and metadata, so they
// are not checked for unknown fields.
func (l *Loader) Skipped() []ObjectRef { return slices.Clone(l.skipped) }

// Load reads files and directories with a zero Options; see (*Loader).Load.
func Load(paths ...string) (*gatewayapi.Input, error) {
	l, _ := NewLoader(Options{})
	err := l.Load(paths...)
	return l.Input(), err
}

// Decode reads one stream with a zero Options; see (*Loader).Decode.
func Decode(r io.Reader, name string) (*gatewayapi.Input, error) {
	l, _ := NewLoader(Options{})
	err := l.Decode(r, name)
	return l.Input(), err
}

// manifestFiles lists the files to read for root, with an error for each
// part of the walk that failed.
func manifestFiles(root string) ([]string, []error) {
	info, err := os.Stat(root)
	if err != nil {
		return nil, []error{fmt.Errorf("load manifests: %w", err)}
	}
	if !info.IsDir() {
		return []string{root}, nil
	}
	var files []string
	var errs []error
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, fmt.Errorf("load manifests: %w", err))
			return nil
		}
		if path != root && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !isManifestName(d.Name()) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			info, err := os.Stat(path)
			if err != nil {
				errs = append(errs, fmt.Errorf("load manifests: %w", err))
				return nil
			}
			if !info.Mode().IsRegular() {
				return nil
			}
		} else if !d.Type().IsRegular() {
			return nil
		}
		files = append(files, path)
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	return files, errs
}

func isManifestName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// bom is the UTF-8 byte order mark some editors write.
const bom = "\xef\xbb\xbf"

func (l *Loader) decode(data []byte, file string) []error {
	data = bytes.TrimPrefix(data, []byte(bom))
	d := decoder{l: l, file: file}
	d.stream(data)
	return d.errs
}
