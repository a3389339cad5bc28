package reassembly

import (
	"sort"
	"strings"

	"github.com/hotline12345/gateway/channels/sms/smsformat"
)

// The rules of reassembly as pure functions, for callers that keep the parts
// themselves (the SMS channel keeps them in the shared store, so that parts
// posted to different gateways join; Assembler keeps them in memory).

// IsPart reports whether in is a part to hold for reassembly: it has a Part
// header with 1 < Total ≤ smsformat.MaxParts and 1 ≤ Seq ≤ Total. Anything
// else is a whole message (an impossible header is passed through untouched,
// so that no text is ever lost).
func IsPart(in smsformat.Inbound) bool {
	p := in.Part
	return p != nil && p.Total > 1 && p.Total <= smsformat.MaxParts && p.Seq >= 1 && p.Seq <= p.Total
}

// Fits reports whether the part in may join a held group of total parts
// whose part at in's Seq is held (nil when none is). It does not when its
// Total differs or held has other text, as when the 8-bit UDH reference
// wraps around: the held group is then released incomplete and in starts a
// new one. A held part with the same text is a provider retry of in.
func Fits(total int, held *smsformat.Inbound, in smsformat.Inbound) bool {
	return in.Part != nil && in.Part.Total == total && (held == nil || held.Text == in.Text)
}

// Join joins the parts of one group (one phone and UDH reference, total
// parts) in Seq order. Of several parts with the same Seq the first given
// is used (give them in arrival order: the others are retries). The message
// takes the phone and destination of the parts, the provider id of the
// lowest part (stable across retries, so it can serve as the idempotency
// key), the earliest send time, and Part nil: it is one message now. When a
// Seq from 1 to total is missing it is marked Incomplete with its
// MissingParts. Group.Parts are the parts used, in Seq order.
func Join(total int, parts []smsformat.Inbound) Group {
	bySeq := make(map[int]smsformat.Inbound, len(parts))
	seqs := make([]int, 0, len(parts))
	for _, p := range parts {
		if p.Part == nil {
			continue
		}
		if _, dup := bySeq[p.Part.Seq]; !dup {
			bySeq[p.Part.Seq] = p
			seqs = append(seqs, p.Part.Seq)
		}
	}
	sort.Ints(seqs)
	var out smsformat.Inbound
	if len(seqs) > 0 {
		first := bySeq[seqs[0]]
		out = smsformat.Inbound{ProviderID: first.ProviderID, Phone: first.Phone, DestCode: first.DestCode, SentAt: first.SentAt}
	}
	var b strings.Builder
	used := make([]smsformat.Inbound, len(seqs))
	for i, s := range seqs {
		p := bySeq[s]
		used[i] = p
		b.WriteString(p.Text)
		if !p.SentAt.IsZero() && (out.SentAt.IsZero() || p.SentAt.Before(out.SentAt)) {
			out.SentAt = p.SentAt
		}
		if out.DestCode == "" {
			out.DestCode = p.DestCode
		}
	}
	out.Text = b.String()
	if len(seqs) < total {
		out.Incomplete = true
		for s := 1; s <= total; s++ {
			if _, ok := bySeq[s]; !ok {
				out.MissingParts = append(out.MissingParts, s)
			}
		}
	}
	return Group{Message: out, Parts: used}
}
