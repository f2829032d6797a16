package portal

import (
	"fmt"
	"math"
	"time"
	_ "time/tzdata" // zones must load where the host has no zoneinfo (containers)
)

// This file is the ONE place that turns instants into text people read:
// pages (through web/view's Time component, which reads the viewer's zone
// from the request) and emails alike call FormatTime, FormatDate and
// RelativeTime. Do not call time.Format for display anywhere else.

// MaxTimeZoneLen bounds a stored IANA zone name ("America/Argentina/ComodRivadavia"
// is among the longest at 32). LoadTimeZone (calendar.go) checks the name.
const MaxTimeZoneLen = 64

// ZoneOrUTC returns the location of a stored zone name, or UTC for none
// (someone whose browser has not told us yet) or one that no longer loads.
func ZoneOrUTC(name string) *time.Location {
	if name == "" {
		return time.UTC
	}
	loc, err := LoadTimeZone(name)
	if err != nil || len(name) > MaxTimeZoneLen {
		return time.UTC
	}
	return loc
}

// FormatTime writes an instant as people read it in loc, with the zone's
// abbreviation so that a reader elsewhere knows which: "5 Dec 2026, 14:30 CET".
// Zones without a letter abbreviation get their offset ("+04").
func FormatTime(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format("2 Jan 2006, 15:04 MST")
}

// FormatDate writes a calendar day: "5 Dec 2026". Dates that are days, not
// instants (a deputy's first day, a holiday), are formatted as they are.
func FormatDate(t time.Time) string { return t.Format("2 Jan 2006") }

// ZoneLabel names a zone for a sentence such as an email's "times are in …":
// "Europe/Berlin (CET)", or "UTC".
func ZoneLabel(loc *time.Location, at time.Time) string {
	if loc == nil || loc == time.UTC || loc.String() == "UTC" {
		return "UTC"
	}
	abbr, _ := at.In(loc).Zone()
	return loc.String() + " (" + abbr + ")"
}

// RelativeTime says how far t is from now in words people use: "just now",
// "5 minutes ago", "in 2 hours", "yesterday", "in 3 days", "2 weeks ago".
// Beyond about 8 weeks it returns "" and the absolute time should be shown.
func RelativeTime(t, now time.Time) string {
	d := t.Sub(now)
	future := d > 0
	if d < 0 {
		d = -d
	}
	var n int
	var unit string
	switch {
	case d < 45*time.Second:
		return "just now"
	case d < 45*time.Minute:
		n, unit = roundTo(d, time.Minute), "minute"
	case d < 22*time.Hour:
		n, unit = roundTo(d, time.Hour), "hour"
	case d < 36*time.Hour:
		if future {
			return "tomorrow"
		}
		return "yesterday"
	case d < 14*24*time.Hour:
		n, unit = roundTo(d, 24*time.Hour), "day"
	case d < 8*7*24*time.Hour:
		n, unit = roundTo(d, 7*24*time.Hour), "week"
	default:
		return ""
	}
	if n != 1 {
		unit += "s"
	}
	if future {
		return fmt.Sprintf("in %d %s", n, unit)
	}
	return fmt.Sprintf("%d %s ago", n, unit)
}

func roundTo(d, unit time.Duration) int {
	return max(1, int(math.Round(float64(d)/float64(unit))))
}
