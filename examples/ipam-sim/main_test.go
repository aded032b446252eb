package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/ipam/ipamsim"
)

func TestRun(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run(t.Context(), []string{"-mode", "pd", "-arrival", "burst", "-json"}, &out))
	var res ipamsim.Result
	require.NoError(t, json.Unmarshal([]byte(out.String()), &res))
	require.Equal(t, 110, res.Pods)
	require.Equal(t, 1, res.MutatingCalls)
	for _, key := range []string{"mutating_calls", "describe_calls", "throttled_calls", "time_to_all_ips_s", "p99_pod_wait_s",
		"subnet_ips_used", "leaked_enis", "leaked_ips", "double_assigned_ips"} {
		require.Contains(t, out.String(), `"`+key+`"`)
	}

	out.Reset()
	require.NoError(t, run(t.Context(), []string{"-arrival", "trickle", "-pods", "20"}, &out))
	require.Contains(t, out.String(), "EC2 calls:")

	out.Reset()
	require.NoError(t, run(t.Context(), []string{"-crashes", "1"}, &out))
	require.Contains(t, out.String(), "manager crashes: 1; interfaces the garbage collector removed: 1")

	require.ErrorContains(t, run(t.Context(), []string{"-mode", "x"}, &out), "x")
	require.ErrorContains(t, run(t.Context(), []string{"-arrival", "x"}, &out), "Arrival")
	require.ErrorContains(t, run(t.Context(), []string{"-subnet", "bad"}, &out), "-subnet")
}
