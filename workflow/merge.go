package workflow

import (
	"context"
	"slices"
	"strconv"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
)

// merge saves, as the next revision of the arbiter's set, the union of
// reads: every item (IDs prefixed m1-, m2-... by read), with segments of
// the same layer and value counted once and their voxels united (the
// first read wins where reads give a voxel different values), and the
// first read's answers.
func (s *Service) merge(ctx context.Context, op Op, t *radmark.Task, revs []*radmark.Revision) (*radmark.Revision, error) {
	if t.SetID == "" {
		return nil, radmark.Errorf(radmark.ECONFLICT, "the arbitration has no annotation set: start it first")
	}
	set, err := s.Annotations.Store.Set(ctx, t.SetID)
	if err != nil {
		return nil, err
	}
	req := &annotation.SaveRequest{Parent: set.Head, Message: "arbitration: merge of " + strconv.Itoa(len(revs)) + " reads", Submit: true,
		Items: []radmark.Item{}}
	seenSegment := map[radmark.SegmentRef]bool{}
	prefix := func(i int) string { return "m" + strconv.Itoa(i+1) + "-" }
	for i, rev := range revs {
		for _, it := range rev.Content.Items {
			if it.Segment != nil {
				if seenSegment[*it.Segment] {
					continue
				}
				seenSegment[*it.Segment] = true
			}
			it.ID = prefix(i) + it.ID
			req.Items = append(req.Items, it)
		}
	}
	for _, an := range revs[0].Content.Answers {
		if an.Item != "" {
			an.Item = prefix(0) + an.Item
		}
		req.Answers = append(req.Answers, an)
	}
	req.SchemaVersion = revs[0].Content.SchemaVersion
	// Unite labelmaps layer by layer.
	var layers []int
	for _, rev := range revs {
		for _, m := range rev.Content.Labelmaps {
			if !slices.Contains(layers, m.Layer) {
				layers = append(layers, m.Layer)
			}
		}
	}
	slices.Sort(layers)
	for _, layer := range layers {
		var edit *annotation.LabelmapEdit
		var voxels []uint8
		for _, rev := range revs {
			for i := range rev.Content.Labelmaps {
				m := &rev.Content.Labelmaps[i]
				if m.Layer != layer {
					continue
				}
				v, err := s.loadVolumes()(ctx, m)
				if err != nil {
					return nil, err
				}
				if edit == nil {
					edit = &annotation.LabelmapEdit{Layer: layer, SeriesUID: m.SeriesUID, Columns: m.Columns, Rows: m.Rows,
						Slices: m.Slices, Encoding: "raw", Replace: true, Data: map[string][]byte{}}
					voxels = make([]uint8, len(v.Voxels))
				}
				if len(v.Voxels) != len(voxels) || m.SeriesUID != edit.SeriesUID {
					return nil, radmark.Errorf(radmark.EINVALID, "labelmap layer %d lies on different grids in the reads; pick or edit instead", layer)
				}
				for k, x := range v.Voxels {
					if voxels[k] == 0 {
						voxels[k] = x
					}
				}
			}
		}
		n := edit.Columns * edit.Rows
		for k := range edit.Slices {
			sl := voxels[k*n : (k+1)*n]
			if slices.ContainsFunc(sl, func(x uint8) bool { return x != 0 }) {
				edit.Data[strconv.Itoa(k)] = sl
			}
		}
		req.Labelmaps = append(req.Labelmaps, *edit)
	}
	return s.Annotations.Save(ctx, op.annotationOp(), t.SetID, req)
}
