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

type idSet map[string]struct{}

// encodeIDs encodes a set; errTooManyIDs when it exceeds maxEncodedIDs.
func encodeIDs(set idSet) ([]byte, error) {
	ids := make([]string, 0, len(set))
	ints := make([]uint64, 0, len(set))
	allInts := true
	for id := range set {
		ids = append(ids, id)
		if n, ok := canonicalUint(id); ok && allInts {
			ints = append(ints, n)
		} else {
			allInts = false
		}
	}
	var raw []byte
	if allInts {
		slices.Sort(ints)
		raw = append(raw, idsInts)
		var runs [][2]uint64
		for _, n := range ints {
			if k := len(runs) - 1; k >= 0 && runs[k][1]+1 == n {
				runs[k][1] = n
				continue
			}
			runs = append(runs, [2]uint64{n, n})
		}
		raw = binary.AppendUvarint(raw, uint64(len(runs)))
		next := uint64(0)
		for _, r := range runs {
			raw = binary.AppendUvarint(raw, r[0]-next)
			raw = binary.AppendUvarint(raw, r[1]-r[0])
			next = r[1] + 1
		}
	} else {
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
	w, _ := flate.NewWriter(&out, flate.BestCompression) // only fails on a bad level
	_, _ = w.Write(raw)                                  // writes to a bytes.Buffer do not fail
	_ = w.Close()
	if out.Len() > maxEncodedIDs {
		return nil, fmt.Errorf("%w: %d ids take %d bytes, at most %d", errTooManyIDs, len(set), out.Len(), maxEncodedIDs)
	}
	return out.Bytes(), nil
}

// decodeIDs reads what encodeIDs made; nil or empty is the empty set.
func decodeIDs(b []byte) (idSet, error) {
	set := idSet{}
	if len(b) == 0 {
		return set, nil
	}
	r := bufio.NewReader(flate.NewReader(bytes.NewReader(b)))
	bad := func(err error) (idSet, error) { return nil, fmt.Errorf("id set in cursor: %w", err) }
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
			if span > 1<<26 || start+span < start {
				return bad(errors.New("run out of range"))
			}
			for n := start; n <= start+span; n++ {
				set[strconv.FormatUint(n, 10)] = struct{}{}
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
			set[prev] = struct{}{}
		}
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
	set idSet
}
