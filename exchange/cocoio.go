package exchange

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/coco"
)

// COCOFile is the annotation file a COCO export writes in its folder.
const COCOFile = "annotations.json"

// COCO builds a COCO document of a project's 2D annotations: the head
// revision of every set, in a stable order. Boxes and rectangle ROIs
// become bounding boxes, closed contours polygons, landmarks one-point
// keypoints, and segmentation items one compressed-RLE mask per labelmap
// slice they appear on. Images are named by SOP Instance UID (with
// "_FRAME" for a frame of a multi-frame image); categories are the
// schema's labels in schema order (ids 1…N) with their coded type.
// Items COCO cannot hold (lengths, angles, 3D boxes, open contours,
// points not on an image) are left out.
func (s *Service) COCO(ctx context.Context, op annotation.Op, project radmark.ID) (*coco.Dataset, error) {
	p, schema, sets, err := s.projectSets(ctx, project)
	if err != nil {
		return nil, err
	}
	var revs []radmark.ID
	for _, set := range sets {
		if set.Head != "" {
			revs = append(revs, set.Head)
		}
	}
	return s.cocoOf(ctx, op, p, schema, revs)
}

// COCORevisions builds a COCO document, as COCO does, of the given
// revisions of a project (a release's frozen ones), in their order.
func (s *Service) COCORevisions(ctx context.Context, op annotation.Op, project radmark.ID, revisions []radmark.ID) (*coco.Dataset, error) {
	p, err := s.Annotations.Project(ctx, project)
	if err != nil {
		return nil, err
	}
	schema, err := s.Annotations.Schema(ctx, project, 0)
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", project, err)
	}
	return s.cocoOf(ctx, op, p, schema, revisions)
}

func (s *Service) cocoOf(ctx context.Context, op annotation.Op, p *radmark.Project, schema *radmark.LabelSchema, revisions []radmark.ID) (*coco.Dataset, error) {
	b := &cocoBuilder{ds: &coco.Dataset{
		Info: coco.Info{Description: p.Name, Version: fmt.Sprintf("schema %d", schema.Version),
			Year: p.CreatedAt.UTC().Year(), Contributor: s.Software, DateCreated: p.CreatedAt.UTC().Format("2006-01-02")},
		Licenses: []coco.License{}, Images: []coco.Image{}, Annotations: []coco.Annotation{}},
		images: map[radmark.ImageRef]int{}, categories: map[string]int{}}
	for i, l := range schema.Labels {
		c := coco.Category{ID: i + 1, Name: l.Name, Supercategory: l.Category.Meaning, Label: l.ID,
			Code: codeString(l.Type), CodeMeaning: l.Type.Meaning}
		if allows(l, radmark.KindLandmark) {
			c.Keypoints = []string{l.ID}
			c.Skeleton = [][2]int{}
		}
		b.ds.Categories = append(b.ds.Categories, c)
		b.categories[l.ID] = i + 1
	}
	for _, id := range revisions {
		r, err := s.revision(ctx, op, id)
		if err != nil {
			return nil, err
		}
		set := r.set
		if set.ProjectID != p.ID {
			return nil, radmark.Errorf(radmark.EINVALID, "revision %s is not in project %s", id, p.ID)
		}
		if err := s.cocoItems(ctx, b, set, r); err != nil {
			return nil, fmt.Errorf("revision %s: %w", id, err)
		}
		if err := s.cocoMasks(ctx, op, b, set, r); err != nil {
			return nil, fmt.Errorf("revision %s: %w", id, err)
		}
	}
	return b.ds, nil
}

type cocoBuilder struct {
	ds         *coco.Dataset
	images     map[radmark.ImageRef]int
	categories map[string]int
}

func (b *cocoBuilder) image(study, series radmark.UID, ref radmark.ImageRef, cols, rows int) int {
	if id, ok := b.images[ref]; ok {
		return id
	}
	id := len(b.ds.Images) + 1
	name := string(ref.SOPInstanceUID)
	if ref.Frame > 0 {
		name += fmt.Sprintf("_%d", ref.Frame)
	}
	b.ds.Images = append(b.ds.Images, coco.Image{ID: id, FileName: name, Width: cols, Height: rows,
		StudyUID: string(study), SeriesUID: string(series), SOPUID: string(ref.SOPInstanceUID), Frame: ref.Frame})
	b.images[ref] = id
	return id
}

func (b *cocoBuilder) add(a coco.Annotation) {
	a.ID = len(b.ds.Annotations) + 1
	b.ds.Annotations = append(b.ds.Annotations, a)
}

