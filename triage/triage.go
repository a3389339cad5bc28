// Package triage looks at every request before it is acknowledged
// (contract §10): an emergency is flagged, published and handed to the
// emergency linkage centre; a repeat of the same citizen's earlier request
// about the same matter is linked to it; the language is detected.
package triage

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12345/gateway/connectors/webhooks/delivery"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/triage/emergency"
	"github.com/hotline12345/gateway/triage/language"
	"github.com/hotline12345/gateway/triage/repeat"
)

// EmergencyEndpoint is the delivery queue's name for the emergency centre.
const EmergencyEndpoint = "emergency"

// Deps are what a Triager is built with.
type Deps struct {
	DB     *store.DB
	Rules  *emergency.Rules
	Keyer  normalize.CitizenKeyer // hashes verified phones: no phone number is kept
	Clock  clock.Clock
	Logger *slog.Logger
	// Queue and EmergencyURL hand emergencies off; nil or "": flagged and
	// published only.
	Queue        *delivery.Queue
	EmergencyURL string
	// Window is how far back a repeat is looked for.
	Window time.Duration
}

// Triager is the intake log's triage: Prepare before each new envelope's
// transaction (its Prep.After after the commit), OnAccept inside it.
type Triager struct {
	d     Deps
	index *index
	met   metrics
}

// New builds the triager and loads the recent requests' prints.
func New(d Deps) (*Triager, error) {
	if d.Clock == nil {
		d.Clock = clock.System
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Rules == nil {
		d.Rules = emergency.Default()
	}
	idx, err := loadIndex(d.DB, d.Clock.Now().Add(-d.Window))
	if err != nil {
		return nil, err
	}
	t := &Triager{d: d, index: idx, met: newMetrics()}
	if d.EmergencyURL == "" {
		d.Logger.Warn("triage: triage.emergency_url is not set: emergencies are flagged and published on intake.events but not posted to the emergency centre")
	}
	return t, nil
}

// Buckets are the store buckets triage keeps its prints and links in.
var Buckets = []string{bucketPrints, bucketPhones}

// Prepare fills env.Triage and returns the events to record with the
// envelope (request.emergency, request.repeat) and the request's print to
// keep. It runs before the accepting transaction, outside the store's
// single writer: all of triage's work is done here, none in the writer.
func (t *Triager) Prepare(env *normalize.Envelope) intakelog.Prep {
	start := time.Now()
	defer func() { t.met.seconds.Observe(time.Since(start).Seconds()) }()
	text := env.Content.Text
	var tr normalize.Triage
	tr.Language = language.Detect(text)
	var evs []*normalize.Event
	if m, ok := t.d.Rules.Match(text); ok {
		tr.Priority = normalize.PriorityEmergency
		em := &normalize.Emergency{Category: m.Category, Rules: m.Rules}
		if t.handsOff() {
			at := t.d.Clock.Now().UTC() // queued in the accepting transaction
			em.HandedOffAt = &at
		}
		tr.Emergency = em
		evs = append(evs, t.event(env, normalize.EventRequestEmergency, map[string]any{"category": m.Category, "rules": m.Rules}))
	}
	pr, phone := t.print(env), t.phoneKey(env)
	if ids := t.index.repeats(env, pr, phone, env.ReceivedAt.Add(-t.d.Window)); len(ids) > 0 {
		tr.RepeatOf = ids
		evs = append(evs, t.event(env, normalize.EventRequestRepeat, map[string]any{"repeat_of": ids}))
	}
	if tr.Language != "" || tr.Priority != "" || len(tr.RepeatOf) > 0 {
		env.Triage = &tr
	}
	return intakelog.Prep{Events: evs, Puts: printPuts(env.CitizenKey, env.ID, env.ReceivedAt, pr, phone),
		After: func() { t.accepted(env, pr, phone) }}
}

func (t *Triager) handsOff() bool { return t.d.Queue != nil && t.d.EmergencyURL != "" }

func (t *Triager) event(env *normalize.Envelope, typ string, data map[string]any) *normalize.Event {
	ev := normalize.NewEvent(typ, t.d.Clock.Now())
	ev.Channel, ev.EnvelopeID, ev.SessionID, ev.Data = env.Channel, env.ID, env.SessionID, data
	return ev
}

func (t *Triager) print(env *normalize.Envelope) repeat.Print {
	place := ""
	if l := env.Location; l != nil {
		place = l.District
		if place == "" {
			place = l.Address
		}
	}
	return repeat.Fingerprint(env.Content.Text, place)
}

// phoneKey is the salted hash of a verified phone, or "".
func (t *Triager) phoneKey(env *normalize.Envelope) string {
	if !env.Citizen.PhoneVerified || env.Citizen.Phone == "" {
		return ""
	}
	return t.d.Keyer.Key("phone", env.Citizen.Phone)
}

// OnAccept queues the hand-off of an emergency in the transaction that
// accepts it: an acknowledged emergency is always handed off.
func (t *Triager) OnAccept(tx *store.Tx, env *normalize.Envelope) error {
	if env.Triage == nil || env.Triage.Priority != normalize.PriorityEmergency || !t.handsOff() {
		return nil
	}
	body, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("triage: cannot encode the emergency's envelope: %w", err)
	}
	return t.d.Queue.EnqueueTx(tx, delivery.Message{Endpoint: EmergencyEndpoint, URL: t.d.EmergencyURL,
		RequestKey: env.ID, Type: normalize.EventRequestEmergency, Payload: body})
}

