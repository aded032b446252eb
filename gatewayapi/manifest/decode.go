package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// decoder reads one file or stream into its Loader.
type decoder struct {
	l    *Loader
	file string
	errs []error
}

// header is what is read of every object: enough to name it, pick its
// type, and expand a List.
type header struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Metadata   objectMeta      `json:"metadata"`
	Items      json.RawMessage `json:"items"`
}

// listObject is a List, as kubectl get prints it, or a typed list.
type listObject struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ListMeta   `json:"metadata"`
	Items      []json.RawMessage `json:"items"`
}

type objectMeta struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

func (d *decoder) fail(loc Location, h header, field string, err error) {
	d.errs = append(d.errs, &DecodeError{
		Location:  loc,
		Kind:      h.Kind,
		Namespace: h.Metadata.Namespace,
		Name:      h.Metadata.Name,
		Field:     field,
		Err:       err,
	})
}

func malformed(err error) error { return fmt.Errorf("%w: %w", ErrMalformed, err) }

// stream splits data into documents: a JSON stream when it starts with
// '{' and its first value is JSON (as apimachinery's YAMLOrJSONDecoder
// guesses), YAML documents otherwise.
func (d *decoder) stream(data []byte) {
	if utilyaml.IsJSONBuffer(data) && d.jsonStream(data) {
		return
	}
	d.yamlStream(data)
}

// jsonStream decodes data as concatenated JSON values. It returns false,
// having done nothing, when the first value is not JSON, for data to be
// read as YAML (flow-style YAML such as {kind: List} starts with '{' too).
func (d *decoder) jsonStream(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	line, off := 1, 0
	for doc := 0; ; doc++ {
		start := skipJSONSpace(data, int(dec.InputOffset()))
		line += bytes.Count(data[off:start], []byte("\n"))
		off = start
		loc := Location{File: d.file, Document: doc, Line: line}
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			return true
		}
		if err != nil {
			if doc == 0 {
				return false
			}
			// A JSON stream cannot be resynchronised after a syntax error.
			d.fail(loc, header{}, "", malformed(err))
			return true
		}
		d.jsonDocument(loc, raw)
	}
}

func skipJSONSpace(data []byte, off int) int {
	for off < len(data) {
		switch data[off] {
		case ' ', '\t', '\r', '\n':
			off++
		default:
			return off
		}
	}
	return off
}

// yamlStream splits data with apimachinery's YAMLReader and follows the
// lines it consumes, to give each document its line number.
func (d *decoder) yamlStream(data []byte) {
	// The reader's lines end in "\n" whatever they ended in; normalising
	// first keeps the documents byte for byte in data.
	if bytes.Contains(data, []byte("\r\n")) {
		data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	off, line := 0, 1 // the first line the reader has not consumed
	advance := func(to int) {
		to = min(to, len(data))
		line += bytes.Count(data[off:to], []byte("\n"))
		off = to
	}
	for doc := 0; ; doc++ {
		raw, err := r.Read()
		if err == io.EOF {
			return
		}
		// The reader skips separator lines before a document.
		for off < len(data) {
			l, next := nextLine(data, off)
			if sep, ok := separator(l); !sep || !ok {
				break
			}
			advance(next)
		}
		if err != nil {
			// An invalid separator ("--- x"): the reader dropped the lines
			// before it and the separator itself.
			for off < len(data) {
				l, next := nextLine(data, off)
				if sep, _ := separator(l); sep {
					break
				}
				advance(next)
			}
			_, next := nextLine(data, off)
			d.fail(Location{File: d.file, Document: doc, Line: line}, header{}, "", malformed(err))
			advance(next)
			continue
		}
		loc := Location{File: d.file, Document: doc, Line: line + contentLine(raw)}
		firstLine := line
		advance(off + len(raw))
		d.yamlDocument(loc, raw, firstLine)
	}
}

// nextLine returns the line at off, with its "\n", and the offset after it.
func nextLine(data []byte, off int) ([]byte, int) {
	if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
		return data[off : off+i+1], off + i + 1
	}
	return data[off:], len(data)
}

// separator reports whether line is a YAML document separator as
// YAMLReader sees it, and whether it is a valid one (only spaces or a
// comment after "---").
func separator(line []byte) (sep, ok bool) {
	if !bytes.HasPrefix(line, []byte("---")) {
		return false, false
	}
	rest := bytes.TrimSpace(line[3:])
	return true, len(rest) == 0 || rest[0] == '#'
}

