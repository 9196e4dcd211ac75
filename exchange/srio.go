package exchange

import (
	"context"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/seg"
	"github.com/radmark/radmark/sr"
)

func dcmCode(v, meaning string) *sr.Code { return &sr.Code{Value: v, Scheme: "DCM", Meaning: meaning} }
func sctCode(v, meaning string) *sr.Code { return &sr.Code{Value: v, Scheme: "SCT", Meaning: meaning} }

func srCode(c radmark.Code) *sr.Code {
	return &sr.Code{Value: c.Value, Scheme: c.Scheme, Meaning: c.Meaning}
}

// procedureCodes are the Procedure reported of a report by modality.
var procedureCodes = map[string]*sr.Code{
	"CT": sctCode("77477000", "Computed Tomography"),
	"MR": sctCode("113091000", "Magnetic resonance imaging"),
	"CR": sctCode("363680008", "Radiographic imaging procedure"),
	"DX": sctCode("363680008", "Radiographic imaging procedure"),
}

// SR builds a TID 1500 Measurement Report of a revision on a series: one
// measurement group per item, with its tracking identifier (the item id)
// and UID, its label's coded finding and finding site, the server's
// measurements (UCUM units) and its coordinates (SCOORD on the image, or
// SCOORD3D). The document is Comprehensive 3D SR when it holds SCOORD3D.
func (s *Service) SR(ctx context.Context, op annotation.Op, rev radmark.ID) (*dicom.Dataset, error) {
	r, err := s.revision(ctx, op, rev)
	if err != nil {
		return nil, err
	}
	if r.set.SeriesUID == "" {
		return nil, radmark.Errorf(radmark.EUNSUPPORTED, "annotation set %s is not on one series; SR export needs one", r.set.ID)
	}
	ser, err := s.Series(ctx, r.set.SeriesUID)
	if err != nil {
		return nil, err
	}
	ms, err := s.Annotations.Measurements(ctx, op, rev)
	if err != nil {
		return nil, err
	}
	byItem := map[string]*annotation.Measurement{}
	for i := range ms {
		byItem[ms[i].Item] = &ms[i]
	}
	modality := ser.Header.String(dicom.NewTag(0x0008, 0x0060))
	frame := ser.Header.String(dicom.NewTag(0x0020, 0x0052))
	root := &sr.Node{ValueType: "CONTAINER", Concept: dcmCode("126000", "Imaging Measurement Report"), Template: "1500", Children: []*sr.Node{
		{Relationship: "HAS CONCEPT MOD", ValueType: "CODE", Concept: dcmCode("121049", "Language of Content Item and Descendants"), Code: &sr.Code{Value: "en-US", Scheme: "RFC5646", Meaning: "English (United States)"}},
		{Relationship: "HAS OBS CONTEXT", ValueType: "CODE", Concept: dcmCode("121005", "Observer Type"), Code: dcmCode("121006", "Person")},
		{Relationship: "HAS OBS CONTEXT", ValueType: "PNAME", Concept: dcmCode("121008", "Person Observer Name"), Text: r.set.Reader},
	}}
	if pc := procedureCodes[modality]; pc != nil {
		root.Children = append(root.Children, &sr.Node{Relationship: "HAS CONCEPT MOD", ValueType: "CODE", Concept: dcmCode("121058", "Procedure reported"), Code: pc})
	}
	library := &sr.Node{Relationship: "CONTAINS", ValueType: "CONTAINER", Concept: dcmCode("111028", "Image Library")}
	libGroup := &sr.Node{Relationship: "CONTAINS", ValueType: "CONTAINER", Concept: dcmCode("126200", "Image Library Group")}
	measurements := &sr.Node{Relationship: "CONTAINS", ValueType: "CONTAINER", Concept: dcmCode("126010", "Imaging Measurements")}
	var evidence []sr.Evidence
	inLibrary := map[radmark.UID]bool{}
	imageRef := func(ref radmark.ImageRef) sr.ImageRef {
		ir := sr.ImageRef{SOPClassUID: ser.SOPClass[ref.SOPInstanceUID], SOPInstanceUID: string(ref.SOPInstanceUID)}
		if ref.Frame > 0 {
			ir.Frames = []int{ref.Frame}
		}
		if !inLibrary[ref.SOPInstanceUID] {
			inLibrary[ref.SOPInstanceUID] = true
			libGroup.Children = append(libGroup.Children, &sr.Node{Relationship: "CONTAINS", ValueType: "IMAGE", Refs: []sr.ImageRef{{SOPClassUID: ir.SOPClassUID, SOPInstanceUID: ir.SOPInstanceUID}}})
			evidence = append(evidence, sr.Evidence{Study: string(ser.Study), Series: string(ser.UID), SOPClass: ir.SOPClassUID, SOPInstance: ir.SOPInstanceUID})
		}
		return ir
	}
	for _, it := range r.rev.Content.Items {
		if it.Kind == radmark.KindClassification {
			continue
		}
		if it.Image != nil && ser.SOPClass[it.Image.SOPInstanceUID] == "" {
			return nil, radmark.Errorf(radmark.EINVALID, "item %q is on image %s, which is not in series %s", it.ID, it.Image.SOPInstanceUID, ser.UID)
		}
		g := &sr.Node{Relationship: "CONTAINS", ValueType: "CONTAINER", Concept: dcmCode("125007", "Measurement Group"), Children: []*sr.Node{
			{Relationship: "HAS OBS CONTEXT", ValueType: "TEXT", Concept: dcmCode("112039", "Tracking Identifier"), Text: it.ID},
			{Relationship: "HAS OBS CONTEXT", ValueType: "UIDREF", Concept: dcmCode("112040", "Tracking Unique Identifier"), Text: seg.UID("sr-tracking", string(r.rev.ID), it.ID)},
		}}
		if l, ok := labelOf(r.schema, it.Label); ok {
			g.Children = append(g.Children, &sr.Node{Relationship: "CONTAINS", ValueType: "CODE", Concept: dcmCode("121071", "Finding"), Code: srCode(l.Type)})
			if l.AnatomicRegion != nil {
				g.Children = append(g.Children, &sr.Node{Relationship: "HAS CONCEPT MOD", ValueType: "CODE", Concept: sctCode("363698007", "Finding Site"), Code: srCode(*l.AnatomicRegion)})
			}
		}
		if n := coordinates(&it, frame, imageRef); n != nil {
			g.Children = append(g.Children, n)
		}
		if m := byItem[it.ID]; m != nil {
			g.Children = append(g.Children, numNodes(m)...)
		}
		g.Children = append(g.Children, answerNodes(r, func(a *radmark.Answer) bool { return a.Item == it.ID })...)
		measurements.Children = append(measurements.Children, g)
	}
	if len(libGroup.Children) > 0 {
		library.Children = []*sr.Node{libGroup}
	}
	root.Children = append(root.Children, library, measurements)
	if qe := answerNodes(r, func(a *radmark.Answer) bool { return a.Item == "" }); len(qe) > 0 {
		root.Children = append(root.Children, &sr.Node{Relationship: "CONTAINS", ValueType: "CONTAINER",
			Concept: &sr.Code{Value: "C0034375", Scheme: "UMLS", Meaning: "Qualitative Evaluations"}, Children: qe})
	}
	created := r.rev.CreatedAt.UTC()
	key := []string{string(r.rev.ID), r.rev.ContentHash, string(ser.UID)}
	doc := &sr.Document{Source: ser.Header, SeriesUID: seg.UID(append([]string{"sr-series"}, key...)...),
		InstanceUID: seg.UID(append([]string{"sr-instance"}, key...)...), SeriesNumber: 9500,
		Date: created.Format("20060102"), Time: created.Format("150405"), Manufacturer: "radmark", Software: s.Software,
		Content: root, Evidence: evidence}
	return doc.Dataset()
}

