package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/phantom"
)

// ctSeries is a generated CT as the uploader sends it: Part 10 files in
// slice order.
type ctSeries struct {
	studyUID, seriesUID string
	rows, columns       int
	uids                []string
	files               [][]byte
	// pixels[k] is slice k's native pixel data, the bytes a frame request
	// must return.
	pixels [][]byte
	bytes  int64
}

func ctSpec(name string) (phantom.Spec, error) {
	switch name {
	case "CT512":
		return phantom.CT512(), nil
	case "CTSmall":
		return phantom.CTSmall(), nil
	}
	return phantom.Spec{}, fmt.Errorf("unknown CT %q", name)
}

// generateCT makes the benchmark CT. Only the seed changes between
// repetitions: it selects the UIDs (so each repetition stores new
// instances rather than duplicates) while the phantom has no noise, so
// the pixels and sizes are the same every time.
func generateCT(name string, seed uint64) (*ctSeries, error) {
	spec, err := ctSpec(name)
	if err != nil {
		return nil, err
	}
	spec.Seed = seed
	s, err := phantom.Generate(spec)
	if err != nil {
		return nil, err
	}
	ct := &ctSeries{studyUID: s.StudyInstanceUID, seriesUID: s.SeriesInstanceUID, rows: spec.Rows, columns: spec.Columns}
	for k := range s.Instances {
		var buf bytes.Buffer
		if err := s.Write(k, &buf); err != nil {
			return nil, err
		}
		file := buf.Bytes()
		px := s.Instances[k].Get(dicom.TagPixelData).Value
		// Pixel Data is the last element of the file, so the frame is the
		// file's tail; keep a view instead of a second copy.
		tail := file[len(file)-len(px):]
		if !bytes.Equal(tail, px) {
			return nil, fmt.Errorf("phantom slice %d: pixel data is not at the end of the file", k)
		}
		ct.uids = append(ct.uids, s.SOPInstanceUID(k))
		ct.files = append(ct.files, file)
		ct.pixels = append(ct.pixels, tail)
		ct.bytes += int64(len(file))
	}
	return ct, nil
}

// writeFiles writes the CT as files into dir, for `radmark ingest`.
func (ct *ctSeries) writeFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for k, f := range ct.files {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("CT%04d.dcm", k+1)), f, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// smallStudy is one study of the QIDO-RS fill.
type smallStudy struct {
	studyUID    string
	patientName string // FAMILY^GIVEN
	studyDate   string // YYYYMMDD
	uids        []string
	files       [][]byte
}

// Name parts of the fill: common family names so that a prefix search
// matches a realistic share of the archive (about 1 in 40).
var (
	familyNames = []string{
		"SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "GARCIA", "MILLER", "DAVIS",
		"RODRIGUEZ", "MARTINEZ", "HERNANDEZ", "LOPEZ", "GONZALEZ", "WILSON", "ANDERSON",
		"THOMAS", "TAYLOR", "MOORE", "JACKSON", "MARTIN", "LEE", "PEREZ", "THOMPSON",
		"WHITE", "HARRIS", "SANCHEZ", "CLARK", "RAMIREZ", "LEWIS", "ROBINSON", "WALKER",
		"YOUNG", "ALLEN", "KING", "WRIGHT", "SCOTT", "TORRES", "NGUYEN", "HILL", "FLORES",
	}
	givenNames = []string{
		"JAMES", "MARY", "ROBERT", "PATRICIA", "JOHN", "JENNIFER", "MICHAEL", "LINDA",
		"DAVID", "ELIZABETH", "WILLIAM", "BARBARA", "RICHARD", "SUSAN", "JOSEPH", "JESSICA",
		"THOMAS", "SARAH", "CHARLES", "KAREN", "MARIA", "ANA", "WEI", "YUKI",
	}
	studyDescriptions = []string{
		"CT CHEST WITH CONTRAST", "CT CHEST WITHOUT CONTRAST", "CT ABDOMEN PELVIS WITH CONTRAST",
		"CT HEAD WITHOUT CONTRAST", "CT CHEST ABDOMEN PELVIS", "CT PULMONARY ANGIOGRAPHY",
		"LOW DOSE CT LUNG SCREENING", "CT LIVER TRIPHASIC",
	}
)

// fillYears is the span of the fill's study dates; the date-range query
// picks a part of it.
const fillFirstYear, fillYears = 2010, 15

// generateStudy makes study i of the fill: two series of perSeries tiny
// CT slices (16×16 pixels, so the data is mostly header) with varied,
// realistic patient and study attributes. The same i always gives the
// same bytes. Patients have two studies each, as follow-up imaging does.
func generateStudy(i, perSeries int) (*smallStudy, error) {
	r := rand.New(rand.NewPCG(uint64(i), 0x5eed))
	patient := i / 2
	pr := rand.New(rand.NewPCG(uint64(patient), 0xbeef))
	name := familyNames[pr.IntN(len(familyNames))] + "^" + givenNames[pr.IntN(len(givenNames))]
	date := fmt.Sprintf("%04d%02d%02d", fillFirstYear+r.IntN(fillYears), 1+r.IntN(12), 1+r.IntN(28))
	sexes := []string{"F", "M"}
	id := phantom.Identity{
		PatientName:      name,
		PatientID:        fmt.Sprintf("BENCH%06d", patient),
		PatientBirthDate: fmt.Sprintf("%04d%02d%02d", 1935+pr.IntN(70), 1+pr.IntN(12), 1+pr.IntN(28)),
		PatientSex:       sexes[pr.IntN(2)],
		StudyDate:        date,
		StudyTime:        fmt.Sprintf("%02d%02d%02d", 7+r.IntN(12), r.IntN(60), r.IntN(60)),
		StudyID:          fmt.Sprintf("%d", 1+i%2),
		AccessionNumber:  fmt.Sprintf("ACC%08d", i),
		StudyDescription: studyDescriptions[r.IntN(len(studyDescriptions))],
		InstitutionName:  "RADMARK BENCH HOSPITAL",
	}
	st := &smallStudy{patientName: name, studyDate: date}
	for series, desc := range []string{"AXIAL 5 MM", "AXIAL 1 MM"} {
		id.SeriesNumber = series + 1
		id.SeriesDescription = desc
		spec := phantom.Spec{
			Modality: phantom.CT, Rows: 16, Columns: 16, Slices: perSeries,
			PixelSpacing: [2]float64{22, 22}, SliceSpacing: 5,
			Origin:   phantom.LPS{-176, -176, -125},
			Seed:     uint64(1_000_000 + i),
			Identity: id,
		}
		s, err := phantom.Generate(spec)
		if err != nil {
			return nil, err
		}
		st.studyUID = s.StudyInstanceUID
		for k := range s.Instances {
			var buf bytes.Buffer
			if err := s.Write(k, &buf); err != nil {
				return nil, err
			}
			st.files = append(st.files, buf.Bytes())
			st.uids = append(st.uids, s.SOPInstanceUID(k))
		}
	}
	return st, nil
}
