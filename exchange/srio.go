package exchange

import (
	"context"
	"math"

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
// and UID, its label's coded finding and finding site, its kind, label id,
// source, confidence and note (see itemNodes), the server's measurements
// (UCUM units), its coordinates (SCOORD on the image, or SCOORD3D) and its
// answers; answers about no item go in a Qualitative Evaluations
// container. ImportSR reads the same items back. The document is
// Comprehensive 3D SR when it holds SCOORD3D.
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
	for _, a := range r.rev.Content.Answers {
		if a.Image != nil && ser.SOPClass[a.Image.SOPInstanceUID] == "" {
			return nil, radmark.Errorf(radmark.EINVALID, "an answer to %q is about image %s, which is not in series %s", a.Question, a.Image.SOPInstanceUID, ser.UID)
		}
	}
	for _, it := range r.rev.Content.Items {
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
		g.Children = append(g.Children, itemNodes(&it)...)
		g.Children = append(g.Children, coordinates(&it, frame, imageRef)...)
		if m := byItem[it.ID]; m != nil {
			g.Children = append(g.Children, numNodes(m)...)
		}
		g.Children = append(g.Children, answerNodes(r, imageRef, func(a *radmark.Answer) bool { return a.Item == it.ID })...)
		measurements.Children = append(measurements.Children, g)
	}
	if len(libGroup.Children) > 0 {
		library.Children = []*sr.Node{libGroup}
	}
	root.Children = append(root.Children, library, measurements)
	if qe := answerNodes(r, imageRef, func(a *radmark.Answer) bool { return a.Item == "" }); len(qe) > 0 {
		root.Children = append(root.Children, &sr.Node{Relationship: "CONTAINS", ValueType: "CONTAINER",
			Concept: &sr.Code{Value: "C0034375", Scheme: "UMLS", Meaning: "Qualitative Evaluations"}, Children: qe})
	}
	created := r.rev.CreatedAt.UTC()
	key := []string{string(r.rev.ID), r.rev.ContentHash, string(ser.UID)}
	doc := &sr.Document{Source: ser.Header, SeriesUID: seg.UID(append([]string{"sr-series"}, key...)...),
		InstanceUID: seg.UID(append([]string{"sr-instance"}, key...)...), SeriesNumber: 9500,
		Date: created.Format("20060102"), Time: created.Format("150405"), Manufacturer: "radmark", Software: s.Software,
		Content: root, Evidence: evidence,
		CodingSchemes: []sr.CodingScheme{{Designator: privateScheme, Name: "radmark annotation concepts", Organization: "radmark"}}}
	return doc.Dataset()
}

// radmark's private coding scheme: the concepts an export adds so that
// its import gets back the same items.
const privateScheme = "99RADMARK"

var (
	conceptKind       = &sr.Code{Value: "kind", Scheme: privateScheme, Meaning: "Annotation kind"}
	conceptLabel      = &sr.Code{Value: "label", Scheme: privateScheme, Meaning: "Annotation label"}
	conceptConfidence = &sr.Code{Value: "confidence", Scheme: privateScheme, Meaning: "Confidence"}
	conceptAlgorithm  = dcmCode("111001", "Algorithm Name")
	conceptAlgVersion = dcmCode("111003", "Algorithm Version")
	conceptComment    = dcmCode("121106", "Comment")
	conceptSource     = sctCode("260753009", "Source")
	conceptRegion     = dcmCode("111030", "Image Region")
)

// itemNodes record what an item is beyond its finding and coordinates:
// its kind and label id (radmark's scheme), a model source as the
// Algorithm Identification, its confidence and its note.
func itemNodes(it *radmark.Item) []*sr.Node {
	out := []*sr.Node{
		{Relationship: "HAS CONCEPT MOD", ValueType: "CODE", Concept: conceptKind, Code: &sr.Code{Value: string(it.Kind), Scheme: privateScheme, Meaning: string(it.Kind)}},
		{Relationship: "HAS CONCEPT MOD", ValueType: "TEXT", Concept: conceptLabel, Text: it.Label},
	}
	if it.Source.Type == "model" {
		out = append(out,
			&sr.Node{Relationship: "HAS CONCEPT MOD", ValueType: "TEXT", Concept: conceptAlgorithm, Text: it.Source.Name},
			&sr.Node{Relationship: "HAS CONCEPT MOD", ValueType: "TEXT", Concept: conceptAlgVersion, Text: it.Source.Version})
	}
	if it.Confidence != nil {
		out = append(out, &sr.Node{Relationship: "CONTAINS", ValueType: "NUM", Concept: conceptConfidence, Num: &sr.Num{Value: *it.Confidence, Unit: sr.Code{Value: "1", Scheme: "UCUM", Meaning: "no units"}}})
	}
	if it.Note != "" {
		out = append(out, &sr.Node{Relationship: "CONTAINS", ValueType: "TEXT", Concept: conceptComment, Text: it.Note})
	}
	return out
}

