package authguard

// Len is how many addresses are counted.
func (g *Guard) Len() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.addrs)
}
