package main

import (
	"testing"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

func TestOffsetsCommitOnlyAContiguousPrefix(t *testing.T) {
	msg := func(p int, off int64) kafkago.Message { return kafkago.Message{Topic: "in", Partition: p, Offset: off} }
	o := newOffsets()
	for _, m := range []kafkago.Message{msg(0, 10), msg(0, 11), msg(0, 12), msg(1, 5)} {
		require.True(t, o.add(m))
	}
	require.False(t, o.add(msg(0, 11)), "a redelivery of a record being handled")

	o.done(msg(0, 11))
	require.Empty(t, o.take(), "10 is still running")
	o.done(msg(0, 10))
	require.Equal(t, []kafkago.Message{msg(0, 11)}, o.take())
	require.Empty(t, o.take())

	o.done(msg(1, 5))
	o.done(msg(0, 12))
	require.ElementsMatch(t, []kafkago.Message{msg(0, 12), msg(1, 5)}, o.take())

	// A failed commit is put back unless something newer is committable.
	require.True(t, o.add(msg(0, 13)))
	o.restore([]kafkago.Message{msg(0, 12)})
	o.done(msg(0, 13))
	require.Equal(t, []kafkago.Message{msg(0, 13)}, o.take())
	o.restore([]kafkago.Message{msg(0, 12)})
	require.Equal(t, []kafkago.Message{msg(0, 12)}, o.take())
	o.done(msg(7, 1)) // unknown partition: ignored
	require.Empty(t, o.take())
}
