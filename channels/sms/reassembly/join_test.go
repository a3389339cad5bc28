package reassembly_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/sms/reassembly"
	"github.com/hotline12345/gateway/channels/sms/smsformat"
)

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

const phone = "+8613800138000"

// part is part seq of total of the message with UDH reference ref; its
// provider id names ref and seq, and it was sent seq seconds after t0.
func part(ref string, total, seq int, text string) smsformat.Inbound {
	return smsformat.Inbound{
		ProviderID: fmt.Sprintf("%s-%d", ref, seq),
		Phone:      phone,
		Text:       text,
		SentAt:     t0.Add(time.Duration(seq) * time.Second),
		DestCode:   "12345",
		Part:       &smsformat.Part{Ref: ref, Total: total, Seq: seq},
	}
}

func withSentAt(in smsformat.Inbound, at time.Time) smsformat.Inbound {
	in.SentAt = at
	return in
}

func withDest(in smsformat.Inbound, dest string) smsformat.Inbound {
	in.DestCode = dest
	return in
}

func TestIsPart(t *testing.T) {
	tests := []struct {
		name string
		in   smsformat.Inbound
		want bool
	}{
		{"whole message", smsformat.Inbound{Phone: phone, Text: "hi"}, false},
		{"total 1", part("x", 1, 1, "single"), false},
		{"total 0", part("x", 0, 0, "none"), false},
		{"negative total", part("x", -2, 1, "neg"), false},
		{"seq 0", part("x", 2, 0, "zero"), false},
		{"negative seq", part("x", 2, -1, "neg"), false},
		{"seq beyond total", part("x", 2, 5, "seq beyond total"), false},
		{"total beyond MaxParts", part("x", smsformat.MaxParts+1, 1, "too many"), false},
		{"first of two", part("x", 2, 1, "a"), true},
		{"last of two", part("x", 2, 2, "b"), true},
		{"middle of three", part("x", 3, 2, "b"), true},
		{"last of MaxParts", part("x", smsformat.MaxParts, smsformat.MaxParts, "z"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, reassembly.IsPart(tt.in))
		})
	}
}

func TestFits(t *testing.T) {
	held := part("9", 2, 1, "old")
	tests := []struct {
		name  string
		total int
		held  *smsformat.Inbound // the part held at in's Seq
		in    smsformat.Inbound
		want  bool
	}{
		{"free seq", 2, nil, part("9", 2, 2, "new"), true},
		{"retry of a held part", 2, &held, part("9", 2, 1, "old"), true},
		// Same ref and seq but other text: the 8-bit reference wrapped around.
		{"held seq with other text", 2, &held, part("9", 2, 1, "new"), false},
		// Same ref, other total: also a different message.
		{"other total", 2, nil, part("9", 3, 2, "third"), false},
		{"other total, same text", 2, &held, part("9", 3, 1, "old"), false},
		{"whole message", 2, nil, smsformat.Inbound{Phone: phone, Text: "hi"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, reassembly.Fits(tt.total, tt.held, tt.in))
		})
	}
}

