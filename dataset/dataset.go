// Package dataset owns the training-set layouts radmark exports: the
// nnU-Net v2 raw dataset (imagesTr/, labelsTr/, dataset.json) and the MONAI
// datalist JSON, and the project-wide label ids both use.
//
// nnU-Net v2's dataset.json (nnunetv2/dataset_conversion and its
// documentation "dataset_format.md") needs channel_names (channel index →
// name; "CT" selects CT normalisation), labels (name → integer id, with
// "background": 0), numTraining and file_ending; images are
// CASE_XXXX.nii.gz per channel and labels CASE.nii.gz.
package dataset

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/radmark/radmark"
)

// FileEnding is the file ending of every image and label file.
const FileEnding = ".nii.gz"

// LabelIDs gives each segmentation label of a schema its voxel value in
// exported label maps: 1, 2, ... in schema order. The ids are the same for
// every case of a project, as training needs.
func LabelIDs(schema *radmark.LabelSchema) (map[string]int, []radmark.Label, error) {
	ids := map[string]int{}
	var labels []radmark.Label
	for _, l := range schema.Labels {
		for _, k := range l.Kinds {
			if k == radmark.KindSegmentation {
				labels = append(labels, l)
				ids[l.ID] = len(labels)
				break
			}
		}
	}
	if len(labels) > 255 {
		return nil, nil, radmark.Errorf(radmark.EUNSUPPORTED, "the schema has %d segmentation labels; a uint8 label map holds 255", len(labels))
	}
	return ids, labels, nil
}

// NNUNet is nnU-Net v2's dataset.json.
type NNUNet struct {
	ChannelNames map[string]string `json:"channel_names"`
	Labels       map[string]int    `json:"labels"`
	NumTraining  int               `json:"numTraining"`
	FileEnding   string            `json:"file_ending"`
	Name         string            `json:"name,omitempty"`
	Description  string            `json:"description,omitempty"`
	Reference    string            `json:"reference,omitempty"`
	Licence      string            `json:"licence,omitempty"`
	Release      string            `json:"release,omitempty"`
}

// ChannelName is the nnU-Net channel name of a modality: "CT" (which
// selects nnU-Net's CT normalisation) or the modality itself.
func ChannelName(modality string) string {
	if modality == "" {
		return "image"
	}
	return modality
}

// NewNNUNet builds dataset.json for cases of one channel.
func NewNNUNet(name, modality string, labels []radmark.Label, ids map[string]int, cases int) *NNUNet {
	d := &NNUNet{ChannelNames: map[string]string{"0": ChannelName(modality)}, Labels: map[string]int{"background": 0},
		NumTraining: cases, FileEnding: FileEnding, Name: name}
	for _, l := range labels {
		d.Labels[l.ID] = ids[l.ID]
	}
	return d
}

// Validate checks d against nnU-Net v2's rules.
func (d *NNUNet) Validate() error {
	if len(d.ChannelNames) == 0 {
		return fmt.Errorf("dataset.json: channel_names is empty")
	}
	for i := 0; i < len(d.ChannelNames); i++ {
		if d.ChannelNames[strconv.Itoa(i)] == "" {
			return fmt.Errorf("dataset.json: channel_names lacks channel %d", i)
		}
	}
	if v, ok := d.Labels["background"]; !ok || v != 0 {
		return fmt.Errorf("dataset.json: labels must map background to 0")
	}
	seen := map[int]string{}
	for name, v := range d.Labels {
		if other, dup := seen[v]; dup {
			return fmt.Errorf("dataset.json: labels %q and %q share id %d", name, other, v)
		}
		seen[v] = name
	}
	for v := 0; v < len(d.Labels); v++ {
		if _, ok := seen[v]; !ok {
			return fmt.Errorf("dataset.json: label ids must be consecutive from 0; %d is missing", v)
		}
	}
	if d.NumTraining < 1 {
		return fmt.Errorf("dataset.json: numTraining is %d", d.NumTraining)
	}
	if d.FileEnding != FileEnding {
		return fmt.Errorf("dataset.json: file_ending %q, radmark writes %q", d.FileEnding, FileEnding)
	}
	return nil
}

// ImagePath and LabelPath are a case's files in the nnU-Net layout
// (channel 0).
func ImagePath(caseID string) string { return "imagesTr/" + caseID + "_0000" + FileEnding }

// LabelPath is a case's label map.
func LabelPath(caseID string) string { return "labelsTr/" + caseID + FileEnding }

// MONAIEntry is one case of a MONAI datalist.
type MONAIEntry struct {
	Image string `json:"image"`
	Label string `json:"label"`
}

// MONAIDatalist is MONAI's datalist JSON (monai.data.load_decathlon_datalist
// reads the list named by its data_list_key, "training" by default; paths
// are relative to the file). Releases add their validation and test parts.
type MONAIDatalist struct {
	Training   []MONAIEntry `json:"training"`
	Validation []MONAIEntry `json:"validation,omitempty"`
	Test       []MONAIEntry `json:"test,omitempty"`
}

// Case records where a case came from, for traceability.
type Case struct {
	ID        string      `json:"case"`
	StudyUID  radmark.UID `json:"studyUID"`
	SeriesUID radmark.UID `json:"seriesUID"`
	SetID     radmark.ID  `json:"annotationSet"`
	Reader    string      `json:"reader"`
	Revision  radmark.ID  `json:"revision"`
	Image     string      `json:"image"`
	Label     string      `json:"label"`
}

// JSON encodes v indented with a final newline (map keys sorted, so the
// same value gives the same bytes).
func JSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
