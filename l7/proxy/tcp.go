package proxy

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"sync"
)

// proxyTCP is the TCP proxy filter: it connects to an endpoint of the
// chain's cluster (weighted when there are several), replays what the
// listener filter read, and copies both ways until both sides are done.
func (p *Proxy) proxyTCP(fc *filterChain, down net.Conn) {
	defer down.Close()
	t := fc.tcp
	name := t.cluster
	if t.weighted != nil && t.total > 0 {
		n := rand.Uint64N(t.total)
		for _, w := range t.weighted {
			if n < w.weight {
				name = w.name
				break
			}
			n -= w.weight
		}
	}
	c := p.state.Load().clusters[name]
	if c == nil {
		p.log.Debug("tcp proxy: no cluster", "cluster", name)
		return
	}
	ep, ok := c.pick()
	if !ok {
		p.log.Debug("tcp proxy: no healthy upstream", "cluster", name)
		return
	}
	up, err := c.dialer.DialContext(context.Background(), "tcp", ep.String())
	if err != nil {
		p.log.Debug("tcp proxy: connect failed", "cluster", name, "upstream", ep, "error", err)
		return
	}
	defer up.Close()
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = io.Copy(up, down)
		closeWrite(up)
	})
	_, _ = io.Copy(down, up)
	closeWrite(down)
	wg.Wait()
}

func closeWrite(c net.Conn) {
	if cc, ok := c.(*chainConn); ok {
		c = cc.Conn
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}
