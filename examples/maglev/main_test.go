package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"-backends", "100", "-mode", "native", "-weights", "1,2,3"},
		{"-backends", "3", "-table-size", "251", "-weights", "4"},
		{"-backends", "0"},
	} {
		var out strings.Builder
		require.NoError(t, run(args, &out), "%v", args)
		require.Contains(t, out.String(), "service:")
	}
	var out strings.Builder
	require.NoError(t, run(nil, &out))
	require.Contains(t, out.String(), "balance: min 6552, max 6553 slots")
	require.Contains(t, out.String(), "backend 1 removed")

	require.ErrorContains(t, run([]string{"-table-size", "1000"}, &out), "TableSize")
	require.ErrorContains(t, run([]string{"-mode", "x"}, &out), "-mode")
	require.ErrorContains(t, run([]string{"-weights", "a"}, &out), "-weights")
	require.ErrorContains(t, run([]string{"-weights", "-1"}, &out), "Weight")
}
