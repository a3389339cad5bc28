package gateway

import (
	"github.com/hotline12345/gateway/channels/partner"
	"github.com/hotline12345/gateway/triage"
	"github.com/hotline12345/gateway/triage/emergency"
)

// wireTriage makes every new envelope pass triage before it is acknowledged
// (contract §10); it needs the webhook queue (wirePartners) for the
// hand-off to the emergency centre.
func (g *Gateway) wireTriage() error {
	rules := emergency.Default()
	if path := g.cfg.Triage.EmergencyRules; path != "" {
		var err error
		if rules, err = emergency.Load(path); err != nil {
			return err
		}
	}
	d := triage.Deps{DB: g.db, Rules: rules, Keyer: g.stamp.Keyer, Clock: g.clock, Logger: g.log, Window: g.cfg.Triage.RepeatWindow}
	if url := g.cfg.Triage.EmergencyURL; url != "" {
		secrets, err := partner.ParseSecrets(g.cfg.Triage.EmergencySecret)
		if err != nil {
			return err
		}
		if err := g.webhooks.CheckURL(url); err != nil {
			return err
		}
		if err := g.webhooks.Register(triage.EmergencyEndpoint, secrets...); err != nil {
			return err
		}
		d.Queue, d.EmergencyURL = g.webhooks, url
	}
	t, err := triage.New(d)
	if err != nil {
		return err
	}
	g.triage = t
	g.intake.OnPrepare(t.Prepare)
	g.intake.OnAccept(t.OnAccept)
	g.Register(t.Collectors()...)
	return nil
}
