package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	var out, errOut bytes.Buffer
	code, err := run([]string{"-f", "../../gatewayapi/testdata/guide-canary.in.yaml", "-controller-name", "io.cilium/gateway-controller", "-strict"}, &out, &errOut)
	require.NoError(t, err)
	require.Equal(t, 0, code, errOut.String())
	require.Contains(t, out.String(), "production/api-v2-canary:8080")
	require.Contains(t, out.String(), "weight: 90")

	out.Reset()
	errOut.Reset()
	code, err = run([]string{"-f", "../../gatewayapi/testdata/guide-gateway.in.yaml", "-controller-name", "io.cilium/gateway-controller", "-strict", "-only", "status"}, &out, &errOut)
	require.NoError(t, err)
	require.Equal(t, 1, code)
	require.Contains(t, errOut.String(), "InvalidCertificateRef")
	require.True(t, strings.HasPrefix(out.String(), "gatewayClasses:"), out.String())

	code, err = run(nil, &out, &errOut)
	require.Error(t, err)
	require.Equal(t, 2, code)
}
