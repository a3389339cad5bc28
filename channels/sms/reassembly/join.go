// Package reassembly holds the rules for joining the parts of a long SMS
// (concatenated SMS, UDH reference/total/seq) back into one message before
// it becomes a request, as pure functions: IsPart says whether a message is
// a part to hold, Fits whether a part may join a held group, Join makes the
// message of a group's parts. The parts themselves are kept by the caller:
// the SMS channel keeps them in its store, shared by every gateway in
// cluster mode, so that parts posted to different gateways join.
//
// Parts may arrive in any order and more than once (providers retry); a part
// that never comes must not hold the others hostage, so the caller releases
// a group that waited longer than its wait (DefaultWait) with what arrived,
// and Join marks the message Incomplete with its MissingParts.
package reassembly

import (
	"sort"
	"strings"
	"time"

	"github.com/hotline12345/gateway/channels/sms/smsformat"
)

const (
	// DefaultWait is how long a group may wait for its missing parts,
	// counted from the arrival of its first part, before it is released
	// with what arrived, marked Incomplete.
	DefaultWait = 60 * time.Second
	// DefaultMaxGroups bounds the groups waiting for parts at once (at most
	// DefaultMaxGroups × smsformat.MaxParts parts held). Beyond it the
	// oldest group is released early, incomplete.
	DefaultMaxGroups = 10000
)

// Group is a message joined by Join together with the parts it was made
// of, so that a caller that made each part durable knows exactly which
// records the message consumed.
type Group struct {
	Message smsformat.Inbound
	// Parts are the parts used, in Seq order, each with its Part header.
	Parts []smsformat.Inbound
}

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
	for s := 1; s <= total; s++ {
		if _, ok := bySeq[s]; !ok {
			out.MissingParts = append(out.MissingParts, s)
		}
	}
	out.Incomplete = len(out.MissingParts) > 0
	return Group{Message: out, Parts: used}
}
