package sqlcrm

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/calldex/calldex/workflows/crm"
)

var _ crm.ChangeNotifier = (*Store)(nil)

// Notifies reports whether Config.Notify names a channel.
func (s *Store) Notifies() bool { return s.cfg.Notify != "" }

// NotifyChanges LISTENs on Config.Notify over a connection of its own and
// calls changed for every notification (the payload is not read: a poll
// reads what changed), until ctx ends or the connection fails. The
// connection is closed, not given back to the pool, when it returns.
func (s *Store) NotifyChanges(ctx context.Context, changed func()) error {
	if !s.Notifies() {
		return crm.Permanent(fmt.Errorf("sql notify: %w: no channel configured", ErrConfig))
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return classify("notify: connect", err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return crm.Permanent(fmt.Errorf("sql notify: %w: driver connection %T is not pgx", ErrConfig, dc))
		}
		pc := c.Conn()
		// channelPattern makes the name safe unquoted.
		if _, err := pc.Exec(ctx, "LISTEN "+s.cfg.Notify); err != nil {
			return errors.Join(classify("notify: listen", err), driver.ErrBadConn)
		}
		for {
			if _, err := pc.WaitForNotification(ctx); err != nil {
				// The connection is left listening (or broken): never
				// reuse it.
				return errors.Join(classify("notify: wait", err), driver.ErrBadConn)
			}
			changed()
		}
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}
