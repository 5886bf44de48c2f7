package sqlcrm

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
)

// A set of contact ids travels in the sync cursor (the ids a reconcile pass
// compares with), so it is kept small: sorted, then integer ids as runs of
// consecutive numbers (an AUTO_INCREMENT table with a few gaps is a few
// bytes per gap) and other ids front-coded (each id as the length it
// shares with the previous one and the rest), all deflated.
const (
	idsInts byte = 1
	idsText byte = 2
)

// maxEncodedIDs bounds one encoded set: the cursor is stored as a JSON
// string in a NATS KV entry (1 MB by default), base64-encoded twice, and
// holds at most two sets at once (the known ids and a pass's listed ids).
const maxEncodedIDs = 256 << 10

// errTooManyIDs: a set does not fit in the cursor.
var errTooManyIDs = errors.New("too many ids for the sync cursor")

// idSet is a set of contact ids. Integer ids are kept as the runs they are
// encoded as, so that a sync page, which encodes the whole set into its
// cursor, costs the runs and the page's ids rather than every id again:
// the set grows to the size of the table during a first sync.
type idSet struct {
	// runs hold the ids canonicalUint reads, sorted, apart and not
	// adjacent; text holds the others.
	runs []idRun
	text map[string]struct{}
	// pending are the integer ids added or removed since the runs were
	// last brought up to date, in order.
	pending []idOp
	spare   []idRun
}

type idRun struct{ lo, hi uint64 }

type idOp struct {
	n   uint64
	del bool
}

func newIDSet() *idSet { return &idSet{text: map[string]struct{}{}} }

func (s *idSet) add(id string) {
	if n, ok := canonicalUint(id); ok {
		s.pending = append(s.pending, idOp{n: n})
		return
	}
	s.text[id] = struct{}{}
}

func (s *idSet) remove(id string) {
	if n, ok := canonicalUint(id); ok {
		s.pending = append(s.pending, idOp{n: n, del: true})
		return
	}
	delete(s.text, id)
}

// len counts the ids.
func (s *idSet) len() int {
	s.flush()
	n := len(s.text)
	for _, r := range s.runs {
		n += int(r.hi-r.lo) + 1
	}
	return n
}

