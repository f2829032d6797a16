package portal

// The classes of Tessera's two-key PostgreSQL advisory locks (the first
// key; the second names the thing locked, often hashtext of an ID). Each
// kind of lock has its own class, kept here in one list, so that two
// kinds never share a key: a person's change marked waiting for a system
// once shared its class with a worker's liveness lock, and a mark named
// like a dead worker would have kept that worker alive. The single-key
// locks of the migrations and the audit log (7261126001 and up) are apart
// from these: PostgreSQL keeps the two forms apart.
const (
	LockClassDynamic     = 7_261_126 // dynamic groups' recompute order (portal/postgres)
	LockClassSyncRun     = 7_261_127 // one run of a connected system at a time (syncsvc)
	LockClassPersonWaits = 7_261_128 // a person's change waits for a system (syncsvc)
	LockClassLiveness    = 7_261_129 // a River client's process lives (workflow)
)
