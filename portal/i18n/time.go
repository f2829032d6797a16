package i18n

import (
	"math"
	"time"
)

// This file is the ONE place that turns instants into text people read:
// pages (through web/view's Time component, which reads the viewer's zone
// and language from the request) and emails alike call Printer.Time,
// Printer.Date, Printer.Relative and Printer.Due. Do not call time.Format
// for display anywhere else.

// Time writes an instant as people read it in loc, with the zone's
// abbreviation so that a reader elsewhere knows which: "5 Dec 2026, 14:30
// CET", "5. Dez. 2026, 14:30 CET". Zones without a letter abbreviation get
// their offset ("+04").
func (p *Printer) Time(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	return p.Date(t) + ", " + t.Format("15:04 MST")
}

// Moment writes an instant inside a sentence in p's zone, with how far it
// is from now when that is near enough to read well: "8 Dec 2026, 14:30
// CET (in 2 days)"; further away, the time alone.
func (p *Printer) Moment(t, now time.Time) string {
	abs := p.Time(t, p.Zone())
	if rel := p.Relative(t, now); rel != "" {
		return p.T("%s (%s)", abs, rel)
	}
	return abs
}

// Date writes a calendar day: "5 Dec 2026", "5. Dez. 2026". Dates that are
// days, not instants (a deputy's first day, a holiday), are written as they
// are.
func (p *Printer) Date(t time.Time) string {
	return p.lang.dateFormat(t.Day(), p.lang.months[t.Month()-1], t.Year())
}

// span is a distance between two instants in the unit people would say.
type span struct {
	n    int
	unit string // "", "minute", "hour", "day", "week"; "" is under a minute
	far  bool   // beyond about 8 weeks: say the date instead
	past bool
}

func spanOf(t, now time.Time) span {
	d := t.Sub(now)
	s := span{past: d < 0}
	if d < 0 {
		d = -d
	}
	switch {
	case d < 45*time.Second:
	case d < 45*time.Minute:
		s.n, s.unit = roundTo(d, time.Minute), "minute"
	case d < 22*time.Hour:
		s.n, s.unit = roundTo(d, time.Hour), "hour"
	case d < 36*time.Hour:
		s.n, s.unit = 1, "day"
	case d < 14*24*time.Hour:
		s.n, s.unit = roundTo(d, 24*time.Hour), "day"
	case d < 8*7*24*time.Hour:
		s.n, s.unit = roundTo(d, 7*24*time.Hour), "week"
	default:
		s.far = true
	}
	return s
}

func roundTo(d, unit time.Duration) int {
	return max(1, int(math.Round(float64(d)/float64(unit))))
}

// Relative says how far t is from now in words people use: "just now",
// "5 minutes ago", "in 2 hours", "yesterday", "in 3 days", "vor 2 Wochen".
// Beyond about 8 weeks it returns "" and the absolute time should be shown.
func (p *Printer) Relative(t, now time.Time) string {
	s := spanOf(t, now)
	switch {
	case s.far:
		return ""
	case s.unit == "":
		return p.T("just now")
	case s.unit == "day" && s.n == 1 && s.past:
		return p.T("yesterday")
	case s.unit == "day" && s.n == 1:
		return p.T("tomorrow")
	}
	if s.past {
		switch s.unit {
		case "minute":
			return p.T("%d minutes ago", s.n)
		case "hour":
			return p.T("%d hours ago", s.n)
		case "day":
			return p.T("%d days ago", s.n)
		}
		return p.T("%d weeks ago", s.n)
	}
	switch s.unit {
	case "minute":
		return p.T("in %d minutes", s.n)
	case "hour":
		return p.T("in %d hours", s.n)
	case "day":
		return p.T("in %d days", s.n)
	}
	return p.T("in %d weeks", s.n)
}

// Due says when something is due, relative to now: "due in 3 days",
// "overdue by 2 hours".
func (p *Printer) Due(due, now time.Time) string {
	s := spanOf(due, now)
	switch {
	case s.far && s.past:
		return p.T("overdue by more than 8 weeks")
	case s.far:
		return p.T("due in more than 8 weeks")
	case s.unit == "":
		return p.T("due now")
	case s.unit == "day" && s.n == 1 && s.past:
		return p.T("overdue since yesterday")
	case s.unit == "day" && s.n == 1:
		return p.T("due tomorrow")
	}
	if s.past {
		switch s.unit {
		case "minute":
			return p.T("overdue by %d minutes", s.n)
		case "hour":
			return p.T("overdue by %d hours", s.n)
		case "day":
			return p.T("overdue by %d days", s.n)
		}
		return p.T("overdue by %d weeks", s.n)
	}
	switch s.unit {
	case "minute":
		return p.T("due in %d minutes", s.n)
	case "hour":
		return p.T("due in %d hours", s.n)
	case "day":
		return p.T("due in %d days", s.n)
	}
	return p.T("due in %d weeks", s.n)
}
