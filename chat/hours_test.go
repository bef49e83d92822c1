package chat

import (
	"strings"
	"testing"
	"time"
)

func TestHoursOpen(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	h, err := ParseHours([]string{"mon-fri 09:00-17:30", "sat 10:00-12:00", "fri-mon 22:00-24:00"}, "Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		at   time.Time
		open bool
	}{
		{"monday morning", time.Date(2026, 3, 2, 9, 0, 0, 0, paris), true},
		{"monday before opening", time.Date(2026, 3, 2, 8, 59, 0, 0, paris), false},
		{"friday at closing", time.Date(2026, 3, 6, 17, 30, 0, 0, paris), false},
		{"friday just before closing", time.Date(2026, 3, 6, 17, 29, 0, 0, paris), true},
		{"saturday late morning", time.Date(2026, 3, 7, 11, 0, 0, 0, paris), true},
		{"saturday afternoon", time.Date(2026, 3, 7, 13, 0, 0, 0, paris), false},
		{"sunday night, in a range that wraps", time.Date(2026, 3, 8, 23, 0, 0, 0, paris), true},
		{"wednesday night, outside the wrapping range", time.Date(2026, 3, 4, 23, 0, 0, 0, paris), false},
		{"monday 09:00 Paris given in UTC", time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC), true},
		{"monday 08:00 Paris given in UTC", time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := h.Open(tc.at); got != tc.open {
				t.Errorf("Open(%s) = %v, want %v", tc.at, got, tc.open)
			}
		})
	}
	if always, _ := ParseHours(nil, ""); !always.Open(time.Date(2026, 3, 8, 3, 0, 0, 0, time.UTC)) || !always.Always() {
		t.Error("no hours must mean always open")
	}
}

func TestParseHoursErrors(t *testing.T) {
	for _, tc := range []struct {
		name, spec, zone, want string
	}{
		{"no times", "mon-fri", "", "want days and times"},
		{"bad day", "mon-fry 09:00-17:00", "", `days "mon-fry"`},
		{"bad clock", "mon 9:00-17:00", "", `time "9:00"`},
		{"past midnight", "mon 09:00-24:30", "", `time "24:30"`},
		{"end before start", "mon 17:00-09:00", "", "the end must come after the start"},
		{"unknown zone", "mon 09:00-17:00", "Mars/Olympus", `time zone "Mars/Olympus"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseHours([]string{tc.spec}, tc.zone)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseHours(%q, %q) = %v, want an error with %q", tc.spec, tc.zone, err, tc.want)
			}
		})
	}
}
