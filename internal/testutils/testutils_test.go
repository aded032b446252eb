package testutils

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeTB records skips and failures instead of ending the test. The embedded testing.TB is nil, so any
// method the code under test should not call panics.
type fakeTB struct {
	testing.TB
	skips  []string
	fatals []string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Skip(args ...any) { f.skips = append(f.skips, fmt.Sprint(args...)) }

func (f *fakeTB) Skipf(format string, args ...any) {
	f.skips = append(f.skips, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
}

// setPrivilegedEnv sets RequirePrivilegedEnv for the rest of t, or unsets it if unset is true.
func setPrivilegedEnv(t *testing.T, value string, unset bool) {
	t.Helper()
	t.Setenv(RequirePrivilegedEnv, value) // Restores the old value when t ends.
	if unset {
		require.NoError(t, os.Unsetenv(RequirePrivilegedEnv))
	}
}

func TestSkipOrFail(t *testing.T) {
	tests := []struct {
		name      string
		value     string
		unset     bool
		wantFatal bool
		wantNote  string // in the fatal message, after the reason
	}{
		{name: "unset", unset: true},
		{name: "empty", value: ""},
		{name: "0", value: "0"},
		{name: "false", value: "false"},
		{name: "1", value: "1", wantFatal: true, wantNote: RequirePrivilegedEnv + "=1 turned this skip into a failure"},
		{name: "true", value: "true", wantFatal: true, wantNote: RequirePrivilegedEnv + "=true turned this skip into a failure"},
		{name: "TRUE", value: "TRUE", wantFatal: true, wantNote: RequirePrivilegedEnv + "=TRUE turned this skip into a failure"},
		{name: "malformed", value: "yes", wantFatal: true, wantNote: RequirePrivilegedEnv + `="yes" is not a boolean`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setPrivilegedEnv(t, tt.value, tt.unset)
			fake := &fakeTB{}
			SkipOrFail(fake, "needs %s: %d", "a thing", 42)
			if !tt.wantFatal {
				require.Equal(t, []string{"needs a thing: 42"}, fake.skips)
				require.Empty(t, fake.fatals)
				return
			}
			require.Empty(t, fake.skips)
			require.Len(t, fake.fatals, 1)
			require.Regexp(t, `^needs a thing: 42 \(`, fake.fatals[0])
			require.Contains(t, fake.fatals[0], tt.wantNote)
		})
	}
}

func TestPrivilegedRequired(t *testing.T) {
	tests := []struct {
		value string
		unset bool
		want  bool
	}{
		{unset: true, want: false},
		{value: "", want: false},
		{value: "0", want: false},
		{value: "false", want: false},
		{value: "yes", want: false}, // Malformed: false here, but SkipOrFail fails.
		{value: "1", want: true},
		{value: "true", want: true},
		{value: "T", want: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q unset=%t", tt.value, tt.unset), func(t *testing.T) {
			setPrivilegedEnv(t, tt.value, tt.unset)
			require.Equal(t, tt.want, PrivilegedRequired())
		})
	}
}

func TestRequireFeature(t *testing.T) {
	errProbe := errors.New("probe failed")
	tests := []struct {
		name       string
		env        string
		probe      func() error
		wantSkips  []string
		wantFatals int
	}{
		{name: "available", probe: func() error { return nil }},
		{name: "available/required", env: "1", probe: func() error { return nil }},
		{
			name:      "unavailable",
			probe:     func() error { return errProbe },
			wantSkips: []string{"kernel feature widget unavailable: probe failed"},
		},
		{name: "unavailable/required", env: "1", probe: func() error { return errProbe }, wantFatals: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setPrivilegedEnv(t, tt.env, false)
			fake := &fakeTB{}
			RequireFeature(fake, "widget", tt.probe)
			require.Equal(t, tt.wantSkips, fake.skips)
			require.Len(t, fake.fatals, tt.wantFatals)
			if tt.wantFatals > 0 {
				require.Contains(t, fake.fatals[0], "kernel feature widget unavailable: probe failed")
			}
		})
	}
}

func TestParseKernelRelease(t *testing.T) {
	tests := []struct {
		release             string
		major, minor, patch int
		wantErr             bool
	}{
		{release: "6.18.0-1-amd64", major: 6, minor: 18, patch: 0},
		{release: "5.15.0", major: 5, minor: 15, patch: 0},
		{release: "6.6.30+deb13", major: 6, minor: 6, patch: 30},
		{release: "6.18.44-fc-v657", major: 6, minor: 18, patch: 44},
		{release: "3.10.0-1160.el7.x86_64", major: 3, minor: 10, patch: 0},
		{release: "5.15.167.4-microsoft-standard-WSL2", major: 5, minor: 15, patch: 167},
		{release: "6.1-rc3", major: 6, minor: 1, patch: 0},
		{release: "4.19", major: 4, minor: 19, patch: 0},
		{release: "", wantErr: true},
		{release: "6", wantErr: true},
		{release: "6-generic", wantErr: true},
		{release: "6.", wantErr: true},
		{release: ".6.1", wantErr: true},
		{release: "6..1", wantErr: true},
		{release: "v6.1.0", wantErr: true},
		{release: "6.x", wantErr: true},
		{release: "99999999999999999999.1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.release, func(t *testing.T) {
			major, minor, patch, err := ParseKernelRelease(tt.release)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, []int{tt.major, tt.minor, tt.patch}, []int{major, minor, patch})
		})
	}
}

func FuzzParseKernelRelease(f *testing.F) {
	for _, s := range []string{"6.18.0-1-amd64", "5.15.0", "6.6.30+deb13", "6.1-rc3", "5.15.167.4-WSL2", "6.", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, release string) {
		major, minor, patch, err := ParseKernelRelease(release)
		if err != nil {
			return
		}
		require.GreaterOrEqual(t, major, 0)
		require.GreaterOrEqual(t, minor, 0)
		require.GreaterOrEqual(t, patch, 0)
		// The parsed version round-trips.
		m, n, p, err := ParseKernelRelease(fmt.Sprintf("%d.%d.%d", major, minor, patch))
		require.NoError(t, err)
		require.Equal(t, []int{major, minor, patch}, []int{m, n, p})
	})
}
