package view

import (
	"fmt"
	"time"
)

// relative says how far t is from now in the largest whole unit that
// fits: "in 3 days", "2 hours ago", "in 5 minutes", "just now".
func relative(t, now time.Time) string {
	d := t.Sub(now)
	future := d > 0
	if !future {
		d = -d
	}
	var n int
	var unit string
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		n, unit = int(d/time.Minute), "minute"
	case d < 48*time.Hour:
		n, unit = int(d/time.Hour), "hour"
	default:
		n, unit = int(d/(24*time.Hour)), "day"
	}
	s := fmt.Sprintf("%d %s", n, unit)
	if n != 1 {
		s += "s"
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// dueText says when something is due, relative to now: "due in 3 days",
// "overdue by 2 hours".
func dueText(due, now time.Time) string {
	if due.Before(now) {
		r := relative(due, now)
		if r == "just now" {
			return "due now"
		}
		return "overdue by " + r[:len(r)-len(" ago")]
	}
	return "due " + relative(due, now)
}
