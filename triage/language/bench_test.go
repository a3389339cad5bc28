package language_test

import (
	"testing"

	"github.com/hotline12345/gateway/triage/language"
)

// Texts of about 200 letters each.
var benchTexts = map[string]string{
	"zh": "我家楼下的烧烤店每天晚上营业到凌晨两点，油烟和噪音很大，孩子没法睡觉，老人也休息不好。我们已经跟物业反映过很多次了，物业说管不了，让我们打12345。希望相关部门尽快来现场看一看，" +
		"查一下这家店有没有办理相关手续，油烟净化设备有没有正常使用，晚上能不能早点关门。地址是浦东新区张杨路500号，店名叫老王烧烤，谢谢。我们整栋楼的居民都很困扰，希望早日解决这个问题。",
	"en": "Hello, I am a foreign teacher living in Pudong. The construction site next to my apartment on Zhangyang Road keeps drilling after 11pm every night. Could someone please check it and ask them to stop?",
	"fr": "Bonjour, j'habite à Pudong et le chantier à côté de mon appartement travaille tous les soirs après 23 heures avec des camions. Pourriez-vous envoyer quelqu'un pour vérifier et faire arrêter le bruit ?",
	// No function word settles this one: it goes to the model.
	"en-model": "Noise complaint: construction site Zhangyang Road 500, Pudong. Drilling, trucks, concrete pumps, shouting workers until 2am, nightly. Children awake, elderly residents sleepless. Urgent inspection requested!!",
}

func BenchmarkDetect(b *testing.B) {
	for _, name := range []string{"zh", "en", "fr", "en-model"} {
		text := benchTexts[name]
		want := name[:2]
		if got := language.Detect(text); got != want {
			b.Fatalf("%s: Detect = %q", name, got)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				language.Detect(text)
			}
		})
	}
}

func BenchmarkDetectParallel(b *testing.B) {
	text := benchTexts["en"]
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			language.Detect(text)
		}
	})
}
