package exchange

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/dataset"
	"github.com/radmark/radmark/labelmap"
	"github.com/radmark/radmark/nifti"
)

// ImportNIfTI places a NIfTI label map (a model's output, say) on a
// series and saves it as a new revision of the reader's set: one
// labelmap layer, one segmentation item per value present. Values are
// the project's label ids (dataset.LabelIDs, as nnU-Net exports use)
// unless values maps them (value → label id). The NIfTI's grid must be
// the series' (up to an axis flip or permutation, as dcm2niix writes).
func (s *Service) ImportNIfTI(ctx context.Context, op annotation.Op, data []byte, opt ImportOptions, values map[int]string) (*radmark.Revision, error) {
	if opt.Series == "" {
		return nil, radmark.Errorf(radmark.EINVALID, "a NIfTI names no series; give it with --series")
	}
	im, err := nifti.Decode(data)
	if err != nil {
		return nil, err
	}
	sr, err := s.Series(ctx, opt.Series)
	if err != nil {
		return nil, err
	}
	if err := checkRegular(sr.Volume.Grid); err != nil {
		return nil, fmt.Errorf("series %s: %w", sr.UID, err)
	}
	if _, err := s.targetSet(ctx, op, opt, sr); err != nil {
		return nil, err
	}
	v, err := labelVolume(im, sr.Volume.Grid)
	if err != nil {
		return nil, fmt.Errorf("series %s: %w", sr.UID, err)
	}
	schema, err := s.Annotations.Schema(ctx, opt.Project, 0)
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", opt.Project, err)
	}
	if values == nil {
		ids, _, err := dataset.LabelIDs(schema)
		if err != nil {
			return nil, err
		}
		values = map[int]string{}
		for id, n := range ids {
			values[n] = id
		}
	}
	src := opt.Source
	if src.Type == "" {
		src = radmark.Source{Type: "human"}
	}
	counts := v.Counts()
	var items []radmark.Item
	for val := 1; val < 256; val++ {
		if counts[val] == 0 {
			continue
		}
		id, ok := values[val]
		if !ok {
			return nil, radmark.Errorf(radmark.EINVALID, "the NIfTI holds %d voxels of value %d, which names no segmentation label of the project (map values with --labels VALUE=LABEL,...)", counts[val], val)
		}
		if l, ok := labelOf(schema, id); !ok || !allows(l, radmark.KindSegmentation) {
			return nil, radmark.Errorf(radmark.EINVALID, "value %d maps to %q, which is not a segmentation label of the project", val, id)
		}
		items = append(items, radmark.Item{Kind: radmark.KindSegmentation, Label: id, Source: src,
			Segment: &radmark.SegmentRef{Layer: 0, Value: val}})
	}
	if len(items) == 0 {
		return nil, radmark.Errorf(radmark.EINVALID, "the NIfTI label map is empty")
	}
	msg := opt.Message
	if msg == "" {
		msg = "import NIfTI label map"
	}
	return s.saveSegmentation(ctx, op, opt, sr, schema, map[int]*labelmap.Volume{0: v}, items, msg)
}

// NNUNetSummary reports an nnU-Net export.
type NNUNetSummary struct {
	Dataset *dataset.NNUNet
	Cases   []dataset.Case
}

