package triage_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
)

// A citizen's requests across channels, newest first: their own key's and
// those of keys a verified phone links, whatever the matter; a restart
// keeps them.
func TestRequestsAcrossChannels(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	clk := clock.NewFake(t0)
	f := start(t, path, clk)
	const phone = "+8613912345678"
	web := f.accept(t, normalize.ChannelWeb, "c1", "人民路的路灯坏了", phone)
	clk.Advance(time.Hour)
	sms := f.accept(t, normalize.ChannelSMS, phone, "小区垃圾没人清运", phone)
	clk.Advance(time.Hour)
	other := f.accept(t, normalize.ChannelWeb, "c2", "噪音扰民", "")
	clk.Advance(time.Hour)
	app := f.accept(t, normalize.ChannelApp, "app-9", "公交站牌倒了", phone)

	tests := []struct {
		name string
		key  string
		want []string
	}{
		{"linked by a verified phone", web.CitizenKey, []string{app.ID, sms.ID, web.ID}},
		{"from another linked key", sms.CitizenKey, []string{app.ID, sms.ID, web.ID}},
		{"nobody else's", other.CitizenKey, []string{other.ID}},
		{"unknown", "nobody", []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, f.tr.Requests(tc.key)) })
	}
	require.NoError(t, f.db.Close())
	g := start(t, path, clk)
	require.Equal(t, []string{app.ID, sms.ID, web.ID}, g.tr.Requests(web.CitizenKey))
}
