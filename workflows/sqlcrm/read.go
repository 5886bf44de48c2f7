package sqlcrm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/calldex/calldex/workflows/crm"
)

// cursorVersion changes when the cursor's meaning does; an older cursor is
// refused (permanent) rather than misread.
const cursorVersion = 1

// maxSent bounds the fingerprints a cursor carries from one poll to the
// next (80 KB): when more rows than that changed within SyncOverlap, the
// next poll publishes the oldest of them again.
const maxSent = 10_000

// cursor is where ListChanges resumes (crm.EncodeCursor). See the package
// documentation for how it moves.
type cursor struct {
	V int `json:"v"`
	// At and ID are the stored position: updated_at and id of the last row
	// read that is older than the horizon (database clock − SyncOverlap),
	// as the database returned them. A poll starts reading after it.
	At *value `json:"at,omitempty"`
	ID *value `json:"id,omitempty"`
	// AheadAt and AheadID are where the running poll continues after a
	// full page, past the horizon too; nil once it caught up.
	AheadAt *value `json:"aheadAt,omitempty"`
	AheadID *value `json:"aheadId,omitempty"`
	// Initial is set from the empty cursor until the first poll caught up:
	// soft-deleted rows are not reported then, nothing was published of
	// them (and a full resync tombstones what it did not list anyway).
	Initial bool `json:"initial,omitempty"`
	// Sent fingerprints the rows the previous poll published past the
	// horizon, which this poll reads again but need not publish again;
	// Sending collects this poll's.
	Sent    []byte `json:"sent,omitempty"`
	Sending []byte `json:"sending,omitempty"`

	// Tracking is set while Known holds every id published and not
	// deleted since the cursor was empty or the last reconcile pass.
	Tracking bool   `json:"tracking,omitempty"`
	Known    []byte `json:"known,omitempty"`
	// ReconciledAt is when the last reconcile pass ended (Unix ms).
	ReconciledAt int64 `json:"reconciledAt,omitempty"`
	// Pass is the running reconcile pass.
	Pass *pass `json:"pass,omitempty"`
}

// pass is a reconcile pass listing every id, in pages after After.
type pass struct {
	After  *value `json:"after,omitempty"`
	Listed []byte `json:"listed,omitempty"`
}

func decodeCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{V: cursorVersion, Initial: true}, nil
	}
	var c cursor
	if err := crm.DecodeCursor(s, cursorVersion, &c); err != nil {
		return cursor{}, err
	}
	return c, nil
}

// value is a database value kept in the cursor and bound again as it
// came: a column compared with the value it returned compares exactly on
// every database, whatever the column's type, precision or time zone.
type value struct {
	// Kind is i (int64), u (uint64), f (float64), t (time) or s (text).
	Kind string `json:"k"`
	V    string `json:"v"`
}

func newValue(v any) (*value, error) {
	switch x := v.(type) {
	case int64:
		return &value{"i", strconv.FormatInt(x, 10)}, nil
	case uint64:
		return &value{"u", strconv.FormatUint(x, 10)}, nil
	case float64:
		return &value{"f", strconv.FormatFloat(x, 'g', -1, 64)}, nil
	case time.Time:
		return &value{"t", x.Format(time.RFC3339Nano)}, nil
	case string:
		return &value{"s", x}, nil
	case []byte:
		return &value{"s", string(x)}, nil
	case nil:
		return nil, errors.New("is NULL")
	}
	return nil, fmt.Errorf("has type %T, which the cursor cannot keep", v)
}

func (v *value) equal(o *value) bool { return v != nil && o != nil && *v == *o }

