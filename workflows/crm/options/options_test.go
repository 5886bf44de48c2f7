package options_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/calldex/calldex/workflows/crm/options"
)

type config struct {
	Name    string
	ID      int64
	Size    int
	Timeout time.Duration
	On      bool
}

func read(m map[string]any) (config, error) {
	c := config{Name: "default", Size: 7, Timeout: time.Minute}
	r := options.New(m)
	r.String("name", &c.Name)
	r.Int64("id", &c.ID)
	r.Int("size", &c.Size)
	r.Duration("timeout", &c.Timeout)
	r.Bool("on", &c.On)
	return c, r.Err()
}

func TestReader(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]any
		want config
	}{
		{"absent keys keep the defaults", map[string]any{"type": "hubspot"},
			config{Name: "default", Size: 7, Timeout: time.Minute}},
		{"null keeps the default", map[string]any{"name": nil, "size": nil, "timeout": nil, "on": nil},
			config{Name: "default", Size: 7, Timeout: time.Minute}},
		{"native YAML types", map[string]any{"name": "acme", "id": 62515, "size": 200, "timeout": "1500ms", "on": true},
			config{Name: "acme", ID: 62515, Size: 200, Timeout: 1500 * time.Millisecond, On: true}},
		{"numbers as text, text as number", map[string]any{"name": 34, "id": " 62515 ", "size": "100", "timeout": " 3s ", "on": "true"},
			config{Name: "34", ID: 62515, Size: 100, Timeout: 3 * time.Second, On: true}},
		{"decoder widths", map[string]any{"name": uint64(9), "id": int64(1) << 40, "size": float64(3), "timeout": int64(2)},
			config{Name: "9", ID: 1 << 40, Size: 3, Timeout: 2 * time.Second}},
		{"seconds as numbers", map[string]any{"timeout": 30}, config{Name: "default", Size: 7, Timeout: 30 * time.Second}},
		{"fractional seconds", map[string]any{"timeout": 0.25}, config{Name: "default", Size: 7, Timeout: 250 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := read(tt.in)
			if err != nil {
				t.Fatalf("Err() = %v", err)
			}
			if got != tt.want {
				t.Errorf("read %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReaderReportsEveryProblem(t *testing.T) {
	_, err := read(map[string]any{
		"name": []string{"a"}, "id": 1.5, "size": "many", "timeout": "soon", "on": "sometimes",
		"tiemout": "1s", "Name": "x",
	})
	if err == nil {
		t.Fatal("accepted bad options")
	}
	want := []string{
		"option name: [a] ([]string) is not a string",
		"option id: 1.5 (float64) is not an integer",
		"option size: many (string) is not an integer",
		`option timeout: soon (string) is not a duration like "10s"`,
		"option on: sometimes (string) is not a boolean",
		// Unknown keys come last, sorted.
		"option Name: unknown option",
		"option tiemout: unknown option",
	}
	if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors\n got: %q\nwant: %q", got, want)
	}
}

func TestReaderRefusesInexactIntegers(t *testing.T) {
	for _, v := range []any{float64(1 << 54), uint64(1) << 63, "12abc", true} {
		if _, err := read(map[string]any{"id": v}); err == nil || !strings.Contains(err.Error(), "option id") {
			t.Errorf("id %v (%T): err %v, want refused", v, v, err)
		}
	}
}

func TestErrIsRepeatable(t *testing.T) {
	r := options.New(map[string]any{"x": 1})
	first := r.Err()
	if second := r.Err(); first == nil || second == nil || first.Error() != second.Error() {
		t.Errorf("Err() changed between calls: %v, then %v", first, second)
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(first, &joined) || len(joined.Unwrap()) != 1 {
		t.Errorf("Err() = %#v, want one joined error per problem", first)
	}
}