func TestJoin(t *testing.T) {
	zh := []string{"我家楼下的", "路灯已经坏了", "三天，请尽快修理。"}
	zh1, zh2, zh3 := part("a7", 3, 1, zh[0]), part("a7", 3, 2, zh[1]), part("a7", 3, 3, zh[2])
	whole := smsformat.Inbound{
		ProviderID: "a7-1", Phone: phone, Text: "我家楼下的路灯已经坏了三天，请尽快修理。",
		SentAt: t0.Add(time.Second), DestCode: "12345",
	}
	r := func(seq int, text string) smsformat.Inbound { return part("r", 4, seq, text) }
	tests := []struct {
		name  string
		total int
		parts []smsformat.Inbound // in arrival order; repeats are retries
		want  smsformat.Inbound
		used  []smsformat.Inbound // Group.Parts
	}{
		{"in order", 3, []smsformat.Inbound{zh1, zh2, zh3}, whole, []smsformat.Inbound{zh1, zh2, zh3}},
		{"out of order", 3, []smsformat.Inbound{zh3, zh1, zh2}, whole, []smsformat.Inbound{zh1, zh2, zh3}},
		{"reverse", 3, []smsformat.Inbound{zh3, zh2, zh1}, whole, []smsformat.Inbound{zh1, zh2, zh3}},
		{"retries", 3, []smsformat.Inbound{zh2, zh2, zh1, zh2, zh3}, whole, []smsformat.Inbound{zh1, zh2, zh3}},
		{
			"first given of a seq wins", 2,
			[]smsformat.Inbound{part("d", 2, 2, "B"), part("d", 2, 1, "A"), part("d", 2, 2, "X"), part("d", 2, 1, "Y")},
			smsformat.Inbound{ProviderID: "d-1", Phone: phone, Text: "AB", SentAt: t0.Add(time.Second), DestCode: "12345"},
			[]smsformat.Inbound{part("d", 2, 1, "A"), part("d", 2, 2, "B")},
		},
		{
			"missing part", 4, []smsformat.Inbound{r(4, "D"), r(1, "A"), r(2, "B")},
			smsformat.Inbound{
				ProviderID: "r-1", Phone: phone, Text: "ABD", SentAt: t0.Add(time.Second), DestCode: "12345",
				Incomplete: true, MissingParts: []int{3},
			},
			[]smsformat.Inbound{r(1, "A"), r(2, "B"), r(4, "D")},
		},
		{
			// The straggler of a group released without it is released alone.
			"straggler", 4, []smsformat.Inbound{r(3, "C")},
			smsformat.Inbound{
				ProviderID: "r-3", Phone: phone, Text: "C", SentAt: t0.Add(3 * time.Second), DestCode: "12345",
				Incomplete: true, MissingParts: []int{1, 2, 4},
			},
			[]smsformat.Inbound{r(3, "C")},
		},
		{
			// Not given by callers (IsPart and Fits keep it out), but no text
			// is lost and seq 2 is still missing.
			"seq beyond total", 2, []smsformat.Inbound{part("b", 2, 3, "C"), part("b", 2, 1, "A")},
			smsformat.Inbound{
				ProviderID: "b-1", Phone: phone, Text: "AC", SentAt: t0.Add(time.Second), DestCode: "12345",
				Incomplete: true, MissingParts: []int{2},
			},
			[]smsformat.Inbound{part("b", 2, 1, "A"), part("b", 2, 3, "C")},
		},
		{
			"no parts", 2, nil,
			smsformat.Inbound{Incomplete: true, MissingParts: []int{1, 2}},
			[]smsformat.Inbound{},
		},
		{
			"whole message among the parts is skipped", 2,
			[]smsformat.Inbound{part("w", 2, 2, "b"), {Phone: phone, Text: "whole"}, part("w", 2, 1, "a")},
			smsformat.Inbound{ProviderID: "w-1", Phone: phone, Text: "ab", SentAt: t0.Add(time.Second), DestCode: "12345"},
			[]smsformat.Inbound{part("w", 2, 1, "a"), part("w", 2, 2, "b")},
		},
		{
			// The provider id is the lowest part's whatever the send times;
			// the send time is the earliest known one.
			"earliest send time", 3,
			[]smsformat.Inbound{
				withSentAt(part("s", 3, 3, "c"), t0.Add(-time.Minute)),
				withSentAt(part("s", 3, 1, "a"), t0),
				withSentAt(part("s", 3, 2, "b"), time.Time{}),
			},
			smsformat.Inbound{ProviderID: "s-1", Phone: phone, Text: "abc", SentAt: t0.Add(-time.Minute), DestCode: "12345"},
			[]smsformat.Inbound{
				withSentAt(part("s", 3, 1, "a"), t0),
				withSentAt(part("s", 3, 2, "b"), time.Time{}),
				withSentAt(part("s", 3, 3, "c"), t0.Add(-time.Minute)),
			},
		},
		{
			"lowest part without send time or destination", 2,
			[]smsformat.Inbound{withDest(part("u", 2, 2, "b"), "999"), withDest(withSentAt(part("u", 2, 1, "a"), time.Time{}), "")},
			smsformat.Inbound{ProviderID: "u-1", Phone: phone, Text: "ab", SentAt: t0.Add(2 * time.Second), DestCode: "999"},
			[]smsformat.Inbound{withDest(withSentAt(part("u", 2, 1, "a"), time.Time{}), ""), withDest(part("u", 2, 2, "b"), "999")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := reassembly.Join(tt.total, tt.parts)
			require.Equal(t, tt.want, g.Message)
			require.Nil(t, g.Message.Part, "the joined message is not a part")
			require.Equal(t, tt.used, g.Parts)
		})
	}
}

