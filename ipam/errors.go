package ipam

import (
	"errors"
	"fmt"
)

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

// Sentinel errors of the capacity planner (Plan, MaxPods, ParseMode). Every
// error Plan and MaxPods return is a *PlanError naming the offending field
// and wraps ErrInvalidPlan; test with errors.Is and errors.As.
var (
	// ErrInvalidPlan: an input of Plan or MaxPods is missing, out of range
	// or inconsistent.
	ErrInvalidPlan = errors.New("invalid capacity plan")
	// ErrPrefixDelegationNotSupported: prefix delegation was asked of an
	// instance type that is neither Nitro nor bare metal. It wraps
	// ErrInvalidPlan.
	ErrPrefixDelegationNotSupported = fmt.Errorf("prefix delegation not supported by the instance type: %w", ErrInvalidPlan)
	// ErrNoSubnetFits: the addresses a plan needs exceed what the largest
	// VPC subnet, a /16, holds. It wraps ErrInvalidPlan.
	ErrNoSubnetFits = fmt.Errorf("no subnet from /16 to /28 holds the addresses: %w", ErrInvalidPlan)
	// ErrInvalidMode: a string that names no Mode (ParseMode,
	// Mode.UnmarshalText).
	ErrInvalidMode = errors.New("invalid mode")
)

// PlanError reports an invalid input of Plan or MaxPods. It wraps Err,
// which is ErrInvalidPlan or a sentinel wrapping it
// (ErrPrefixDelegationNotSupported, ErrNoSubnetFits).
type PlanError struct {
	// Field names the PlanInput field, e.g. "Nodes", or "Limits.MaxENIs"
	// for a field of the instance type's limits.
	Field string
	// Reason says what is wrong, with the values involved.
	Reason string
	// Err is the sentinel; nil means ErrInvalidPlan.
	Err error
}

func (e *PlanError) Error() string {
	return fmt.Sprintf("ipam: plan %s: %s: %v", e.Field, e.Reason, e.Unwrap())
}

// Unwrap returns the sentinel: e.Err, or ErrInvalidPlan when it is nil.
func (e *PlanError) Unwrap() error {
	if e.Err == nil {
		return ErrInvalidPlan
	}
	return e.Err
}
