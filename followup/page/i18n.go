package page

import (
	"net/http"

	"golang.org/x/text/language"

	"github.com/hotline12345/gateway/followup"
)

// texts are the words of every page in one language.
type texts struct {
	Lang, Param      string // the html lang attribute; the ?lang= value
	Other, OtherLang string // the switch link's text and its language
	OtherParam       string

	Brand, SurveyTitle, Intro, NumberLabel string
	ResolvedLegend, Yes, No                string
	RatingLegend                           string
	Ratings                                map[string]string
	CommentLabel, CommentHint, Submit      string
	Sending, Summary                       string
	// Field messages by JSON name: the same words with and without JavaScript.
	FieldErrors map[string]string

	ThanksTitle, ThanksText     string
	NotFoundTitle, NotFoundText string
	ExpiredTitle, ExpiredText   string
	AnsweredTitle, AnsweredText string
	BadFormTitle, BadFormText   string
	TooLargeTitle, TooLargeText string
	FailedTitle, FailedText     string
}

var zh = &texts{
	Lang: "zh-CN", Param: "zh", Other: "English", OtherLang: "en", OtherParam: "en",
	Brand:          "12345 市民服务热线",
	SurveyTitle:    "服务满意度回访",
	Intro:          "感谢您联系 12345 热线。请用一分钟告诉我们办理情况。",
	NumberLabel:    "工单编号：",
	ResolvedLegend: "您反映的问题是否已解决？",
	Yes:            "已解决", No: "未解决",
	RatingLegend: "您对本次办理是否满意？",
	Ratings: map[string]string{followup.RatingSatisfied: "满意", followup.RatingBasicallySatisfied: "基本满意",
		followup.RatingDissatisfied: "不满意"},
	CommentLabel: "意见或建议（选填）",
	CommentHint:  "最多 500 字",
	Submit:       "提交评价",
	Sending:      "正在提交…",
	Summary:      "提交未成功，请检查下面标出的项目。",
	FieldErrors: map[string]string{"resolved": "请选择问题是否已解决。", "rating": "请选择您的满意程度。",
		"comment": "意见或建议不能超过 500 字。"},
	ThanksTitle:   "感谢您的评价！",
	ThanksText:    "您的评价已提交，我们会据此改进服务。",
	NotFoundTitle: "链接无效",
	NotFoundText:  "请检查链接是否完整。如需反映问题，请拨打 12345 热线。",
	ExpiredTitle:  "本次回访已过期",
	ExpiredText:   "此回访链接已超过有效期。如需反映问题，请拨打 12345 热线。",
	AnsweredTitle: "感谢您，已完成评价",
	AnsweredText:  "此次回访已收到您的评价，无需再次提交。",
	BadFormTitle:  "无法读取提交的内容",
	BadFormText:   "请返回上一页重新提交。",
	TooLargeTitle: "提交的内容过长",
	TooLargeText:  "请缩短意见或建议后重新提交。",
	FailedTitle:   "服务暂时不可用",
	FailedText:    "很抱歉，请稍后再试。",
}

var en = &texts{
	Lang: "en", Param: "en", Other: "中文", OtherLang: "zh-CN", OtherParam: "zh",
	Brand:          "12345 Citizen Service Hotline",
	SurveyTitle:    "Satisfaction survey",
	Intro:          "Thank you for contacting the 12345 hotline. Please take a minute to tell us how your matter was handled.",
	NumberLabel:    "Request number: ",
	ResolvedLegend: "Was your matter resolved?",
	Yes:            "Yes, resolved", No: "No, not resolved",
	RatingLegend: "How satisfied are you with how it was handled?",
	Ratings: map[string]string{followup.RatingSatisfied: "Satisfied", followup.RatingBasicallySatisfied: "Basically satisfied",
		followup.RatingDissatisfied: "Dissatisfied"},
	CommentLabel: "Comments or suggestions (optional)",
	CommentHint:  "Up to 500 characters",
	Submit:       "Submit",
	Sending:      "Sending…",
	Summary:      "Your answer was not sent. Please check the items marked below.",
	FieldErrors: map[string]string{"resolved": "Please say whether your matter was resolved.",
		"rating": "Please choose how satisfied you are.", "comment": "Comments can be at most 500 characters."},
	ThanksTitle:   "Thank you for your feedback!",
	ThanksText:    "Your answers have been recorded. They help us improve our service.",
	NotFoundTitle: "This link is not valid",
	NotFoundText:  "Please check that the link is complete. To raise a matter, call the 12345 hotline.",
	ExpiredTitle:  "This survey has expired",
	ExpiredText:   "This survey link is past its expiry date. To raise a matter, call the 12345 hotline.",
	AnsweredTitle: "Thank you, already answered",
	AnsweredText:  "We have already received your answers to this survey; there is nothing more to do.",
	BadFormTitle:  "The form could not be read",
	BadFormText:   "Please go back and send it again.",
	TooLargeTitle: "Your answer is too long",
	TooLargeText:  "Please shorten your comments and send them again.",
	FailedTitle:   "Service temporarily unavailable",
	FailedText:    "Sorry, please try again later.",
}

// pick chooses the language: ?lang= first (the switch link), then the
// first of Accept-Language's languages (by q) that is Chinese or English;
// Chinese when neither is there.
func pick(r *http.Request) *texts {
	if t := byName(r.URL.Query().Get("lang")); t != nil {
		return t
	}
	tags, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	for _, tag := range tags {
		if t := byName(tag.String()); t != nil {
			return t
		}
	}
	return zh
}

func byName(s string) *texts {
	tag, err := language.Parse(s)
	if err != nil {
		return nil
	}
	switch base, _ := tag.Base(); base.String() {
	case "en":
		return en
	case "zh":
		return zh
	}
	return nil
}
