package sr

import (
	"fmt"
	"sort"

	"github.com/radmark/radmark/dicom"
)

// SOP classes radmark writes: Comprehensive SR for image coordinates,
// Comprehensive 3D SR when the report holds SCOORD3D.
const (
	ComprehensiveSR   = "1.2.840.10008.5.1.4.1.1.88.33"
	Comprehensive3DSR = "1.2.840.10008.5.1.4.1.1.88.34"
)

// Evidence is an instance the report refers to.
type Evidence struct {
	Study, Series, SOPClass, SOPInstance string
}

// Document is an SR document to write: Source is a referenced image's
// header, whose patient and study attributes the report copies.
type Document struct {
	Source       *dicom.Dataset
	SeriesUID    string
	InstanceUID  string
	SeriesNumber int
	Date, Time   string // content date (YYYYMMDD) and time (HHMMSS)
	Manufacturer string
	Software     string
	Content      *Node
	Evidence     []Evidence
	// CodingSchemes declares private coding schemes the content uses
	// (Coding Scheme Identification Sequence).
	CodingSchemes []CodingScheme
}

// CodingScheme identifies a coding scheme by its designator.
type CodingScheme struct {
	Designator, Name, Organization string
}

var copiedFromSource = []dicom.Tag{
	dicom.NewTag(0x0008, 0x0005), // Specific Character Set
	dicom.NewTag(0x0010, 0x0010), dicom.NewTag(0x0010, 0x0020), dicom.NewTag(0x0010, 0x0030), dicom.NewTag(0x0010, 0x0040),
	dicom.NewTag(0x0020, 0x000D), dicom.NewTag(0x0008, 0x0020), dicom.NewTag(0x0008, 0x0030), dicom.NewTag(0x0008, 0x0090),
	dicom.NewTag(0x0020, 0x0010), dicom.NewTag(0x0008, 0x0050),
}

// Dataset builds the SR document: the Patient, General Study, SR
// Document Series, General Equipment, SR Document General and Content
// and SOP Common modules.
func (d *Document) Dataset() (*dicom.Dataset, error) {
	if d.Source == nil || d.Content == nil || d.SeriesUID == "" || d.InstanceUID == "" {
		return nil, fmt.Errorf("sr: a document needs a source image, content and UIDs")
	}
	ds := &dicom.Dataset{}
	for _, t := range copiedFromSource {
		if e := d.Source.Get(t); e != nil {
			ds.Put(*e)
		} else if t != copiedFromSource[0] {
			ds.SetString(t) // type 2: present, empty
		}
	}
	class := ComprehensiveSR
	d.Content.Walk(func(_ []int, n *Node) {
		if n.ValueType == "SCOORD3D" {
			class = Comprehensive3DSR
		}
	})
	ds.SetString(dicom.NewTag(0x0008, 0x0016), class)
	ds.SetString(dicom.NewTag(0x0008, 0x0018), d.InstanceUID)
	ds.SetString(dicom.NewTag(0x0008, 0x0060), "SR")
	ds.SetString(dicom.NewTag(0x0020, 0x000E), d.SeriesUID)
	ds.SetInts(dicom.NewTag(0x0020, 0x0011), d.SeriesNumber)
	ds.SetItems(dicom.NewTag(0x0008, 0x1111)) // Referenced Performed Procedure Step Sequence (type 2)
	ds.SetString(dicom.NewTag(0x0008, 0x0070), d.Manufacturer)
	if d.Software != "" {
		ds.SetString(dicom.NewTag(0x0018, 0x1020), d.Software)
	}
	ds.SetInts(dicom.NewTag(0x0020, 0x0013), 1)
	ds.SetString(dicom.NewTag(0x0040, 0xA491), "COMPLETE")
	ds.SetString(dicom.NewTag(0x0040, 0xA493), "UNVERIFIED")
	ds.SetString(dicom.NewTag(0x0008, 0x0023), d.Date)
	ds.SetString(dicom.NewTag(0x0008, 0x0033), d.Time)
	ds.SetItems(dicom.NewTag(0x0040, 0xA372)) // Performed Procedure Code Sequence (type 2)
	if len(d.Evidence) > 0 {
		ds.SetItems(dicom.NewTag(0x0040, 0xA375), evidenceItems(d.Evidence)...)
	}
	if len(d.CodingSchemes) > 0 {
		var items []*dicom.Dataset
		for _, c := range d.CodingSchemes {
			it := &dicom.Dataset{}
			it.SetString(tagCodingScheme, c.Designator)
			it.SetString(dicom.NewTag(0x0008, 0x0115), c.Name)
			it.SetString(dicom.NewTag(0x0008, 0x0116), c.Organization)
			items = append(items, it)
		}
		ds.SetItems(dicom.NewTag(0x0008, 0x0110), items...)
	}
	d.Content.Encode(ds)
	return ds, nil
}

// evidenceItems groups instances by study and series (Hierarchical SOP
// Instance Reference Macro), in UID order.
func evidenceItems(ev []Evidence) []*dicom.Dataset {
	byStudy := map[string]map[string][]Evidence{}
	for _, e := range ev {
		if byStudy[e.Study] == nil {
			byStudy[e.Study] = map[string][]Evidence{}
		}
		byStudy[e.Study][e.Series] = append(byStudy[e.Study][e.Series], e)
	}
	var out []*dicom.Dataset
	for _, study := range sortedKeys(byStudy) {
		st := &dicom.Dataset{}
		st.SetString(dicom.NewTag(0x0020, 0x000D), study)
		var series []*dicom.Dataset
		for _, se := range sortedKeys(byStudy[study]) {
			s := &dicom.Dataset{}
			s.SetString(dicom.NewTag(0x0020, 0x000E), se)
			seen := map[string]bool{}
			var sops []*dicom.Dataset
			for _, e := range byStudy[study][se] {
				if seen[e.SOPInstance] {
					continue
				}
				seen[e.SOPInstance] = true
				r := &dicom.Dataset{}
				r.SetString(tagRefSOPClass, e.SOPClass)
				r.SetString(tagRefSOPInstance, e.SOPInstance)
				sops = append(sops, r)
			}
			s.SetItems(tagReferencedSOP, sops...)
			series = append(series, s)
		}
		st.SetItems(dicom.NewTag(0x0008, 0x1115), series...)
		out = append(out, st)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
