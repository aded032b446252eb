package fake

import "time"

// throttleClass is one of AWS's EC2 token buckets.
type throttleClass int

const (
	// classMutate: CreateNetworkInterface, DeleteNetworkInterface,
	// AssignPrivateIpAddresses, UnassignPrivateIpAddresses,
	// ModifyNetworkInterfaceAttribute, CreateTags.
	classMutate throttleClass = iota
	// classAttach: AttachNetworkInterface, DetachNetworkInterface.
	classAttach
	// classUnfiltered: DescribeNetworkInterfaces and DescribeSecurityGroups
	// without a filter.
	classUnfiltered
	// classDescribe: every other describe.
	classDescribe
	numClasses
)

// bucketSizes are the capacity and refill rate (tokens per second) of each
// class, as AWS publishes them for EC2.
var bucketSizes = [numClasses]struct{ capacity, rate int64 }{
	classMutate:     {100, 5},
	classAttach:     {50, 5},
	classUnfiltered: {50, 10},
	classDescribe:   {100, 20},
}

// nanoTokens is the bucket's unit: a billionth of a token, so that a bucket
// refilling r tokens per second gains exactly r nano-tokens per nanosecond
// and fractional refill never rounds.
const nanoTokens = int64(time.Second)

// bucket is a token bucket on the fake's clock.
type bucket struct {
	capacity int64 // nano-tokens
	rate     int64 // nano-tokens per nanosecond = tokens per second
	tokens   int64 // nano-tokens
	last     time.Time
}

func newBucket(c throttleClass, now time.Time) bucket {
	s := bucketSizes[c]
	return bucket{capacity: s.capacity * nanoTokens, rate: s.rate, tokens: s.capacity * nanoTokens, last: now}
}

// take refills the bucket up to now and takes one token, reporting
// whether there was one. An empty bucket is left as it is.
func (b *bucket) take(now time.Time) bool {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		if elapsed >= time.Duration(b.capacity/b.rate) {
			b.tokens = b.capacity
		} else {
			b.tokens = min(b.capacity, b.tokens+int64(elapsed)*b.rate)
		}
		b.last = now
	} else if elapsed < 0 {
		b.last = now // the clock went back: refill from here
	}
	if b.tokens < nanoTokens {
		return false
	}
	b.tokens -= nanoTokens
	return true
}
