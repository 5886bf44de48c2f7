package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestReadmeDialectExamples runs every curl command of the README's
// Dialects section, in order, against the demo binary, and wants a 2xx
// answer from each: the examples are what integrators paste first.
func TestReadmeDialectExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cmds := readmeCommands(t, dialectSection(t, string(readme)))
	c := start(t, buildBinary(t), t.TempDir())

	// The files the examples send.
	files := map[string]string{
		"contacts.csv": "id,name,company,phones,emails,contactUri,companyUri,crmName,type\n" +
			"r-1,Rita Readme,Readme AG,044 555 01 01,rita@readme.example,,,Demo CRM,contact\n",
		"globex.yaml": "id: globex\nregion: US\ncredentials:\n  - header: X-Api-Key\n    value: globex-readme-token\n",
	}
	vars := map[string]string{}
	var location string
	ran := 0
	for _, cmd := range cmds {
		name, inner, field := "", cmd, ""
		if m := assignJQ.FindStringSubmatch(cmd); m != nil {
			name, inner, field = m[1], m[2], m[3]
		}
		words := shellWords(t, inner, vars)
		if len(words) == 0 || words[0] != "curl" {
			continue // calldexctl and other tools are not HTTP examples
		}
		if location != "" {
			for i, w := range words {
				words[i] = strings.ReplaceAll(w, "/peoplefone/workflows/<key>", location)
			}
		}
		code, header, body := c.curl(t, words[1:], files)
		if code < 200 || code > 299 {
			t.Errorf("%s\n=> %d %.400s", cmd, code, body)
			continue
		}
		ran++
		if l := header.Get("Location"); strings.HasPrefix(l, "/peoplefone/workflows/") {
			location = l
		}
		if name != "" {
			var v map[string]any
			if err := json.Unmarshal([]byte(body), &v); err != nil {
				t.Fatalf("%s: answer is not JSON: %s", cmd, body)
			}
			s, _ := v[field].(string)
			if s == "" {
				t.Fatalf("%s: no %s in %s", cmd, field, body)
			}
			vars[name] = s
		}
	}
	t.Logf("ran %d curl examples", ran)
	if ran < 15 {
		t.Fatalf("ran %d curl examples: the README's sections moved?", ran)
	}
}

// assignJQ is NAME=$(curl … | jq -r .field).
var assignJQ = regexp.MustCompile(`(?s)^([A-Z_]+)=\$\((curl .*)\|\s*jq -r \.(\w+)\)$`)

// dialectSection is the README from "## Dialects" to the next section.
func dialectSection(t *testing.T, readme string) string {
	t.Helper()
	_, after, ok := strings.Cut(readme, "\n## Dialects\n")
	if !ok {
		t.Fatal("README has no Dialects section")
	}
	if i := strings.Index(after, "\n## "); i >= 0 {
		after = after[:i]
	}
	return after
}

// readmeCommands returns the commands of the ```sh blocks: comments
// dropped, continued lines and multi-line quotes joined.
func readmeCommands(t *testing.T, text string) []string {
	t.Helper()
	var cmds []string
	for _, block := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(text, -1) {
		src := block[1]
		var cur strings.Builder
		var quote byte
		wordStart := true
		for i := 0; i < len(src); i++ {
			ch := src[i]
			switch {
			case quote != 0:
				if ch == quote {
					quote = 0
				}
			case ch == '\\' && i+1 < len(src) && src[i+1] == '\n':
				i++
				cur.WriteByte(' ')
				wordStart = true
				continue
			case ch == '#' && wordStart:
				for i < len(src) && src[i] != '\n' {
					i++
				}
				i--
				continue
			case ch == '\n':
				if s := strings.TrimSpace(cur.String()); s != "" {
					cmds = append(cmds, s)
				}
				cur.Reset()
				wordStart = true
				continue
			case ch == '\'' || ch == '"':
				quote = ch
			}
			wordStart = ch == ' ' || ch == '\t' || ch == '('
			cur.WriteByte(ch)
		}
		if quote != 0 {
			t.Fatalf("unclosed quote in README block:\n%s", src)
		}
		if s := strings.TrimSpace(cur.String()); s != "" {
			cmds = append(cmds, s)
		}
	}
	return cmds
}

// shellWords splits a command as sh would: single quotes literal, double
// quotes expanding $NAME from vars, backslash escapes.
func shellWords(t *testing.T, cmd string, vars map[string]string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord := false
	expand := func(i int) int {
		j := i + 1
		for j < len(cmd) && (cmd[j] == '_' || cmd[j] >= 'A' && cmd[j] <= 'Z') {
			j++
		}
		v, ok := vars[cmd[i+1:j]]
		if !ok {
			t.Fatalf("%s: $%s is not set by an earlier example", cmd, cmd[i+1:j])
		}
		cur.WriteString(v)
		return j - 1
	}
	for i := 0; i < len(cmd); i++ {
		switch ch := cmd[i]; {
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == '\'':
			j := strings.IndexByte(cmd[i+1:], '\'')
			cur.WriteString(cmd[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == '"':
			for i++; i < len(cmd) && cmd[i] != '"'; i++ {
				switch {
				case cmd[i] == '\\' && i+1 < len(cmd):
					i++
					cur.WriteByte(cmd[i])
				case cmd[i] == '$':
					i = expand(i)
				default:
					cur.WriteByte(cmd[i])
				}
			}
			inWord = true
		case ch == '\\' && i+1 < len(cmd):
			i++
			cur.WriteByte(cmd[i])
			inWord = true
		case ch == '$':
			i = expand(i)
			inWord = true
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// curl sends what a curl command line with these arguments sends (the
// options the README uses), to this process instead of the README's
// address; @file bodies come from files.
func (c *calldex) curl(t *testing.T, args []string, files map[string]string) (int, http.Header, string) {
	t.Helper()
	method, target, body := "", "", ""
	hasBody := false
	header := http.Header{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() string {
			if i+1 >= len(args) {
				t.Fatalf("curl %v: %s needs a value", args, a)
			}
			i++
			return args[i]
		}
		switch a {
		case "-s", "-sS", "--silent":
		case "-X", "--request":
			method = next()
		case "-H", "--header":
			k, v, _ := strings.Cut(next(), ":")
			header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		case "-d", "--data", "--data-raw", "--data-binary":
			body, hasBody = next(), true
			if name, ok := strings.CutPrefix(body, "@"); ok && a != "--data-raw" {
				content, ok := files[filepath.Base(name)]
				if !ok {
					t.Fatalf("curl %v: no file %s for the test", args, name)
				}
				body = content
				if a != "--data-binary" {
					body = strings.NewReplacer("\r", "", "\n", "").Replace(body)
				}
			}
		default:
			if strings.HasPrefix(a, "-") {
				t.Fatalf("curl %v: option %s is not known to this test", args, a)
			}
			target = a
		}
	}
	if method == "" {
		method = "GET"
		if hasBody {
			method = "POST"
		}
	}
	if hasBody && header.Get("Content-Type") == "" {
		header.Set("Content-Type", "application/x-www-form-urlencoded") // curl's default
	}
	for _, host := range []string{"localhost:8080", "127.0.0.1:8080"} {
		target = strings.Replace(target, host, c.addr, 1)
	}
	if !strings.Contains(target, "://") {
		target = "http://" + target
	}
	if strings.ContainsAny(target, "<>") {
		t.Fatalf("curl %v: placeholder left in %s", args, target)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, target, strings.NewReader(body))
	if err != nil {
		t.Fatalf("curl %v: %v", args, err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("curl %v: %v", args, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("curl %v: %v", args, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}
