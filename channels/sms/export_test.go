package sms

// Pending is the number of long messages waiting for parts, on every node
// sharing the store; -1 when the store cannot be read.
func (c *Channel) Pending() int {
	groups, _, err := c.pending()
	if err != nil {
		return -1
	}
	return len(groups)
}
