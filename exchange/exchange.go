// Package exchange moves annotations and images in and out of radmark in
// the formats training pipelines and PACS read: DICOM SEG (package seg),
// NIfTI image volumes and label maps (package nifti), and the nnU-Net v2
// and MONAI dataset layouts (package dataset). It is the thin service
// over them: revisions and labelmaps come from annotation.Service, images
// and geometry from the archive through volume; imports are saved as new
// revisions with annotation.Service.Save, so they are validated, audited
// and versioned like any other save.
//
// Exports are reproducible: the same revision gives the same bytes, with
// UIDs derived from the revision id and content hash.
package exchange

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/labelmap"
	"github.com/radmark/radmark/volume"
)

// Service exports and imports.
type Service struct {
	Annotations *annotation.Service
	// Images is the archive (archive.Service is a volume.Source).
	Images volume.Source
	// Software is written as the exporting software's version.
	Software string
}

// Series is an archived series' grid and what exports copy from it.
type Series struct {
	Volume   *volume.Volume
	Header   *dicom.Dataset
	SOPClass map[radmark.UID]string
	Study    radmark.UID
	UID      radmark.UID
}

// Series loads a series' grid and the header of its first slice.
func (s *Service) Series(ctx context.Context, series radmark.UID) (*Series, error) {
	if series == "" {
		return nil, radmark.Errorf(radmark.EINVALID, "no series given")
	}
	ins, err := s.Images.Select(ctx, "", series, "")
	if err != nil {
		return nil, fmt.Errorf("series %s: %w", series, err)
	}
	out := &Series{SOPClass: map[radmark.UID]string{}, Study: ins[0].StudyUID, UID: series}
	for _, in := range ins {
		out.SOPClass[in.SOPInstanceUID] = string(in.SOPClassUID)
	}
	if out.Volume, err = volume.Load(ctx, s.Images, out.Study, series); err != nil {
		return nil, fmt.Errorf("series %s: %w", series, err)
	}
	first := out.Volume.Grid.Slices[0].Image.SOPInstanceUID
	for _, in := range ins {
		if in.SOPInstanceUID != first {
			continue
		}
		rc, err := s.Images.Open(ctx, in)
		if err != nil {
			return nil, err
		}
		f, err := dicom.Parse(rc, in.Size, dicom.ParseOptions{StopAtPixelData: true, BulkDataThreshold: 1 << 16})
		rc.Close()
		if err != nil {
			return nil, radmark.WrapError(radmark.EINVALID, err, "parse instance "+string(first))
		}
		out.Header = f.Dataset
	}
	return out, nil
}

// revisionData is a revision with what exports of it need.
type revisionData struct {
	rev    *radmark.Revision
	set    *radmark.AnnotationSet
	schema *radmark.LabelSchema
}

func (s *Service) revision(ctx context.Context, op annotation.Op, id radmark.ID) (*revisionData, error) {
	if id == "" {
		return nil, radmark.Errorf(radmark.EINVALID, "no revision given")
	}
	rev, err := s.Annotations.Revision(ctx, op, id)
	if err != nil {
		return nil, fmt.Errorf("revision %s: %w", id, err)
	}
	set, err := s.Annotations.Set(ctx, rev.SetID)
	if err != nil {
		return nil, err
	}
	sc, err := s.Annotations.Schema(ctx, set.ProjectID, rev.Content.SchemaVersion)
	if err != nil {
		return nil, err
	}
	return &revisionData{rev: rev, set: set, schema: sc}, nil
}

// revisionOn loads a revision and the series of its labelmaps to export
// (series, or the only one).
func (s *Service) revisionOn(ctx context.Context, op annotation.Op, rev radmark.ID, series radmark.UID) (*revisionData, *Series, error) {
	r, err := s.revision(ctx, op, rev)
	if err != nil {
		return nil, nil, err
	}
	if series, err = r.seriesOf(series); err != nil {
		return nil, nil, err
	}
	sr, err := s.Series(ctx, series)
	if err != nil {
		return nil, nil, err
	}
	return r, sr, nil
}

// seriesOf returns the series a revision's labelmaps are on: want when
// given (it must have one), else the only one.
func (r *revisionData) seriesOf(want radmark.UID) (radmark.UID, error) {
	seen := map[radmark.UID]bool{}
	var list []string
	for _, m := range r.rev.Content.Labelmaps {
		if !seen[m.SeriesUID] {
			seen[m.SeriesUID] = true
			list = append(list, string(m.SeriesUID))
		}
	}
	switch {
	case len(seen) == 0:
		return "", radmark.Errorf(radmark.EINVALID, "revision %s has no labelmap to export", r.rev.ID)
	case want != "" && !seen[want]:
		return "", radmark.Errorf(radmark.EINVALID, "revision %s has no labelmap on series %s (its labelmaps are on %s)", r.rev.ID, want, strings.Join(list, ", "))
	case want != "":
		return want, nil
	case len(seen) > 1:
		return "", radmark.Errorf(radmark.EINVALID, "revision %s has labelmaps on %d series (%s); name one with --series", r.rev.ID, len(seen), strings.Join(list, ", "))
	}
	return radmark.UID(list[0]), nil
}

