package loginguard

// Waiting is how many attempts wait in the queue for a slot (tests).
func (g *Guard) Waiting() int64 { return g.pool.waiting.Load() }
