// Command exchange measures radmark's exports (package exchange) of a
// 600-slice CT against dcm2niix on the same series in the same run:
//
//	go run ./bench/exchange            # 512×512×600 phantom CT, 10 segments (~2 min)
//	go run ./bench/exchange -quick     # 128×128×64 smoke run (seconds)
//	go run ./bench/exchange -reps 5
//
// The series (phantom.CT512 at 600 slices of 0.5 mm) is written as DICOM
// files and archived in a fresh data folder (SQLite and the file-system
// blob store); a revision holds a 10-segment labelmap (the phantom's six
// tissues, three lesions and a box) in one layer. Then, alternating turns:
//
//   - radmark: the image volume as .nii.gz (exchange.ImageNIfTI, which
//     reads every instance from the archive, plus nifti.Write to a file);
//   - dcm2niix -z y on the DICOM files (its own reading and writing);
//   - radmark: the labelmap as a binary DICOM SEG (exchange.SEG plus
//     dicom.WriteFile to a file).
//
// Medians are reported with the ratio. Targets (issue 6): the image NIfTI
// export no slower than dcm2niix; the SEG export under 5 s.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/blob/fsblob"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/exchange"
	"github.com/radmark/radmark/nifti"
	"github.com/radmark/radmark/phantom"
	"github.com/radmark/radmark/sqlite"
)

const targetSEG = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/exchange:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("exchange", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "small 128×128×64 phantom: a smoke run")
	reps := fs.Int("reps", 3, "repetitions of each export")
	nslices := fs.Int("slices", 600, "slices of the 512×512 CT")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the radmark image NIfTI exports to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d2n, err := exec.LookPath("dcm2niix")
	if err != nil {
		return fmt.Errorf("dcm2niix is the peer and is not installed: %w", err)
	}
	tmp, err := os.MkdirTemp("", "radmark-exchange-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	spec := phantom.CT512()
	spec.Slices, spec.SliceSpacing, spec.SliceThickness = *nslices, 0.5, 0.5
	if *quick {
		spec = phantom.CTSmall()
	}
	t0 := time.Now()
	ser, err := phantom.Generate(spec)
	if err != nil {
		return err
	}
	files := filepath.Join(tmp, "dicom")
	if _, err := ser.WriteDir(files); err != nil {
		return err
	}
	svc, op, rev, err := setUp(ctx, tmp, ser)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "set up %d×%d×%d in %v\n", spec.Columns, spec.Rows, spec.Slices, time.Since(t0).Round(time.Millisecond))
	var tNIfTI, tPeer, tSEG []time.Duration
	var sizeNIfTI, sizeSEG int64
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	for r := 0; r < *reps; r++ {
		start := time.Now()
		im, err := svc.ImageNIfTI(ctx, radmark.UID(ser.SeriesInstanceUID))
		if err != nil {
			return err
		}
		if sizeNIfTI, err = writeFile(filepath.Join(tmp, "ct.nii.gz"), func(w io.Writer) error { return nifti.Write(w, im) }); err != nil {
			return err
		}
		tNIfTI = append(tNIfTI, time.Since(start))
		if r == *reps-1 && *cpuprofile != "" {
			pprof.StopCPUProfile()
		}
		im = nil

		peerOut := filepath.Join(tmp, "d2n-"+strconv.Itoa(r))
		if err := os.Mkdir(peerOut, 0o700); err != nil {
			return err
		}
		start = time.Now()
		if b, err := exec.CommandContext(ctx, d2n, "-z", "y", "-b", "n", "-f", "ref", "-o", peerOut, files).CombinedOutput(); err != nil {
			return fmt.Errorf("dcm2niix: %v\n%s", err, b)
		}
		tPeer = append(tPeer, time.Since(start))

		start = time.Now()
		ds, err := svc.SEG(ctx, op, rev, "")
		if err != nil {
			return err
		}
		if sizeSEG, err = writeFile(filepath.Join(tmp, "seg.dcm"), func(w io.Writer) error { return dicom.WriteFile(w, ds, dicom.WriteOptions{}) }); err != nil {
			return err
		}
		tSEG = append(tSEG, time.Since(start))
	}
	n, p, s := median(tNIfTI), median(tPeer), median(tSEG)
	fmt.Fprintf(out, "| export of a %d×%d×%d CT | median of %d | |\n|---|---|---|\n", spec.Columns, spec.Rows, spec.Slices, *reps)
	fmt.Fprintf(out, "| radmark image → .nii.gz (%.1f MB) | %v | |\n", float64(sizeNIfTI)/1e6, n.Round(time.Millisecond))
	fmt.Fprintf(out, "| dcm2niix -z y, same series | %v | radmark speed-up %.2f× (target ≥ 1: %s) |\n", p.Round(time.Millisecond), p.Seconds()/n.Seconds(), met(n <= p))
	fmt.Fprintf(out, "| radmark 10-segment labelmap → SEG (%.1f MB) | %v | target < %v: %s |\n", float64(sizeSEG)/1e6, s.Round(time.Millisecond), targetSEG, met(s < targetSEG))
	return nil
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func writeFile(path string, write func(io.Writer) error) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	if err := write(f); err != nil {
		f.Close()
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return 0, err
	}
	return st.Size(), f.Close()
}