// layers loads the revision's labelmap layers on a series, checking their
// grid against the series'.
func (s *Service) layers(ctx context.Context, op annotation.Op, r *revisionData, sr *Series) (map[int]*labelmap.Volume, error) {
	g := sr.Volume.Grid
	out := map[int]*labelmap.Volume{}
	for _, m := range r.rev.Content.Labelmaps {
		if m.SeriesUID != sr.UID {
			continue
		}
		if m.Columns != g.Columns || m.Rows != g.Rows || m.Slices != g.NumSlices {
			return nil, radmark.Errorf(radmark.EINVALID, "labelmap layer %d of revision %s is %d×%d×%d but series %s now has a %d×%d×%d grid", m.Layer, r.rev.ID, m.Columns, m.Rows, m.Slices, sr.UID, g.Columns, g.Rows, g.NumSlices)
		}
		v, _, err := s.Annotations.Labelmap(ctx, op, r.rev.ID, m.Layer)
		if err != nil {
			return nil, err
		}
		out[m.Layer] = v
	}
	return out, nil
}

// HeadRevision finds the revision to export for a series: the head of
// the one annotation set on it (of project and reader, when given).
func (s *Service) HeadRevision(ctx context.Context, series radmark.UID, project radmark.ID, reader string) (radmark.ID, error) {
	sets, err := s.Annotations.Sets(ctx, radmark.SetFilter{ProjectID: project, SeriesUID: series, Reader: reader})
	if err != nil {
		return "", err
	}
	var withHead []*radmark.AnnotationSet
	for _, st := range sets {
		if st.Head != "" {
			withHead = append(withHead, st)
		}
	}
	switch len(withHead) {
	case 0:
		return "", radmark.Errorf(radmark.ENOTFOUND, "no annotation set on series %s has a revision", series)
	case 1:
		return withHead[0].Head, nil
	}
	var names []string
	for _, st := range withHead {
		names = append(names, fmt.Sprintf("%s (reader %s, head %s)", st.ID, st.Reader, st.Head))
	}
	return "", radmark.Errorf(radmark.EINVALID, "series %s has %d annotation sets: %s; choose one with --revision or --reader", series, len(withHead), strings.Join(names, "; "))
}

// labelOf returns a schema label.
func labelOf(sc *radmark.LabelSchema, id string) (radmark.Label, bool) {
	for _, l := range sc.Labels {
		if l.ID == id {
			return l, true
		}
	}
	return radmark.Label{}, false
}

// segmentItems returns the revision's segmentation items on the given
// layers, ordered by layer and value.
func segmentItems(c *radmark.Content, layers map[int]*labelmap.Volume) []radmark.Item {
	var out []radmark.Item
	for _, it := range c.Items {
		if it.Kind == radmark.KindSegmentation && it.Segment != nil && layers[it.Segment.Layer] != nil {
			out = append(out, it)
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Segment.Layer != out[b].Segment.Layer {
			return out[a].Segment.Layer < out[b].Segment.Layer
		}
		return out[a].Segment.Value < out[b].Segment.Value
	})
	return out
}

// segmentSlices calls fn for each slice k of v holding value, with mask
// (Columns·Rows bytes, reused between calls) set to 1 where it does.
func segmentSlices(v *labelmap.Volume, value int, mask []byte, fn func(k int) error) error {
	for k := 0; k < v.Slices; k++ {
		if v.SliceEmpty(k) {
			continue
		}
		any := false
		for i, x := range v.Slice(k) {
			mask[i] = 0
			if int(x) == value {
				mask[i], any = 1, true
			}
		}
		if !any {
			continue
		}
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}

// inverse4 inverts a 4×4 affine (Gauss-Jordan with partial pivoting).
func inverse4(m [4][4]float64) ([4][4]float64, bool) {
	var a [4][8]float64
	for r := 0; r < 4; r++ {
		copy(a[r][:4], m[r][:])
		a[r][4+r] = 1
	}
	for c := 0; c < 4; c++ {
		p := c
		for r := c + 1; r < 4; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[p][c]) {
				p = r
			}
		}
		if math.Abs(a[p][c]) < 1e-12 {
			return [4][4]float64{}, false
		}
		a[c], a[p] = a[p], a[c]
		d := a[c][c]
		for j := range a[c] {
			a[c][j] /= d
		}
		for r := 0; r < 4; r++ {
			if r != c && a[r][c] != 0 {
				f := a[r][c]
				for j := range a[r] {
					a[r][j] -= f * a[c][j]
				}
			}
		}
	}
	var inv [4][4]float64
	for r := 0; r < 4; r++ {
		copy(inv[r][:], a[r][4:])
	}
	return inv, true
}

func mul4(a, b [4][4]float64) [4][4]float64 {
	var m [4][4]float64
	for r := 0; r < 4; r++ {
		for c := 0; c < 4; c++ {
			for k := 0; k < 4; k++ {
				m[r][c] += a[r][k] * b[k][c]
			}
		}
	}
	return m
}
