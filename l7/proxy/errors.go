package proxy

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrUnsupported is wrapped by a ConfigError for a resource that sets a
	// field or names an extension the data plane does not implement. The
	// package documentation lists what it implements.
	ErrUnsupported = errors.New("not supported by the embedded data plane")
	// ErrInvalid is wrapped by a ConfigError for a resource that is
	// malformed: a bad regex, an unknown reference type, a certificate that
	// does not parse.
	ErrInvalid = errors.New("invalid resource")
	// ErrBind is wrapped by a ConfigError for a listener whose address
	// cannot be bound.
	ErrBind = errors.New("cannot bind listener")
)

// ConfigError is a resource the data plane rejected. The whole update it
// came in is rejected with it (NACKed over ADS) and the configuration in
// force stays unchanged.
type ConfigError struct {
	// Type is the resource type URL.
	Type string
	// Name is the resource name.
	Name string
	// Field is the path of the offending field inside the resource, such
	// as "virtual_hosts[0].routes[2].match.safe_regex.regex".
	Field string
	// Err wraps ErrUnsupported, ErrInvalid or ErrBind with the detail.
	Err error
}

func (e *ConfigError) Error() string {
	typ := e.Type[strings.LastIndex(e.Type, ".")+1:]
	if e.Field == "" {
		return fmt.Sprintf("%s %q: %v", typ, e.Name, e.Err)
	}
	return fmt.Sprintf("%s %q: field %s: %v", typ, e.Name, e.Field, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// fieldError is an error at a field path, turned into a ConfigError by the
// resource compiler that knows the resource.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

func unsupported(field, format string, a ...any) error {
	return &fieldError{field: field, err: fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, a...))}
}

func invalid(field string, err error) error {
	return &fieldError{field: field, err: fmt.Errorf("%w: %w", ErrInvalid, err)}
}

// resourceError makes a ConfigError of err for a resource.
func resourceError(typ, name string, err error) error {
	if err == nil {
		return nil
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		return &ConfigError{Type: typ, Name: name, Field: fe.field, Err: fe.err}
	}
	return &ConfigError{Type: typ, Name: name, Err: err}
}
