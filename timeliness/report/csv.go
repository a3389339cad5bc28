package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
)

// CSVHeader is the first line WriteCSV writes; the columns are stable.
var CSVHeader = []string{
	"day", "channel",
	"first_response_total", "first_response_met", "first_response_breached", "first_response_open",
	"first_response_met_rate", "first_response_median_seconds", "first_response_p95_seconds",
	"handling_total", "handling_met", "handling_breached", "handling_open",
	"handling_met_rate", "handling_median_seconds", "handling_p95_seconds",
}

// WriteCSV writes r as CSV (RFC 4180, "\r\n" line ends): the header, then
// one line per row of r.Rows and then of r.Totals (day "total"). Rates have
// four decimals, seconds three.
func WriteCSV(w io.Writer, r Report) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(CSVHeader); err != nil {
		return fmt.Errorf("report: cannot write CSV: %w", err)
	}
	line := make([]string, 0, len(CSVHeader))
	for _, rows := range [][]Row{r.Rows, r.Totals} {
		for _, row := range rows {
			line = append(line[:0], row.Day, row.Channel)
			line = appendClock(line, row.FirstResponse)
			line = appendClock(line, row.Handling)
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

func appendClock(line []string, c Clock) []string {
	return append(line,
		strconv.Itoa(c.Total), strconv.Itoa(c.Met), strconv.Itoa(c.Breached), strconv.Itoa(c.Open),
		strconv.FormatFloat(c.MetRate, 'f', 4, 64),
		strconv.FormatFloat(c.MedianSeconds, 'f', 3, 64),
		strconv.FormatFloat(c.P95Seconds, 'f', 3, 64))
}
