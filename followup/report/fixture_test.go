package report_test

import (
	"fmt"
	"time"

	"github.com/hotline12345/gateway/followup"
	treport "github.com/hotline12345/gateway/timeliness/report"
)

var (
	// fixtureNow is when the fixture is read (as_of).
	fixtureNow = local("2024-05-10 12:00:00")
	day1       = local("2024-05-01 00:00:00")
	day2       = local("2024-05-02 00:00:00")
)

func local(s string) time.Time {
	t, err := time.ParseInLocation(time.DateTime, s, treport.Shanghai())
	if err != nil {
		panic(err)
	}
	return t
}

// The fixture's groups: record i has channel fxChannels[i%8] (the 8th is
// empty: "unknown"), handling unit fxUnits[i%4] and district fxDistricts[i%8/2].
var (
	fxChannels  = []string{"web", "app", "wechat_miniprogram", "suishenban", "yiwangtongban", "sign_language", "sms", ""}
	fxUnits     = []string{"市住建委", "市城管委", "区市场监管局", ""}
	fxDistricts = []string{"黄浦区", "徐汇区", "长宁区", ""}
)

// fixtureRecord is finished request i of 0…999. With c = i%8 and
// r = i%125 split into a = r%5, b = r/5%5, e = r/25 (each 0…4), every
// (c, r) pair occurs exactly once (8 and 125 are coprime, 8·125 = 1000), so
// each channel has 125 records, one per (a, b, e):
//
//	day       a < 3: 2024-05-01 (75 per channel), else 2024-05-02 (50);
//	          finished r·11 min after midnight (+08:00), so r = 0 is at from
//	b = 0     e < c%4: no_follow_up; c%4 ≤ e ≤ 3: survey pending (Sends 0);
//	          e = 4: failed (Sends 0)
//	b ≥ 1     sent once (20 of the 25 (b, e));
//	          answered if e ≤ 2, or e = 3 and b ≥ 3 (14 of 25), with rating
//	          Ratings[(b+c)%3], resolved unless dissatisfied, a review
//	          requested when dissatisfied and e ≠ 0 (e = 0: a repeat request);
//	          unanswered (6 of 25): reminded (Sends 2) if a is even,
//	          expired if e = 4
//
// Per channel and 25 (b, e), with k = c%4 and q = c%3:
//
//	no_follow_up k; surveyed 20; failed 1; answered 14; expired 4
//	q = 0: satisfied 4, basically 7, dissatisfied 3, reviews 2
//	q = 1: satisfied 3, basically 4, dissatisfied 7, reviews 5
//	q = 2: satisfied 7, basically 3, dissatisfied 4, reviews 3
//
// A day row is that ×3 (05-01) or ×2 (05-02), a channel's total ×5.
// surveys_sent adds the reminders: 6 per even a, so 60+12 = 72 on 05-01
// (a = 0, 2), 40+6 = 46 on 05-02 (a = 4), 100+18 = 118 in total.
// testdata/fixture_channel.csv holds the figures worked out from this.
func fixtureRecord(i int) followup.Record {
	c, r := i%8, i%125
	a, b, e := r%5, r/5%5, r/25
	day := day1
	if a >= 3 {
		day = day2
	}
	fin := day.Add(time.Duration(r) * 11 * time.Minute).UTC() // stored in UTC
	rec := followup.Record{EnvelopeID: fmt.Sprintf("env-%04d", i), Channel: fxChannels[c], HandlingUnit: fxUnits[c%4],
		District: fxDistricts[c/2], FinishedAt: &fin, CreatedAt: fin}
	if b == 0 && e < c%4 {
		rec.NoFollowUp = true
		return rec
	}
	rec.Code, rec.Via, rec.ExpiresAt = fmt.Sprintf("code-%04d", i), followup.ViaTicket, fin.Add(7*24*time.Hour)
	switch {
	case b == 0 && e == 4:
		rec.Attempts, rec.Failed = 3, true
	case b == 0: // waiting for the end of quiet hours
	default:
		sent := fin.Add(time.Minute)
		rec.Sends, rec.FirstSentAt = 1, &sent
		if e <= 2 || (e == 3 && b >= 3) {
			at := fin.Add(time.Hour)
			rating := followup.Ratings[(b+c)%3]
			resolved := rating != followup.RatingDissatisfied
			rec.AnsweredAt, rec.Rating, rec.Resolved = &at, rating, &resolved
			rec.Repeat = e == 0
			rec.ReviewRequested = !resolved && !rec.Repeat
			break
		}
		if a%2 == 0 {
			rec.Sends, rec.Reminded = 2, true
		}
		if e == 4 {
			exp := rec.ExpiresAt
			rec.ExpiredAt = &exp
		}
	}
	return rec
}

// fixture is the 1,000 records in shuffled order, plus two just outside
// 2024-05-01…2024-05-02 that must not count.
func fixture() []followup.Record {
	out := make([]followup.Record, 0, 1002)
	for j := range 1000 {
		out = append(out, fixtureRecord(j*367%1000)) // 367 is coprime to 1000: a permutation
	}
	for _, at := range []time.Time{local("2024-04-30 23:59:59"), local("2024-05-03 00:00:00")} {
		r := fixtureRecord(5) // c 5, a 0, b 1, e 0: answered, satisfied
		t := at.UTC()
		r.FinishedAt, r.CreatedAt = &t, t
		out = append(out, r)
	}
	return out
}

// The totals by district and by handling unit: each group is two channels
// (districts: c/2; units: c%4), so each line is the sum of two channel
// totals of testdata/fixture_channel.csv (sorted: "unknown" first, then by
// UTF-8: 徐 < 长 < 黄, 区 < 市, 住 < 城).
const (
	districtTotals = "" +
		"total,unknown,250,25,236,200,1.0489,140,0.7000,35,55,50,0.6429,50,35,40,10\r\n" + // sms + unknown
		"total,徐汇区,250,25,236,200,1.0489,140,0.7000,55,50,35,0.7500,35,25,40,10\r\n" + // wechat + suishenban
		"total,长宁区,250,5,236,200,0.9633,140,0.7000,50,35,55,0.6071,55,40,40,10\r\n" + // yiwangtongban + sign_language
		"total,黄浦区,250,5,236,200,0.9633,140,0.7000,35,55,50,0.6429,50,35,40,10\r\n" + // web + app
		overallTotal
	unitTotals = "" +
		"total,unknown,250,30,236,200,1.0727,140,0.7000,35,55,50,0.6429,50,35,40,10\r\n" + // suishenban + unknown
		"total,区市场监管局,250,20,236,200,1.0261,140,0.7000,55,50,35,0.7500,35,25,40,10\r\n" + // wechat + sms
		"total,市住建委,250,0,236,200,0.9440,140,0.7000,35,55,50,0.6429,50,35,40,10\r\n" + // web + yiwangtongban
		"total,市城管委,250,10,236,200,0.9833,140,0.7000,50,35,55,0.6071,55,40,40,10\r\n" + // app + sign_language
		overallTotal
	// overallTotal: 8 channels; no_follow_up 5·(0+1+2+3+0+1+2+3) = 60; sent 8·118;
	// initiation 944/940; satisfied 3·20 + 3·15 + 2·35 = 175, basically 3·35 + 3·20 + 2·15 = 195,
	// dissatisfied 3·15 + 3·35 + 2·20 = 190; satisfaction 370/560; reviews 3·10 + 3·25 + 2·15 = 135.
	overallTotal = "total,all,1000,60,944,800,1.0043,560,0.7000,175,195,190,0.6607,190,135,160,40\r\n"
)
