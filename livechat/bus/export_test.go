package bus

// KickClient makes the embedded server close this node's client
// connection, as it does to a slow consumer.
func (b *NATS) KickClient() error {
	id, err := b.nc.GetClientID()
	if err != nil {
		return err
	}
	return b.srv.DisconnectClientByID(id)
}

// Reconnects counts the times this node's client connected again.
func (b *NATS) Reconnects() uint64 { return b.nc.Stats().Reconnects }
