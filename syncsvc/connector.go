// Package syncsvc is Tessera's sync engine: connector spaces, sync rules and
// run profiles over connected systems such as Active Directory. This file
// holds what every connector offers the engine.
package syncsvc

import (
	"context"
	"errors"
)

// Kinds of connector errors the engine acts on; a connector's errors match
// them with errors.Is.
var (
	// ErrUnreachable: the system did not answer, or is busy or
	// unavailable. Exports wait and retry.
	ErrUnreachable = errors.New("connected system unreachable")
	// ErrNoSuchObject: the object is not where the connector space says.
	ErrNoSuchObject = errors.New("no such object")
	// ErrAlreadyExists: an add found an object at the DN already.
	ErrAlreadyExists = errors.New("object already exists")
	// ErrWatermarkExpired: a delta import cannot continue from the
	// watermark (Graph's delta tokens last seven days); the engine runs a
	// full import instead.
	ErrWatermarkExpired = errors.New("the delta import's watermark has expired")
)

// ObjectClass is the kind of a connected-system object the engine syncs.
type ObjectClass string

// The object classes the engine syncs.
const (
	ObjectUser  ObjectClass = "user"
	ObjectGroup ObjectClass = "group"
)

// ImportedObject is one object as an import reports it: what the connector
// space stores as the object's last known state.
type ImportedObject struct {
	// Anchor identifies the object for its whole life, across renames and
	// moves: in AD the objectGUID as a string.
	Anchor string
	DN     string
	// Class is empty in a delta import when the system did not say (a
	// change to some other attribute): the connector space knows it.
	Class ObjectClass
	// Attributes holds every imported attribute in a full import, and only
	// the changed ones in a delta import.
	Attributes map[string][]string
	// MembersAdded and MembersRemoved are a group's member changes (DNs)
	// reported by a delta import; a full import lists members in Attributes.
	MembersAdded, MembersRemoved []string
	// Deleted reports that the object is gone, or has left the OUs in
	// scope; only Anchor is then reliable.
	Deleted bool
}

// ExportOp is what an export change does to an object.
type ExportOp string

// The export operations.
const (
	ExportAdd    ExportOp = "add"
	ExportModify ExportOp = "modify"
	ExportRename ExportOp = "rename" // a new RDN, a new parent (a move), or both
	ExportDelete ExportOp = "delete"
)

// AttributeOp is what an attribute change does to the attribute's values.
type AttributeOp string

// The attribute operations. Adding a value that is present and deleting one
// that is absent are not errors: an export may be retried.
const (
	AttributeReplace      AttributeOp = "replace" // no values: clear the attribute
	AttributeAddValues    AttributeOp = "add"
	AttributeDeleteValues AttributeOp = "delete"
)

// AttributeChange changes one attribute. Group members are the "member"
// attribute: add or delete DNs.
type AttributeChange struct {
	Op     AttributeOp
	Name   string
	Values []string
}

// ExportChange is one pending export: a change to make to one object.
type ExportChange struct {
	Op ExportOp
	// DN is the object's DN; for an add, the DN to create.
	DN string
	// Class is the class to create (ExportAdd only).
	Class ObjectClass
	// NewDN is the DN after an ExportRename.
	NewDN string
	// Anchor is the object's anchor when the connector space knows it
	// (not for an add): a connector may find the object by it without a
	// lookup (Entra ID's object id).
	Anchor string
	// Attributes are the initial values of an add (replace or add) or the
	// changes of a modify.
	Attributes []AttributeChange
	// Password and Enabled apply to a user add: users are created
	// disabled unless Enabled, which needs a Password the domain accepts.
	Password string
	Enabled  bool
}

// ExportResult is the outcome of one ExportChange.
type ExportResult struct {
	// Anchor and DN identify the object after the change (DN is the old DN
	// of a deleted object). Anchor is set after an add or a rename, and
	// empty after a modify, a delete or a failure.
	Anchor string
	DN     string
	// Err is nil on success, or the error with the system's own text.
	Err error
}

// Connector is a connected system as the sync engine uses it. A Connector
// serves one run at a time: it is not safe for concurrent use.
type Connector interface {
	// FullImport reads every object in scope and passes each to fn; an
	// error from fn stops the import and is returned.
	FullImport(ctx context.Context, fn func(ImportedObject) error) error
	// DeltaImport passes to fn what changed since watermark and returns the
	// watermark to pass next time. An empty watermark reports every object,
	// so it also starts delta imports after a full import.
	DeltaImport(ctx context.Context, watermark []byte, fn func(ImportedObject) error) ([]byte, error)
	// Export applies changes in order and reports one result per change;
	// a failed change does not stop the ones after it.
	Export(ctx context.Context, changes []ExportChange) []ExportResult
	// Read returns one object as an import reports it: the one with
	// anchor when anchor is set, otherwise the one at dn.
	Read(ctx context.Context, anchor, dn string) (ImportedObject, error)
	// SetPassword resets the password of the user at dn.
	SetPassword(ctx context.Context, dn, password string) error
	// SetEnabled enables or disables the account at dn.
	SetEnabled(ctx context.Context, dn string, enabled bool) error
	// Unlock clears a lockout of the account at dn, and reports whether
	// there was one to clear: false when it changed nothing.
	Unlock(ctx context.Context, dn string) (bool, error)
	// Close releases the connection.
	Close() error
}

// BatchExporter is a connector that sends many changes in one round trip
// (Graph's JSON batching): the engine hands it up to ExportBatchSize
// changes to one object each per Export call, instead of one at a time.
type BatchExporter interface {
	ExportBatchSize() int
}

// WindowedExporter is a connector that takes the exports of different
// objects at once: its Export and Read may be called from several
// goroutines together, each about an object of its own, and it keeps up
// to ExportWindow of them in flight on its connection. A system that
// works through one request after another (Samba) then finds the next
// already sent when it answers one, instead of waiting while the engine
// takes the answer and prepares the next.
type WindowedExporter interface {
	ExportWindow() int
}

// AttributeImporter is a connector whose imports can read more attributes
// than its own list: the engine asks for those its sync rules read or
// write, so that what it exports it also sees again.
type AttributeImporter interface {
	ImportAlso(names []string)
}

// SchemaReader is a connector that can say how long each of the system's
// attributes may be, so that the portal refuses a value the system would
// refuse, at submission, instead of after the request was approved.
type SchemaReader interface {
	// AttributeLimits returns the longest value (in characters) of each
	// attribute that has a limit, keyed by lower-case attribute name.
	AttributeLimits(ctx context.Context) (map[string]int, error)
}

// ValueCountReader is a connector whose schema says, for each attribute,
// whether it holds one value or several (AD's isSingleValued), so that a
// sync rule writing a list to an attribute of one value is refused when it
// is saved. A type whose schema is fixed is given to the engine instead
// (Engine.TargetSchemas).
type ValueCountReader interface {
	// SingleValued returns every attribute of the system's schema, keyed by
	// lower-case name: true when it holds one value.
	SingleValued(ctx context.Context) (map[string]bool, error)
}

type personWaitingKey struct{}

// PersonWaiting marks ctx as carrying a change a person is waiting for (a
// committed request, a password reset): connectors send it ahead of bulk
// work, and Graph is asked to throttle it last.
func PersonWaiting(ctx context.Context) context.Context {
	return context.WithValue(ctx, personWaitingKey{}, true)
}

// IsPersonWaiting reports whether ctx was marked by PersonWaiting.
func IsPersonWaiting(ctx context.Context) bool {
	v, _ := ctx.Value(personWaitingKey{}).(bool)
	return v
}