// FuzzJoin joins parts built from fuzzed seqs, total and texts: Join never
// panics, gives the text of the first part given of each seq in Seq order,
// and marks the message Incomplete, with its MissingParts, exactly when a
// seq of 1..total is missing; with every seq 1..total present the message
// is the concatenation of the parts in Seq order.
func FuzzJoin(f *testing.F) {
	f.Add(3, []byte{1, 2, 3}, "a,b,c")
	f.Add(3, []byte{3, 1, 2, 2}, "c,a,b,x")
	f.Add(4, []byte{4, 1, 2}, "D,A,B")
	f.Add(2, []byte{0, 5, 0x80, 0xff, 1}, "zero,five,whole,minus,one")
	f.Add(0, []byte{}, "")
	f.Add(-1, []byte{1}, "x")
	f.Add(smsformat.MaxParts, []byte{0xff, 1}, "last,first")
	f.Fuzz(func(t *testing.T, total int, seqs []byte, text string) {
		// A Part's Total is at most MaxParts; try a little beyond, both ways.
		total %= smsformat.MaxParts + 3
		texts := strings.Split(text, ",")
		parts := make([]smsformat.Inbound, len(seqs))
		for i, b := range seqs {
			seq := int(int8(b)) // impossible seqs too: 0, negative, beyond total
			if seq == -128 {
				parts[i] = smsformat.Inbound{Phone: phone, Text: "whole"} // no Part: skipped
				continue
			}
			parts[i] = part("f", total, seq, fmt.Sprintf("%d:%s|", seq, texts[i%len(texts)]))
		}

		g := reassembly.Join(total, parts)

		first := map[int]smsformat.Inbound{} // the first part given of each seq
		for _, p := range parts {
			if p.Part == nil {
				continue
			}
			if _, dup := first[p.Part.Seq]; !dup {
				first[p.Part.Seq] = p
			}
		}
		// (Plain checks per part: testify's t.Helper calls would slow the
		// fuzzing down tenfold.)
		if len(g.Parts) != len(first) {
			t.Fatalf("%d parts used, want one of each of %d seqs", len(g.Parts), len(first))
		}
		var want strings.Builder
		for i, p := range g.Parts {
			if p.Part == nil || (i > 0 && p.Part.Seq <= g.Parts[i-1].Part.Seq) {
				t.Fatalf("parts not in Seq order: %+v", g.Parts)
			}
			if !reflect.DeepEqual(p, first[p.Part.Seq]) {
				t.Fatalf("part %d used is %+v, not the first given", p.Part.Seq, p)
			}
			want.WriteString(p.Text)
		}
		var missing []int
		for s := 1; s <= total; s++ {
			if _, ok := first[s]; !ok {
				missing = append(missing, s)
			}
		}
		require.Equal(t, want.String(), g.Message.Text)
		require.Equal(t, missing, g.Message.MissingParts)
		require.Equal(t, len(missing) > 0, g.Message.Incomplete)
		require.Nil(t, g.Message.Part)

		if total > 1 && len(first) == total && len(missing) == 0 {
			// Exactly the seqs 1..total: one complete message.
			var all strings.Builder
			for s := 1; s <= total; s++ {
				all.WriteString(first[s].Text)
			}
			require.False(t, g.Message.Incomplete)
			require.Equal(t, all.String(), g.Message.Text)
			require.Equal(t, "f-1", g.Message.ProviderID)
		}
	})
}

func BenchmarkJoin(b *testing.B) {
	parts := []smsformat.Inbound{part("r", 3, 2, "bb"), part("r", 3, 1, "aa"), part("r", 3, 3, "cc")}
	b.ReportAllocs()
	for b.Loop() {
		reassembly.Join(3, parts)
	}
}