// contentLine is the 0-based index of the first line of doc that is not
// blank or a comment (0 if there is none).
func contentLine(doc []byte) int {
	n := 0
	for len(doc) > 0 {
		l, next := nextLine(doc, 0)
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			return n
		}
		doc = doc[next:]
		n++
	}
	return 0
}

// jsonDocument decodes one value of a JSON stream, rejecting it whole if a
// key is duplicated: which of the values was meant is unknown.
func (d *decoder) jsonDocument(loc Location, js []byte) {
	var v any
	strict, err := kjson.UnmarshalStrict(js, &v, kjson.DisallowDuplicateFields)
	if err != nil {
		d.fail(loc, header{}, "", malformed(err))
		return
	}
	if v == nil {
		return
	}
	if len(strict) > 0 {
		h, _ := readHeader(js)
		for _, e := range strict {
			d.fail(loc, h, fieldPath(e), ErrDuplicateField)
		}
		return
	}
	d.value(loc, js, "", "")
}

// yamlDocument decodes one YAML document, whose text starts on line
// firstLine of the file, rejecting it whole if a key is duplicated.
func (d *decoder) yamlDocument(loc Location, raw []byte, firstLine int) {
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		_, err = yaml.YAMLToJSON(padLines(raw, firstLine))
		d.fail(loc, header{}, "", malformed(err))
		return
	}
	if bytes.Equal(js, []byte("null")) {
		return // empty, or only comments
	}
	if _, err := yaml.YAMLToJSONStrict(raw); err != nil {
		// The YAML library names the lines of the duplicate keys but not
		// their paths.
		_, err = yaml.YAMLToJSONStrict(padLines(raw, firstLine))
		h, _ := readHeader(js)
		d.fail(loc, h, "", fmt.Errorf("%w: %w", ErrDuplicateField, err))
		return
	}
	d.value(loc, js, "", "")
}

// padLines prefixes doc with empty lines so that the line numbers in the
// YAML library's errors, which count from the start of what it parses, are
// those of the file. Only used to remake an error.
func padLines(doc []byte, firstLine int) []byte {
	return append(bytes.Repeat([]byte("\n"), firstLine-1), doc...)
}

func fieldPath(err error) string {
	var fe kjson.FieldError
	if errors.As(err, &fe) {
		return fe.FieldPath()
	}
	return ""
}

