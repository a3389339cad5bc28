package livechat

// The citizen's side panel (contract §11): who the agent is talking to, as
// far as the gateway knows it, and the citizen's earlier requests on every
// channel with their number and status. The phone is masked: an agent
// needs to recognise it, not to dial it from the console.

import (
	"strings"
	"time"

	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
)

// maxPanelRequests bounds the earlier requests the panel lists.
const maxPanelRequests = 20

// CitizenPanel is the "citizen" of an agent's session view.
type CitizenPanel struct {
	Channel  string           `json:"channel"`
	Phone    string           `json:"phone"` // masked (139****5678), "" when unknown
	District string           `json:"district"`
	Language string           `json:"language"`
	Requests []CitizenRequest `json:"requests"`
}

// CitizenRequest is one of the citizen's requests, newest first.
type CitizenRequest struct {
	ID         string    `json:"id"`
	Number     string    `json:"number"`
	Channel    string    `json:"channel"`
	Status     string    `json:"status"`
	ReceivedAt time.Time `json:"received_at"`
}

// citizenPanel builds r's panel: its earlier requests are those
// Config.CitizenRequests knows of the citizen's key, but the chat's own.
func (h *Hub) citizenPanel(r *sessions.Session) CitizenPanel {
	p := CitizenPanel{Channel: r.Channel, District: r.Meta["district"], Language: r.Language, Requests: []CitizenRequest{}}
	phone := r.Meta["phone"]
	if phone == "" && r.Channel == normalize.ChannelSMS {
		phone = r.Citizen // the SMS sender's number
	}
	p.Phone = maskPhone(phone)
	if p.Language == "" {
		for _, sk := range r.Skills {
			if l, ok := strings.CutPrefix(sk, "lang:"); ok {
				p.Language = l
				break
			}
		}
	}
	if h.cfg.CitizenRequests == nil || r.CitizenKey == "" {
		return p
	}
	for _, id := range h.cfg.CitizenRequests(r.CitizenKey) {
		if len(p.Requests) == maxPanelRequests {
			break
		}
		if id == r.EnvelopeID {
			continue
		}
		req, err := h.d.Intake.Request(id)
		if err != nil {
			continue // gone with retention
		}
		p.Requests = append(p.Requests, CitizenRequest{ID: req.ID, Number: req.Number, Channel: req.Channel,
			Status: req.Status, ReceivedAt: req.ReceivedAt})
	}
	return p
}

// maskPhone keeps the first three and the last four digits of a phone
// number ("+8613912345678" → "139****5678"); anything shorter than eight
// digits is masked whole, "" stays "".
func maskPhone(phone string) string {
	if phone == "" {
		return ""
	}
	d := digitsOnly(phone)
	if strings.HasPrefix(phone, "+86") || (strings.HasPrefix(d, "86") && len(d) == 13) {
		d = strings.TrimPrefix(d, "86")
	}
	if len(d) < 8 {
		return "****"
	}
	return d[:3] + "****" + d[len(d)-4:]
}
