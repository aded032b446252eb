package gatewayapi

import (
	"encoding/json"
	"time"
)

// The IR's durations serialize as Go duration strings ("10s"), not
// nanoseconds, so serialized IRs read like the routes they came from.

func durationString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// MarshalJSON renders the timeouts as duration strings.
func (t Timeouts) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Request string `json:"request,omitempty"`
		Backend string `json:"backend,omitempty"`
	}{durationString(t.Request), durationString(t.Backend)})
}

// MarshalJSON renders the backoff as a duration string.
func (r Retry) MarshalJSON() ([]byte, error) {
	type plain Retry
	return json.Marshal(struct {
		plain
		Backoff string `json:"backoff,omitempty"`
	}{plain(r), durationString(r.Backoff)})
}

// MarshalJSON renders maxAge as a duration string.
func (c CORS) MarshalJSON() ([]byte, error) {
	type plain CORS
	return json.Marshal(struct {
		plain
		MaxAge string `json:"maxAge"`
	}{plain(c), durationString(c.MaxAge)})
}

// MarshalJSON renders the interval as a duration string.
func (r RateLimit) MarshalJSON() ([]byte, error) {
	type plain RateLimit
	return json.Marshal(struct {
		plain
		Interval string `json:"interval"`
	}{plain(r), durationString(r.Interval)})
}
