package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/normalize"
)

func (c *Channel) reports(ec echo.Context) error {
	r := ec.Request()
	body, err := c.readBody(ec)
	if err != nil {
		return c.reject(ec, "reports", err)
	}
	if err := c.auth.Check(r, body); err != nil {
		return c.reject(ec, "reports", err)
	}
	reps, err := smsformat.DecodeReports(c.provider, body)
	if err != nil {
		return c.reject(ec, "reports", err)
	}
	if err := c.recordReports(r.Context(), reps); err != nil {
		return c.reject(ec, "reports", err)
	}
	return c.ack(ec)
}

// recordReports marks each report's message id as reported and makes a
// message.delivery_failed event of each failure, naming the session and
// envelope the message answered when the id is known. A report already
// recorded (a provider retry) changes nothing. With a TxEmitter the marks
// and the events share one transaction; otherwise events are emitted first
// and a crash in between may repeat one (consumers de-duplicate by id).
func (c *Channel) recordReports(ctx context.Context, reps []smsformat.Report) error {
	now := c.clock.Now().UTC()
	if txe, ok := c.em.(TxEmitter); ok {
		err := c.db.Update(ctx, func(tx *store.Tx) error {
			marks, evs, err := c.planReports(tx, reps, now)
			if err != nil {
				return err
			}
			for _, ev := range evs {
				if err := txe.AppendEvent(tx, ev); err != nil {
					return err
				}
			}
			return applyMarks(tx, marks)
		})
		if err != nil {
			return fmt.Errorf("sms: cannot record delivery reports: %w", err)
		}
		txe.Notify()
	} else {
		var evs []*normalize.Event
		if err := c.db.View(func(tx *store.Tx) error {
			var err error
			_, evs, err = c.planReports(tx, reps, now)
			return err
		}); err != nil {
			return fmt.Errorf("sms: cannot read sent records: %w", err)
		}
		if len(evs) > 0 {
			if err := c.em.Emit(ctx, evs...); err != nil {
				return fmt.Errorf("sms: cannot record delivery failures: %w", err)
			}
		}
		if err := c.db.Update(ctx, func(tx *store.Tx) error {
			marks, _, err := c.planReports(tx, reps, now)
			if err != nil {
				return err
			}
			return applyMarks(tx, marks)
		}); err != nil {
			return fmt.Errorf("sms: cannot record delivery reports: %w", err)
		}
	}
	for _, rep := range reps {
		phone := smsformat.MaskPhone(rep.Phone)
		if rep.Delivered {
			c.log.Info("sms: reply delivered", "message_id", rep.MessageID, "phone", phone)
		} else {
			c.log.Warn("sms: reply not delivered", "message_id", rep.MessageID, "phone", phone, "error", rep.Error)
		}
	}
	return nil
}

type mark struct {
	key []byte
	rec sentRecord
}

// planReports reads the sent records of reps (without writing) and returns
// the updated records and the events for failures not reported before.
func (c *Channel) planReports(tx *store.Tx, reps []smsformat.Report, now time.Time) ([]mark, []*normalize.Event, error) {
	b := tx.Bucket([]byte(bucketSent))
	var marks []mark
	var evs []*normalize.Event
	seen := map[string]bool{}
	for _, rep := range reps {
		k := sentKey(c.provider, rep.MessageID)
		if seen[string(k)] { // the same id twice in one batch
			continue
		}
		seen[string(k)] = true
		var rec sentRecord
		if v := b.Get(k); v != nil {
			if err := json.Unmarshal(v, &rec); err != nil {
				return nil, nil, fmt.Errorf("sms: corrupt sent record: %w", err)
			}
		} else {
			rec.At = now // unknown id: remember the report so that a retry is recognised
		}
		if rec.Reported != "" {
			continue
		}
		rec.Reported = "delivered"
		if !rep.Delivered {
			rec.Reported = "failed"
			evs = append(evs, c.failedEvent(rep, rec, now))
		}
		marks = append(marks, mark{key: k, rec: rec})
	}
	return marks, evs, nil
}

func applyMarks(tx *store.Tx, marks []mark) error {
	b := tx.Bucket([]byte(bucketSent))
	for _, m := range marks {
		v, err := json.Marshal(m.rec)
		if err != nil {
			return err
		}
		if err := b.Put(m.key, v); err != nil {
			return err
		}
	}
	return nil
}

func (c *Channel) failedEvent(rep smsformat.Report, rec sentRecord, now time.Time) *normalize.Event {
	at := rep.At
	if at.IsZero() {
		at = now
	}
	ev := normalize.NewEvent(normalize.EventMessageDeliveryFailed, at)
	ev.Channel, ev.SessionID, ev.EnvelopeID = normalize.ChannelSMS, rec.SessionID, rec.EnvelopeID
	phone := rec.Phone
	if rep.Phone != "" {
		phone = smsformat.MaskPhone(rep.Phone)
	}
	ev.Data = map[string]any{"message_id": rep.MessageID, "error": rep.Error, "provider": c.provider, "source": "delivery_report"}
	if phone != "" {
		ev.Data["phone"] = phone
	}
	if rec.Part > 0 {
		ev.Data["part"], ev.Data["parts"] = rec.Part, rec.Parts
	}
	if rec.Kind != "" {
		ev.Data["kind"] = rec.Kind
	}
	return ev
}
