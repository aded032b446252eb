// Package ciliumdiff holds the differential tests and side-by-side
// benchmarks that pin package maglev to Cilium's pkg/maglev.
//
// It is a separate module so that the eniway library never depends on
// Cilium: only this test-only module imports github.com/cilium/cilium. Run
// it from this directory with go test ./... (the repository's make test
// does), and compare build costs with:
//
//	go test -run '^$' -bench Build -benchtime 3x ./...
//	go test -run '^$' -bench Build -benchtime 3x ../../maglev/
package ciliumdiff
