package maglev

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them; test with errors.Is. Errors about a single backend are also a
// *BackendError and errors about the configuration a *ConfigError, so
// errors.As yields the offending object and field.
var (
	// ErrInvalidTableSize: the table size M is not a prime or lies outside
	// [MinTableSize, MaxTableSize].
	ErrInvalidTableSize = errors.New("invalid table size")
	// ErrInvalidSeed: the hash seed is not the base64 encoding of 12 bytes.
	ErrInvalidSeed = errors.New("invalid hash seed")
	// ErrInvalidMode: the Mode is not one of the declared modes.
	ErrInvalidMode = errors.New("invalid mode")
	// ErrInvalidBackend: a backend has an invalid address or protocol.
	ErrInvalidBackend = errors.New("invalid backend")
	// ErrDuplicateBackend: two backends share an identity (address, port,
	// protocol, cluster ID) or a table ID.
	ErrDuplicateBackend = errors.New("duplicate backend")
	// ErrInvalidWeight: a weight is negative, or exceeds the mode's maximum.
	ErrInvalidWeight = errors.New("invalid weight")
	// ErrZeroWeightSum: backends were given but all of them weigh 0.
	ErrZeroWeightSum = errors.New("weights sum to zero")
	// ErrTooManyBackends: more active backends than table slots (N > M).
	ErrTooManyBackends = errors.New("more backends than table slots")
)

// ConfigError reports an invalid Config field. It wraps ErrInvalidTableSize,
// ErrInvalidSeed or ErrInvalidMode.
type ConfigError struct {
	Field  string // Config field name, e.g. "TableSize"
	Value  string // the offending value as given
	Reason string // what is wrong with it
	Err    error  // the sentinel
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("maglev: config %s %q: %s: %v", e.Field, e.Value, e.Reason, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// BackendError reports a problem with one backend in the slice given to
// Builder.Build. It wraps ErrInvalidBackend, ErrDuplicateBackend or
// ErrInvalidWeight.
type BackendError struct {
	Index   int     // position in the backends slice
	Backend Backend // the offending backend
	Field   string  // Backend field name, e.g. "Weight"
	Reason  string  // what is wrong with it
	Err     error   // the sentinel
}

func (e *BackendError) Error() string {
	return fmt.Sprintf("maglev: backends[%d] (%s) %s: %s: %v", e.Index, e.Backend, e.Field, e.Reason, e.Err)
}

func (e *BackendError) Unwrap() error { return e.Err }
