package eni_test

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/eni"
	"github.com/eniway/eniway/eni/fake"
	"github.com/eniway/eniway/eni/internal/limitsfile"
)

// TestSnapshotFacts checks the snapshot against the facts issue #3 names
// and a few more from EC2's documentation.
func TestSnapshotFacts(t *testing.T) {
	for _, tc := range []struct {
		typ        string
		enis, ipv4 int
		hypervisor string
		metal, pd  bool
	}{
		{"m5.large", 3, 10, "nitro", false, true},
		{"m7g.xlarge", 4, 15, "nitro", false, true},
		{"m5.4xlarge", 8, 30, "nitro", false, true},
		{"t2.medium", 3, 6, "xen", false, false},
		{"m5.metal", 15, 50, "", true, true},
		{"c5.large", 3, 10, "nitro", false, true},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			l, ok := eni.SnapshotLimits(tc.typ)
			require.True(t, ok)
			assert.Equal(t, tc.typ, l.InstanceType)
			assert.Equal(t, tc.enis, l.MaxENIs, "MaxENIs")
			assert.Equal(t, tc.ipv4, l.IPv4PerENI, "IPv4PerENI")
			assert.Equal(t, tc.hypervisor, l.Hypervisor)
			assert.Equal(t, tc.metal, l.BareMetal)
			assert.Equal(t, tc.pd, l.PrefixDelegation(), "PrefixDelegation")
		})
	}
	_, ok := eni.SnapshotLimits("x9.nonexistent")
	require.False(t, ok)
	_, ok = eni.SnapshotLimits("")
	require.False(t, ok)
}

func TestSnapshotTypes(t *testing.T) {
	types := eni.SnapshotTypes()
	require.Greater(t, len(types), 700, "EC2 had 764 types in the seed")
	require.True(t, slices.IsSorted(types))
	require.Equal(t, len(types), len(slices.Compact(slices.Clone(types))), "no type twice")
	types[0] = "mutated"
	require.NotEqual(t, "mutated", eni.SnapshotTypes()[0], "SnapshotTypes returns the caller's copy")

	for _, typ := range eni.SnapshotTypes() {
		l, ok := eni.SnapshotLimits(typ)
		require.True(t, ok, typ)
		metal := strings.Contains(typ, ".metal")
		require.Equal(t, metal, l.BareMetal, typ)
		if metal {
			require.Empty(t, l.Hypervisor, "%s: bare metal has no hypervisor", typ)
		} else {
			require.Contains(t, []string{"nitro", "xen"}, l.Hypervisor, typ)
		}
		require.GreaterOrEqual(t, l.MaxENIs, 1, typ)
		require.GreaterOrEqual(t, l.IPv4PerENI, 1, typ)
		require.LessOrEqual(t, l.IPv4PerENI, fake.UnattachedAddressLimit, typ)
		require.GreaterOrEqual(t, l.VCPUs, 0, typ)
	}
}

// TestSnapshotFile checks the embedded file: canonical (what the generator
// would write for its rows and header), with its provenance stated.
func TestSnapshotFile(t *testing.T) {
	raw, err := os.ReadFile("limits_snapshot.json")
	require.NoError(t, err)
	f, err := limitsfile.Decode(bytes.NewReader(raw))
	require.NoError(t, err)
	var again bytes.Buffer
	require.NoError(t, limitsfile.Encode(&again, f))
	require.Equal(t, string(raw), again.String(), "the file is in limitsfile's canonical form")

	comment := strings.Join(f.Comment, " ")
	require.NotEmpty(t, f.Source)
	require.NotEmpty(t, f.Region)
	require.Contains(t, comment, "go run ./eni/internal/genlimits", "the header says how to regenerate")
	if strings.Contains(f.Source, "Cilium") { // the seed, until someone regenerates it
		require.Contains(t, comment, "Cilium v1.17.6")
		require.Contains(t, comment, "Not generated from a live AWS account")
		require.Contains(t, comment, "vcpus 0 means unknown")
		require.Equal(t, "2025-07-14", f.Date)
		require.Len(t, f.Rows, 764)
		for _, r := range f.Rows {
			require.Zero(t, r.VCPUs, "%s: the seed records no vCPUs", r.InstanceType)
		}
	}
}

// TestSnapshotAgreesWithFake keeps eni/fake's built-in instance types and
// the snapshot in step: a fake that drifts from EC2 is a bug.
func TestSnapshotAgreesWithFake(t *testing.T) {
	types, err := fake.New(fake.Options{}).DescribeInstanceTypes(t.Context())
	require.NoError(t, err)
	require.NotEmpty(t, types)
	for _, want := range types {
		got, ok := eni.SnapshotLimits(want.InstanceType)
		require.True(t, ok, want.InstanceType)
		if got.VCPUs == 0 {
			want.VCPUs = 0 // unknown to the snapshot
		}
		require.Equal(t, want, got)
	}
}