// coordinates is an item's Image Region: SCOORD on its image, or
// SCOORD3D in the frame of reference.
func coordinates(it *radmark.Item, frame string, imageRef func(radmark.ImageRef) sr.ImageRef) *sr.Node {
	gt := map[radmark.Kind]string{radmark.KindLandmark: "POINT", radmark.KindLength: "POLYLINE", radmark.KindAngle: "POLYLINE",
		radmark.KindBidirectional: "MULTIPOINT", radmark.KindContour: "POLYLINE", radmark.KindBox2D: "POLYLINE", radmark.KindRectangleROI: "POLYLINE"}[it.Kind]
	if gt == "" {
		return nil
	}
	n := &sr.Node{Relationship: "CONTAINS", Concept: dcmCode("111030", "Image Region")}
	switch {
	case it.Image != nil && len(it.Points) > 0:
		pts := it.Points
		if it.Kind == radmark.KindBox2D || it.Kind == radmark.KindRectangleROI {
			a, b := pts[0], pts[1]
			pts = [][2]float64{a, {b[0], a[1]}, b, {a[0], b[1]}, a}
		} else if it.Kind == radmark.KindContour && it.Closed {
			// SCOORD has no POLYGON: a closed POLYLINE ends where it starts
			pts = append(append([][2]float64{}, pts...), pts[0])
		}
		var data []float64
		for _, p := range pts {
			data = append(data, p[0], p[1])
		}
		n.ValueType, n.Graphic = "SCOORD", &sr.Graphic{Type: gt, Data: data}
		n.Children = []*sr.Node{{Relationship: "SELECTED FROM", ValueType: "IMAGE", Refs: []sr.ImageRef{imageRef(*it.Image)}}}
	case len(it.LPS) > 0:
		pts := it.LPS
		if it.Kind == radmark.KindContour && it.Closed {
			gt, pts = "POLYGON", append(append([][3]float64{}, pts...), pts[0])
		}
		var data []float64
		for _, p := range pts {
			data = append(data, p[0], p[1], p[2])
		}
		n.ValueType, n.Graphic = "SCOORD3D", &sr.Graphic{Type: gt, Data: data, FrameOfReference: frame}
		if it.Image != nil {
			imageRef(*it.Image)
		}
	default:
		return nil
	}
	return n
}

