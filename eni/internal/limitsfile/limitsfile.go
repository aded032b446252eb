// Package limitsfile reads and writes eni's instance-limits snapshot table
// (eni/limits_snapshot.json): the one format package eni embeds and the
// generator eni/internal/genlimits writes, so that both agree on it byte
// for byte.
//
// The file is JSON: a header saying where the table comes from, then one
// row per instance type, each an array in the order of Columns, one row a
// line, sorted by instance type:
//
//	{
//	  "version": 1,
//	  "comment": ["free text: provenance, how to regenerate"],
//	  "source": "EC2 DescribeInstanceTypes",
//	  "region": "us-east-1",
//	  "endpoint": "",
//	  "date": "2026-01-02",
//	  "columns": ["instance_type", "max_enis", "ipv4_per_eni", "ipv6_per_eni", "hypervisor", "bare_metal", "vcpus"],
//	  "types": [
//	    ["m5.large", 3, 10, 10, "nitro", false, 2],
//	    ["m5.metal", 15, 50, 50, "", true, 96]
//	  ]
//	}
//
// A vcpus of 0 means unknown. Encode writes exactly that layout, so a file
// Decode accepts and Encode writes back is unchanged when it was written
// by Encode (the canonical form); Decode is strict: unknown fields, a
// version other than Version, other columns, a null or mistyped cell, an
// invalid row, rows out of order or twice, and trailing data are errors.
package limitsfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Version is the format version Encode writes and Decode accepts.
const Version = 1

// DateLayout is the layout of File.Date.
const DateLayout = time.DateOnly

// columns name a row's cells, in order.
var columns = []string{"instance_type", "max_enis", "ipv4_per_eni", "ipv6_per_eni", "hypervisor", "bare_metal", "vcpus"}

// Columns returns the names of a row's cells, in order.
func Columns() []string { return slices.Clone(columns) }

// Row is one instance type's network limits.
type Row struct {
	// InstanceType is the type's name, e.g. "m5.large".
	InstanceType string
	// MaxENIs is the number of network interfaces, the primary included.
	MaxENIs int
	// IPv4PerENI is the number of private IPv4 addresses per interface, the
	// primary included.
	IPv4PerENI int
	// IPv6PerENI is the number of IPv6 addresses per interface.
	IPv6PerENI int
	// Hypervisor is EC2's hypervisor ("nitro", "xen"), empty for bare metal.
	Hypervisor string
	// BareMetal reports a metal instance.
	BareMetal bool
	// VCPUs is the default number of vCPUs; 0 means unknown.
	VCPUs int
}

// Validate reports a row no instance type could have.
func (r Row) Validate() error {
	switch {
	case r.InstanceType == "" || strings.ContainsFunc(r.InstanceType, func(c rune) bool { return c <= ' ' || c > '~' }):
		return fmt.Errorf("instance type %q: want a non-empty printable ASCII name without spaces", r.InstanceType)
	case r.MaxENIs < 1:
		return fmt.Errorf("%s: max_enis %d < 1", r.InstanceType, r.MaxENIs)
	case r.IPv4PerENI < 1:
		return fmt.Errorf("%s: ipv4_per_eni %d < 1", r.InstanceType, r.IPv4PerENI)
	case r.IPv6PerENI < 0:
		return fmt.Errorf("%s: negative ipv6_per_eni %d", r.InstanceType, r.IPv6PerENI)
	case r.VCPUs < 0:
		return fmt.Errorf("%s: negative vcpus %d", r.InstanceType, r.VCPUs)
	}
	return nil
}

// File is a limits table with its provenance.
type File struct {
	// Comment is free text for people reading the file: where the data
	// comes from and how to regenerate it. One string a line.
	Comment []string
	// Source names where the rows were read, e.g. "EC2 DescribeInstanceTypes".
	Source string
	// Region is the AWS region they describe.
	Region string
	// Endpoint is the EC2 endpoint asked, empty for the region's own.
	Endpoint string
	// Date is the day the data was read, as DateLayout.
	Date string
	// Rows are the instance types; Encode sorts them, Decode returns them
	// sorted.
	Rows []Row
}

