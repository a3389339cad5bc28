// Package bus carries live-chat frames between the gateways of a cluster
// (issue 19, contract §8.3): a citizen on one node and an agent on another
// chat through it.
//
// The bus is at most once. A frame may be lost (a node restarting, a
// partition, a slow subscriber, the store failing over): the transcript in
// the store, with its gap-free seq, is the truth, and a client or node that
// sees a seq gap reads the missing frames from the store. The bus only makes
// the common case fast.
//
// Two engines implement Bus (docs/adr/0002-chat-bus.md says which one the
// gateway uses and why): NATS servers embedded in the gateways and routed to
// each other (NewNATS), and PostgreSQL's LISTEN/NOTIFY on the shared store
// (NewPostgres). Both pass the same suite, bustest.Run.
package bus

import (
	"context"
	"errors"
	"fmt"
)

// Bus publishes frames to the subscribers of a subject on every node of the
// cluster, this node included.
//
// Frames of one publisher on one subject arrive in the order Publish was
// called (a publisher is one goroutine calling Publish in turn); frames of
// different publishers interleave in any order. Delivery is at most once.
type Bus interface {
	// Publish sends data to every subscriber of subject. It returns once
	// the engine holds the frame (NATS: buffered for its server;
	// PostgreSQL: the NOTIFY committed), not once it is delivered; nil is
	// no promise of delivery. Publish does not keep data after it returns.
	Publish(ctx context.Context, subject string, data []byte) error

	// Subscribe calls fn with every frame published on subject from now
	// on. The subscription is in effect on this node when Subscribe
	// returns; a frame published on another node in the next moment may
	// still miss it (NATS tells its peers asynchronously, in about one
	// round trip), so a subscriber reads the store after subscribing and
	// refetches on a gap.
	//
	// fn is called from one goroutine at a time per subscription, in
	// arrival order; it owns data. fn must return quickly (hand the frame
	// to the connection's send queue): a slow fn delays the frames behind
	// it and, past the engine's buffer, makes it drop them.
	Subscribe(ctx context.Context, subject string, fn func(data []byte)) (Subscription, error)

	// Close stops the bus: frames this node published are flushed to the
	// engine and frames received are handed to their handlers, until ctx
	// ends; then every goroutine of the bus has returned and no handler is
	// called any more. Publish and Subscribe then return ErrClosed. Close
	// is idempotent.
	Close(ctx context.Context) error
}

// Subscription is one Subscribe's interest in a subject.
type Subscription interface {
	// Unsubscribe ends the subscription: no call of its fn starts after
	// Unsubscribe returns (one already running may finish, so fn may call
	// Unsubscribe). Unsubscribe is idempotent and does not block on the
	// network.
	Unsubscribe() error
}

var (
	// ErrClosed is returned by Publish and Subscribe once Close was called:
	// the node is shutting down, and its clients are told to reconnect
	// elsewhere.
	ErrClosed = errors.New("bus: closed")

	// ErrTooLarge is returned by Publish when data is over the engine's
	// limit (MaxPayloadNATS, MaxPayloadPostgres); nothing was sent. The
	// caller sends a small frame in its place that makes subscribers read
	// the frame from the store, as they do after a lost frame.
	ErrTooLarge = errors.New("bus: frame over the engine's size limit")

	// ErrInvalidSubject is returned by Publish and Subscribe for a subject
	// that is not 1 to MaxSubjectLen bytes of dot-separated tokens of
	// letters, digits, '_' and '-' (see ValidSubject).
	ErrInvalidSubject = errors.New("bus: invalid subject")
)

// MaxSubjectLen is the longest subject: PostgreSQL truncates a channel
// name longer than 63 bytes, which would merge subjects.
const MaxSubjectLen = 63

// ValidSubject reports whether s is a subject both engines carry
// unchanged: literal tokens (no NATS wildcards '*' or '>'), no empty token,
// at most MaxSubjectLen bytes.
func ValidSubject(s string) bool {
	if s == "" || len(s) > MaxSubjectLen {
		return false
	}
	prevDot := true // a leading dot is an empty token
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if prevDot {
				return false
			}
			prevDot = true
			continue
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
		prevDot = false
	}
	return !prevDot
}

func checkSubject(subject string) error {
	if !ValidSubject(subject) {
		return fmt.Errorf("%w: %q", ErrInvalidSubject, subject)
	}
	return nil
}
