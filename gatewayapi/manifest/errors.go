package manifest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/eniway/eniway/gatewayapi"
)

// Sentinels a DecodeError wraps in its Err; test with errors.Is. Every
// DecodeError also matches gatewayapi.ErrInvalid.
var (
	// ErrMalformed: the document is not YAML or JSON, is not an object, or
	// a field has a value of the wrong type.
	ErrMalformed = errors.New("malformed document")
	// ErrMissingField: apiVersion, kind or metadata.name is missing.
	ErrMissingField = errors.New("missing required field")
	// ErrUnknownField: the object has a field its type does not define.
	ErrUnknownField = errors.New("unknown field")
	// ErrDuplicateField: a key appears twice in the same mapping.
	ErrDuplicateField = errors.New("duplicate field")
	// ErrUnknownKind: the apiVersion names a group this package decodes
	// (core, discovery.k8s.io, gateway.networking.k8s.io) but a version it
	// does not serve or a kind that group does not have.
	ErrUnknownKind = errors.New("unknown kind")
	// ErrDuplicateObject: an object with the same group, kind, namespace and
	// name was already loaded; the Err of such a DecodeError is a
	// *DuplicateError naming the first one.
	ErrDuplicateObject = errors.New("duplicate object")
)

// Location is where an object or a document was read.
type Location struct {
	// File is the path given to Load (joined with the directory walk) or
	// the name given to Decode.
	File string
	// Document is the 0-based index of the document in the file: YAML
	// documents are counted between "---" separators, and a document with
	// only comments counts; in a JSON stream each top-level value is one.
	Document int
	// Line is the 1-based line of the document's first line that is not
	// blank or a comment.
	Line int
	// Path locates an object inside a List document ("items[2]", nested
	// Lists give "items[0].items[3]"); empty for a top-level object.
	Path string
}

// String formats the location as "file:line: document n[ path]".
func (l Location) String() string {
	var b strings.Builder
	switch {
	case l.File != "" && l.Line > 0:
		b.WriteString(l.File + ":" + strconv.Itoa(l.Line) + ": ")
	case l.File != "":
		b.WriteString(l.File + ": ")
	case l.Line > 0:
		b.WriteString("line " + strconv.Itoa(l.Line) + ": ")
	}
	b.WriteString("document ")
	b.WriteString(strconv.Itoa(l.Document))
	if l.Path != "" {
		b.WriteByte(' ')
		b.WriteString(l.Path)
	}
	return b.String()
}

// DecodeError is a problem with one document or one object of a manifest.
// Loader methods return all of them joined with errors.Join, together with
// every object that decoded. The object in error is left out of the Input;
// so is the whole document (all the items of a List) when it cannot be
// parsed or has a duplicate key.
type DecodeError struct {
	// Location says where: file, 0-based document index, line and the
	// position in a List.
	Location
	// Kind, Namespace and Name identify the object when they could be read
	// (Namespace as written, before defaulting).
	Kind      string
	Namespace string
	Name      string
	// Field is the path of the offending field within the object, as the
	// strict decoder reports it (spec.rules[0].matchez); empty when the
	// problem is not one field.
	Field string
	// Err is, or wraps, one of ErrMalformed, ErrMissingField,
	// ErrUnknownField, ErrDuplicateField, ErrUnknownKind or
	// ErrDuplicateObject.
	Err error
}

func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString(e.Location.String())
	if e.Kind != "" || e.Name != "" {
		b.WriteString(": ")
		b.WriteString(e.Kind)
		if e.Name != "" || e.Namespace != "" {
			if e.Kind != "" {
				b.WriteByte(' ')
			}
			if e.Namespace != "" {
				b.WriteString(e.Namespace)
				b.WriteByte('/')
			}
			b.WriteString(e.Name)
		}
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns Err and gatewayapi.ErrInvalid.
func (e *DecodeError) Unwrap() []error { return []error{e.Err, gatewayapi.ErrInvalid} }

// DuplicateError is the Err of a DecodeError for an object loaded twice.
type DuplicateError struct {
	// First is where the object that was kept was read.
	First Location
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("%v, first defined at %v", ErrDuplicateObject, e.First)
}

// Unwrap returns ErrDuplicateObject.
func (e *DuplicateError) Unwrap() error { return ErrDuplicateObject }
