package gatewayapi

import (
	"errors"
	"fmt"
)

// Sentinels wrapped by the errors of this package; test with errors.Is.
var (
	// ErrInvalid: an object or field breaks the Gateway API rules.
	ErrInvalid = errors.New("invalid")
	// ErrNotFound: a referenced object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrNotPermitted: a cross-namespace reference has no ReferenceGrant.
	ErrNotPermitted = errors.New("reference not permitted")
	// ErrNotSupported: a valid feature this implementation does not support.
	ErrNotSupported = errors.New("not supported")
	// ErrConflict: listeners cannot be told apart.
	ErrConflict = errors.New("conflict")
)

// ObjectError is a problem with one object, at one field, as also reported
// in that object's status. Translate returns them joined.
type ObjectError struct {
	// Kind, Namespace and Name identify the object ("" namespace for
	// cluster-scoped objects).
	Kind      string
	Namespace string
	Name      string
	// Field is the path of the offending field, as in kubectl explain
	// (spec.rules[0].backendRefs[1]).
	Field string
	// Reason is the status condition reason set for it.
	Reason string
	// Message is the status condition message.
	Message string
	// Err is the sentinel: ErrInvalid, ErrNotFound, ErrNotPermitted,
	// ErrNotSupported or ErrConflict.
	Err error
}

func (e *ObjectError) Error() string {
	obj := e.Name
	if e.Namespace != "" {
		obj = e.Namespace + "/" + e.Name
	}
	return fmt.Sprintf("%s %s: %s: %s (%s)", e.Kind, obj, e.Field, e.Message, e.Reason)
}

func (e *ObjectError) Unwrap() error { return e.Err }

// OptionError reports an invalid Options field.
type OptionError struct {
	Field  string
	Value  string
	Reason string
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("gatewayapi options: %s %q: %s", e.Field, e.Value, e.Reason)
}

func (e *OptionError) Unwrap() error { return ErrInvalid }
