// Package wire serves an eni.Cloud over the EC2 Query protocol, so that
// the real AWS SDK, and any other EC2 client, can talk to eni/fake: form-
// encoded POST requests with Action and Version=2016-11-15, numbered list
// parameters (NetworkInterfaceId.1, Filter.1.Name, Filter.1.Value.1, ...),
// XML responses with <item> lists and nextToken pagination, and EC2's error
// document with the HTTP status EC2 uses (503 for RequestLimitExceeded, 403
// for UnauthorizedOperation, 400 otherwise).
//
// It speaks the 14 actions eni.Cloud uses. Filters take one value each;
// more is answered InvalidParameterValue, as is any filter name eni.Cloud
// cannot express. Signatures are not checked.
package wire

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/eniway/eniway/eni"
)

// Version is the EC2 API version the handler speaks.
const Version = "2016-11-15"

// Handler serves an eni.Cloud over the EC2 Query protocol. It is safe for
// concurrent use if the Cloud is.
type Handler struct {
	cloud  eni.Cloud
	log    *slog.Logger
	nextID atomic.Uint64
}

// NewHandler returns a Handler for c. A nil logger discards.
func NewHandler(c eni.Cloud, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{cloud: c, log: log}
}

// params is a parsed request.
type params struct {
	form map[string][]string
}

