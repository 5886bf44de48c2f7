package sqltest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// Proxy forwards TCP connections to a test database server, so that a test
// can make the server stop answering (Stall) or disappear (Cut) under a
// connector's pool.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	conns   []net.Conn
	stalled chan struct{} // closed to stall every connection
	closed  bool
}

// WithProxy returns db with its DSN pointing at a new Proxy to db's
// server. SQLite has no server: it fails the test.
func WithProxy(t testing.TB, db DB) (DB, *Proxy) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &Proxy{ln: ln, stalled: make(chan struct{})}
	switch db.Driver {
	case "postgres":
		u, err := url.Parse(db.DSN)
		if err != nil {
			t.Fatalf("proxy: postgres DSN: %v", err)
		}
		p.target = u.Host
		if u.Port() == "" {
			p.target = net.JoinHostPort(u.Hostname(), "5432")
		}
		u.Host = ln.Addr().String()
		db.DSN = u.String()
	case "mysql":
		cfg, err := mysql.ParseDSN(db.DSN)
		if err != nil {
			t.Fatalf("proxy: mysql DSN: %v", err)
		}
		p.target, cfg.Addr = cfg.Addr, ln.Addr().String()
		db.DSN = cfg.FormatDSN()
	default:
		t.Fatalf("proxy: %s has no server", db.Driver)
	}
	go p.accept()
	t.Cleanup(p.Cut)
	return db, p
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go p.pipe(c, s)
		go p.pipe(s, c)
	}
}

// pipe copies from src to dst until either closes; once stalled it holds
// what it reads.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			select {
			case <-p.stalled:
				_, _ = io.Copy(io.Discard, src) // hold everything until closed
				return
			default:
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

// Stall keeps every connection open but forwards nothing more: queries
// hang until their deadline.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.stalled:
	default:
		close(p.stalled)
	}
}

// Cut closes the listener and every connection: the server is gone and
// new connections are refused.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
}
