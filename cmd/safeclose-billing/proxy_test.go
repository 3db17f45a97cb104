package main_test

import (
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// tcpProxy forwards each connection to its target, which may change: a
// cluster started again after a stop may have to take another port
// (another process took its old one meanwhile), while the service's
// DATABASE_URL names the proxy, whose port the test holds throughout.
type tcpProxy struct {
	ln     net.Listener
	target atomic.Value // host:port
	wg     sync.WaitGroup
}

// newTCPProxy returns a proxy to the server of databaseURL, and the URL
// to reach it through the proxy.
func newTCPProxy(t *testing.T, databaseURL string) (*tcpProxy, string) {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln}
	p.target.Store(u.Host)
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	u.Host = ln.Addr().String()
	return p, u.String()
}

// retarget sends new connections to the server of databaseURL.
func (p *tcpProxy) retarget(t *testing.T, databaseURL string) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	p.target.Store(u.Host)
}

func (p *tcpProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(c)
	}
}

// pipe copies both ways until either side closes, then closes both: a
// server that stops ends its clients' connections, as without the proxy.
func (p *tcpProxy) pipe(c net.Conn) {
	defer c.Close()
	s, err := net.Dial("tcp", p.target.Load().(string))
	if err != nil {
		return
	}
	defer s.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(s, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, s); done <- struct{}{} }()
	<-done
}
