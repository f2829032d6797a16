package portal

import (
	"context"
	"time"
)

// Team notice kinds.
const (
	// TeamNoticeRehired: HR brought the person back; the groups they had
	// when they left were not restored, and are listed for the manager.
	TeamNoticeRehired = "rehired"
	// TeamNoticeMoved: the person has a new department or manager; the
	// groups owners approved for them are listed to review.
	TeamNoticeMoved = "moved"
)

// TeamNotice tells a manager what HR changed for one of their people that
// the manager decides on: a rehire's former groups, or a mover's
// owner-approved groups to review.
type TeamNotice struct {
	ID         int64
	Kind       string
	PersonID   string
	PersonName string
	Groups     []GroupRef
	At         time.Time
	// The manager it is for, as a mail is addressed.
	ToName, ToEmail, ToLanguage string
}

// TeamNotices lists and mails the notices of managers (syncsvc/hr
// implements it).
type TeamNotices interface {
	// TeamNotices returns the latest notices for manager, newest first.
	TeamNotices(ctx context.Context, managerID string, limit int) ([]TeamNotice, error)
	// TeamNoticeFor returns notice id as it is mailed to manager to.
	TeamNoticeFor(ctx context.Context, id int64, to string) (*TeamNotice, error)
}
