package syncsvc

import (
	"context"
	"sync"
	"time"

	"github.com/tessera-idm/tessera/portal"
)

// idleConnFor is how long a connection to a connected system stays open
// after a request's export used it, for the next one to take.
const idleConnFor = 30 * time.Second

// idleConns keeps, for each connected system, the connection the last
// export of requests used, open and bound, for the next: connecting and
// binding (a TLS handshake, and AD checking the bind password) cost more
// than the modify a person's change needs. A connection is taken by one
// export at a time, kept only after everything on it succeeded, for the
// system as it was configured when it was opened (an administrator's
// change to the system, its password included, moves UpdatedAt), and
// closed when no export took it for idleConnFor.
type idleConns struct {
	mu    sync.Mutex
	conns map[string]*idleConn // connected system ID →
}

// idleConn is one connection waiting for its next export.
type idleConn struct {
	conn    Connector
	updated time.Time // the system's UpdatedAt when it was opened
	timer   *time.Timer
}

// openForRequests returns a connection to sys for an export of requests:
// the idle one, or a new one. Give it back with keepForRequests.
func (e *Engine) openForRequests(ctx context.Context, sys *portal.ConnectedSystem) (Connector, error) {
	w := &e.idle
	w.mu.Lock()
	c := w.conns[sys.ID]
	delete(w.conns, sys.ID)
	w.mu.Unlock()
	if c != nil {
		// Taken out of the map, it is no longer the timer's to close.
		c.timer.Stop()
		if c.updated.Equal(sys.UpdatedAt) {
			if err := e.importAlso(ctx, sys, c.conn); err != nil {
				c.conn.Close()
				return nil, err
			}
			return c.conn, nil
		}
		c.conn.Close()
	}
	return e.open(ctx, sys)
}

// keepForRequests gives back a connection from openForRequests: kept open
// for the next export of requests when everything on it went well (ok),
// closed otherwise. Only AD connections are kept: an AD connector holds
// nothing between calls but its bound LDAP connection, while others (Entra
// ID's) cache what they learn of the directory for one run only.
func (e *Engine) keepForRequests(sys *portal.ConnectedSystem, conn Connector, ok bool) {
	if !ok || sys.Type != portal.SystemAD {
		conn.Close()
		return
	}
	w := &e.idle
	c := &idleConn{conn: conn, updated: sys.UpdatedAt}
	w.mu.Lock()
	defer w.mu.Unlock()
	if old := w.conns[sys.ID]; old != nil {
		// Another export gave one back meanwhile: one is enough.
		old.timer.Stop()
		old.conn.Close()
	}
	if w.conns == nil {
		w.conns = map[string]*idleConn{}
	}
	w.conns[sys.ID] = c
	c.timer = time.AfterFunc(idleConnFor, func() {
		w.mu.Lock()
		mine := w.conns[sys.ID] == c
		if mine {
			delete(w.conns, sys.ID)
		}
		w.mu.Unlock()
		if mine {
			c.conn.Close()
		}
	})
}