// Encode writes f in the canonical layout, rows sorted by instance type.
// It fails, writing nothing, if f would not decode: an invalid row, a type
// twice, or a Date not in DateLayout.
func Encode(w io.Writer, f File) error {
	rows := slices.SortedFunc(slices.Values(f.Rows), func(a, b Row) int { return strings.Compare(a.InstanceType, b.InstanceType) })
	if err := check(f.Date, rows); err != nil {
		return fmt.Errorf("limitsfile: encode: %w", err)
	}
	var b bytes.Buffer
	b.WriteString("{\n")
	fmt.Fprintf(&b, "  \"version\": %d,\n", Version)
	if len(f.Comment) == 0 {
		b.WriteString("  \"comment\": [],\n")
	} else {
		b.WriteString("  \"comment\": [\n")
		for i, c := range f.Comment {
			fmt.Fprintf(&b, "    %s%s\n", quote(c), comma(i, len(f.Comment)))
		}
		b.WriteString("  ],\n")
	}
	fmt.Fprintf(&b, "  \"source\": %s,\n", quote(f.Source))
	fmt.Fprintf(&b, "  \"region\": %s,\n", quote(f.Region))
	fmt.Fprintf(&b, "  \"endpoint\": %s,\n", quote(f.Endpoint))
	fmt.Fprintf(&b, "  \"date\": %s,\n", quote(f.Date))
	b.WriteString("  \"columns\": [")
	for i, c := range columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(c))
	}
	b.WriteString("],\n")
	if len(rows) == 0 {
		b.WriteString("  \"types\": []\n")
	} else {
		b.WriteString("  \"types\": [\n")
		for i, r := range rows {
			fmt.Fprintf(&b, "    [%s, %d, %d, %d, %s, %t, %d]%s\n", quote(r.InstanceType), r.MaxENIs, r.IPv4PerENI,
				r.IPv6PerENI, quote(r.Hypervisor), r.BareMetal, r.VCPUs, comma(i, len(rows)))
		}
		b.WriteString("  ]\n")
	}
	b.WriteString("}\n")
	_, err := w.Write(b.Bytes())
	return err
}

func comma(i, n int) string {
	if i < n-1 {
		return ","
	}
	return ""
}

// quote returns s as a JSON string, without escaping <, > and &.
func quote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// document is the file's JSON shape.
type document struct {
	Version  *int                `json:"version"`
	Comment  []string            `json:"comment"`
	Source   string              `json:"source"`
	Region   string              `json:"region"`
	Endpoint string              `json:"endpoint"`
	Date     string              `json:"date"`
	Columns  []string            `json:"columns"`
	Types    [][]json.RawMessage `json:"types"`
}

// Decode reads a file, strictly (see the package documentation).
func Decode(r io.Reader) (File, error) {
	f, err := decode(r)
	if err != nil {
		return File{}, fmt.Errorf("limitsfile: decode: %w", err)
	}
	return f, nil
}

func decode(r io.Reader) (File, error) {
	dec := json.NewDecoder(bufio.NewReader(r))
	dec.DisallowUnknownFields()
	var doc document
	if err := dec.Decode(&doc); err != nil {
		return File{}, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return File{}, errors.New("data after the document")
	}
	switch {
	case doc.Version == nil:
		return File{}, errors.New("no version")
	case *doc.Version != Version:
		return File{}, fmt.Errorf("version %d, want %d", *doc.Version, Version)
	case !slices.Equal(doc.Columns, columns):
		return File{}, fmt.Errorf("columns %q, want %q", doc.Columns, columns)
	}
	f := File{Source: doc.Source, Region: doc.Region, Endpoint: doc.Endpoint, Date: doc.Date}
	if len(doc.Comment) > 0 {
		f.Comment = doc.Comment
	}
	for i, cells := range doc.Types {
		row, err := decodeRow(cells)
		if err != nil {
			return File{}, fmt.Errorf("types[%d]: %w", i, err)
		}
		f.Rows = append(f.Rows, row)
	}
	if err := check(f.Date, f.Rows); err != nil {
		return File{}, err
	}
	return f, nil
}

func decodeRow(cells []json.RawMessage) (Row, error) {
	var r Row
	if len(cells) != len(columns) {
		return r, fmt.Errorf("%d cells, want %d", len(cells), len(columns))
	}
	for i, dst := range []any{&r.InstanceType, &r.MaxENIs, &r.IPv4PerENI, &r.IPv6PerENI, &r.Hypervisor, &r.BareMetal, &r.VCPUs} {
		if string(cells[i]) == "null" {
			return r, fmt.Errorf("%s: null", columns[i])
		}
		if err := json.Unmarshal(cells[i], dst); err != nil {
			return r, fmt.Errorf("%s: %w", columns[i], err)
		}
	}
	return r, nil
}

// check validates a date and rows that must be sorted.
func check(date string, rows []Row) error {
	if _, err := time.Parse(DateLayout, date); err != nil {
		return fmt.Errorf("date %q: want YYYY-MM-DD", date)
	}
	var errs []error
	for i, r := range rows {
		if err := r.Validate(); err != nil {
			errs = append(errs, err)
		}
		if i > 0 && rows[i-1].InstanceType >= r.InstanceType {
			if rows[i-1].InstanceType == r.InstanceType {
				errs = append(errs, fmt.Errorf("%s: listed twice", r.InstanceType))
			} else {
				errs = append(errs, fmt.Errorf("%s: after %s, out of order", r.InstanceType, rows[i-1].InstanceType))
			}
		}
	}
	return errors.Join(errs...)
}
