package followup

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/timeliness/timers"
)

// retryAfter is when a send is tried again if it has not been recorded by
// then: after a refusal, or after a crash in the middle of it.
func retryAfter(attempts int) time.Duration {
	return min(time.Minute<<min(attempts, 5), 30*time.Minute)
}

// fireTx runs in the transaction that deletes a due timer. A send or a
// reminder re-arms its timer before it goes out, so that a crash before the
// send is recorded sends it again after the restart; deliver stops it. An
// expiry records survey.expired.
func (s *Service) fireTx(tx *store.Tx, k timers.Key, _ time.Time) error {
	r, err := getTx(tx, k.ID)
	if errors.Is(err, ErrUnknown) {
		return nil
	}
	if err != nil {
		return err
	}
	now := s.now()
	switch k.Kind {
	case kindSend, kindRemind:
		if !s.due(r, k.Kind, now) {
			return nil
		}
		return s.timers.SetTx(tx, k, now.Add(retryAfter(r.Attempts)))
	case kindExpire:
		if r.Code == "" || r.AnsweredAt != nil || r.ExpiredAt != nil {
			return nil
		}
		r.ExpiredAt = &now
		for _, kind := range []string{kindSend, kindRemind} {
			if _, err := s.timers.StopTx(tx, timers.Key{ID: r.EnvelopeID, Kind: kind}); err != nil {
				return err
			}
		}
		if err := s.event(tx, normalize.EventSurveyExpired, r, map[string]any{"sends": r.Sends, "via": r.Via}); err != nil {
			return err
		}
		return putTx(tx, r)
	}
	return nil
}

// due reports whether the send or reminder of r is still to be made.
func (s *Service) due(r *Record, kind string, now time.Time) bool {
	if !r.Open(now) || r.Failed {
		return false
	}
	if kind == kindSend {
		return r.Sends == 0
	}
	return r.Sends > 0 && !r.Reminded
}

// afterFire starts the sends of the timers just fired, once their re-arming
// is durable.
func (s *Service) afterFire(fired []timers.Deadline) {
	s.log.Notify() // survey.expired events
	for _, d := range fired {
		switch d.Key.Kind {
		case kindSend, kindRemind:
			s.mu.Lock()
			busy := s.inflight[d.Key.ID]
			s.inflight[d.Key.ID] = true
			s.mu.Unlock()
			if busy {
				continue
			}
			s.bg.Add(1)
			go func() {
				defer s.bg.Done()
				defer func() { s.mu.Lock(); delete(s.inflight, d.Key.ID); s.mu.Unlock() }()
				s.deliver(s.runCtx, d.Key)
			}()
		case kindExpire:
			if r, ok := s.ForRequest(d.Key.ID); ok && r.ExpiredAt != nil {
				s.expired.WithLabelValues(r.Channel).Inc()
				s.logger.Info("followup: survey expired", "envelope", r.EnvelopeID, "channel", r.Channel, "sends", r.Sends)
			}
		}
	}
}

// deliver sends one survey or reminder and records the outcome.
func (s *Service) deliver(ctx context.Context, k timers.Key) {
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	case <-ctx.Done():
		return
	}
	r, ok := s.ForRequest(k.ID)
	if !ok || !s.due(r, k.Kind, s.now()) {
		return
	}
	reminder := k.Kind == kindRemind
	sendCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := s.send(sendCtx, r, s.URL(r.Code), reminder)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: the re-armed timer sends it after the restart
	}
	var outcome *Record
	uerr := s.db.Update(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		outcome = nil
		r, err2 := getTx(tx, k.ID)
		if err2 != nil {
			return err2
		}
		now := s.now()
		if err != nil {
			r.Attempts++
			if r.Attempts >= maxAttempts {
				r.Failed = true
				if _, err := s.timers.StopTx(tx, k); err != nil {
					return err
				}
			}
			outcome = r
			return putTx(tx, r)
		}
		r.Sends, r.Attempts = r.Sends+1, 0
		if r.FirstSentAt == nil {
			r.FirstSentAt = &now
		}
		if reminder {
			r.Reminded = true
		}
		if _, err := s.timers.StopTx(tx, k); err != nil {
			return err
		}
		if !reminder && s.cfg.RemindAfter > 0 && pushed(r.Channel) {
			if at := s.sendAt(r.Channel, now.Add(s.cfg.RemindAfter)); at.Before(r.ExpiresAt) {
				if err := s.timers.SetTx(tx, timers.Key{ID: r.EnvelopeID, Kind: kindRemind}, at); err != nil {
					return err
				}
			}
		}
		if err := s.event(tx, normalize.EventSurveySent, r, map[string]any{"via": r.Via, "reminder": reminder, "expires_at": r.ExpiresAt}); err != nil {
			return err
		}
		outcome = r
		return putTx(tx, r)
	})
	if uerr != nil {
		s.logger.Error("followup: cannot record a survey send", "envelope", k.ID, "err", uerr)
		return
	}
	s.log.Notify()
	if err != nil {
		s.failed.WithLabelValues(r.Channel).Inc()
		s.logger.Warn("followup: survey not sent", "envelope", r.EnvelopeID, "channel", r.Channel, "reminder", reminder,
			"attempts", outcome.Attempts, "gave_up", outcome.Failed, "err", err)
		return
	}
	s.sent.WithLabelValues(r.Channel, strconv.FormatBool(reminder)).Inc()
	s.logger.Info("followup: survey sent", "envelope", r.EnvelopeID, "channel", r.Channel, "via", r.Via, "reminder", reminder)
}

// Text is the survey message on a messaging channel. An SMS is one segment
// (70 characters of UCS-2) when the link is short enough (survey.base_url).
func Text(channel, url string, reminder bool) string {
	if channel == normalize.ChannelSMS {
		head := "请评价12345服务："
		if reminder {
			head = "提醒：请评价12345服务："
		}
		if n := len([]rune(head)) + len(url); n > smsSegment {
			return url
		}
		return head + url
	}
	head := "【12345】您反映的事项已办结，请对我们的服务进行评价："
	if reminder {
		head = "【12345】提醒：您还未评价我们的服务，请点击链接评价："
	}
	return head + url + "\nPlease rate our service: " + url
}

// smsSegment is one UCS-2 SMS segment, in characters.
const smsSegment = 70

// MaxBaseURL is the longest survey.base_url whose links fit one SMS segment.
const MaxBaseURL = smsSegment - len("/s/") - 22

// Sync waits until every timer due at the clock's current time has fired and
// the sends it started are recorded (tests, after clock.Fake.Advance).
func (s *Service) Sync(ctx context.Context) error {
	if err := s.timers.Sync(ctx); err != nil {
		return err
	}
	s.bg.Wait()
	return nil
}

// Timers exposes the timer service (tests).
func (s *Service) Timers() *timers.Service { return s.timers }
