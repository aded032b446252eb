package main

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/eni"
	"github.com/eniway/eniway/eni/fake"
	"github.com/eniway/eniway/eni/fake/wire"
	"github.com/eniway/eniway/eni/internal/limitsfile"
)

// isolate gives run a default credential chain that finds static
// credentials in the environment and nothing else: no shared files, no
// instance metadata, no region.
func isolate(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           "AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY":       "secret",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_REGION":                  "",
		"AWS_DEFAULT_REGION":          "",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_ENDPOINT_URL":            "",
		"AWS_ENDPOINT_URL_EC2":        "",
	} {
		t.Setenv(k, v)
	}
}

// world is an EC2 emulator with the fake's built-in types and 150 more, so
// that DescribeInstanceTypes takes two pages of 100.
func world(t *testing.T) (*fake.Cloud, *httptest.Server) {
	t.Helper()
	var extra []eni.Limits
	for i := range 150 {
		extra = append(extra, eni.Limits{
			InstanceType: fmt.Sprintf("x%d.%dxlarge", i%7, i), MaxENIs: 1 + i%15, IPv4PerENI: 1 + i%50,
			IPv6PerENI: i % 50, Hypervisor: "nitro", VCPUs: 2 * (i + 1),
		})
	}
	extra = append(extra, eni.Limits{InstanceType: "x9.metal", MaxENIs: 15, IPv4PerENI: 50, IPv6PerENI: 50, BareMetal: true, VCPUs: 96})
	cloud := fake.New(fake.Options{InstanceTypes: extra})
	srv := httptest.NewServer(wire.NewHandler(cloud, nil))
	t.Cleanup(srv.Close)
	return cloud, srv
}

func TestRunAgainstTheEmulator(t *testing.T) {
	isolate(t)
	cloud, srv := world(t)
	want, err := cloud.DescribeInstanceTypes(t.Context())
	require.NoError(t, err)
	require.Len(t, want, 5+151)
	cloud.ResetCounters()

	out := filepath.Join(t.TempDir(), "limits_snapshot.json")
	var stdout bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-endpoint", srv.URL, "-region", "eu-west-3", "-date", "2026-01-02", "-out", out}, &stdout))
	require.Equal(t, fmt.Sprintf("wrote 156 instance types (eu-west-3, 2026-01-02) to %s\n", out), stdout.String())
	// Two pages; the SDK may retry a request on a transient connection error.
	require.GreaterOrEqual(t, cloud.Calls(fake.ActionDescribeInstanceTypes), 2, "every page")

	raw, err := os.ReadFile(out)
	require.NoError(t, err)
	f, err := limitsfile.Decode(bytes.NewReader(raw)) // the parser package eni uses
	require.NoError(t, err)
	require.Equal(t, "EC2 DescribeInstanceTypes", f.Source)
	require.Equal(t, "eu-west-3", f.Region)
	require.Equal(t, srv.URL, f.Endpoint)
	require.Equal(t, "2026-01-02", f.Date)
	comment := strings.Join(f.Comment, "\n")
	require.Contains(t, comment, "go run ./eni/internal/genlimits -out eni/limits_snapshot.json -region eu-west-3")
	require.Contains(t, comment, "Read from the endpoint "+srv.URL)
	require.Len(t, f.Rows, len(want))
	for i, l := range want {
		require.Equal(t, limitsfile.Row{
			InstanceType: l.InstanceType, MaxENIs: l.MaxENIs, IPv4PerENI: l.IPv4PerENI, IPv6PerENI: l.IPv6PerENI,
			Hypervisor: l.Hypervisor, BareMetal: l.BareMetal, VCPUs: l.VCPUs,
		}, f.Rows[i])
	}

	var again bytes.Buffer
	require.NoError(t, limitsfile.Encode(&again, f))
	require.Equal(t, string(raw), again.String(), "canonical")

	stdout.Reset()
	require.NoError(t, run(t.Context(), []string{"-endpoint", srv.URL, "-region", "eu-west-3", "-date", "2026-01-02"}, &stdout))
	require.Equal(t, string(raw), stdout.String(), "deterministic; -out defaults to standard output")
}

func TestRunFailures(t *testing.T) {
	isolate(t)
	cloud, srv := world(t)
	ok := []string{"-endpoint", srv.URL, "-region", "us-east-1", "-date", "2026-01-02"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad date", []string{"-date", "2026-1-2"}, "-date"},
		{"unknown flag", []string{"-bogus"}, "bogus"},
		{"arguments", []string{"extra"}, "unexpected arguments"},
		{"bad endpoint", []string{"-endpoint", "127.0.0.1:1", "-region", "us-east-1"}, "BaseEndpoint"},
		{"no region", []string{"-endpoint", srv.URL}, "no AWS region"},
		{"no directory", append(ok, "-out", filepath.Join(t.TempDir(), "missing", "x.json")), "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout bytes.Buffer
			require.ErrorContains(t, run(t.Context(), tc.args, &stdout), tc.want)
		})
	}

	t.Run("API failure", func(t *testing.T) {
		cloud.SetFault(fake.ActionDescribeInstanceTypes, func(fake.Call) error {
			return eni.NewAPIError(fake.ActionDescribeInstanceTypes, "UnauthorizedOperation", "You are not authorized to perform this operation.")
		})
		t.Cleanup(func() { cloud.SetFault(fake.ActionDescribeInstanceTypes, nil) })
		dir := t.TempDir()
		out := filepath.Join(dir, "limits.json")
		require.NoError(t, os.WriteFile(out, []byte("old"), 0o644))
		var stdout bytes.Buffer
		err := run(t.Context(), append(ok, "-out", out), &stdout)
		require.ErrorIs(t, err, eni.ErrUnauthorized)
		raw, err := os.ReadFile(out)
		require.NoError(t, err)
		require.Equal(t, "old", string(raw), "the file is left alone")
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Len(t, entries, 1, "no temporary file left")
		require.Empty(t, stdout.String())
	})
}
