package view

import (
	"context"
	"time"

	"github.com/tessera-idm/tessera/portal/i18n"
)

// Every time a page shows goes through the Time, TimeExact and Day
// components (time.templ), which format with i18n's Printer.Time in the
// viewer's zone and language. Do not format times for display any other
// way: web puts the viewer's printer, in their language and zone
// (Printer.In), in the request context with i18n.NewContext, and emails
// use the recipient's printer the same way.

// zoneFrom returns the viewer's zone, UTC when none is known.
func zoneFrom(ctx context.Context) *time.Location { return i18n.FromContext(ctx).Zone() }

// now is the clock the relative times count from.
var now = time.Now

func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func absTime(ctx context.Context, t time.Time) string {
	return i18n.FromContext(ctx).Time(t, zoneFrom(ctx))
}

// day writes a calendar day in the viewer's language.
func day(ctx context.Context, t time.Time) string { return i18n.FromContext(ctx).Date(t) }

// relOrAbs is "2 hours ago" or "in 3 days" when that is near enough to
// read well, otherwise the absolute time.
func relOrAbs(ctx context.Context, t time.Time) string {
	if rel := i18n.FromContext(ctx).Relative(t, now()); rel != "" {
		return rel
	}
	return absTime(ctx, t)
}

// commonZones are offered as suggestions on the time zone form; any IANA
// zone is accepted.
var commonZones = []string{
	"UTC", "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris", "Europe/Berlin", "Europe/Madrid",
	"Europe/Rome", "Europe/Amsterdam", "Europe/Brussels", "Europe/Zurich", "Europe/Vienna", "Europe/Stockholm",
	"Europe/Oslo", "Europe/Copenhagen", "Europe/Helsinki", "Europe/Warsaw", "Europe/Prague", "Europe/Athens",
	"Europe/Bucharest", "Europe/Istanbul", "Europe/Kyiv", "Africa/Cairo", "Africa/Johannesburg", "Africa/Lagos",
	"Africa/Nairobi", "Asia/Dubai", "Asia/Riyadh", "Asia/Karachi", "Asia/Kolkata", "Asia/Dhaka", "Asia/Bangkok",
	"Asia/Singapore", "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Tokyo", "Asia/Seoul", "Australia/Perth",
	"Australia/Sydney", "Pacific/Auckland", "America/St_Johns", "America/Halifax", "America/New_York",
	"America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles", "America/Anchorage",
	"Pacific/Honolulu", "America/Mexico_City", "America/Bogota", "America/Lima", "America/Santiago",
	"America/Sao_Paulo", "America/Argentina/Buenos_Aires",
}

// zoneName is a stored zone as the person reads it.
func zoneName(ctx context.Context, zone string) string {
	if zone == "" {
		return i18n.T(ctx, "UTC (not chosen yet)")
	}
	return zone
}

// dueText says when something is due, relative to now: "due in 3 days",
// "overdue by 2 hours".
func dueText(ctx context.Context, due, now time.Time) string {
	return i18n.FromContext(ctx).Due(due, now)
}