func (p params) get(key string) string {
	if v := p.form[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// list returns key.1, key.2, ... up to the first missing index.
func (p params) list(key string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := p.form[key+"."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

// int returns an integer parameter, or 0 when absent.
func (p params) int(key string) (int, error) {
	s := p.get(key)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, eni.NewAPIError("", "InvalidParameterValue", "Value (%s) for parameter %s is invalid. Expected an integer.", s, key)
	}
	return n, nil
}

// filters returns Filter.N.Name -> its single value.
func (p params) filters(action string, allowed ...string) (map[string]string, error) {
	out := map[string]string{}
	for i := 1; ; i++ {
		prefix := "Filter." + strconv.Itoa(i)
		name := p.get(prefix + ".Name")
		if name == "" {
			return out, nil
		}
		values := p.list(prefix + ".Value")
		if !slices.Contains(allowed, name) && !strings.HasPrefix(name, "tag:") && name != "tag-key" {
			return nil, eni.NewAPIError(action, "InvalidParameterValue", "The filter '%s' is invalid", name)
		}
		if len(values) != 1 {
			return nil, eni.NewAPIError(action, "InvalidParameterValue", "The filter '%s' must have exactly one value here (the emulator serves eni.Cloud, whose filters take one value)", name)
		}
		out[name] = values[0]
	}
}

// tags extracts tag:<key> and tag-key filters.
func tagFilters(f map[string]string) eni.Tags {
	var t eni.Tags
	for name, v := range f {
		key, isTag := strings.CutPrefix(name, "tag:")
		if name == "tag-key" {
			key, v, isTag = v, "", true
		}
		if isTag {
			if t == nil {
				t = eni.Tags{}
			}
			t[key] = v
		}
	}
	return t
}

// tagList reads Prefix.N.Key / Prefix.N.Value pairs.
func (p params) tagList(prefix string) eni.Tags {
	var t eni.Tags
	for i := 1; ; i++ {
		k, ok := p.form[prefix+"."+strconv.Itoa(i)+".Key"]
		if !ok {
			return t
		}
		if t == nil {
			t = eni.Tags{}
		}
		t[k[0]] = p.get(prefix + "." + strconv.Itoa(i) + ".Value")
	}
}

type action func(ctx context.Context, name string, p params) (any, error)

func (h *Handler) actions() map[string]action {
	return map[string]action{
		"DescribeInstances":               h.describeInstances,
		"DescribeInstanceTypes":           h.describeInstanceTypes,
		"DescribeNetworkInterfaces":       h.describeNetworkInterfaces,
		"DescribeSubnets":                 h.describeSubnets,
		"DescribeSecurityGroups":          h.describeSecurityGroups,
		"DescribeRouteTables":             h.describeRouteTables,
		"CreateNetworkInterface":          h.createNetworkInterface,
		"AttachNetworkInterface":          h.attachNetworkInterface,
		"DetachNetworkInterface":          h.detachNetworkInterface,
		"DeleteNetworkInterface":          h.deleteNetworkInterface,
		"ModifyNetworkInterfaceAttribute": h.modifyNetworkInterfaceAttribute,
		"AssignPrivateIpAddresses":        h.assignPrivateIPAddresses,
		"UnassignPrivateIpAddresses":      h.unassignPrivateIPAddresses,
		"CreateTags":                      h.createTags,
	}
}

// ServeHTTP answers one EC2 Query request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := fmt.Sprintf("00000000-0000-4000-8000-%012x", h.nextID.Add(1))
	if err := r.ParseForm(); err != nil {
		h.fail(w, requestID, eni.NewAPIError("", "MalformedQueryString", "%v", err))
		return
	}
	p := params{form: r.Form}
	name := p.get("Action")
	if v := p.get("Version"); v != Version {
		h.fail(w, requestID, eni.NewAPIError(name, "InvalidParameterValue", "Version %q is not supported; this emulator speaks %s", v, Version))
		return
	}
	act, ok := h.actions()[name]
	if !ok {
		h.fail(w, requestID, eni.NewAPIError(name, "InvalidAction", "The action %s is not valid for this web service.", name))
		return
	}
	out, err := act(r.Context(), name, p)
	if err != nil {
		h.fail(w, requestID, err)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	_, _ = io.WriteString(w, xml.Header)
	enc := xml.NewEncoder(w)
	start := xml.StartElement{
		Name: xml.Name{Local: name + "Response"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: xmlns}},
	}
	setRequestID(out, requestID)
	if err := enc.EncodeElement(out, start); err != nil {
		h.log.Error("encode EC2 response", "action", name, "err", err)
	}
}

func (h *Handler) fail(w http.ResponseWriter, requestID string, err error) {
	code, msg, status := "InternalError", err.Error(), http.StatusInternalServerError
	var apiErr *eni.APIError
	if errors.As(err, &apiErr) {
		code, msg, status = apiErr.Code, apiErr.Message, http.StatusBadRequest
		switch code {
		case "RequestLimitExceeded", "Throttling":
			status = http.StatusServiceUnavailable
		case "UnauthorizedOperation":
			status = http.StatusForbidden
		}
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, xml.Header)
	_ = xml.NewEncoder(w).Encode(xmlError{Code: code, Message: msg, RequestID: requestID})
}

// withRequestID is implemented by every response.
type withRequestID interface{ setRequestID(string) }

type header struct {
	RequestID string `xml:"requestId"`
}

func (h *header) setRequestID(id string) { h.RequestID = id }

func setRequestID(v any, id string) {
	if r, ok := v.(withRequestID); ok {
		r.setRequestID(id)
	}
}

type returnResponse struct {
	header
	Return bool `xml:"return"`
}

// page cuts a sorted result by MaxResults and NextToken (an offset).
func page[T any](action string, p params, items []T) ([]T, string, error) {
	maxResults, err := p.int("MaxResults")
	if err != nil {
		return nil, "", err
	}
	start := 0
	if tok := p.get("NextToken"); tok != "" {
		start, err = strconv.Atoi(tok)
		if err != nil || start < 0 || start > len(items) {
			return nil, "", eni.NewAPIError(action, "InvalidParameterValue", "The token '%s' is invalid", tok)
		}
	}
	items = items[start:]
	if maxResults <= 0 || maxResults >= len(items) {
		return items, "", nil
	}
	return items[:maxResults], strconv.Itoa(start + maxResults), nil
}

func sortedKeys(t eni.Tags) []string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func parseAddrs(action, param string, ss []string) ([]netip.Addr, error) {
	out := make([]netip.Addr, 0, len(ss))
	for _, s := range ss {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, eni.NewAPIError(action, "InvalidParameterValue", "Value (%s) for parameter %s is invalid", s, param)
		}
		out = append(out, a)
	}
	return out, nil
}

func parsePrefixes(action, param string, ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, eni.NewAPIError(action, "InvalidParameterValue", "Value (%s) for parameter %s is invalid", s, param)
		}
		out = append(out, pf)
	}
	return out, nil
}
