package proxy

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
)

// AccessLogEntry is one HTTP request the data plane answered, handed to
// Options.AccessLog (package observe joins these with the datapath's
// events: the downstream addresses are the client's own, kept by the
// transparent redirect).
type AccessLogEntry struct {
	// Start is when the request's headers were read; Duration how long
	// until its response was complete.
	Start    time.Time
	Duration time.Duration
	// Listener is the Listener name, RouteConfig the RouteConfiguration,
	// VirtualHost and Route the names of what matched ("" for none).
	Listener, RouteConfig, VirtualHost, Route string
	// Method, Authority, Path (as received, with the query) and Protocol
	// ("HTTP/1.1", "HTTP/2") of the request.
	Method, Authority, Path, Protocol string
	// Status is the response code.
	Status int
	// Flags are Envoy's response flags ("-" for none): NR no route, NC no
	// cluster, UH no healthy upstream, UF upstream connection failure, UC
	// upstream connection termination, UT upstream timeout, URX retry
	// limit exceeded, RL rate limited, DC downstream connection
	// termination.
	Flags string
	// BytesReceived and BytesSent count the request and response bodies.
	BytesReceived, BytesSent int64
	// Cluster and Upstream are where the request was sent (the last try).
	Cluster  string
	Upstream netip.AddrPort
	// Downstream is the client's address and DownstreamLocal the address
	// it connected to.
	Downstream, DownstreamLocal netip.AddrPort
	// RequestID is the x-request-id sent upstream.
	RequestID string
}

// jsonFormat is a compiled json_format access log: keys with Envoy command
// operators.
type jsonFormat struct {
	keys []string
	ops  []func(*AccessLogEntry) any
}

// commandOperators are the access log command operators the data plane
// implements.
var commandOperators = map[string]func(e *AccessLogEntry) any{
	"%START_TIME%":                       func(e *AccessLogEntry) any { return e.Start.UTC().Format("2006-01-02T15:04:05.000Z") },
	"%REQ(:METHOD)%":                     func(e *AccessLogEntry) any { return e.Method },
	"%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%": func(e *AccessLogEntry) any { return e.Path },
	"%REQ(:PATH)%":                       func(e *AccessLogEntry) any { return e.Path },
	"%REQ(:AUTHORITY)%":                  func(e *AccessLogEntry) any { return e.Authority },
	"%PROTOCOL%":                         func(e *AccessLogEntry) any { return e.Protocol },
	"%RESPONSE_CODE%":                    func(e *AccessLogEntry) any { return e.Status },
	"%RESPONSE_FLAGS%":                   func(e *AccessLogEntry) any { return e.Flags },
	"%BYTES_RECEIVED%":                   func(e *AccessLogEntry) any { return e.BytesReceived },
	"%BYTES_SENT%":                       func(e *AccessLogEntry) any { return e.BytesSent },
	"%DURATION%":                         func(e *AccessLogEntry) any { return e.Duration.Milliseconds() },
	"%UPSTREAM_HOST%":                    func(e *AccessLogEntry) any { return addrOrDash(e.Upstream) },
	"%UPSTREAM_CLUSTER%":                 func(e *AccessLogEntry) any { return orDash(e.Cluster) },
	"%ROUTE_NAME%":                       func(e *AccessLogEntry) any { return orDash(e.Route) },
	"%DOWNSTREAM_REMOTE_ADDRESS%":        func(e *AccessLogEntry) any { return addrOrDash(e.Downstream) },
	"%DOWNSTREAM_LOCAL_ADDRESS%":         func(e *AccessLogEntry) any { return addrOrDash(e.DownstreamLocal) },
	"%REQ(X-REQUEST-ID)%":                func(e *AccessLogEntry) any { return orDash(e.RequestID) },
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func addrOrDash(a netip.AddrPort) string {
	if !a.IsValid() {
		return "-"
	}
	return a.String()
}

func compileJSONFormat(s *structpb.Struct, at string) (*jsonFormat, error) {
	f := &jsonFormat{}
	keys := make([]string, 0, len(s.GetFields()))
	for k := range s.GetFields() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := s.GetFields()[k].GetStringValue()
		op, ok := commandOperators[v]
		if !ok {
			return nil, unsupported(at+"."+k, "access log value %q (one command operator: %s)", v, strings.Join(slices.Sorted(mapsKeys(commandOperators)), ", "))
		}
		f.keys = append(f.keys, k)
		f.ops = append(f.ops, op)
	}
	return f, nil
}

// format renders an entry as one JSON line.
func (f *jsonFormat) format(e *AccessLogEntry) []byte {
	b := make([]byte, 0, 512)
	b = append(b, '{')
	for i, k := range f.keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, k)
		b = append(b, ':')
		switch v := f.ops[i](e).(type) {
		case string:
			enc, _ := json.Marshal(v)
			b = append(b, enc...)
		default:
			b = fmt.Append(b, v)
		}
	}
	return append(b, '}', '\n')
}