// accepted makes the request known to later ones, counts and logs what
// triage found (after the commit, so that a retried submission is not
// counted twice) and wakes the webhook queue for an emergency.
func (t *Triager) accepted(env *normalize.Envelope, pr repeat.Print, phone string) {
	t.index.add(env.CitizenKey, seen{id: env.ID, at: env.ReceivedAt, print: pr}, phone, env.ReceivedAt.Add(-t.d.Window))
	tr := env.Triage
	if tr == nil {
		return
	}
	if len(tr.RepeatOf) > 0 {
		t.met.repeats.Inc()
	}
	if em := tr.Emergency; em != nil {
		t.met.emergencies.WithLabelValues(em.Category).Inc()
		t.d.Logger.Warn("triage: emergency", "envelope", env.ID, "channel", env.Channel, "category", em.Category, "rules", em.Rules,
			"handed_off", em.HandedOffAt != nil)
		if t.handsOff() {
			t.d.Queue.Notify()
		}
	}
}

// Requests returns the ids of a citizen's requests across channels, newest
// first: those of citizenKey and of every key a verified phone of it links
// to. It knows what the repeat index knows: the requests of the last
// triage.repeat_window (kept across restarts), none older.
func (t *Triager) Requests(citizenKey string) []string { return t.index.requests(citizenKey) }

// Emergency matches a later chat message against the rules.
func (t *Triager) Emergency(text string) (normalize.Emergency, bool) {
	m, ok := t.d.Rules.Match(text)
	if !ok {
		return normalize.Emergency{}, false
	}
	t.met.emergencies.WithLabelValues(m.Category).Inc()
	return normalize.Emergency{Category: m.Category, Rules: m.Rules}, true
}

type metrics struct {
	emergencies *prometheus.CounterVec
	repeats     prometheus.Counter
	seconds     prometheus.Histogram
}

func newMetrics() metrics {
	return metrics{
		emergencies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_triage_emergencies_total",
			Help: "Requests and chat messages triage found to be emergencies, by category."}, []string{"category"}),
		repeats: prometheus.NewCounter(prometheus.CounterOpts{Name: "gateway_triage_repeats_total",
			Help: "Requests linked to the same citizen's earlier request about the same matter."}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gateway_triage_seconds",
			Help:    "Time triage took per request (emergency rules, repeat look-up, language).",
			Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .005}}),
	}
}

// Collectors returns triage's metrics.
func (t *Triager) Collectors() []prometheus.Collector {
	return []prometheus.Collector{t.met.emergencies, t.met.repeats, t.met.seconds}
}
