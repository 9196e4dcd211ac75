package dataset

import (
	"strings"
	"testing"

	"github.com/radmark/radmark"
)

func TestNNUNetDatasetJSON(t *testing.T) {
	seg := []radmark.Kind{radmark.KindSegmentation}
	sc := &radmark.LabelSchema{Labels: []radmark.Label{
		{ID: "liver", Kinds: seg}, {ID: "carina", Kinds: []radmark.Kind{radmark.KindLandmark}}, {ID: "nodule", Kinds: seg},
	}}
	ids, labels, err := LabelIDs(sc)
	if err != nil || ids["liver"] != 1 || ids["nodule"] != 2 || len(labels) != 2 {
		t.Fatalf("ids %v labels %v err %v", ids, labels, err)
	}
	d := NewNNUNet("Phantom", "CT", labels, ids, 3)
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := JSON(d)
	if err != nil {
		t.Fatal(err)
	}
	want := `"labels": {
    "background": 0,
    "liver": 1,
    "nodule": 2
  }`
	if !strings.Contains(string(b), want) || !strings.Contains(string(b), `"channel_names": {
    "0": "CT"
  }`) || !strings.Contains(string(b), `"file_ending": ".nii.gz"`) {
		t.Errorf("dataset.json:\n%s", b)
	}
	for name, bad := range map[string]func(d *NNUNet){
		"no background": func(d *NNUNet) { delete(d.Labels, "background") },
		"gap":           func(d *NNUNet) { d.Labels["nodule"] = 5 },
		"no channel":    func(d *NNUNet) { d.ChannelNames = map[string]string{"1": "CT"} },
		"no cases":      func(d *NNUNet) { d.NumTraining = 0 },
	} {
		d := NewNNUNet("Phantom", "CT", labels, ids, 3)
		bad(d)
		if d.Validate() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