// arg is the value to bind: nil (NULL) for no value.
func (v *value) arg() (any, error) {
	if v == nil {
		return nil, nil
	}
	var (
		out any
		err error
	)
	switch v.Kind {
	case "i":
		out, err = strconv.ParseInt(v.V, 10, 64)
	case "u":
		out, err = strconv.ParseUint(v.V, 10, 64)
	case "f":
		out, err = strconv.ParseFloat(v.V, 64)
	case "t":
		out, err = time.Parse(time.RFC3339Nano, v.V)
	case "s":
		out = v.V
	default:
		err = fmt.Errorf("unknown kind %q", v.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("cursor value %+v: %w", *v, err)
	}
	return out, nil
}

// ListChanges returns the next page of contact changes since cursor ("" =
// from the start): rows of listChanges as upserts, rows with deleted_at set
// as deletes and, every ReconcileInterval when reconciling, the ids listIds
// no longer lists. See the package documentation for how the cursor moves.
func (s *Store) ListChanges(ctx context.Context, text string) (crm.Page, error) {
	cur, err := decodeCursor(text)
	if err != nil {
		return crm.Page{}, crm.Permanent(fmt.Errorf("sql list changes: %w", err))
	}
	if off := s.cfg.ReconcileInterval; off != nil && *off == 0 {
		cur.Pass = nil // a pass begun before reconciling was turned off
	}
	var page crm.Page
	if cur.Pass != nil {
		err = s.reconcilePage(ctx, &cur, &page)
	} else {
		err = s.changesPage(ctx, &cur, &page)
	}
	if err != nil {
		return crm.Page{}, err
	}
	page.Next = crm.EncodeCursor(cur)
	return page, nil
}

// changesPage reads one page of listChanges after the cursor.
func (s *Store) changesPage(ctx context.Context, cur *cursor, page *crm.Page) error {
	now, err := s.dbNow(ctx)
	if err != nil {
		return err
	}
	horizon := now.Add(-s.cfg.SyncOverlap)
	at, id := cur.At, cur.ID
	if cur.AheadAt != nil {
		at, id = cur.AheadAt, cur.AheadID
	}
	atArg, err1 := at.arg()
	idArg, err2 := id.arg()
	if err := errors.Join(err1, err2); err != nil {
		return crm.Permanent(fmt.Errorf("sql list changes: %w", err))
	}
	sent, err := decodeFingerprints(cur.Sent)
	if err != nil {
		return crm.Permanent(fmt.Errorf("sql list changes: %w", err))
	}
	sending, err := decodeFingerprints(cur.Sending)
	if err != nil {
		return crm.Permanent(fmt.Errorf("sql list changes: %w", err))
	}
	inSent := make(map[uint64]struct{}, len(sent))
	for _, fp := range sent {
		inSent[fp] = struct{}{}
	}

	var (
		n          int
		lastAt     *value
		lastID     *value
		known      *idSet
		knownDirty bool
		reconcile  bool
	)
	err = s.query(ctx, StmtListChanges, map[string]any{"cursor_time": atArg, "cursor_id": idArg, "limit": s.cfg.PageSize},
		func(m *columns) error {
			if m.updatedAt < 0 {
				return fmt.Errorf("%w: statement %s returns no updated_at column", ErrConfig, StmtListChanges)
			}
			var err error
			reconcile = s.reconciles()
			known, err = s.startTracking(cur, reconcile)
			return err
		},
		func(m *columns, vals []any) error {
			n++
			c, deleted, err := s.contact(m, vals)
			if err != nil {
				return err
			}
			if lastAt, err = newValue(vals[m.updatedAt]); err != nil {
				return fmt.Errorf("%w: contact %q: updated_at %w", ErrConfig, c.ID, err)
			}
			if lastID, err = newValue(vals[m.id]); err != nil {
				return fmt.Errorf("%w: contact id %w", ErrConfig, err)
			}
			if lastAt.equal(at) && lastID.equal(id) {
				// The page would never move on.
				return fmt.Errorf("%w: statement %s returned the row of the cursor (%s, %s) again: it must return only rows after "+
					"(:cursor_time, :cursor_id), comparing updated_at as it returns it (SQLite: select CAST(col AS TEXT) of a DATETIME column)",
					ErrConfig, StmtListChanges, at.V, id.V)
			}
			fp := fingerprint(lastID, lastAt, deleted)
			if c.UpdatedAt.After(horizon) {
				// Read again by the next poll: remember it was sent.
				sending = append(sending, fp)
			} else {
				cur.At, cur.ID = lastAt, lastID
			}
			if known != nil {
				knownDirty = true
				if deleted {
					known.remove(c.ID)
				} else {
					known.add(c.ID)
				}
			}
			if _, ok := inSent[fp]; ok {
				return nil
			}
			switch {
			case !deleted:
				page.Upserts = append(page.Upserts, c)
			case !cur.Initial:
				page.Deletes = append(page.Deletes, c.ID)
			}
			return nil
		})
	if err != nil {
		return err
	}

	if n >= s.cfg.PageSize {
		// More rows are there now: the poll goes on after this page.
		cur.AheadAt, cur.AheadID = lastAt, lastID
		cur.Sending = encodeFingerprints(sending, s.maxSent)
		page.More = true
	} else {
		// Caught up: the next poll reads from the stored position again.
		cur.AheadAt, cur.AheadID = nil, nil
		cur.Sent, cur.Sending = encodeFingerprints(sending, s.maxSent), nil
		if cur.Initial {
			cur.Initial = false
			if cur.Tracking {
				// The first poll listed every row: as good as a pass.
				cur.ReconciledAt = s.now().UnixMilli()
			}
		}
		if reconcile && s.reconcileDue(cur) {
			cur.Pass = &pass{}
			page.More = true
		}
	}
	switch {
	case knownDirty:
		s.setKnown(cur, known)
	case known != nil:
		s.cacheKnown(cur.Known, known)
	}
	return nil
}

// reconciles reports whether reconcile passes run: unless turned off. A
// deleted_at column does not make them needless: it shows the rows
// deleted softly, while a DELETE leaves nothing for listChanges to read.
func (s *Store) reconciles() bool {
	return s.cfg.ReconcileInterval == nil || *s.cfg.ReconcileInterval > 0
}

func (s *Store) reconcileInterval() time.Duration {
	if s.cfg.ReconcileInterval != nil && *s.cfg.ReconcileInterval > 0 {
		return *s.cfg.ReconcileInterval
	}
	return DefaultReconcileInterval
}

func (s *Store) reconcileDue(cur *cursor) bool {
	return cur.ReconciledAt == 0 || s.now().UnixMilli()-cur.ReconciledAt >= s.reconcileInterval().Milliseconds()
}

// startTracking returns the known ids to keep up to date on this page, nil
// when none are tracked. Tracking starts with an empty cursor (every id is
// published from then on); on a cursor that did not track, the next pass
// lists what exists and tracking starts from there.
func (s *Store) startTracking(cur *cursor, reconcile bool) (*idSet, error) {
	if !reconcile {
		cur.Tracking, cur.Known, cur.ReconciledAt, cur.Pass = false, nil, 0, nil
		return nil, nil
	}
	if !cur.Tracking && cur.Initial {
		cur.Tracking = true
	}
	if !cur.Tracking {
		return nil, nil
	}
	return s.decodeKnown(cur.Known)
}

// decodeKnown decodes a cursor's known ids, from the cache when the cursor
// carries the set the last page stored. The caller owns the returned set.
func (s *Store) decodeKnown(enc []byte) (*idSet, error) {
	s.knownMu.Lock()
	cached := s.known
	s.known = decodedIDs{}
	s.knownMu.Unlock()
	if cached.set != nil && cached.enc == string(enc) {
		return cached.set, nil
	}
	set, err := decodeIDs(enc)
	if err != nil {
		return nil, crm.Permanent(fmt.Errorf("sql list changes: %w", err))
	}
	return set, nil
}

// setKnown stores the known ids in the cursor, or stops tracking when they
// no longer fit (the next pass tries again).
func (s *Store) setKnown(cur *cursor, known *idSet) {
	enc, err := encodeIDs(known)
	if err != nil {
		s.cfg.Log.Warn("sql connector: stops detecting hard deletes until the next reconcile; add a deleted_at column (soft delete) to a table this large",
			"err", err)
		cur.Tracking, cur.Known = false, nil
		return
	}
	cur.Known = enc
	s.cacheKnown(enc, known)
}

func (s *Store) cacheKnown(enc []byte, known *idSet) {
	s.knownMu.Lock()
	s.known = decodedIDs{enc: string(enc), set: known}
	s.knownMu.Unlock()
}

// reconcilePage lists one page of ids for the running pass; the last one
// reports the known ids it did not list as deleted.
func (s *Store) reconcilePage(ctx context.Context, cur *cursor, page *crm.Page) error {
	p := cur.Pass
	after, err := p.After.arg()
	if err != nil {
		return crm.Permanent(fmt.Errorf("sql reconcile: %w", err))
	}
	listed, err := decodeIDs(p.Listed)
	if err != nil {
		return crm.Permanent(fmt.Errorf("sql reconcile: %w", err))
	}
	limit := min(s.cfg.PageSize*10, 100_000)
	n := 0
	err = s.query(ctx, StmtListIDs, map[string]any{"cursor_id": after, "limit": limit}, nil,
		func(m *columns, vals []any) error {
			n++
			v, err := newValue(vals[m.id])
			if err != nil {
				return fmt.Errorf("%w: id %w", ErrConfig, err)
			}
			p.After = v
			listed.add(text(vals[m.id]))
			return nil
		})
	if err != nil {
		return err
	}
	page.More = true // more ids, or the changes query goes on now
	if n >= limit {
		enc, err := encodeIDs(listed)
		if err != nil {
			s.cfg.Log.Warn("sql connector: reconcile pass given up; hard deletes are not detected in a table this large: add a deleted_at column (soft delete)",
				"err", err)
			cur.Pass, cur.ReconciledAt = nil, s.now().UnixMilli()
			return nil
		}
		p.Listed = enc
		return nil
	}
	if cur.Tracking {
		known, err := s.decodeKnown(cur.Known)
		if err != nil {
			return err
		}
		page.Deletes = known.missingFrom(listed)
	}
	cur.Pass, cur.ReconciledAt, cur.Tracking = nil, s.now().UnixMilli(), true
	s.setKnown(cur, listed)
	return nil
}

// dbNow reads the database's clock (statement now).
func (s *Store) dbNow(ctx context.Context) (time.Time, error) {
	st := s.stmts[StmtNow]
	var v any
	if err := s.db.QueryRowContext(ctx, st.query).Scan(&v); err != nil {
		return time.Time{}, classify(StmtNow, err)
	}
	t, err := dbTime(v)
	if err != nil {
		return time.Time{}, crm.Permanent(fmt.Errorf("%w: statement %s: %w", ErrConfig, StmtNow, err))
	}
	return t, nil
}

// query runs a read statement: begin sees the mapped columns once, row
// every row. Errors of the statement, the columns or a row are classified
// (configuration errors are permanent).
func (s *Store) query(ctx context.Context, name string, vals map[string]any, begin func(*columns) error, row func(*columns, []any) error) error {
	st := s.stmts[name]
	rows, err := s.db.QueryContext(ctx, st.query, st.args(vals)...)
	if err != nil {
		if _, custom := s.cfg.Statements[name]; !custom && !*s.cfg.Migrate && permanentDB(err) {
			// A database of another schema, used for call logs only.
			err = fmt.Errorf("%w (the shipped contacts table, as migrate is false: give statements.%s, or set sync: false on this connector if its database holds no contacts)", err, name)
		}
		return classify(name, err)
	}
	defer rows.Close()
	names, err := rows.Columns()
	if err != nil {
		return classify(name, err)
	}
	m, err := s.mapColumns(name, names)
	if err != nil {
		return crm.Permanent(err)
	}
	if begin != nil {
		if err := begin(m); err != nil {
			return classifyRead(name, err)
		}
	}
	vs := make([]any, m.n)
	ptrs := make([]any, m.n)
	for i := range vs {
		ptrs[i] = &vs[i]
	}
	for rows.Next() {
		clear(vs)
		if err := rows.Scan(ptrs...); err != nil {
			return classify(name, err)
		}
		if err := row(m, vs); err != nil {
			return classifyRead(name, err)
		}
	}
	return classify(name, rows.Err())
}

// classifyRead: an ErrConfig is permanent, already classified errors keep
// their class, the rest is a database error.
func classifyRead(name string, err error) error {
	switch {
	case errors.Is(err, ErrConfig):
		return crm.Permanent(fmt.Errorf("sql %s: %w", name, err))
	case errors.Is(err, crm.ErrPermanent), errors.Is(err, crm.ErrTransient):
		return err
	}
	return classify(name, err)
}

// fingerprint identifies one version of a row.
func fingerprint(id, at *value, deleted bool) uint64 {
	h := fnv.New64a()
	for _, s := range []string{id.Kind, id.V, at.Kind, at.V} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	if deleted {
		h.Write([]byte{1})
	}
	return h.Sum64()
}

// fingerprints are in the order the rows were read: oldest first.
func decodeFingerprints(b []byte) ([]uint64, error) {
	if len(b)%8 != 0 {
		return nil, errors.New("fingerprints in cursor are cut short")
	}
	out := make([]uint64, 0, len(b)/8)
	for i := 0; i < len(b); i += 8 {
		out = append(out, binary.LittleEndian.Uint64(b[i:]))
	}
	return out, nil
}

// encodeFingerprints packs the newest limit fingerprints. The rows left
// out are published again by the next poll; being the oldest, they are
// usually older than its horizon by then, and so published once more only.
func encodeFingerprints(fps []uint64, limit int) []byte {
	fps = fps[max(0, len(fps)-limit):]
	out := make([]byte, 0, 8*len(fps))
	for _, fp := range fps {
		out = binary.LittleEndian.AppendUint64(out, fp)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
