package calendar

import (
	"fmt"
	"strings"
	"time"
)

// maxSpecLen bounds the spec; real ones are a few dozen bytes.
const maxSpecLen = 1024

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Parse builds a Calendar from configuration.
//
// spec is one or more segments separated by ";", each "DAYS HOURS [ZONE]":
// DAYS is a comma list of day names or ranges (Mon-Fri, Mon,Wed,Fri,
// Mon-Wed,Fri; Fri-Mon wraps over the weekend; names are case-insensitive),
// HOURS a comma list of HH:MM-HH:MM ranges (end after start, 24:00 allowed
// as an end; split overnight hours into two segments), ZONE an IANA name.
// The zone must appear at least once and, where repeated, be the same:
//
//	Mon-Fri 09:00-17:00 Asia/Shanghai
//	Mon-Fri 09:00-12:00,13:30-17:00; Sat 09:00-12:00 Asia/Shanghai
//
// holidays are closed dates (YYYY-MM-DD, in the calendar's zone).
// workdays are make-up working days: on a day of the week without hours
// (Saturday, Sunday) they open with the hours of an ordinary working day
// (the first of Monday–Friday that has hours); on a day with hours of its
// own they change nothing. A date may not be both.
func Parse(spec string, holidays, workdays []string) (*Calendar, error) {
	if len(spec) > maxSpecLen {
		return nil, fmt.Errorf("%w: spec longer than %d bytes", ErrSpec, maxSpecLen)
	}
	if strings.TrimSpace(spec) == "" {
		return nil, fmt.Errorf("%w: empty spec", ErrSpec)
	}
	c := &Calendar{}
	var zone string
	for _, seg := range strings.Split(spec, ";") {
		f := strings.Fields(seg)
		if len(f) < 2 || len(f) > 3 {
			return nil, fmt.Errorf("%w: segment %q: want \"DAYS HH:MM-HH:MM [Zone/Name]\"", ErrSpec, strings.TrimSpace(seg))
		}
		days, err := parseDays(f[0])
		if err != nil {
			return nil, err
		}
		spans, err := parseSpans(f[1])
		if err != nil {
			return nil, err
		}
		if len(f) == 3 {
			if zone != "" && zone != f[2] {
				return nil, fmt.Errorf("%w: two time zones %q and %q", ErrSpec, zone, f[2])
			}
			zone = f[2]
		}
		for wd, on := range days {
			if on {
				c.week[wd] = append(c.week[wd], spans...)
			}
		}
	}
	if zone == "" {
		return nil, fmt.Errorf("%w: %q names no time zone (e.g. Asia/Shanghai)", ErrSpec, spec)
	}
	loc, err := loadZone(zone)
	if err != nil {
		return nil, err
	}
	c.loc = loc
	sortSpans(&c.week)
	c.standard = standardDay(&c.week)

	if c.holidays, err = parseDates("holiday", holidays); err != nil {
		return nil, err
	}
	if c.workdays, err = parseDates("workday", workdays); err != nil {
		return nil, err
	}
	for d := range c.workdays {
		if _, ok := c.holidays[d]; ok {
			return nil, fmt.Errorf("%w: %04d-%02d-%02d is both a holiday and a workday", ErrSpec, d.y, d.m, d.d)
		}
	}
	return c, nil
}

// parseDays turns "Mon-Fri" or "Mon,Wed,Fri" into a set of weekdays.
func parseDays(s string) ([7]bool, error) {
	var set [7]bool
	for _, item := range strings.Split(s, ",") {
		from, to, isRange := strings.Cut(item, "-")
		a, ok := dayNames[strings.ToLower(from)]
		if !ok {
			return set, fmt.Errorf("%w: day %q, want Mon, Tue, Wed, Thu, Fri, Sat or Sun", ErrSpec, from)
		}
		b := a
		if isRange {
			if b, ok = dayNames[strings.ToLower(to)]; !ok {
				return set, fmt.Errorf("%w: day %q, want Mon, Tue, Wed, Thu, Fri, Sat or Sun", ErrSpec, to)
			}
		}
		for d := a; ; d = (d + 1) % 7 {
			set[d] = true
			if d == b {
				break
			}
		}
	}
	return set, nil
}

// parseSpans parses "09:00-12:00,13:00-17:00".
func parseSpans(s string) ([]span, error) {
	var out []span
	for _, item := range strings.Split(s, ",") {
		from, to, ok := strings.Cut(item, "-")
		if !ok {
			return nil, fmt.Errorf("%w: hours %q, want HH:MM-HH:MM", ErrSpec, item)
		}
		start, err := parseClock(from, false)
		if err != nil {
			return nil, err
		}
		end, err := parseClock(to, true)
		if err != nil {
			return nil, err
		}
		if end <= start {
			return nil, fmt.Errorf("%w: hours %q end before they start (split overnight hours at 24:00)", ErrSpec, item)
		}
		out = append(out, span{start, end})
	}
	return out, nil
}

// parseClock parses exactly HH:MM; 24:00 only as an end.
func parseClock(s string, isEnd bool) (time.Duration, error) {
	if len(s) != 5 || s[2] != ':' || !digits(s[:2]) || !digits(s[3:]) {
		return 0, fmt.Errorf("%w: time %q, want HH:MM", ErrSpec, s)
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if m > 59 || h > 24 || (h == 24 && (m != 0 || !isEnd)) {
		return 0, fmt.Errorf("%w: time %q out of range", ErrSpec, s)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// loadZone accepts IANA names only: not "Local" (the host's zone would
// silently change the hours) and nothing that looks like a path.
func loadZone(name string) (*time.Location, error) {
	for _, r := range name {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '/' || r == '_' || r == '-' || r == '+') {
			return nil, fmt.Errorf("%w: time zone %q", ErrSpec, name)
		}
	}
	if name == "Local" || strings.HasPrefix(name, "/") {
		return nil, fmt.Errorf("%w: time zone %q, use an IANA name such as Asia/Shanghai", ErrSpec, name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%w: time zone %q: %w", ErrSpec, name, err)
	}
	return loc, nil
}

// parseDates parses YYYY-MM-DD dates (validated: no 2025-02-30).
func parseDates(what string, in []string) (map[civilDate]struct{}, error) {
	out := make(map[civilDate]struct{}, len(in))
	for _, s := range in {
		s = strings.TrimSpace(s)
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return nil, fmt.Errorf("%w: %s %q, want YYYY-MM-DD", ErrSpec, what, s)
		}
		out[dateOf(t)] = struct{}{}
	}
	return out, nil
}