// missingFrom lists the ids of s that o does not hold, sorted as text.
func (s *idSet) missingFrom(o *idSet) []string {
	s.flush()
	o.flush()
	var out []string
	emit := func(lo, hi uint64) {
		for n := lo; ; n++ {
			out = append(out, strconv.FormatUint(n, 10))
			if n == hi {
				return
			}
		}
	}
	j := 0
	for _, r := range s.runs {
		for ; j < len(o.runs) && o.runs[j].hi < r.lo; j++ {
		}
		lo, covered := r.lo, false
		for k := j; k < len(o.runs) && o.runs[k].lo <= r.hi; k++ {
			if o.runs[k].lo > lo {
				emit(lo, o.runs[k].lo-1)
			}
			if o.runs[k].hi >= r.hi {
				covered = true
				break
			}
			lo = o.runs[k].hi + 1
		}
		if !covered {
			emit(lo, r.hi)
		}
	}
	for id := range s.text {
		if _, ok := o.text[id]; !ok {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// flush applies the pending integer ids to the runs, in one pass.
func (s *idSet) flush() {
	if len(s.pending) == 0 {
		return
	}
	// The last operation on an id is the one that counts.
	slices.SortStableFunc(s.pending, func(a, b idOp) int { return cmpUint(a.n, b.n) })
	ops := s.pending[:0]
	for i, op := range s.pending {
		if i+1 < len(s.pending) && s.pending[i+1].n == op.n {
			continue
		}
		ops = append(ops, op)
	}
	out := s.spare[:0]
	push := func(r idRun) {
		if k := len(out) - 1; k >= 0 && (out[k].hi >= r.lo || out[k].hi+1 == r.lo) {
			out[k].hi = max(out[k].hi, r.hi)
			return
		}
		out = append(out, r)
	}
	// Union with the added ids, then the removed ones cut out.
	i := 0
	for _, op := range ops {
		if op.del {
			continue
		}
		for ; i < len(s.runs) && s.runs[i].lo <= op.n; i++ {
			push(s.runs[i])
		}
		push(idRun{op.n, op.n})
	}
	for ; i < len(s.runs); i++ {
		push(s.runs[i])
	}
	s.runs, s.spare = out, s.runs
	out = s.spare[:0]
	j := 0
	for _, r := range s.runs {
		for ; j < len(ops) && ops[j].n < r.lo; j++ {
		}
		lo, done := r.lo, false
		for ; j < len(ops) && ops[j].n <= r.hi; j++ {
			if !ops[j].del {
				continue
			}
			if d := ops[j].n; d > lo {
				out = append(out, idRun{lo, d - 1})
			}
			if ops[j].n == r.hi {
				done = true // no id after it in the run (nor past MaxUint64)
				break
			}
			lo = ops[j].n + 1
		}
		if !done {
			out = append(out, idRun{lo, r.hi})
		}
	}
	s.runs, s.spare = out, s.runs
	s.pending = s.pending[:0]
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// deflaters are reused: a writer at BestCompression is some hundreds of KB,
// and every sync page encodes a set.
var deflaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestCompression) // only fails on a bad level
	return w
}}

// encodeIDs encodes a set; errTooManyIDs when it exceeds maxEncodedIDs.
func encodeIDs(set *idSet) ([]byte, error) {
	set.flush()
	var raw []byte
	if len(set.text) == 0 {
		raw = append(raw, idsInts)
		raw = binary.AppendUvarint(raw, uint64(len(set.runs)))
		next := uint64(0)
		for _, r := range set.runs {
			raw = binary.AppendUvarint(raw, r.lo-next)
			raw = binary.AppendUvarint(raw, r.hi-r.lo)
			next = r.hi + 1
		}
	} else {
		ids := make([]string, 0, set.len())
		for id := range set.text {
			ids = append(ids, id)
		}
		for _, r := range set.runs {
			for n := r.lo; ; n++ {
				ids = append(ids, strconv.FormatUint(n, 10))
				if n == r.hi {
					break
				}
			}
		}
		slices.Sort(ids)
		raw = append(raw, idsText)
		raw = binary.AppendUvarint(raw, uint64(len(ids)))
		prev := ""
		for _, id := range ids {
			shared := 0
			for shared < len(prev) && shared < len(id) && prev[shared] == id[shared] {
				shared++
			}
			raw = binary.AppendUvarint(raw, uint64(shared))
			raw = binary.AppendUvarint(raw, uint64(len(id)-shared))
			raw = append(raw, id[shared:]...)
			prev = id
		}
	}
	var out bytes.Buffer
	w := deflaters.Get().(*flate.Writer)
	w.Reset(&out)
	_, _ = w.Write(raw) // writes to a bytes.Buffer do not fail
	_ = w.Close()
	deflaters.Put(w)
	if out.Len() > maxEncodedIDs {
		return nil, fmt.Errorf("%w: %d ids take %d bytes, at most %d", errTooManyIDs, set.len(), out.Len(), maxEncodedIDs)
	}
	return out.Bytes(), nil
}

// decodeIDs reads what encodeIDs made; nil or empty is the empty set.
func decodeIDs(b []byte) (*idSet, error) {
	set := newIDSet()
	if len(b) == 0 {
		return set, nil
	}
	r := bufio.NewReader(flate.NewReader(bytes.NewReader(b)))
	bad := func(err error) (*idSet, error) { return nil, fmt.Errorf("id set in cursor: %w", err) }
	kind, err := r.ReadByte()
	if err != nil {
		return bad(err)
	}
	count, err := binary.ReadUvarint(r)
	if err != nil {
		return bad(err)
	}
	switch kind {
	case idsInts:
		next := uint64(0)
		for range count {
			gap, err1 := binary.ReadUvarint(r)
			span, err2 := binary.ReadUvarint(r)
			if err := errors.Join(err1, err2); err != nil {
				return bad(err)
			}
			start := next + gap
			if span > 1<<26 || start+span < start || (len(set.runs) > 0 && start < next) {
				return bad(errors.New("run out of range"))
			}
			if k := len(set.runs) - 1; k >= 0 && set.runs[k].hi+1 == start {
				set.runs[k].hi = start + span // adjacent runs of an older encoder
			} else {
				set.runs = append(set.runs, idRun{start, start + span})
			}
			next = start + span + 1
		}
	case idsText:
		prev := ""
		for range count {
			shared, err1 := binary.ReadUvarint(r)
			rest, err2 := binary.ReadUvarint(r)
			if err := errors.Join(err1, err2); err != nil {
				return bad(err)
			}
			if shared > uint64(len(prev)) || rest > maxIDLen {
				return bad(errors.New("id out of range"))
			}
			suffix := make([]byte, rest)
			if _, err := io.ReadFull(r, suffix); err != nil {
				return bad(err)
			}
			prev = prev[:shared] + string(suffix)
			set.add(prev)
		}
		set.flush()
	default:
		return bad(fmt.Errorf("unknown encoding %d", kind))
	}
	return set, nil
}

// maxIDLen bounds an id, as contact validation does.
const maxIDLen = 256

// canonicalUint reads an id that is a non-negative integer written the one
// way FormatUint writes it (no sign, no leading zero), so that decoding
// gives back the same text.
func canonicalUint(s string) (uint64, bool) {
	if s == "" || len(s) > 20 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// decodedIDs is a decoded set and the bytes it came from.
type decodedIDs struct {
	enc string
	set *idSet
}
