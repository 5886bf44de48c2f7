// Package guardtest helps test credential throttling: a clock to end a
// guard's window without waiting, and clients that connect from other
// loopback addresses than 127.0.0.1.
package guardtest

import (
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Clock is a settable clock for authguard.Config.Now.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts a clock at now.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TransportFrom sends requests from the loopback address ip (Linux routes
// all of 127.0.0.0/8 to the loopback), so that a server sees another
// client address.
func TransportFrom(t testing.TB, ip string) *http.Transport {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: dialer.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}
