package sla

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/normalize"
)

// BucketTickets remembers ticket events already applied (consumers see
// records at least once).
const BucketTickets = "ticket_events_seen"

// Replier delivers a ticket's reply or status to the citizen on the channel
// the request came from.
type Replier func(ctx context.Context, req *intakelog.Request, ev *normalize.TicketEvent) error

// ErrInvalidTicket wraps why a ticket event was refused; such records go to
// the dead-letter topic.
var ErrInvalidTicket = errors.New("sla: invalid ticket event")

// handledStatuses stop the handling clock (contract §5).
var handledStatuses = map[string]bool{"answered": true, "dispatched": true, "resolved": true, "rejected": true}

// Ticket applies one ticket.events record: status, clocks, reply. Records
// that do not match the schema return ErrInvalidTicket (dead-letter them);
// other errors are transient (retry without committing the offset).
func (s *Service) Ticket(ctx context.Context, value []byte, reply Replier) error {
	// Fields the gateway does not know yet are valid (the schema allows
	// them: the ticket system may be a version ahead) and are ignored.
	var ev normalize.TicketEvent
	if err := json.Unmarshal(value, &ev); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidTicket, err)
	}
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidTicket, err)
	}
	sum := sha256.Sum256(value)
	key := append([]byte(ev.EnvelopeID+"\x00"), sum[:8]...)
	var req *intakelog.Request
	dup := false
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		dup, req = false, nil
		// Claimed first (rolled back with the rest if what follows fails):
		// a record seen again, on this node or another, is a duplicate.
		prev, err := tx.Bucket([]byte(BucketTickets)).PutIfAbsent(key, []byte{1})
		if err != nil || prev != nil {
			dup = prev != nil
			return err
		}
		if err := s.log.UpdateRequestTx(tx, ev.EnvelopeID, func(_ *store.Tx, r *intakelog.Request) (bool, error) {
			if ev.Status != "accepted" || r.Status == normalize.StatusAcknowledged || r.Status == normalize.StatusAccepted {
				r.Status = ev.Status
			}
			if ev.Reply != nil {
				r.Reply = ev.Reply.Text
			}
			if ev.TicketID != "" {
				if r.Extra == nil {
					r.Extra = map[string]string{}
				}
				r.Extra["ticket_id"] = ev.TicketID
			}
			if ev.HandlingUnit != "" {
				if r.Extra == nil {
					r.Extra = map[string]string{}
				}
				r.Extra["handling_unit"] = ev.HandlingUnit
			}
			c := *r
			req = &c
			return true, nil
		}); err != nil {
			return err
		}
		out := normalize.NewEvent(normalize.EventTicketUpdated, s.now())
		out.Channel, out.EnvelopeID, out.SessionID = req.Channel, req.ID, req.SessionID
		out.Data = map[string]any{"status": ev.Status, "ticket_id": ev.TicketID, "at": ev.At}
		if ev.Reply != nil {
			out.Data["reply"] = ev.Reply.Text
		}
		if ev.HandlingUnit != "" {
			out.Data["handling_unit"] = ev.HandlingUnit
		}
		return s.log.AppendEvent(tx, out)
	})
	if errors.Is(err, intakelog.ErrNotFound) {
		return fmt.Errorf("%w: unknown envelope_id %s", ErrInvalidTicket, ev.EnvelopeID)
	}
	if err != nil || dup {
		return err
	}
	s.log.Notify()
	if ev.Reply != nil {
		if err := s.FirstResponse(ctx, ev.EnvelopeID, ev.At); err != nil {
			return err
		}
	}
	if handledStatuses[ev.Status] {
		if err := s.Handled(ctx, ev.EnvelopeID, ev.At); err != nil {
			return err
		}
	}
	if reply != nil {
		if err := reply(ctx, req, &ev); err != nil {
			// The status is recorded; a failed delivery is reported, not retried forever.
			s.logger.Warn("sla: ticket reply not delivered", "envelope", ev.EnvelopeID, "channel", req.Channel, "err", err)
		}
	}
	return nil
}
