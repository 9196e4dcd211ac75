package ontology

import "testing"

// BenchmarkSearch measures typical label-picker queries on the shipped set.
// The target is well under 10 ms a query (measured: 10-80 µs on 2 cores).
func BenchmarkSearch(b *testing.B) {
	ix := Default()
	for _, q := range []struct{ name, q string }{
		{"exact", "liver"},
		{"prefix2", "lung nod"},
		{"short", "a"},
		{"infix", "thorax"},
		{"code", "123037004"},
		{"icd", "C34"},
		{"miss", "zzzzzz"},
		{"long", "left kidney lower pole artery vein"},
	} {
		b.Run(q.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ix.Search(q.q, SearchOptions{})
			}
		})
	}
	b.Run("filtered", func(b *testing.B) {
		b.ReportAllocs()
		opts := SearchOptions{Lists: []string{"CID 7151"}, Schemes: []string{"SCT"}}
		for b.Loop() {
			ix.Search("art", opts)
		}
	})
}

// BenchmarkLoad measures building the index from the embedded data, which
// Default does once per process.
func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := loadEmbedded(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	ix := Default()
	b.ReportAllocs()
	for b.Loop() {
		ix.Lookup("SCT", "10200004")
	}
}
