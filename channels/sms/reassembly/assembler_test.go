package reassembly_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/sms/reassembly"
	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/internal/clock"
)

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

func part(phone, ref string, total, seq int, text string) smsformat.Inbound {
	return smsformat.Inbound{
		ProviderID: fmt.Sprintf("%s-%d", ref, seq),
		Phone:      phone,
		Text:       text,
		SentAt:     t0.Add(time.Duration(seq) * time.Second),
		DestCode:   "12345",
		Part:       &smsformat.Part{Ref: ref, Total: total, Seq: seq},
	}
}

const phone = "+8613800138000"

func TestAssemble(t *testing.T) {
	texts := []string{"我家楼下的", "路灯已经坏了", "三天，请尽快修理。"}
	tests := []struct {
		name  string
		order []int // 1-based seqs in arrival order; repeats are retries
	}{
		{"in order", []int{1, 2, 3}},
		{"out of order", []int{3, 1, 2}},
		{"reverse", []int{3, 2, 1}},
		{"duplicate part", []int{2, 2, 1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewFake(t0)
			a := reassembly.New(reassembly.Config{Wait: time.Minute, Clock: c})
			var got *smsformat.Inbound
			for i, seq := range tt.order {
				out, ok := a.Add(part(phone, "a7", 3, seq, texts[seq-1]))
				if i < len(tt.order)-1 {
					require.False(t, ok, "arrival %d completed early", i)
					require.Nil(t, out)
					continue
				}
				require.True(t, ok)
				got = out
			}
			require.Equal(t, smsformat.Inbound{
				ProviderID: "a7-1", Phone: phone, Text: "我家楼下的路灯已经坏了三天，请尽快修理。",
				SentAt: t0.Add(time.Second), DestCode: "12345",
			}, *got)
			require.Zero(t, a.Len())
			require.Empty(t, a.Expire(t0.Add(time.Hour)))
		})
	}
}

func TestWholeMessagePassesThrough(t *testing.T) {
	a := reassembly.New(reassembly.Config{})
	in := smsformat.Inbound{Phone: phone, Text: "hi"}
	out, ok := a.Add(in)
	require.True(t, ok)
	require.Equal(t, in, *out)

	odd := part(phone, "x", 2, 5, "seq beyond total") // impossible: never lose it
	out, ok = a.Add(odd)
	require.True(t, ok)
	require.Equal(t, odd, *out)
	require.Zero(t, a.Len())
}

func TestMissingPartTimesOut(t *testing.T) {
	c := clock.NewFake(t0)
	a := reassembly.New(reassembly.Config{Wait: 30 * time.Second, Clock: c})

	_, ok := a.Add(part(phone, "r1", 4, 4, "D"))
	require.False(t, ok)
	c.Advance(10 * time.Second)
	_, ok = a.Add(part(phone, "r1", 4, 1, "A"))
	require.False(t, ok)
	_, ok = a.Add(part(phone, "r1", 4, 2, "B"))
	require.False(t, ok)

	dl, ok := a.NextDeadline()
	require.True(t, ok)
	require.Equal(t, t0.Add(30*time.Second), dl, "the wait counts from the first part")

	require.Empty(t, a.Expire(t0.Add(29*time.Second)), "released before the wait")
	got := a.Expire(t0.Add(30 * time.Second))
	require.Len(t, got, 1)
	require.Equal(t, smsformat.Inbound{
		ProviderID: "r1-1", Phone: phone, Text: "ABD", SentAt: t0.Add(time.Second), DestCode: "12345",
		Incomplete: true, MissingParts: []int{3},
	}, got[0])
	require.Zero(t, a.Len())
	_, ok = a.NextDeadline()
	require.False(t, ok)

	// The straggler arrives later: it starts a new group and is released alone.
	c.Advance(time.Minute)
	_, ok = a.Add(part(phone, "r1", 4, 3, "C"))
	require.False(t, ok)
	got = a.Expire(c.Now().Add(30 * time.Second))
	require.Len(t, got, 1)
	require.Equal(t, "C", got[0].Text)
	require.Equal(t, []int{1, 2, 4}, got[0].MissingParts)
}

func TestGroupsAreKeyedByPhoneAndRef(t *testing.T) {
	a := reassembly.New(reassembly.Config{})
	_, ok := a.Add(part(phone, "r", 2, 1, "A1"))
	require.False(t, ok)
	_, ok = a.Add(part("+8613900139000", "r", 2, 1, "B1"))
	require.False(t, ok)
	_, ok = a.Add(part(phone, "s", 2, 2, "C2"))
	require.False(t, ok)
	require.Equal(t, 3, a.Len())

	out, ok := a.Add(part("+8613900139000", "r", 2, 2, "B2"))
	require.True(t, ok)
	require.Equal(t, "B1B2", out.Text)
	require.Equal(t, "+8613900139000", out.Phone)
}

