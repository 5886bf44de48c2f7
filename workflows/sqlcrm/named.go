package sqlcrm

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// compiled is a statement with its named parameters turned into the
// dialect's positional placeholders.
type compiled struct {
	query  string
	params []string // parameter name of each positional argument
}

// compile rewrites :name parameters into $n (PostgreSQL, one number per
// distinct name) or ? (one argument per occurrence). It leaves alone what is
// not a parameter: text in quotes or comments, PostgreSQL casts (::text) and
// a colon not followed by a name.
func compile(stmt string, numbered bool, known []string) (compiled, error) {
	var (
		b      strings.Builder
		out    compiled
		number = map[string]int{}
	)
	n := len(stmt)
	for i := 0; i < n; {
		c := stmt[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			j := closing(stmt, i+1, c)
			b.WriteString(stmt[i:j])
			i = j
		case c == '-' && i+1 < n && stmt[i+1] == '-':
			j := strings.IndexByte(stmt[i:], '\n')
			if j < 0 {
				j = n - i
			}
			b.WriteString(stmt[i : i+j])
			i += j
		case c == '/' && i+1 < n && stmt[i+1] == '*':
			j := strings.Index(stmt[i+2:], "*/")
			end := n
			if j >= 0 {
				end = i + 2 + j + 2
			}
			b.WriteString(stmt[i:end])
			i = end
		case c == ':' && i+1 < n && stmt[i+1] == ':':
			b.WriteString("::")
			i += 2
		case c == ':' && i+1 < n && identStart(stmt[i+1]):
			j := i + 1
			for j < n && identPart(stmt[j]) {
				j++
			}
			name := stmt[i+1 : j]
			if !slices.Contains(known, name) {
				return compiled{}, fmt.Errorf("unknown parameter :%s (known: %s)", name, strings.Join(known, ", "))
			}
			if numbered {
				k, ok := number[name]
				if !ok {
					out.params = append(out.params, name)
					k = len(out.params)
					number[name] = k
				}
				b.WriteString("$" + strconv.Itoa(k))
			} else {
				out.params = append(out.params, name)
				b.WriteByte('?')
			}
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	out.query = b.String()
	return out, nil
}

// closing returns the index just past the quote that closes one opened at
// from-1; a doubled quote is an escaped quote.
func closing(s string, from int, q byte) int {
	for i := from; i < len(s); i++ {
		if s[i] == q {
			if i+1 < len(s) && s[i+1] == q {
				i++
				continue
			}
			return i + 1
		}
	}
	return len(s)
}

func identStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func identPart(c byte) bool  { return identStart(c) || c >= '0' && c <= '9' }

// args orders a call's parameter values for a compiled statement.
func (c compiled) args(values map[string]any) []any {
	out := make([]any, len(c.params))
	for i, p := range c.params {
		out[i] = values[p]
	}
	return out
}
