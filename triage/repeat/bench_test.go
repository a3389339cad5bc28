package repeat_test

import (
	"testing"

	"github.com/hotline12345/gateway/triage/repeat"
)

// Requests of about 200 characters.
var benchTexts = map[string]string{
	"zh": "张杨路500号门口的路灯坏了一个多星期，晚上漆黑一片，老人和孩子走路很危险，上周已经有人摔倒了。我们小区的居民多次跟物业反映，物业说路灯归市政管，让我们打12345。希望相关部门尽快派人来修理，" +
		"同时检查一下这条路上其他的路灯，很多也是时亮时不亮的。另外路口的井盖也有松动，车开过去哐哐响，晚上特别吵。地址是浦东新区张杨路500号，谢谢。",
	"en": "Hello, the street light outside 500 Zhangyang Road has been broken for over a week and it is completely dark at night. Elderly residents and children walk there and one person already fell last week. Please fix it.",
}

func BenchmarkFingerprint(b *testing.B) {
	for _, name := range []string{"zh", "en"} {
		text := benchTexts[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				repeat.Fingerprint(text, "浦东新区")
			}
		})
	}
}

func BenchmarkSame(b *testing.B) {
	x := repeat.Fingerprint(benchTexts["zh"], "上海市浦东新区张杨路500号")
	y := repeat.Fingerprint(benchTexts["zh"][30:], "浦东")
	b.ReportAllocs()
	for b.Loop() {
		repeat.Same(x, y)
	}
}
