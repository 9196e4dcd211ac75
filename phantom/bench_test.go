package phantom

import "testing"

// BenchmarkGenerateCT512 makes the benchmark-size CT (300 × 512 × 512).
func BenchmarkGenerateCT512(b *testing.B) {
	spec := CT512()
	for b.Loop() {
		if _, err := Generate(spec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(512*512*300)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mvoxel/s")
}

// BenchmarkGenerateCT512Noise adds σ = 10 HU noise (one Gaussian draw per
// voxel).
func BenchmarkGenerateCT512Noise(b *testing.B) {
	spec := CT512()
	spec.NoiseSigma = 10
	for b.Loop() {
		if _, err := Generate(spec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteCT512 writes the 300 files (157 MB) of a generated CT512.
func BenchmarkWriteCT512(b *testing.B) {
	s, err := Generate(CT512())
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	b.SetBytes(int64(512 * 512 * 2 * 300))
	for b.Loop() {
		if _, err := s.WriteDir(dir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLabelsCT512 computes the ground-truth label volume.
func BenchmarkLabelsCT512(b *testing.B) {
	p, err := New(CT512())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		p.Labels()
	}
}

func BenchmarkGenerateCTSmall(b *testing.B) {
	for b.Loop() {
		if _, err := Generate(CTSmall()); err != nil {
			b.Fatal(err)
		}
	}
}