func TestRefReuseReleasesOldGroup(t *testing.T) {
	c := clock.NewFake(t0)
	a := reassembly.New(reassembly.Config{Wait: time.Minute, Clock: c})
	_, ok := a.Add(part(phone, "9", 2, 1, "old"))
	require.False(t, ok)

	// Same ref and seq but other text: the 8-bit reference wrapped around.
	_, ok = a.Add(part(phone, "9", 2, 1, "new"))
	require.False(t, ok)
	// Same ref, other total: also a different message.
	_, ok = a.Add(part(phone, "9", 3, 2, "third"))
	require.False(t, ok)

	got := a.Expire(t0) // nothing timed out, but the displaced groups are due
	require.Len(t, got, 2)
	require.Equal(t, "old", got[0].Text)
	require.Equal(t, "new", got[1].Text)
	require.True(t, got[0].Incomplete)
	require.Equal(t, 1, a.Len())
}

func TestMaxGroupsEvictsOldest(t *testing.T) {
	c := clock.NewFake(t0)
	a := reassembly.New(reassembly.Config{Wait: time.Hour, MaxGroups: 2, Clock: c})
	for i, ref := range []string{"a", "b", "c"} {
		c.Advance(time.Second)
		_, ok := a.Add(part(phone, ref, 2, 1, fmt.Sprint(i)))
		require.False(t, ok)
	}
	require.Equal(t, 2, a.Len())
	dl, ok := a.NextDeadline()
	require.True(t, ok)
	require.True(t, dl.IsZero(), "an evicted group is due at once")

	got := a.Expire(c.Now())
	require.Len(t, got, 1)
	require.Equal(t, "0", got[0].Text)
	require.Equal(t, []int{2}, got[0].MissingParts)

	out, ok := a.Add(part(phone, "b", 2, 2, "!"))
	require.True(t, ok)
	require.Equal(t, "1!", out.Text)
}

func TestConcurrentAdds(t *testing.T) {
	a := reassembly.New(reassembly.Config{})
	const groups, total = 50, 5
	var wg sync.WaitGroup
	results := make(chan smsformat.Inbound, groups)
	for g := 0; g < groups; g++ {
		for s := 1; s <= total; s++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if out, ok := a.Add(part(phone, fmt.Sprint(g), total, s, fmt.Sprint(s))); ok {
					results <- *out
				}
			}()
		}
	}
	wg.Wait()
	close(results)
	n := 0
	for r := range results {
		require.Equal(t, "12345", r.Text)
		n++
	}
	require.Equal(t, groups, n)
	require.Zero(t, a.Len())
}

// AddGroup and ExpireGroups say which parts a message was made of, so that
// a caller can delete exactly the records it consumed.
func TestGroupsCarryParts(t *testing.T) {
	c := clock.NewFake(t0)
	a := reassembly.New(reassembly.Config{Wait: time.Minute, Clock: c})

	g, ok := a.AddGroup(smsformat.Inbound{Phone: phone, Text: "whole"})
	require.True(t, ok)
	require.Equal(t, "whole", g.Message.Text)
	require.Nil(t, g.Parts)

	_, ok = a.AddGroup(part(phone, "r", 3, 3, "c"))
	require.False(t, ok)
	_, ok = a.AddGroup(part(phone, "r", 3, 1, "a"))
	require.False(t, ok)
	_, ok = a.AddGroup(part(phone, "r", 3, 1, "a")) // a retry: not a second part
	require.False(t, ok)
	g, ok = a.AddGroup(part(phone, "r", 3, 2, "b"))
	require.True(t, ok)
	require.Equal(t, "abc", g.Message.Text)
	require.Nil(t, g.Message.Part)
	require.Len(t, g.Parts, 3)
	for i, p := range g.Parts {
		require.Equal(t, i+1, p.Part.Seq)
		require.Equal(t, "r", p.Part.Ref)
	}

	_, ok = a.AddGroup(part(phone, "s", 3, 2, "y"))
	require.False(t, ok)
	c.Advance(time.Minute)
	groups := a.ExpireGroups(c.Now())
	require.Len(t, groups, 1)
	require.True(t, groups[0].Message.Incomplete)
	require.Equal(t, []int{1, 3}, groups[0].Message.MissingParts)
	require.Len(t, groups[0].Parts, 1)
	require.Equal(t, 2, groups[0].Parts[0].Part.Seq)
}

func BenchmarkAdd(b *testing.B) {
	a := reassembly.New(reassembly.Config{})
	parts := []smsformat.Inbound{part(phone, "r", 3, 2, "bb"), part(phone, "r", 3, 1, "aa"), part(phone, "r", 3, 3, "cc")}
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range parts {
			a.Add(p)
		}
	}
}