// numNodes are a measurement's NUM content items.
func numNodes(m *annotation.Measurement) []*sr.Node {
	var out []*sr.Node
	add := func(c *sr.Code, q *annotation.Quantity) {
		if q != nil {
			out = append(out, &sr.Node{Relationship: "CONTAINS", ValueType: "NUM", Concept: c, Num: &sr.Num{Value: q.Value, Unit: sr.Code{Value: q.Unit, Scheme: "UCUM", Meaning: q.Unit}}})
		}
	}
	add(sctCode("410668003", "Length"), m.Length)
	add(sctCode("1483009", "Angle"), m.Angle)
	add(sctCode("103339001", "Long Axis"), m.LongAxis)
	add(sctCode("103340004", "Short Axis"), m.ShortAxis)
	add(sctCode("42798000", "Area"), m.Area)
	add(sctCode("118565006", "Volume"), m.Volume)
	if st := m.Stats; st != nil {
		add(sctCode("373098007", "Mean"), &annotation.Quantity{Value: st.Mean, Unit: st.Unit})
		add(sctCode("386136009", "Standard Deviation"), &annotation.Quantity{Value: st.SD, Unit: st.Unit})
		add(sctCode("255605001", "Minimum"), &annotation.Quantity{Value: st.Min, Unit: st.Unit})
		add(sctCode("56851009", "Maximum"), &annotation.Quantity{Value: st.Max, Unit: st.Unit})
	}
	return out
}

// answerNodes are the classification answers chosen by keep, coded with
// the question's concept and the options' codes (radmark's private
// scheme 99RADMARK where the schema gives none).
func answerNodes(r *revisionData, keep func(*radmark.Answer) bool) []*sr.Node {
	var out []*sr.Node
	for i := range r.rev.Content.Answers {
		a := &r.rev.Content.Answers[i]
		if !keep(a) {
			continue
		}
		var q *radmark.Question
		for j := range r.schema.Questions {
			if r.schema.Questions[j].ID == a.Question {
				q = &r.schema.Questions[j]
			}
		}
		if q == nil {
			continue
		}
		concept := &sr.Code{Value: q.ID, Scheme: "99RADMARK", Meaning: q.Text}
		if q.Concept != nil {
			concept = srCode(*q.Concept)
		}
		switch {
		case len(a.Choices) > 0:
			for _, c := range a.Choices {
				code := &sr.Code{Value: c, Scheme: "99RADMARK", Meaning: c}
				for _, o := range q.Options {
					if o.Value == c && o.Code != nil {
						code = srCode(*o.Code)
					} else if o.Value == c && o.Text != "" {
						code.Meaning = o.Text
					}
				}
				out = append(out, &sr.Node{Relationship: "CONTAINS", ValueType: "CODE", Concept: concept, Code: code})
			}
		case a.Number != nil:
			unit := sr.Code{Value: "1", Scheme: "UCUM", Meaning: "no units"}
			if q.Unit != nil {
				unit = sr.Code{Value: q.Unit.Value, Scheme: "UCUM", Meaning: q.Unit.Meaning}
			}
			out = append(out, &sr.Node{Relationship: "CONTAINS", ValueType: "NUM", Concept: concept, Num: &sr.Num{Value: *a.Number, Unit: unit}})
		case a.Text != "":
			out = append(out, &sr.Node{Relationship: "CONTAINS", ValueType: "TEXT", Concept: concept, Text: a.Text})
		}
	}
	return out
}