// cocoItems adds a revision's 2D items.
func (s *Service) cocoItems(ctx context.Context, b *cocoBuilder, set *radmark.AnnotationSet, r *revisionData) error {
	for _, it := range r.rev.Content.Items {
		if it.Image == nil {
			continue
		}
		switch it.Kind {
		case radmark.KindBox2D, radmark.KindRectangleROI, radmark.KindContour, radmark.KindLandmark:
		default:
			continue
		}
		if it.Kind == radmark.KindContour && (!it.Closed || len(it.Points) < 3) {
			continue
		}
		g, err := s.Annotations.Images.Image(ctx, set.StudyUID, *it.Image)
		if err != nil {
			return fmt.Errorf("item %q: %w", it.ID, err)
		}
		a := coco.Annotation{ImageID: b.image(set.StudyUID, g.SeriesUID, *it.Image, g.Columns, g.Rows),
			CategoryID: b.categories[it.Label], Item: it.ID}
		if a.CategoryID == 0 {
			return radmark.Errorf(radmark.EINVALID, "item %q has label %q, which the project's current schema does not have", it.ID, it.Label)
		}
		switch it.Kind {
		case radmark.KindBox2D, radmark.KindRectangleROI:
			p, q := it.Points[0], it.Points[1]
			x0, y0 := math.Min(p[0], q[0]), math.Min(p[1], q[1])
			w, h := math.Abs(p[0]-q[0]), math.Abs(p[1]-q[1])
			a.BBox, a.Area = [4]float64{x0, y0, w, h}, w*h
			a.Segmentation = [][]float64{{x0, y0, x0 + w, y0, x0 + w, y0 + h, x0, y0 + h}}
		case radmark.KindContour:
			poly := make([]float64, 0, 2*len(it.Points))
			for _, pt := range it.Points {
				poly = append(poly, pt[0], pt[1])
			}
			a.Segmentation = [][]float64{poly}
			a.BBox, a.Area = polygonBox(it.Points), math.Abs(shoelace(it.Points))
		case radmark.KindLandmark:
			var x, y float64
			switch {
			case len(it.Points) == 1:
				x, y = it.Points[0][0], it.Points[0][1]
			case len(it.LPS) == 1:
				x, y, _ = g.Plane.FromLPS(it.LPS[0])
			default:
				continue
			}
			a.Keypoints, a.NumKeypoints = []float64{x, y, 2}, 1
			a.BBox = [4]float64{x, y, 0, 0}
		}
		b.add(a)
	}
	return nil
}

// cocoMasks adds one RLE annotation per segmentation item and slice.
func (s *Service) cocoMasks(ctx context.Context, op annotation.Op, b *cocoBuilder, set *radmark.AnnotationSet, r *revisionData) error {
	seen := map[radmark.UID]bool{}
	for _, m := range r.rev.Content.Labelmaps {
		if seen[m.SeriesUID] {
			continue
		}
		seen[m.SeriesUID] = true
		sr, err := s.Series(ctx, m.SeriesUID)
		if err != nil {
			return err
		}
		layers, err := s.layers(ctx, op, r, sr)
		if err != nil {
			return err
		}
		g := sr.Volume.Grid
		mask := make([]byte, g.Columns*g.Rows)
		for _, it := range segmentItems(r.rev.Content, layers) {
			cat := b.categories[it.Label]
			if cat == 0 {
				return radmark.Errorf(radmark.EINVALID, "item %q has label %q, which the project's current schema does not have", it.ID, it.Label)
			}
			err := segmentSlices(layers[it.Segment.Layer], it.Segment.Value, mask, func(k int) error {
				rle, err := coco.Encode(mask, g.Columns, g.Rows)
				if err != nil {
					return err
				}
				runs, err := coco.Runs(mask, g.Columns, g.Rows)
				if err != nil {
					return err
				}
				b.add(coco.Annotation{ImageID: b.image(set.StudyUID, sr.UID, g.Slices[k].Image, g.Columns, g.Rows),
					CategoryID: cat, Segmentation: rle, Area: float64(coco.Area(runs)), BBox: coco.BBox(runs, g.Rows), Item: it.ID})
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func polygonBox(pts [][2]float64) [4]float64 {
	x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, p := range pts {
		x0, y0, x1, y1 = math.Min(x0, p[0]), math.Min(y0, p[1]), math.Max(x1, p[0]), math.Max(y1, p[1])
	}
	return [4]float64{x0, y0, x1 - x0, y1 - y0}
}

func shoelace(pts [][2]float64) float64 {
	var a float64
	for i, p := range pts {
		q := pts[(i+1)%len(pts)]
		a += p[0]*q[1] - q[0]*p[1]
	}
	return a / 2
}

// WriteCOCO writes a COCO export of a project into dir, which must not
// exist: annotations.json is built in a temporary folder beside it and
// renamed into place.
func (s *Service) WriteCOCO(ctx context.Context, op annotation.Op, project radmark.ID, dir string) (*coco.Dataset, error) {
	if _, err := os.Stat(dir); err == nil {
		return nil, radmark.Errorf(radmark.ECONFLICT, "%s already exists; an export goes to a new folder", dir)
	}
	ds, err := s.COCO(ctx, op, project)
	if err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(ds, "", " ")
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dir)), ".radmark-coco-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	f, err := os.Create(filepath.Join(tmp, COCOFile))
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	return ds, nil
}
