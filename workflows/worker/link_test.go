package worker_test

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// link is a TCP proxy in front of a NATS server that a test can cut: the
// client behind it loses its connection, and cannot make a new one, while
// the server and every other client keep running.
type link struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
}

// newLink proxies to the server at natsURL until the test ends.
func newLink(t testing.TB, natsURL string) *link {
	t.Helper()
	u, err := url.Parse(natsURL)
	if err != nil {
		t.Fatalf("link: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("link: %v", err)
	}
	l := &link{ln: ln, target: u.Host, conns: map[net.Conn]struct{}{}}
	go l.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		l.Cut()
	})
	return l
}

// URL is what the client behind the link dials.
func (l *link) URL() string { return "nats://" + l.ln.Addr().String() }

// Cut closes every proxied connection and refuses new ones until Restore.
func (l *link) Cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = true
	for c := range l.conns {
		_ = c.Close()
		delete(l.conns, c)
	}
}

// Restore accepts connections again.
func (l *link) Restore() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = false
}

func (l *link) accept() {
	for {
		client, err := l.ln.Accept()
		if err != nil {
			return
		}
		go l.serve(client)
	}
}

func (l *link) serve(client net.Conn) {
	server, err := net.Dial("tcp", l.target)
	if err != nil {
		_ = client.Close()
		return
	}
	l.mu.Lock()
	if l.cut {
		l.mu.Unlock()
		_ = client.Close()
		_ = server.Close()
		return
	}
	l.conns[client], l.conns[server] = struct{}{}, struct{}{}
	l.mu.Unlock()
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Either side ending ends both, as a broken link would.
		_ = dst.Close()
		_ = src.Close()
		l.mu.Lock()
		delete(l.conns, dst)
		delete(l.conns, src)
		l.mu.Unlock()
	}
	go pipe(server, client)
	go pipe(client, server)
}
