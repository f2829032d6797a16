package portal

import (
	"time"
	_ "time/tzdata" // zones must load where the host has no zoneinfo (containers)
)

// The zone people read times in. The words and numbers of a time are
// written by portal/i18n (Printer.Time, Date, Relative, Due), in the
// reader's language: do not call time.Format for display anywhere else.

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

// ZoneLabel names a zone for a sentence such as an email's "times are in …":
// "Europe/Berlin (CET)", or "UTC".
func ZoneLabel(loc *time.Location, at time.Time) string {
	if loc == nil || loc == time.UTC || loc.String() == "UTC" {
		return "UTC"
	}
	abbr, _ := at.In(loc).Zone()
	return loc.String() + " (" + abbr + ")"
}
