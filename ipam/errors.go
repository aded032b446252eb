package ipam

import "errors"

// Sentinel errors of the node-local allocator. Test with errors.Is.
var (
	// ErrPoolExhausted: no free address is left in the node's pool.
	ErrPoolExhausted = errors.New("address pool exhausted")
	// ErrUnknownOwner: the owner holds no address.
	ErrUnknownOwner = errors.New("owner holds no address")
	// ErrInvalidOwner: an owner must be a non-empty string.
	ErrInvalidOwner = errors.New("invalid owner")
	// ErrCheckpoint: the checkpoint could not be read or written. A failed
	// write leaves the in-memory state as it was before the call.
	ErrCheckpoint = errors.New("checkpoint")
	// ErrNotReserved: an address given back to CompleteRelease or
	// AbortRelease was not reserved for release.
	ErrNotReserved = errors.New("address not reserved for release")
)
