package eni

// FlightWaiters returns how many Gets wait for the lookup of a type in
// progress, 0 when there is none: tests use it to know that concurrent Gets
// have joined one lookup.
func (c *LimitsCache) FlightWaiters(instanceType string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.flights[instanceType]; f != nil {
		return f.waiters
	}
	return 0
}
