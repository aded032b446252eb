package aws

import "errors"

// ErrMalformedResponse is wrapped by the error a call returns when EC2
// answered with a value this package cannot parse (an address, a prefix, a
// missing element). The error names the field and the value.
var ErrMalformedResponse = errors.New("malformed EC2 response")