// coordinates are an item's Image Region: SCOORD on its image, or
// SCOORD3D in the frame of reference with the image it was placed on as
// the group's Source. Boxes and rectangles are closed 5-point polylines
// starting at the first corner, the opposite corner third; ellipses are
// an ELLIPSE whose first axis runs between the corners' columns, the
// second between their rows; a 3D box is the 8 corners, first corner
// first and the opposite one last. Import reads each back exactly.
func coordinates(it *radmark.Item, frame string, imageRef func(radmark.ImageRef) sr.ImageRef) []*sr.Node {
	gt := map[radmark.Kind]string{radmark.KindLandmark: "POINT", radmark.KindLength: "POLYLINE", radmark.KindAngle: "POLYLINE",
		radmark.KindBidirectional: "MULTIPOINT", radmark.KindContour: "POLYLINE", radmark.KindBox2D: "POLYLINE", radmark.KindRectangleROI: "POLYLINE",
		radmark.KindEllipseROI: "ELLIPSE", radmark.KindBox3D: "MULTIPOINT"}[it.Kind]
	if gt == "" {
		return nil
	}
	n := &sr.Node{Relationship: "CONTAINS", Concept: conceptRegion}
	switch {
	case it.Image != nil && len(it.Points) > 0:
		pts := it.Points
		switch it.Kind {
		case radmark.KindBox2D, radmark.KindRectangleROI:
			a, b := pts[0], pts[1]
			pts = [][2]float64{a, {b[0], a[1]}, b, {a[0], b[1]}, a}
		case radmark.KindEllipseROI:
			a, b := pts[0], pts[1]
			cx, cy := (a[0]+b[0])/2, (a[1]+b[1])/2
			h := [][2]float64{{a[0], cy}, {b[0], cy}}
			v := [][2]float64{{cx, a[1]}, {cx, b[1]}}
			if math.Abs(b[1]-a[1]) > math.Abs(b[0]-a[0]) {
				pts = append(v, h...) // the major axis comes first
			} else {
				pts = append(h, v...)
			}
		case radmark.KindContour:
			if it.Closed {
				// SCOORD has no POLYGON: a closed POLYLINE ends where it starts
				pts = append(append([][2]float64{}, pts...), pts[0])
			}
		}
		var data []float64
		for _, p := range pts {
			data = append(data, p[0], p[1])
		}
		n.ValueType, n.Graphic = "SCOORD", &sr.Graphic{Type: gt, Data: data}
		n.Children = []*sr.Node{{Relationship: "SELECTED FROM", ValueType: "IMAGE", Refs: []sr.ImageRef{imageRef(*it.Image)}}}
		return []*sr.Node{n}
	case len(it.LPS) > 0:
		pts := it.LPS
		if it.Kind == radmark.KindBox3D {
			a, b := pts[0], pts[1]
			pts = nil
			for c := 0; c < 8; c++ {
				p := a
				for axis := 0; axis < 3; axis++ {
					if c&(1<<axis) != 0 {
						p[axis] = b[axis]
					}
				}
				pts = append(pts, p)
			}
		}
		var data []float64
		for _, p := range pts {
			data = append(data, p[0], p[1], p[2])
		}
		n.ValueType, n.Graphic = "SCOORD3D", &sr.Graphic{Type: gt, Data: data, FrameOfReference: frame}
		out := []*sr.Node{n}
		if it.Image != nil {
			out = append(out, &sr.Node{Relationship: "CONTAINS", ValueType: "IMAGE", Concept: conceptSource, Refs: []sr.ImageRef{imageRef(*it.Image)}})
		}
		return out
	}
	return nil
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
//
// An image-level answer is INFERRED FROM its image.
func answerNodes(r *revisionData, imageRef func(radmark.ImageRef) sr.ImageRef, keep func(*radmark.Answer) bool) []*sr.Node {
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
		concept := &sr.Code{Value: q.ID, Scheme: privateScheme, Meaning: q.Text}
		if q.Concept != nil {
			concept = srCode(*q.Concept)
		}
		first := len(out)
		switch {
		case len(a.Choices) > 0:
			for _, c := range a.Choices {
				code := &sr.Code{Value: c, Scheme: privateScheme, Meaning: c}
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
		if a.Image != nil {
			for _, n := range out[first:] {
				n.Children = append(n.Children, &sr.Node{Relationship: "INFERRED FROM", ValueType: "IMAGE", Refs: []sr.ImageRef{imageRef(*a.Image)}})
			}
		}
	}
	return out
}
