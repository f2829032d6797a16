package syncsvc

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// ownSessionIdle is how long an engine's own session stays open once it
// holds no lock, for the next lock to take.
const ownSessionIdle = 30 * time.Second

// ownSession is a PostgreSQL session of the engine's own, outside the
// pool, that holds session-level advisory locks (runs' locks, people's
// marks) for as long as the work under them lasts. On a pool connection
// such a lock kept the connection from everything else: every run and
// every person's export held one or two while the work under them waited
// for another from the same pool, and a small pool (pgx's default of 4)
// ran out with all of them waiting for each other. The work under a lock
// now takes pool connections only, and one at a time.
//
// The owner's mutex guards it: the owner holds it while it uses conn, and
// the idle timer takes it before closing the session.
type ownSession struct {
	mu    *sync.Mutex
	name  string // application_name, to tell it in pg_stat_activity
	conn  *pgx.Conn
	gen   int // counts sessions opened: a lock taken in an earlier one is gone
	timer *time.Timer
}

// get returns the open session, opening one when there is none; called
// with s.mu held.
func (s *ownSession) get(ctx context.Context, e *Engine) (*pgx.Conn, error) {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if s.conn != nil && !s.conn.IsClosed() {
		return s.conn, nil
	}
	conn, err := e.connect(ctx, s.name)
	if err != nil {
		return nil, err
	}
	s.conn = conn
	s.gen++
	return conn, nil
}

// idle closes the session after ownSessionIdle unless it is taken again
// first; called with s.mu held, when the session holds no lock.
func (s *ownSession) idle() {
	if s.conn == nil || s.timer != nil {
		return
	}
	conn := s.conn
	s.timer = time.AfterFunc(ownSessionIdle, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.conn != conn || s.timer == nil {
			return // taken again meanwhile
		}
		s.timer = nil
		s.close()
	})
}

// close ends the session, and with it every lock it holds; called with
// s.mu held.
func (s *ownSession) close() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if s.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.conn.Close(ctx) //nolint:errcheck // closing ends the session whatever it says
	s.conn = nil
}

// connect opens a session outside the pool, as the pool's are opened,
// named name in pg_stat_activity.
func (e *Engine) connect(ctx context.Context, name string) (*pgx.Conn, error) {
	cfg := e.Pool.Config().ConnConfig.Copy()
	params := make(map[string]string, len(cfg.RuntimeParams)+1)
	for k, v := range cfg.RuntimeParams {
		params[k] = v
	}
	params["application_name"] = name
	cfg.RuntimeParams = params
	return pgx.ConnectConfig(ctx, cfg)
}
