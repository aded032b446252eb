package proxy

import (
	"net/url"
	"strings"
)

// removeDotSegments normalizes an escaped path as RFC 3986 section 5.2.4
// says (what Envoy's normalize_path does besides case-normalizing percent
// encodings): "." and ".." segments go, a trailing one leaving a slash.
func removeDotSegments(p string) string {
	if !strings.Contains(p, "/.") {
		return p
	}
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 1 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	r := strings.Join(out, "/")
	if !strings.HasPrefix(r, "/") {
		r = "/" + r
	}
	return r
}

func unescapePath(p string) (string, error) { return url.PathUnescape(p) }
