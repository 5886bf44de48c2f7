package phone

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
)

// fullMatcher matches a metadata pattern against a whole string of digits
// ("^(?:pattern)$"). The national number patterns are run for every number
// parsed, and regexp's matchers cost a few hundred nanoseconds a match: a
// deterministic automaton over the ten digits, built from the same
// compiled program, answers in a table walk. What it cannot take (a
// pattern it does not know how to build, or text that is not ASCII digits)
// the regexp answers, so the result is always regexp's.
type fullMatcher struct {
	re  *regexp.Regexp
	dfa *digitDFA // nil: re answers everything
}

func compileFull(pattern string) (*fullMatcher, error) {
	anchored := "^(?:" + pattern + ")$"
	re, err := regexp.Compile(anchored)
	if err != nil {
		return nil, err
	}
	return &fullMatcher{re: re, dfa: buildDigitDFA(anchored)}, nil
}

// MatchString reports whether s, whole, matches the pattern.
func (m *fullMatcher) MatchString(s string) bool {
	if m.dfa != nil {
		if ok, sure := m.dfa.match(s); sure {
			return ok
		}
	}
	return m.re.MatchString(s)
}

// digitDFA is an automaton over the ASCII digits: next[state][digit] is
// the next state, dead where no match can follow.
type digitDFA struct {
	next   [][10]int32
	accept []bool
}

const (
	dead = -1
	// maxDFAStates bounds a pattern's automaton; beyond it, the regexp
	// answers. Metadata patterns need at most a few hundred.
	maxDFAStates = 4096
)

// match reports whether s matches; sure is false when s is not all ASCII
// digits, which the automaton does not read.
func (d *digitDFA) match(s string) (ok, sure bool) {
	st := int32(0)
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return false, false
		}
		if st = d.next[st][c]; st == dead {
			// The rest must still be digits for the answer to be sure.
			for i++; i < len(s); i++ {
				if s[i]-'0' > 9 {
					return false, false
				}
			}
			return false, true
		}
	}
	return d.accept[st], true
}

// buildDigitDFA builds the automaton of an anchored pattern by subset
// construction over its compiled program, or returns nil when the program
// holds an instruction it does not handle or needs too many states.
func buildDigitDFA(anchored string) *digitDFA {
	re, err := syntax.Parse(anchored, syntax.Perl)
	if err != nil {
		return nil
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil
	}
	b := dfaBuilder{prog: prog, ids: map[string]int32{}, d: &digitDFA{}}
	if _, ok := b.state([]uint32{uint32(prog.Start)}, true); !ok {
		return nil
	}
	for i := 0; i < len(b.sets); i++ {
		var row [10]int32
		for digit := range 10 {
			var kernel []uint32
			for _, pc := range b.sets[i] {
				if in := &prog.Inst[pc]; in.MatchRune(rune('0' + digit)) {
					kernel = append(kernel, in.Out)
				}
			}
			row[digit] = dead
			if len(kernel) > 0 {
				id, ok := b.state(kernel, false)
				if !ok {
					return nil
				}
				row[digit] = id
			}
		}
		b.d.next[i] = row
	}
	return b.d
}

type dfaBuilder struct {
	prog *syntax.Prog
	// sets are each state's consuming instructions; ids finds a state by
	// them and whether it accepts.
	sets [][]uint32
	ids  map[string]int32
	d    *digitDFA
}

// state returns the state reached with kernel (the instructions after the
// last digit read; at the start, the program's entry), adding it if new.
func (b *dfaBuilder) state(kernel []uint32, atStart bool) (int32, bool) {
	set, _, ok := b.closure(kernel, atStart, false)
	if !ok {
		return 0, false
	}
	_, accept, ok := b.closure(kernel, atStart, true)
	if !ok {
		return 0, false
	}
	var key strings.Builder
	key.WriteString(strconv.FormatBool(accept))
	for _, pc := range set {
		key.WriteByte(',')
		key.WriteString(strconv.FormatUint(uint64(pc), 10))
	}
	if id, seen := b.ids[key.String()]; seen {
		return id, true
	}
	if len(b.sets) == maxDFAStates {
		return 0, false
	}
	id := int32(len(b.sets))
	b.ids[key.String()] = id
	b.sets = append(b.sets, set)
	b.d.next = append(b.d.next, [10]int32{})
	b.d.accept = append(b.d.accept, accept)
	return id, true
}

// closure follows the empty transitions from kernel: it returns the
// instructions that read a rune, sorted, and whether a match is reached.
// Empty-width assertions hold at the start (^) and, when atEnd, at the end
// ($) of the text; ok is false for an instruction or assertion this
// automaton does not handle.
func (b *dfaBuilder) closure(kernel []uint32, atStart, atEnd bool) (set []uint32, match, ok bool) {
	var allowed syntax.EmptyOp
	if atStart {
		allowed |= syntax.EmptyBeginText | syntax.EmptyBeginLine
	}
	if atEnd {
		allowed |= syntax.EmptyEndText | syntax.EmptyEndLine
	}
	seen := map[uint32]bool{}
	stack := slices.Clone(kernel)
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[pc] {
			continue
		}
		seen[pc] = true
		in := &b.prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			stack = append(stack, in.Out, in.Arg)
		case syntax.InstCapture, syntax.InstNop:
			stack = append(stack, in.Out)
		case syntax.InstEmptyWidth:
			op := syntax.EmptyOp(in.Arg)
			if op&(syntax.EmptyWordBoundary|syntax.EmptyNoWordBoundary) != 0 {
				return nil, false, false
			}
			if op&^allowed == 0 {
				stack = append(stack, in.Out)
			}
		case syntax.InstMatch:
			match = true
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			set = append(set, pc)
		case syntax.InstFail:
		default:
			return nil, false, false
		}
	}
	slices.Sort(set)
	return set, match, true
}