// setUp archives the series in a fresh data folder and saves a revision
// with a 10-segment labelmap.
func setUp(ctx context.Context, dir string, ser *phantom.Series) (*exchange.Service, annotation.Op, radmark.ID, error) {
	op := annotation.Op{Actor: "bench"}
	db, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(dir, "radmark.db"))
	if err != nil {
		return nil, op, "", err
	}
	blobs, err := fsblob.Open(ctx, filepath.Join(dir, "blobs"))
	if err != nil {
		return nil, op, "", err
	}
	arch := &archive.Service{Store: db, Blobs: blobs}
	var sources []archive.Source
	for i, ds := range ser.Instances {
		var buf bytes.Buffer
		if err := dicom.WriteFile(&buf, ds, dicom.WriteOptions{}); err != nil {
			return nil, op, "", err
		}
		sources = append(sources, archive.Source{Name: strconv.Itoa(i), Data: bytes.NewReader(buf.Bytes()), Size: int64(buf.Len())})
	}
	res, err := arch.Ingest(ctx, sources, archive.IngestOptions{})
	if err != nil {
		return nil, op, "", err
	}
	for _, r := range res {
		if r.Err != nil {
			return nil, op, "", r.Err
		}
	}
	ann := &annotation.Service{Store: db, Blobs: blobs}
	p, err := ann.CreateProject(ctx, op, "bench", "")
	if err != nil {
		return nil, op, "", err
	}
	code := func(v, m string) radmark.Code { return radmark.Code{Value: v, Scheme: "SCT", Meaning: m} }
	var labels []radmark.Label
	var items []radmark.Item
	for n := 1; n <= 10; n++ {
		id := "s" + strconv.Itoa(n)
		labels = append(labels, radmark.Label{ID: id, Name: "Segment " + strconv.Itoa(n), Color: "#ff0000",
			Category: code("123037004", "Anatomical Structure"), Type: code(strconv.Itoa(1000+n), "Structure "+strconv.Itoa(n)),
			Kinds: []radmark.Kind{radmark.KindSegmentation}})
		items = append(items, radmark.Item{ID: id, Kind: radmark.KindSegmentation, Label: id, Source: radmark.Source{Type: "human"},
			Segment: &radmark.SegmentRef{Layer: 0, Value: n}})
	}
	if _, err := ann.PutSchema(ctx, op, p.ID, 0, labels, nil); err != nil {
		return nil, op, "", err
	}
	set, err := ann.CreateSet(ctx, op, p.ID, radmark.UID(ser.StudyInstanceUID), radmark.UID(ser.SeriesInstanceUID), "bench")
	if err != nil {
		return nil, op, "", err
	}
	ph := ser.Phantom
	cols, rows, slices := ph.Dims()
	edit := annotation.LabelmapEdit{Layer: 0, SeriesUID: radmark.UID(ser.SeriesInstanceUID), Columns: cols, Rows: rows, Slices: slices, Encoding: "raw", Data: map[string][]byte{}}
	for k := 0; k < slices; k++ {
		s := make([]byte, cols*rows)
		for j := 0; j < rows; j++ {
			for i := 0; i < cols; i++ {
				t := ph.LabelAt(i, j, k)
				switch {
				case t.IsLesion():
					s[j*cols+i] = uint8(7 + t.LesionIndex()%3)
				case t != phantom.Air:
					s[j*cols+i] = uint8(t)
				}
				if i > cols/8 && i < cols/4 && j > rows/8 && j < rows/4 {
					s[j*cols+i] = 10
				}
			}
		}
		edit.Data[strconv.Itoa(k)] = s
	}
	rev, err := ann.Save(ctx, op, set.ID, &annotation.SaveRequest{Items: items, Labelmaps: []annotation.LabelmapEdit{edit}})
	if err != nil {
		return nil, op, "", err
	}
	return &exchange.Service{Annotations: ann, Images: arch}, op, rev.ID, nil
}
