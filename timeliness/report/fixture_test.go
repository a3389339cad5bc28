package report_test

import (
	"time"

	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/timeliness/report"
)

var (
	shanghai = report.Shanghai()
	// fixtureNow is when the fixture's open clocks are judged.
	fixtureNow  = local("2024-05-02 23:59:00")
	fixtureFrom = local("2024-05-01 00:00:00")
	fixtureTo   = local("2024-05-03 00:00:00")
)

func local(s string) time.Time {
	t, err := time.ParseInLocation(time.DateTime, s, shanghai)
	if err != nil {
		panic(err)
	}
	return t
}

const none = -1

// req returns a request received at recv (Asia/Shanghai) with the contract's
// dues (3 min, 24 h) whose clocks stopped fr and h seconds later (none: not
// stopped). Times are stored in UTC, as the intake log does.
func req(id, channel, recv string, fr, h int) intakelog.Request {
	at := local(recv).UTC()
	r := intakelog.Request{ID: id, Channel: channel, ReceivedAt: at,
		FirstResponseDue: at.Add(3 * time.Minute), HandlingDue: at.Add(24 * time.Hour)}
	if fr != none {
		t := at.Add(time.Duration(fr) * time.Second)
		r.FirstResponseAt = &t
	}
	if h != none {
		t := at.Add(time.Duration(h) * time.Second)
		r.HandledAt = &t
	}
	return r
}

// fixture: 10 requests in range over two channels and two days, plus two
// just outside it. now = 2024-05-02 23:59:00 +08:00.
//
//	id  ch   received (+08:00)     first response         handling
//	w1  web  05-01 00:30 (04-30Z)  60 s    met            3600 s  met
//	w2  web  05-01 10:00           180 s   met (at due)   86400 s met (at due)
//	w3  web  05-01 11:00           300 s   breached       90000 s breached
//	w4  web  05-01 12:00           —       breached       —       breached (due 05-02 12:00)
//	s1  sms  05-01 08:00           30 s    met            7200 s  met
//	s2  sms  05-01 23:59:59        100 s   met            —       open (due 05-02 23:59:59)
//	w5  web  05-02 09:00           120 s   met            600 s   met
//	w6  web  05-02 23:58           —       open (00:01)   —       open
//	s3  sms  05-02 01:00           200 s   breached       1800 s  met
//	s4  sms  05-02 23:57:30        —       open (00:00:30) —      open
//	x1  web  04-30 23:59:59        outside the range
//	x2  sms  05-03 00:00:00        outside the range (to is exclusive)
func fixture() []intakelog.Request {
	return []intakelog.Request{
		req("x1", "web", "2024-04-30 23:59:59", 1, 1),
		req("w4", "web", "2024-05-01 12:00:00", none, none),
		req("s3", "sms", "2024-05-02 01:00:00", 200, 1800),
		req("w1", "web", "2024-05-01 00:30:00", 60, 3600),
		req("s1", "sms", "2024-05-01 08:00:00", 30, 7200),
		req("w2", "web", "2024-05-01 10:00:00", 180, 86400),
		req("w6", "web", "2024-05-02 23:58:00", none, none),
		req("s2", "sms", "2024-05-01 23:59:59", 100, none),
		req("w3", "web", "2024-05-01 11:00:00", 300, 90000),
		req("x2", "sms", "2024-05-03 00:00:00", 1, 1),
		req("w5", "web", "2024-05-02 09:00:00", 120, 600),
		req("s4", "sms", "2024-05-02 23:57:30", none, none),
	}
}

// fixtureJSON is the report over the whole fixture, computed by hand.
const fixtureJSON = `{
  "from": "2024-05-01T00:00:00+08:00",
  "to": "2024-05-03T00:00:00+08:00",
  "as_of": "2024-05-02T23:59:00+08:00",
  "rows": [
    {"day": "2024-05-01", "channel": "sms",
     "first_response": {"total": 2, "met": 2, "breached": 0, "open": 0, "met_rate": 1, "median_seconds": 30, "p95_seconds": 100},
     "handling":       {"total": 2, "met": 1, "breached": 0, "open": 1, "met_rate": 1, "median_seconds": 7200, "p95_seconds": 7200}},
    {"day": "2024-05-01", "channel": "web",
     "first_response": {"total": 4, "met": 2, "breached": 2, "open": 0, "met_rate": 0.5, "median_seconds": 180, "p95_seconds": 300},
     "handling":       {"total": 4, "met": 2, "breached": 2, "open": 0, "met_rate": 0.5, "median_seconds": 86400, "p95_seconds": 90000}},
    {"day": "2024-05-02", "channel": "sms",
     "first_response": {"total": 2, "met": 0, "breached": 1, "open": 1, "met_rate": 0, "median_seconds": 200, "p95_seconds": 200},
     "handling":       {"total": 2, "met": 1, "breached": 0, "open": 1, "met_rate": 1, "median_seconds": 1800, "p95_seconds": 1800}},
    {"day": "2024-05-02", "channel": "web",
     "first_response": {"total": 2, "met": 1, "breached": 0, "open": 1, "met_rate": 1, "median_seconds": 120, "p95_seconds": 120},
     "handling":       {"total": 2, "met": 1, "breached": 0, "open": 1, "met_rate": 1, "median_seconds": 600, "p95_seconds": 600}}
  ],
  "totals": [
    {"day": "total", "channel": "sms",
     "first_response": {"total": 4, "met": 2, "breached": 1, "open": 1, "met_rate": 0.6666666666666666, "median_seconds": 100, "p95_seconds": 200},
     "handling":       {"total": 4, "met": 2, "breached": 0, "open": 2, "met_rate": 1, "median_seconds": 1800, "p95_seconds": 7200}},
    {"day": "total", "channel": "web",
     "first_response": {"total": 6, "met": 3, "breached": 2, "open": 1, "met_rate": 0.6, "median_seconds": 120, "p95_seconds": 300},
     "handling":       {"total": 6, "met": 3, "breached": 2, "open": 1, "met_rate": 0.6, "median_seconds": 3600, "p95_seconds": 90000}}
  ]
}`

// fixtureCSV is the same report as CSV.
const fixtureCSV = "day,channel," +
	"first_response_total,first_response_met,first_response_breached,first_response_open," +
	"first_response_met_rate,first_response_median_seconds,first_response_p95_seconds," +
	"handling_total,handling_met,handling_breached,handling_open," +
	"handling_met_rate,handling_median_seconds,handling_p95_seconds\r\n" +
	"2024-05-01,sms,2,2,0,0,1.0000,30.000,100.000,2,1,0,1,1.0000,7200.000,7200.000\r\n" +
	"2024-05-01,web,4,2,2,0,0.5000,180.000,300.000,4,2,2,0,0.5000,86400.000,90000.000\r\n" +
	"2024-05-02,sms,2,0,1,1,0.0000,200.000,200.000,2,1,0,1,1.0000,1800.000,1800.000\r\n" +
	"2024-05-02,web,2,1,0,1,1.0000,120.000,120.000,2,1,0,1,1.0000,600.000,600.000\r\n" +
	"total,sms,4,2,1,1,0.6667,100.000,200.000,4,2,0,2,1.0000,1800.000,7200.000\r\n" +
	"total,web,6,3,2,1,0.6000,120.000,300.000,6,3,2,1,0.6000,3600.000,90000.000\r\n"
