package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// CSVHeader is the first line WriteCSV writes for a report grouped by
// group: the second column is named after the group; the columns are stable.
func CSVHeader(group string) []string {
	return []string{"day", group,
		"finished", "no_follow_up", "surveys_sent", "surveyed", "initiation_rate",
		"answered", "response_rate", "satisfied", "basically_satisfied", "dissatisfied", "satisfaction_rate",
		"not_resolved", "reviews_requested", "expired", "failed"}
}

// WriteCSV writes r as CSV (RFC 4180, "\r\n" line ends): the header, one
// line per row of r.Rows, then of r.Totals (day "total"), then r.Total
// (day "total", group "all"). Rates have four decimals; a rate without a
// base is empty. A group value that a spreadsheet would take for a formula
// is prefixed with "'".
func WriteCSV(w io.Writer, r Report) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	header := CSVHeader(r.Group)
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("report: cannot write CSV: %w", err)
	}
	line := make([]string, 0, len(header))
	for _, rows := range [][]Row{r.Rows, r.Totals, {r.Total}} {
		for _, row := range rows {
			line = append(line[:0], row.Day, cell(row.Group),
				itoa(row.Finished), itoa(row.NoFollowUp), itoa(row.SurveysSent), itoa(row.Surveyed), ftoa(row.InitiationRate),
				itoa(row.Answered), ftoa(row.ResponseRate),
				itoa(row.Satisfied), itoa(row.BasicallySatisfied), itoa(row.Dissatisfied), ftoa(row.SatisfactionRate),
				itoa(row.NotResolved), itoa(row.ReviewsRequested), itoa(row.Expired), itoa(row.Failed))
			if err := cw.Write(line); err != nil {
				return fmt.Errorf("report: cannot write CSV: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("report: cannot write CSV: %w", err)
	}
	return nil
}

// cell keeps a spreadsheet from reading a group value as a formula: a
// district comes from the citizen's form, so it may start with "=".
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func itoa(n int) string { return strconv.Itoa(n) }

func ftoa(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', 4, 64)
}
