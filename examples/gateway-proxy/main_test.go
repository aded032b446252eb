package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestServesManifests runs the daemon on a manifest whose EndpointSlice
// points at a local backend, and sends a request through it.
func TestServesManifests(t *testing.T) {
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "backend got %s %s", r.Host, r.URL.Path)
	})}
	bl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = backend.Serve(bl) }()
	defer backend.Close()
	// A free port for the Gateway.
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gport := gl.Addr().(*net.TCPAddr).Port
	gl.Close()

	manifest := fmt.Sprintf(quickManifest, gport, bl.Addr().(*net.TCPAddr).Port)
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	require.NoError(t, os.WriteFile(path, []byte(manifest), 0o600))

	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-f", path, "-listen-address", "127.0.0.1", "-access-log"}, &out, &errOut)
	}()
	var body string
	require.Eventually(t, func() bool {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/hello", gport), nil)
		req.Host = "app.example.com"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200
	}, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, "backend got app.example.com /hello", body)
	cancel()
	require.NoError(t, <-done)
	require.True(t, strings.Contains(out.String(), `"status":200`), "access log: %s", out.String())
}

func TestFlags(t *testing.T) {
	require.Error(t, run(context.Background(), nil, io.Discard, io.Discard))
	require.Error(t, run(context.Background(), []string{"-f", "x.yaml", "-ads", "127.0.0.1:1"}, io.Discard, io.Discard))
}

const quickManifest = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: eniway}
spec: {controllerName: eniway.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: eniway
  listeners: [{name: http, protocol: HTTP, port: %d}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [app.example.com]
  rules: [{backendRefs: [{name: app, port: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: app, namespace: default}
spec: {ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: app-1
  namespace: default
  labels: {kubernetes.io/service-name: app}
addressType: IPv4
ports: [{name: http, port: %d}]
endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]
`
