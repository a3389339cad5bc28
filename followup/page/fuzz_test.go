package page

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/followup"
	"github.com/hotline12345/gateway/internal/apierr"
)

// checkAnswer holds for every answer a decoder lets through: what the
// service would take.
func checkAnswer(t *testing.T, a followup.Answer) {
	t.Helper()
	require.NotNil(t, a.Resolved)
	require.True(t, slices.Contains(followup.Ratings, a.Rating), a.Rating)
	require.LessOrEqual(t, utf8.RuneCountInString(a.Comment), followup.MaxComment)
}

func check400(t *testing.T, err error) {
	t.Helper()
	var ae *apierr.Error
	require.True(t, errors.As(err, &ae), "%v", err)
	require.Equal(t, 400, apierr.Status(ae.Code), "%v", err)
}

// FuzzAnswerForm decodes any form body. An accepted answer is one the
// service takes; a refused one shows the form again with what was entered,
// escaped: the page keeps exactly one script and one textarea.
func FuzzAnswerForm(f *testing.F) {
	for _, s := range []string{
		"resolved=yes&rating=satisfied&comment=%E8%B7%AF%E7%81%AF",
		"resolved=no&rating=dissatisfied",
		"resolved=maybe&rating=great&comment=%3C%2Ftextarea%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E",
		"resolved=yes&resolved=no",
		"comment=a%0D%0Ab&rating=basically_satisfied&resolved=no",
		"comment=%00%ff%fe",
		"%zz=1",
		"",
		"resolved=yes&rating=satisfied&comment=" + strings.Repeat("好", followup.MaxComment+1),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		a, entered, fields, err := decodeForm([]byte(body))
		switch {
		case err != nil:
			check400(t, err)
			return
		case len(fields) == 0:
			checkAnswer(t, a)
			return
		}
		for k := range fields {
			require.Contains(t, []string{"resolved", "rating", "comment"}, k)
		}
		var b bytes.Buffer
		require.NoError(t, tmpl.Execute(&b, newView(en, "q1w2E3r4T5y6U7i8O9p0Aa").form("1", entered, fields)))
		require.Equal(t, 1, strings.Count(b.String(), "<script>"))
		require.Equal(t, 1, strings.Count(b.String(), "</textarea>"))
	})
}

// FuzzAnswerJSON decodes any JSON body: an answer the service takes, or a 400.
func FuzzAnswerJSON(f *testing.F) {
	for _, s := range []string{
		`{"resolved": true, "rating": "satisfied", "comment": "谢谢"}`,
		`{"resolved": false, "rating": "dissatisfied"}`,
		`{"resolved": null, "rating": ""}`,
		`{"resolved": "yes", "rating": "satisfied"}`,
		`{"resolved": true, "resolved": false, "rating": "satisfied"}`,
		`{"Resolved": true, "rating": "satisfied"}`,
		`{"resolved": true, "rating": "satisfied", "x": 1}`,
		`{"resolved": true, "rating": "satisfied", "comment": "\ud800"}`,
		`{"resolved": true, "rating": "satisfied", "comment": "` + strings.Repeat("好", followup.MaxComment+1) + `"}`,
		`[]`, `{`, ``, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := decodeJSON(body)
		if err != nil {
			check400(t, err)
			return
		}
		checkAnswer(t, a)
	})
}
