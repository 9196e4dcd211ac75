package sqlstore

import "testing"

func TestRebind(t *testing.T) {
	pg := &Store{dialect: Postgres}
	lite := &Store{dialect: SQLite}
	for _, c := range []struct{ in, pg string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ? AND b IN (?, ?)", "a = $1 AND b IN ($2, $3)"},
		{`x LIKE ? ESCAPE '\' AND y = '?' AND z = ?`, `x LIKE $1 ESCAPE '\' AND y = '?' AND z = $2`},
	} {
		if got := pg.rebind(c.in); got != c.pg {
			t.Errorf("postgres rebind(%q) = %q, want %q", c.in, got, c.pg)
		}
		if got := lite.rebind(c.in); got != c.in {
			t.Errorf("sqlite rebind(%q) = %q, want it unchanged", c.in, got)
		}
	}
}

func TestPatterns(t *testing.T) {
	for _, c := range []struct{ dicom, like, glob string }{
		{"doe*", "doe%", "doe*"},
		{"?oe^j*", "_oe^j%", "?oe^j*"},
		{"100%_*", `100\%\_%`, "100%_*"},
		{`ISS\*`, `ISS\\%`, `ISS\*`},
		{"ACC[5]*", "ACC[5]%", "ACC[[]5]*"},
		{"山?^太郎", "山_^太郎", "山?^太郎"},
	} {
		if got := likePattern(c.dicom); got != c.like {
			t.Errorf("likePattern(%q) = %q, want %q", c.dicom, got, c.like)
		}
		if got := globPattern(c.dicom); got != c.glob {
			t.Errorf("globPattern(%q) = %q, want %q", c.dicom, got, c.glob)
		}
	}
}

func TestFold(t *testing.T) {
	for in, want := range map[string]string{
		"Doe^John":           "doe^john",
		"ΠΑΠΑΔΌΠΟΥΛΟΣ":       "παπαδόπουλοσ",
		"Παπαδόπουλος":       "παπαδόπουλοσ",
		"Иванов^Иван":        "иванов^иван",
		"山田^太郎":              "山田^太郎",
		"MÜLLER^JÜRGEN=ミュラー": "müller^jürgen=ミュラー",
	} {
		if got := Fold(in); got != want {
			t.Errorf("Fold(%q) = %q, want %q", in, got, want)
		}
	}
}
