package emergency_test

import (
	"testing"
	"unicode/utf8"

	"github.com/hotline12345/gateway/triage/emergency"
)

// About 200 characters each: an ordinary request (no match, the common case)
// and an emergency.
var benchTexts = map[string]string{
	"zh_ordinary": "您好，我是幸福小区3号楼的住户，我们小区门口的路灯已经坏了一个多星期了，晚上出门非常黑，老人和小孩走路很不安全，" +
		"之前也打过物业电话，物业说不归他们管，让我们找市政。另外小区垃圾站三天没人清运，味道很大，夏天蚊子苍蝇特别多，" +
		"希望相关部门尽快派人来看看，把路灯修好，把垃圾清运一下，谢谢。联系电话在登记里，有问题可以随时联系我，麻烦了。顺便问一下，小区旁边的公交站什么时候能恢复使用，附近居民都很着急。",
	"zh_emergency": "您好，我是幸福小区3号楼的住户，今天下午开始楼道里就有一股很重的煤气味，越来越浓，五楼的邻居是一位独居老人，" +
		"我们敲了很久的门都没人应，打电话也打不通，担心老人出事了，物业说他们没有钥匙。现在整个楼道都是味道，" +
		"我们不敢开灯也不敢按门铃，请尽快派燃气公司和消防的人来看看，谢谢，我们都在楼下等着。楼里还有不少老人和孩子没有下来，我们正在挨家挨户敲门通知大家撤离。",
	"en_ordinary": "Hello, I live in Building 3 of the Xingfu compound. The street light at our gate has been broken for more " +
		"than a week and it is very dark at night. The management office says it is not their job.",
	"en_emergency": "Hello, I live in Building 3 of the Xingfu compound. The gas smell in our stairwell is getting stronger " +
		"and my elderly neighbour on the fifth floor is not answering the door or her phone. Please send someone.",
}

func BenchmarkMatch(b *testing.B) {
	r := emergency.Default()
	for _, name := range []string{"zh_ordinary", "zh_emergency", "en_ordinary", "en_emergency"} {
		text := benchTexts[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.Match(text)
			}
			b.ReportMetric(float64(utf8.RuneCountInString(text)), "chars")
		})
	}
}

func BenchmarkMatchParallel(b *testing.B) {
	r := emergency.Default()
	text := benchTexts["zh_emergency"]
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Match(text)
		}
	})
}

func BenchmarkDefault(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		emergency.Default()
	}
}
