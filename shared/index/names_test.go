package index_test

import (
	"slices"
	"testing"

	"github.com/calldex/calldex/shared/index"
)

func TestFoldName(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Müller", []string{"muller"}},
		{"Zoë", []string{"zoe"}},
		{"JÜRGEN Müller-Lüdenscheidt", []string{"jurgen", "muller", "ludenscheidt"}},
		{"Alexa  Holiday", []string{"alexa", "holiday"}},
		{"Marie-Claire O'Neil", []string{"marie", "claire", "o", "neil"}},
		{"Søren Łukasz Straße Æsir", []string{"soren", "lukasz", "strasse", "aesir"}},
		{"François Ñúñez İstanbul", []string{"francois", "nunez", "istanbul"}},
		{"Room 101, Ann ann ANN", []string{"room", "101", "ann"}},
		{"Δημήτρης Παπαδόπουλος", []string{"δημητρης", "παπαδοπουλος"}},
		{"김민준", []string{"김민준"}},
		{"", nil},
		{" - ./", nil},
	}
	for _, tt := range tests {
		if got := index.FoldName(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("FoldName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
