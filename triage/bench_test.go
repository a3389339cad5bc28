package triage_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
)

// BenchmarkPrepare is triage's cost on the acknowledgement's path (issue
// 21: ≤ 100 µs of CPU per request at p50): a 200-character Chinese
// request of a citizen with 20 earlier requests, in an index of 5,000.
func BenchmarkPrepare(b *testing.B) {
	f := start(b, filepath.Join(b.TempDir(), "g.db"), clock.NewFake(t0))
	for i := range 5000 {
		f.accept(b, normalize.ChannelWeb, fmt.Sprintf("c%d", i%250), fmt.Sprintf("第%d号楼前的路灯不亮了，已经三天了，晚上出行很不方便，请尽快安排修理", i), "")
	}
	text := "我住在黄浦区人民路二百号三号楼，楼下那条人行道上的路灯从上周开始就一直不亮，晚上老人孩子出门很不安全，" +
		"前几天已经有人在那里摔倒了。另外小区门口的垃圾桶经常满出来没人清理，夏天气味很大，希望有关部门尽快派人来看看，" +
		"把路灯修好，垃圾也按时清运。谢谢！"
	env := f.stamp.New(normalize.ChannelWeb, "bench", "c7")
	env.Content.Text = text
	env.Location = &normalize.Location{District: "黄浦区"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		env.Triage = nil
		f.tr.Prepare(env)
	}
}
