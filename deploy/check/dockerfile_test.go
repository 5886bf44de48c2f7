package check

import (
	"context"
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dockerfile is the parsed Dockerfile: its instructions, continuation
// lines joined, comments dropped.
type instruction struct {
	cmd  string // upper case: FROM, RUN, COPY, …
	args string
}

func parseDockerfile(path string) ([]instruction, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if s, ok := strings.CutSuffix(trimmed, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(trimmed)
		full := strings.TrimSpace(cur.String())
		cur.Reset()
		if full == "" {
			continue
		}
		cmd, args, _ := strings.Cut(full, " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
	}
	return out, nil
}

// shellWords splits a command line as sh does for the forms a Dockerfile's
// build line uses: blanks separate words, double and single quotes group.
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				w.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed quote in %q", s)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// goBuild is one `go build` of the Dockerfile: its environment
// assignments and arguments.
type goBuild struct {
	env  []string
	args []string // after "go"
}

// dockerfileBuilds are the `go build` commands of the Dockerfile's RUN
// instructions, in order.
func dockerfileBuilds(path string) ([]goBuild, error) {
	ins, err := parseDockerfile(path)
	if err != nil {
		return nil, err
	}
	var builds []goBuild
	for _, in := range ins {
		if in.cmd != "RUN" || !strings.Contains(in.args, "go build") {
			continue
		}
		for _, part := range strings.Split(in.args, "&&") {
			words, err := shellWords(part)
			if err != nil {
				return nil, err
			}
			var b goBuild
			for i, w := range words {
				switch {
				case strings.HasPrefix(w, "--mount="):
				case b.args == nil && strings.Contains(w, "=") && envName.MatchString(w[:strings.Index(w, "=")]):
					b.env = append(b.env, w)
				case w == "go" && b.args == nil:
					b.args = words[i+1:]
				}
				if b.args != nil {
					break
				}
			}
			if len(b.args) > 0 && b.args[0] == "build" {
				builds = append(builds, b)
			}
		}
	}
	if len(builds) == 0 {
		return nil, fmt.Errorf("%s: no go build in any RUN", path)
	}
	return builds, nil
}

// buildAsDockerfile runs the Dockerfile's go build commands in root (the
// build stage's WORKDIR /src), writing what they write to /out/ to out.
func buildAsDockerfile(ctx context.Context, root, out string) error {
	builds, err := dockerfileBuilds(filepath.Join(root, "Dockerfile"))
	if err != nil {
		return err
	}
	for _, b := range builds {
		args := make([]string, len(b.args))
		for i, a := range b.args {
			if rest, ok := strings.CutPrefix(a, "/out/"); ok {
				a = filepath.Join(out, rest)
				if rest == "" {
					a += string(filepath.Separator)
				}
			}
			args[i] = a
		}
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), b.env...)
		if o, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s (Dockerfile build): %w\n%s", strings.Join(args, " "), err, o)
		}
	}
	return nil
}

// TestDockerfileBuildsStaticBinaries: the Dockerfile's own build lines
// (run by TestMain) give static binaries without cgo and build paths.
func TestDockerfileBuildsStaticBinaries(t *testing.T) {
	builds, err := dockerfileBuilds(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range builds {
		if !containsAll(b.env, "CGO_ENABLED=0") {
			t.Errorf("go %s: runs without CGO_ENABLED=0 (env %v)", strings.Join(b.args, " "), b.env)
		}
		if !containsAll(b.args, "-trimpath") {
			t.Errorf("go %s: without -trimpath", strings.Join(b.args, " "))
		}
	}
	for _, name := range []string{"calldex", "calldexctl", "calldex-probe"} {
		path := bin(name)
		f, err := elf.Open(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s: has a program interpreter: dynamically linked", name)
			}
		}
		if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
			t.Errorf("%s: needs shared libraries %v", name, libs)
		}
		f.Close()
		info, err := buildinfo.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		settings := map[string]string{}
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
		if settings["CGO_ENABLED"] != "0" {
			t.Errorf("%s: built with CGO_ENABLED=%q", name, settings["CGO_ENABLED"])
		}
		if settings["-trimpath"] != "true" {
			t.Errorf("%s: built without -trimpath", name)
		}
		for _, dep := range info.Deps {
			if dep.Path == "github.com/mattn/go-sqlite3" {
				t.Errorf("%s: links github.com/mattn/go-sqlite3, which needs cgo", name)
			}
		}
		if name == "calldex" && !hasDep(info, "modernc.org/sqlite") {
			t.Errorf("calldex: does not link modernc.org/sqlite, the pure Go SQLite driver of the demo CRM")
		}
	}
}

