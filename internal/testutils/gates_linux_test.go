package testutils

import (
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestKernelVersion(t *testing.T) {
	major, minor, patch, err := KernelVersion()
	require.NoError(t, err)

	var uts unix.Utsname
	require.NoError(t, unix.Uname(&uts))
	wantMajor, wantMinor, wantPatch, err := ParseKernelRelease(unix.ByteSliceToString(uts.Release[:]))
	require.NoError(t, err)
	require.Equal(t, []int{wantMajor, wantMinor, wantPatch}, []int{major, minor, patch})
	require.GreaterOrEqual(t, major, 3)
}

func TestRequireKernel(t *testing.T) {
	major, minor, _, err := KernelVersion()
	require.NoError(t, err)

	tests := []struct {
		name         string
		major, minor int
		wantSkip     bool
	}{
		{name: "ancient", major: 2, minor: 6},
		{name: "running", major: major, minor: minor},
		{name: "next minor", major: major, minor: minor + 1, wantSkip: true},
		{name: "next major", major: major + 1, minor: 0, wantSkip: true},
	}
	for _, tt := range tests {
		for _, required := range []bool{false, true} {
			name := tt.name
			if required {
				name += "/required"
			}
			t.Run(name, func(t *testing.T) {
				env := "0"
				if required {
					env = "1"
				}
				setPrivilegedEnv(t, env, false)
				fake := &fakeTB{}
				RequireKernel(fake, tt.major, tt.minor)
				if !tt.wantSkip {
					require.Empty(t, fake.skips)
					require.Empty(t, fake.fatals)
					return
				}
				got := fake.skips
				if required {
					require.Empty(t, fake.skips)
					got = fake.fatals
				} else {
					require.Empty(t, fake.fatals)
				}
				require.Len(t, got, 1)
				require.Contains(t, got[0], "needs Linux kernel >= ")
			})
		}
	}
}

func TestRequireRoot(t *testing.T) {
	caps, err := effectiveCaps()
	require.NoError(t, err)
	isRoot := caps&(1<<unix.CAP_SYS_ADMIN) != 0 && caps&(1<<unix.CAP_NET_ADMIN) != 0

	setPrivilegedEnv(t, "0", false)
	fake := &fakeTB{}
	RequireRoot(fake)
	require.Empty(t, fake.fatals)
	if isRoot {
		require.Empty(t, fake.skips)
		return
	}
	require.Len(t, fake.skips, 1)
	require.Contains(t, fake.skips[0], "needs root")
}

func TestRequireBPF(t *testing.T) {
	RequireBPF(t)
	// The gate passed, so the cached probe succeeded; probing again still works.
	require.NoError(t, bpfProbe())
	require.NoError(t, probeBPF())
}
