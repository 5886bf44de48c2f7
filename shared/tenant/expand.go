package tenant

import (
	"bytes"
	"fmt"
	"regexp"
)

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandAll replaces every ${VAR} outside comments, recording each one not
// set at its own line and putting a placeholder in its place. A comment
// may mention ${VAR} (the demo config explains its variables so) without
// the variable being needed.
func expandAll(raw []byte, getenv func(string) (string, bool), ps *[]Problem) []byte {
	comment := commentMask(raw)
	var out bytes.Buffer
	last := 0
	for _, m := range envRef.FindAllSubmatchIndex(raw, -1) {
		if comment[m[0]] {
			continue
		}
		out.Write(raw[last:m[0]])
		name := string(raw[m[2]:m[3]])
		v, ok := getenv(name)
		if !ok {
			line := bytes.Count(raw[:m[0]], []byte("\n")) + 1
			*ps = append(*ps, Problem{Line: line, Kind: KindEnv, Message: fmt.Sprintf("environment variable %s is not set", name)})
			v = "unset-" + name
		}
		out.WriteString(v)
		last = m[1]
	}
	out.Write(raw[last:])
	return out.Bytes()
}

// commentMask marks the bytes of raw that belong to YAML comments: from a
// '#' at the start of a line or after a blank, outside quoted scalars and
// block scalars (| and >), to the end of its line. It follows the YAML
// rules closely enough for configuration files; in a file that is not
// YAML it may be wrong, but the parser reports that file anyway.
func commentMask(raw []byte) []bool {
	mask := make([]bool, len(raw)+1)
	var (
		quote      byte   // ' or " while inside a quoted scalar
		block      = -1   // indentation a block scalar's lines must exceed; -1 outside one
		indent     int    // indentation of the current line
		atHead     = true // only spaces so far on this line
		tokenStart = true // a quoted scalar may open here
		content    []byte // the current line up to its last byte outside a comment
		lineStart  int    // offset of the current line
	)
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '\n' {
			if quote == 0 && block < 0 && blockHeader.Match(bytes.TrimRight(content, " \t\r")) {
				block = nodeIndent(content, indent)
			}
			atHead, tokenStart, indent, content, lineStart = true, true, 0, nil, i+1
			continue
		}
		if atHead {
			if c == ' ' {
				indent++
				continue
			}
			atHead = false
			if block >= 0 {
				if c == '\r' || indent > block {
					// A line of the block scalar: no comment in it.
					for i+1 < len(raw) && raw[i+1] != '\n' {
						i++
					}
					continue
				}
				block = -1
			}
		}
		content = raw[lineStart : i+1]
		switch {
		case quote == '"':
			if c == '\\' {
				i++
			} else if c == '"' {
				quote = 0
			}
		case quote == '\'':
			if c == '\'' {
				if i+1 < len(raw) && raw[i+1] == '\'' {
					i++
				} else {
					quote = 0
				}
			}
		case c == '#' && (i == lineStart || raw[i-1] == ' ' || raw[i-1] == '\t'):
			content = raw[lineStart:i]
			for ; i < len(raw) && raw[i] != '\n'; i++ {
				mask[i] = true
			}
			i--
		case c == ' ' || c == '\t':
			tokenStart = tokenStart || i > 0 && bytes.IndexByte([]byte("-:?,[{"), raw[i-1]) >= 0
		case (c == '"' || c == '\'') && tokenStart:
			quote = c
		default:
			tokenStart = c == '[' || c == '{' || c == ','
		}
	}
	return mask
}

// nodeIndent is the indentation of the node a line starts: a sequence
// entry's "- " counts as indentation.
func nodeIndent(line []byte, indent int) int {
	for indent+1 < len(line) && line[indent] == '-' && line[indent+1] == ' ' {
		indent++
		for indent < len(line) && line[indent] == ' ' {
			indent++
		}
	}
	return indent
}

// blockHeader matches the end of a line that starts a block scalar: | or >
// with their optional chomping and indentation indicators.
var blockHeader = regexp.MustCompile(`(^|[ \t:-])[|>][-+0-9]{0,2}$`)