func hasDep(info *buildinfo.BuildInfo, path string) bool {
	for _, d := range info.Deps {
		if d.Path == path {
			return true
		}
	}
	return false
}

func containsAll(list []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, l := range list {
			if l == w {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// TestDockerfileFinalStage: the image runs as non-root on distroless/static
// or scratch, holds calldex, calldexctl and the probe, and carries OCI labels.
func TestDockerfileFinalStage(t *testing.T) {
	ins, err := parseDockerfile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	last := -1
	for i, in := range ins {
		if in.cmd == "FROM" {
			last = i
		}
	}
	if last < 0 {
		t.Fatal("no FROM")
	}
	base := strings.Fields(ins[last].args)[0]
	if base != "scratch" && !strings.HasPrefix(base, "gcr.io/distroless/static") {
		t.Errorf("final stage FROM %s: want distroless/static or scratch", base)
	}
	var user, entrypoint, healthcheck string
	labels := map[string]bool{}
	copied := map[string]bool{}
	for _, in := range ins[last+1:] {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "HEALTHCHECK":
			healthcheck = in.args
		case "LABEL":
			words, err := shellWords(in.args)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range words {
				k, _, _ := strings.Cut(w, "=")
				labels[k] = true
			}
		case "COPY":
			for _, w := range strings.Fields(in.args) {
				copied[filepath.Base(w)] = true
			}
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "0" || u == "root" {
		t.Errorf("final stage USER %q: want a non-root user", user)
	}
	for _, b := range []string{"calldex", "calldexctl", "calldex-probe"} {
		if !copied[b] {
			t.Errorf("final stage does not copy %s", b)
		}
	}
	if !strings.Contains(entrypoint, "/usr/local/bin/calldex\"") {
		t.Errorf("ENTRYPOINT %s: want /usr/local/bin/calldex", entrypoint)
	}
	if !strings.Contains(healthcheck, "/readyz") {
		t.Errorf("HEALTHCHECK %q: want a probe of /readyz", healthcheck)
	}
	for _, l := range []string{"title", "description", "source", "version", "revision", "created"} {
		if !labels["org.opencontainers.image."+l] {
			t.Errorf("no LABEL org.opencontainers.image.%s", l)
		}
	}
}

// TestImageServesDemo runs calldex as the image does with nothing set (the
// demo: embedded NATS, in-process index, SQLite CRM through the pure Go
// driver), from a working directory laid out like the image's /app, and
// sends the README's requests.
func TestImageServesDemo(t *testing.T) {
	app := t.TempDir()
	if err := os.CopyFS(filepath.Join(app, "deploy/demo"), os.DirFS(filepath.Join(root, "deploy/demo"))); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	env := []string{
		// The image's ENV, with loopback addresses of this machine.
		"CALLDEX_HTTP_ADDR=" + addr,
		"CALLDEX_DATA_DIR=" + t.TempDir(),
		"CALLDEX_NATS_ADDR=" + freeAddr(t),
	}
	p := start(t, "calldex-demo", app, env, bin("calldex"))
	t.Cleanup(func() {
		if !p.stop(20 * time.Second) {
			t.Errorf("demo did not stop within 20 s of SIGTERM\n%s", p.tail())
		}
	})
	base := "http://" + addr
	waitReady(t, p, base, 60*time.Second)
	readmeRequests(t, base, "demo-token", "demo-admin-token")
}
