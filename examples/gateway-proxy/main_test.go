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

	// The quickstart manifest, on the free port and the backend's.
	quick, err := os.ReadFile("testdata/quickstart.yaml")
	require.NoError(t, err)
	manifest := strings.NewReplacer("18080", fmt.Sprint(gport), "18081", fmt.Sprint(bl.Addr().(*net.TCPAddr).Port)).Replace(string(quick))
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
