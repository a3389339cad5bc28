package smsformat_test

// Realistic callback bodies, shared by the table tests and the fuzz seeds.
const (
	aliyunUp = `[{"phone_number":"13800138000","send_time":"2017-01-01 00:00:00",` +
		`"content":"我要反映小区夜间施工噪音","sign_name":"12345热线","dest_code":"1234","sequence_id":1234567}]`
	aliyunUpBatch = `[
 {"phone_number":"13800138000","send_time":"2024-03-05 09:10:11","content":"第一条","sign_name":"12345热线","dest_code":"","sequence_id":"9001"},
 {"phone_number":"+86 139-0013-9000","send_time":"2024-03-05 09:10:12","content":"","sign_name":"12345热线","dest_code":"01","sequence_id":9002}]`
	tencentUp = `{"extend":"01","mobile":"13800138000","nationcode":"86","sign":"12345热线",` +
		`"text":"路灯坏了，在人民路和解放路口","time":1470000000}`
	tencentUpIntl = `{"extend":"","mobile":"91234567","nationcode":"852","sign":"12345热线","text":"hello","time":"1470000001"}`
	genericUp     = `{"id":"m-1","from":"+8613800138000","to":"12345","text":"请问公积金怎么提取",` +
		`"sent_at":"2024-05-01T10:00:00+08:00"}`
	genericUpParts = `[
 {"id":"m-2a","from":"13800138000","to":"12345","text":"第一部分","sent_at":"2024-05-01T10:00:00Z","udh":{"ref":"7f","total":2,"seq":1}},
 {"id":"m-2b","from":"13800138000","to":"12345","text":"第二部分","sent_at":"2024-05-01T10:00:01Z","udh":{"ref":127,"total":"2","seq":2}}]`

	aliyunReports = `[{"phone_number":"13800138000","send_time":"2017-01-01 00:00:00","report_time":"2017-01-01 00:00:05",` +
		`"success":true,"err_code":"DELIVERED","err_msg":"用户接收成功","sms_size":"1","biz_id":"12345^0","out_id":"o1"},` +
		`{"phone_number":"13900139000","send_time":"2017-01-01 00:00:00","report_time":"2017-01-01 00:01:00",` +
		`"success":false,"err_code":"MK:0001","err_msg":"用户关机","sms_size":"3","biz_id":"12346^0","out_id":""}]`
	tencentReports = `[{"user_receive_time":"2015-10-17 08:03:04","nationcode":"86","mobile":"13800138000",` +
		`"report_status":"SUCCESS","errmsg":"DELIVRD","description":"用户短信送达成功","sid":"sid-1"},` +
		`{"user_receive_time":"2015-10-17 08:03:05","nationcode":"86","mobile":"13900139000",` +
		`"report_status":"FAIL","errmsg":"MK:0005","description":"空号","sid":"sid-2"}]`
	genericReports = `[{"message_id":"g-1","to":"+8613800138000","status":"delivered","at":"2024-05-01T10:00:05Z"},` +
		`{"message_id":"g-2","status":"failed","error":"absent subscriber","at":"2024-05-01T10:00:06Z"}]`
)
