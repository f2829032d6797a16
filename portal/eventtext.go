package portal

import (
	"regexp"
	"strings"
)

// superseded is the detail requestlife.go stores when a later change
// overtook a request's values before a system confirmed them.
const superseded = "Superseded by a later change to the same values (made in a connected system or by an administrator) before a connected system confirmed this one."

var (
	exportedTo = regexp.MustCompile(`^Exported to (.+)$`)
	goneThere  = regexp.MustCompile(`^(.+) no longer has (.+): it was deleted or moved out of scope there before the change was confirmed\.$`)
	// refusedBy and couldNotTake are the export failures syncsvc reports
	// (exportrun.go, handoff.go): the system's own words stay as they are.
	refusedBy    = regexp.MustCompile(`(?s)^(.+?) refused the change: (.+)\. An administrator has been shown the error; the export is retried, and the request completes if its values go through\.$`)
	couldNotTake = regexp.MustCompile(`(?s)^(.+?) could not take the change: (.+)$`)
)

// EventText is the English detail of a request event stored before events
// kept their format and arguments (request_events.detail_text, migration
// 0047), as a Text: the forms Tessera wrote itself (portal/postgres/requestlife.go:
// exported, gone from the system, superseded; syncsvc: an export refused)
// are read in the reader's language. Any other detail (a reason a person
// wrote, a system's own message) is shown as it is.
func EventText(detail string) Text {
	detail = strings.TrimSpace(detail)
	if detail == superseded {
		return Textf("Superseded by a later change to the same values (made in a connected system or by an administrator) before a connected system confirmed this one.")
	}
	if m := exportedTo.FindStringSubmatch(detail); m != nil {
		return Textf("Exported to %s", m[1])
	}
	if m := goneThere.FindStringSubmatch(detail); m != nil {
		return Textf("%s no longer has %s: it was deleted or moved out of scope there before the change was confirmed.", m[1], m[2])
	}
	if m := refusedBy.FindStringSubmatch(detail); m != nil {
		return Textf("%s refused the change: %s. An administrator has been shown the error; the export is retried, and the request completes if its values go through.", m[1], m[2])
	}
	if m := couldNotTake.FindStringSubmatch(detail); m != nil {
		return Textf("%s could not take the change: %s", m[1], m[2])
	}
	return Textf("%s", detail)
}