// NNUNet writes a project's segmentations as an nnU-Net v2 raw dataset in
// dir (which must not exist; it is built in a temporary folder beside it
// and renamed into place, so nothing half-written is left): imagesTr/,
// labelsTr/, dataset.json, a MONAI datalist (datalist.json) and cases.json
// tracing every case to its study, series, set and revision. A case is
// the head revision of each annotation set with segmentation on a series,
// in a stable order.
func (s *Service) NNUNet(ctx context.Context, op annotation.Op, project radmark.ID, dir string) (*NNUNetSummary, error) {
	if _, err := os.Stat(dir); err == nil {
		return nil, radmark.Errorf(radmark.ECONFLICT, "%s already exists; an export goes to a new folder", dir)
	}
	p, schema, sets, err := s.projectSets(ctx, project)
	if err != nil {
		return nil, err
	}
	ids, labels, err := dataset.LabelIDs(schema)
	if err != nil {
		return nil, err
	}
	parent := filepath.Dir(filepath.Clean(dir))
	tmp, err := os.MkdirTemp(parent, ".radmark-nnunet-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	for _, sub := range []string{"imagesTr", "labelsTr"} {
		if err := os.Mkdir(filepath.Join(tmp, sub), 0o755); err != nil {
			return nil, err
		}
	}
	sum := &NNUNetSummary{}
	modality := ""
	images := map[radmark.UID]string{} // series → image file already written
	monai := dataset.MONAIDatalist{Training: []dataset.MONAIEntry{}}
	for _, set := range sets {
		if set.Head == "" {
			continue
		}
		r, err := s.revision(ctx, op, set.Head)
		if err != nil {
			return nil, err
		}
		r.schema = schema // label ids follow the current schema
		var seriesList []radmark.UID
		seen := map[radmark.UID]bool{}
		for _, m := range r.rev.Content.Labelmaps {
			if !seen[m.SeriesUID] {
				seen[m.SeriesUID] = true
				seriesList = append(seriesList, m.SeriesUID)
			}
		}
		sort.Slice(seriesList, func(a, b int) bool { return seriesList[a] < seriesList[b] })
		for _, series := range seriesList {
			sr, err := s.Series(ctx, series)
			if err != nil {
				return nil, err
			}
			mod := strings.TrimSpace(sr.Volume.Grid.Modality)
			if modality == "" {
				modality = mod
			} else if mod != modality {
				return nil, radmark.Errorf(radmark.EUNSUPPORTED, "the project mixes %s and %s series; an nnU-Net dataset has one channel", modality, mod)
			}
			lab, err := s.labelsImage(ctx, op, r, sr, -1)
			if err != nil {
				return nil, fmt.Errorf("set %s (reader %s), series %s: %w", set.ID, set.Reader, series, err)
			}
			c := dataset.Case{ID: fmt.Sprintf("case_%04d", len(sum.Cases)), StudyUID: set.StudyUID, SeriesUID: series,
				SetID: set.ID, Reader: set.Reader, Revision: r.rev.ID}
			c.Image, c.Label = dataset.ImagePath(c.ID), dataset.LabelPath(c.ID)
			if prev, ok := images[series]; ok {
				if err := copyFile(filepath.Join(tmp, prev), filepath.Join(tmp, c.Image)); err != nil {
					return nil, err
				}
			} else {
				img, err := s.ImageNIfTI(ctx, series)
				if err != nil {
					return nil, err
				}
				if err := writeNIfTI(filepath.Join(tmp, c.Image), img); err != nil {
					return nil, err
				}
				images[series] = c.Image
			}
			if err := writeNIfTI(filepath.Join(tmp, c.Label), lab); err != nil {
				return nil, err
			}
			sum.Cases = append(sum.Cases, c)
			monai.Training = append(monai.Training, dataset.MONAIEntry{Image: c.Image, Label: c.Label})
		}
	}
	if len(sum.Cases) == 0 {
		return nil, radmark.Errorf(radmark.EINVALID, "project %s has no segmentation to export", project)
	}
	sum.Dataset = dataset.NewNNUNet(p.Name, modality, labels, ids, len(sum.Cases))
	if err := sum.Dataset.Validate(); err != nil {
		return nil, err
	}
	for name, v := range map[string]any{"dataset.json": sum.Dataset, "datalist.json": monai, "cases.json": sum.Cases} {
		b, err := dataset.JSON(v)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	return sum, nil
}

func writeNIfTI(path string, im *nifti.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := nifti.Write(f, im); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

// DatasetLabels is LabelsNIfTI (all layers merged) with the label ids of
// schema rather than of the revision's own schema version, so that every
// case of a dataset built from revisions of several versions shares one
// set of ids.
func (s *Service) DatasetLabels(ctx context.Context, op annotation.Op, rev radmark.ID, series radmark.UID, schema *radmark.LabelSchema) (*nifti.Image, error) {
	r, sr, err := s.revisionOn(ctx, op, rev, series)
	if err != nil {
		return nil, err
	}
	r.schema = schema
	return s.labelsImage(ctx, op, r, sr, -1)
}