func readHeader(js []byte) (header, error) {
	var h header
	t := bytes.TrimLeft(js, " \t\r\n")
	if len(t) == 0 || t[0] != '{' {
		what := "a scalar"
		if len(t) > 0 && t[0] == '[' {
			what = "a list"
		}
		return h, fmt.Errorf("%w: want an object, got %s", ErrMalformed, what)
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(js, &h); err != nil {
		return h, malformed(err)
	}
	return h, nil
}

// value decodes one object, which may be a List. An object without
// apiVersion or kind takes defAPIVersion and defKind (those of the typed
// List around it).
func (d *decoder) value(loc Location, js []byte, defAPIVersion, defKind string) {
	h, err := readHeader(js)
	if err != nil {
		d.fail(loc, h, "", err)
		return
	}
	if h.APIVersion == "" {
		h.APIVersion = defAPIVersion
	}
	if h.Kind == "" {
		h.Kind = defKind
	}
	if h.APIVersion == "" {
		d.fail(loc, h, "apiVersion", ErrMissingField)
	}
	if h.Kind == "" {
		d.fail(loc, h, "kind", ErrMissingField)
	}
	if h.APIVersion == "" || h.Kind == "" {
		return
	}
	gv, err := schema.ParseGroupVersion(h.APIVersion)
	if err != nil {
		d.fail(loc, h, "apiVersion", malformed(err))
		return
	}
	// A kind ending in List is a list if it has items or the scheme says so
	// (an empty HTTPRouteList may omit them).
	gvk := gv.WithKind(h.Kind)
	if h.Kind == "List" || strings.HasSuffix(h.Kind, "List") && (h.Items != nil || scheme().Recognizes(gvk)) {
		d.list(loc, h, js)
		return
	}
	d.object(loc, h, gvk, js)
}

// list expands a List ("kind: List" as kubectl get prints it, or a typed
// list such as HTTPRouteList) into its items.
func (d *decoder) list(loc Location, h header, js []byte) {
	var list listObject
	strict, err := kjson.UnmarshalStrict(js, &list, kjson.DisallowUnknownFields)
	if err != nil {
		d.fail(loc, h, "", malformed(err))
		return
	}
	for _, e := range strict {
		d.fail(loc, h, fieldPath(e), ErrUnknownField)
	}
	var defAPIVersion, defKind string
	if h.Kind != "List" {
		defAPIVersion, defKind = h.APIVersion, strings.TrimSuffix(h.Kind, "List")
	}
	for i, item := range list.Items {
		itemLoc := loc
		itemLoc.Path = "items[" + strconv.Itoa(i) + "]"
		if loc.Path != "" {
			itemLoc.Path = loc.Path + "." + itemLoc.Path
		}
		d.value(itemLoc, item, defAPIVersion, defKind)
	}
}

// object decodes an object of a kind the translator consumes into the
// Input, strictly, or records one it does not consume as skipped.
func (d *decoder) object(loc Location, h header, gvk schema.GroupVersionKind, js []byte) {
	s := scheme()
	gk := gvk.GroupKind()
	consumed, clusterScoped := consumedKind(gk)
	if !s.Recognizes(gvk) && s.IsGroupRegistered(gvk.Group) {
		group := gvk.Group
		if group == "" {
			group = "core"
		}
		if !s.IsVersionRegistered(gvk.GroupVersion()) {
			d.fail(loc, h, "apiVersion", fmt.Errorf("%w: version %q of group %s is not served", ErrUnknownKind, gvk.Version, group))
		} else {
			d.fail(loc, h, "kind", fmt.Errorf("%w: %s has no kind %q", ErrUnknownKind, gvk.GroupVersion(), gvk.Kind))
		}
		return
	}
	if !consumed {
		d.l.skipped = append(d.l.skipped, ObjectRef{
			APIVersion: h.APIVersion,
			Kind:       h.Kind,
			Namespace:  h.Metadata.Namespace,
			Name:       h.Metadata.Name,
			Location:   loc,
		})
		return
	}

	obj, err := s.New(gvk)
	if err != nil {
		d.fail(loc, h, "kind", fmt.Errorf("%w: %w", ErrUnknownKind, err))
		return
	}
	strict, err := kjson.UnmarshalStrict(js, obj, kjson.DisallowUnknownFields)
	if err != nil {
		d.fail(loc, h, "", malformed(err))
		return
	}
	if len(strict) > 0 {
		for _, e := range strict {
			d.fail(loc, h, fieldPath(e), ErrUnknownField)
		}
		return
	}
	o, err := toV1(obj)
	if err != nil {
		d.fail(loc, h, "", malformed(err))
		return
	}
	o.GetObjectKind().SetGroupVersionKind(gk.WithVersion("v1"))
	if o.GetName() == "" {
		d.fail(loc, h, "metadata.name", ErrMissingField)
		return
	}
	switch {
	case clusterScoped:
		o.SetNamespace("") // as the API server does
	case o.GetNamespace() == "":
		o.SetNamespace(d.l.opts.DefaultNamespace)
	}
	if secret, ok := o.(*corev1.Secret); ok {
		mergeStringData(secret)
	}

	key := objectKey{gk.Group, gk.Kind, o.GetNamespace(), o.GetName()}
	if first, ok := d.l.seen[key]; ok {
		d.fail(loc, h, "", &DuplicateError{First: first})
		return
	}
	d.l.seen[key] = loc
	add(&d.l.in, o)
	d.l.objects = append(d.l.objects, ObjectRef{
		APIVersion: h.APIVersion,
		Kind:       h.Kind,
		Namespace:  o.GetNamespace(),
		Name:       o.GetName(),
		Location:   loc,
	})
}

// mergeStringData does what the API server does on write: stringData keys
// are written into data, winning over the same keys there, and dropped.
func mergeStringData(s *corev1.Secret) {
	if len(s.StringData) > 0 && s.Data == nil {
		s.Data = make(map[string][]byte, len(s.StringData))
	}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v)
	}
	s.StringData = nil
}
