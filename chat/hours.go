package chat

import (
	"fmt"
	"strings"
	"time"
)

// Hours is a service's weekly opening hours in one time zone. The zero
// value is always open. Outside its hours the widget says that no agent is
// available and offers to leave a message; chats are still accepted and
// wait in the queue.
type Hours struct {
	loc   *time.Location
	spans []span
}

// span is one opening span: the days of the week it applies to and its
// start and end, in minutes after midnight (end may be 24*60).
type span struct {
	days       [7]bool // by time.Weekday
	start, end int
}

// MaxSpans bounds the spans of one service's hours.
const MaxSpans = 28

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseHours reads opening hours written as "mon-fri 09:00-17:30",
// "sat 10:00-14:00" or "sun-sat 00:00-24:00" (days by their first three
// English letters, a range of days wraps past Saturday), in the IANA time
// zone zone ("" is UTC). No spec means always open.
func ParseHours(specs []string, zone string) (Hours, error) {
	if len(specs) == 0 {
		return Hours{}, nil
	}
	if len(specs) > MaxSpans {
		return Hours{}, fmt.Errorf("chat: hours: %d spans, at most %d", len(specs), MaxSpans)
	}
	loc := time.UTC
	if zone != "" {
		l, err := time.LoadLocation(zone)
		if err != nil {
			return Hours{}, fmt.Errorf("chat: hours: time zone %q: unknown", zone)
		}
		loc = l
	}
	h := Hours{loc: loc}
	for i, s := range specs {
		sp, err := parseSpan(s)
		if err != nil {
			return Hours{}, fmt.Errorf("chat: hours[%d] %q: %w", i, s, err)
		}
		h.spans = append(h.spans, sp)
	}
	return h, nil
}

func parseSpan(s string) (span, error) {
	var sp span
	days, times, ok := strings.Cut(strings.TrimSpace(strings.ToLower(s)), " ")
	if !ok {
		return sp, fmt.Errorf(`want days and times, as "mon-fri 09:00-17:00"`)
	}
	from, to, isRange := strings.Cut(days, "-")
	d0, ok0 := dayNames[from]
	d1, ok1 := d0, ok0
	if isRange {
		d1, ok1 = dayNames[to]
	}
	if !ok0 || !ok1 {
		return sp, fmt.Errorf("days %q: want mon, tue, wed, thu, fri, sat, sun or a range of them", days)
	}
	for d := d0; ; d = (d + 1) % 7 {
		sp.days[d] = true
		if d == d1 {
			break
		}
	}
	start, end, ok := strings.Cut(strings.TrimSpace(times), "-")
	if !ok {
		return sp, fmt.Errorf("times %q: want HH:MM-HH:MM", times)
	}
	var err error
	if sp.start, err = parseClock(start); err != nil {
		return sp, err
	}
	if sp.end, err = parseClock(end); err != nil {
		return sp, err
	}
	if sp.end <= sp.start {
		return sp, fmt.Errorf("times %q: the end must come after the start", times)
	}
	return sp, nil
}

func parseClock(s string) (int, error) {
	var hh, mm int
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("time %q: want HH:MM", s)
	}
	if _, err := fmt.Sscanf(s, "%02d:%02d", &hh, &mm); err != nil || hh > 24 || mm > 59 || hh == 24 && mm != 0 {
		return 0, fmt.Errorf("time %q: want HH:MM, 00:00 to 24:00", s)
	}
	return hh*60 + mm, nil
}

// Open reports whether t falls within the hours.
func (h Hours) Open(t time.Time) bool {
	if len(h.spans) == 0 {
		return true
	}
	t = t.In(h.loc)
	m := t.Hour()*60 + t.Minute()
	for _, sp := range h.spans {
		if sp.days[t.Weekday()] && sp.start <= m && m < sp.end {
			return true
		}
	}
	return false
}

// Always reports whether the hours are "always open" (none configured).
func (h Hours) Always() bool { return len(h.spans) == 0 }
