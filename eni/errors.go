package eni

import (
	"errors"
	"fmt"
)

// ErrNotFound is wrapped by every "does not exist" sentinel below.
var ErrNotFound = errors.New("not found")

// Sentinel errors. Errors from a Cloud wrap one of them; test with
// errors.Is. When EC2 (or the fake) reported the failure, the error is also
// an *APIError carrying the AWS error code.
var (
	ErrInstanceNotFound      = fmt.Errorf("instance %w", ErrNotFound)
	ErrENINotFound           = fmt.Errorf("network interface %w", ErrNotFound)
	ErrSubnetNotFound        = fmt.Errorf("subnet %w", ErrNotFound)
	ErrAttachmentNotFound    = fmt.Errorf("attachment %w", ErrNotFound)
	ErrSecurityGroupNotFound = fmt.Errorf("security group %w", ErrNotFound)
	ErrVPCNotFound           = fmt.Errorf("VPC %w", ErrNotFound)
	ErrRouteTableNotFound    = fmt.Errorf("route table %w", ErrNotFound)
	// ErrUnknownInstanceType: neither DescribeInstanceTypes nor the
	// embedded snapshot gave an instance type's limits (LimitsCache.Get,
	// as an *UnknownInstanceTypeError).
	ErrUnknownInstanceType = fmt.Errorf("instance type %w", ErrNotFound)

	// ErrInsufficientFreeAddresses: the subnet has too few free addresses
	// (InsufficientFreeAddressesInSubnet).
	ErrInsufficientFreeAddresses = errors.New("insufficient free addresses in subnet")
	// ErrInsufficientCIDRBlocks: the subnet has no free aligned /28, however
	// many single addresses it has left (InsufficientCidrBlocks).
	ErrInsufficientCIDRBlocks = errors.New("insufficient CIDR blocks in subnet")
	// ErrAddressLimitExceeded: the interface would hold more addresses than
	// its instance type allows (PrivateIpAddressLimitExceeded).
	ErrAddressLimitExceeded = errors.New("private IP address limit exceeded")
	// ErrAttachmentLimitExceeded: the instance has as many interfaces as its
	// type allows (AttachmentLimitExceeded).
	ErrAttachmentLimitExceeded = errors.New("attachment limit exceeded")
	// ErrThrottled: the request was rate limited (RequestLimitExceeded);
	// retry later.
	ErrThrottled = errors.New("request limit exceeded")
	// ErrInUse: the interface is attached (InvalidNetworkInterface.InUse).
	ErrInUse = errors.New("network interface in use")
	// ErrIncorrectState: the resource is in the wrong state for the call
	// (IncorrectState).
	ErrIncorrectState = errors.New("incorrect state")
	// ErrOperationNotPermitted: EC2 forbids the operation, e.g. detaching a
	// primary interface (OperationNotPermitted).
	ErrOperationNotPermitted = errors.New("operation not permitted")
	// ErrInvalidParameter: a parameter is malformed or inconsistent
	// (InvalidParameterValue, InvalidParameterCombination, ...).
	ErrInvalidParameter = errors.New("invalid parameter")
	// ErrUnauthorized: the credentials lack an IAM permission
	// (UnauthorizedOperation).
	ErrUnauthorized = errors.New("unauthorized operation")
)

// codeSentinels maps AWS EC2 error codes to sentinels.
var codeSentinels = map[string]error{
	"InvalidInstanceID.NotFound":          ErrInstanceNotFound,
	"InvalidInstanceID.Malformed":         ErrInvalidParameter,
	"InvalidNetworkInterfaceID.NotFound":  ErrENINotFound,
	"InvalidNetworkInterfaceID.Malformed": ErrInvalidParameter,
	"InvalidSubnetID.NotFound":            ErrSubnetNotFound,
	"InvalidAttachmentID.NotFound":        ErrAttachmentNotFound,
	"InvalidGroup.NotFound":               ErrSecurityGroupNotFound,
	"InsufficientFreeAddressesInSubnet":   ErrInsufficientFreeAddresses,
	"InsufficientCidrBlocks":              ErrInsufficientCIDRBlocks,
	"PrivateIpAddressLimitExceeded":       ErrAddressLimitExceeded,
	"AttachmentLimitExceeded":             ErrAttachmentLimitExceeded,
	"RequestLimitExceeded":                ErrThrottled,
	"Throttling":                          ErrThrottled,
	"InvalidNetworkInterface.InUse":       ErrInUse,
	"IncorrectState":                      ErrIncorrectState,
	"OperationNotPermitted":               ErrOperationNotPermitted,
	"InvalidParameterValue":               ErrInvalidParameter,
	"InvalidParameterCombination":         ErrInvalidParameter,
	"InvalidParameter":                    ErrInvalidParameter,
	"MissingParameter":                    ErrInvalidParameter,
	"InvalidInstanceType":                 ErrInvalidParameter,
	"UnauthorizedOperation":               ErrUnauthorized,
}

// SentinelForCode returns the sentinel an AWS EC2 error code maps to, or nil
// for a code this package does not distinguish.
func SentinelForCode(code string) error { return codeSentinels[code] }

// APIError is a failure EC2 reported. It wraps the sentinel its code maps to
// (see SentinelForCode), so errors.Is works on it.
type APIError struct {
	// Action is the EC2 API action, e.g. "AssignPrivateIpAddresses".
	Action string
	// Code is the AWS error code, e.g. "InsufficientCidrBlocks".
	Code string
	// Message is EC2's human-readable message.
	Message string
}

// NewAPIError returns the error EC2 reports for action with code.
func NewAPIError(action, code, format string, args ...any) *APIError {
	return &APIError{Action: action, Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *APIError) Error() string {
	return fmt.Sprintf("eni: ec2 %s: %s: %s", e.Action, e.Code, e.Message)
}

// Unwrap returns the sentinel for the error's code, or nil.
func (e *APIError) Unwrap() error { return SentinelForCode(e.Code) }
