package proxy

import (
	"errors"
	"net/http"
	"sync"
	"time"

	localratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
)

// limiter is the token bucket of envoy.filters.http.local_ratelimit: it
// starts full with max_tokens, and every fill_interval adds tokens_per_fill
// (1 when unset) up to max_tokens. Refills are whole intervals, as in
// Envoy, not a continuous rate. A nil limiter lets everything through.
type limiter struct {
	status   int
	max      uint64
	perFill  uint64
	interval time.Duration
	// enabled and enforced are the filter_enabled and filter_enforced
	// fractions, in millionths.
	enabled, enforced uint32

	mu     sync.Mutex
	tokens uint64
	last   time.Time // start of the current fill interval
}

func compileLimiter(l *localratelimitv3.LocalRateLimit, at string) (*limiter, error) {
	if l.GetTokenBucket() == nil {
		return nil, nil // no bucket: the filter (or route) does not limit
	}
	tb := l.GetTokenBucket()
	lim := &limiter{
		status:   http.StatusTooManyRequests,
		max:      uint64(tb.GetMaxTokens()),
		perFill:  1,
		interval: tb.GetFillInterval().AsDuration(),
		enabled:  0,
		enforced: 0,
	}
	if c := l.GetStatus().GetCode(); c != 0 {
		lim.status = int(c)
	}
	if tb.GetTokensPerFill() != nil {
		lim.perFill = uint64(tb.GetTokensPerFill().GetValue())
	}
	if lim.interval <= 0 {
		return nil, invalid(at+".token_bucket.fill_interval", errors.New("must be positive"))
	}
	if e := l.GetFilterEnabled(); e != nil {
		lim.enabled = millionths(e.GetDefaultValue())
	}
	if e := l.GetFilterEnforced(); e != nil {
		lim.enforced = millionths(e.GetDefaultValue())
	}
	lim.tokens = lim.max
	return lim, nil
}

// allow takes a token; it reports false when the request is to be
// rejected with l.status.
func (l *limiter) allow(now time.Time) bool {
	if l == nil || !sampled(l.enabled) {
		return true
	}
	l.mu.Lock()
	if l.last.IsZero() {
		l.last = now
	}
	if n := now.Sub(l.last) / l.interval; n > 0 {
		l.tokens = min(l.max, l.tokens+uint64(n)*l.perFill)
		l.last = l.last.Add(n * l.interval)
	}
	ok := l.tokens > 0
	if ok {
		l.tokens--
	}
	l.mu.Unlock()
	return ok || !sampled(l.enforced)
}
