package sqlcrm

import (
	"slices"
	"testing"
)

func TestCompile(t *testing.T) {
	known := []string{"key", "tenant", "started_at"}
	tests := []struct {
		name     string
		stmt     string
		numbered bool
		want     string
		params   []string
		wantErr  bool
	}{
		{"question marks", "INSERT INTO t (a, b) VALUES (:key, :tenant)", false, "INSERT INTO t (a, b) VALUES (?, ?)", []string{"key", "tenant"}, false},
		{"numbered, repeated", "SELECT :key, :tenant, :key", true, "SELECT $1, $2, $1", []string{"key", "tenant"}, false},
		{"repeated, question marks", "SELECT :key, :key", false, "SELECT ?, ?", []string{"key", "key"}, false},
		{"cast kept", "SELECT :started_at::timestamptz", true, "SELECT $1::timestamptz", []string{"started_at"}, false},
		{"quotes kept", `SELECT ':key', "a:b", 'it''s :tenant', :key`, false, `SELECT ':key', "a:b", 'it''s :tenant', ?`, []string{"key"}, false},
		{"comments kept", "SELECT :key -- not :tenant\n/* nor :tenant */", false, "SELECT ? -- not :tenant\n/* nor :tenant */", []string{"key"}, false},
		{"lone colon", "SELECT ':' || :key, a : b", false, "SELECT ':' || ?, a : b", []string{"key"}, false},
		{"unknown", "SELECT :nope", false, "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := compile(tt.stmt, tt.numbered, known)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if c.query != tt.want || !slices.Equal(c.params, tt.params) {
				t.Fatalf("= %q %v, want %q %v", c.query, c.params, tt.want, tt.params)
			}
		})
	}
}
