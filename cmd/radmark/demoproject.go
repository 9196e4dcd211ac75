package main

import (
	"context"
	"fmt"
	"io"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/ontology"
)

const demoProjectName = "Demo: chest phantom"

// demoLabel names a label of the demo schema by its coded type; the
// category comes from the ontology's pairing (CIDs 7191-7198).
type demoLabel struct {
	id, name, color string
	scheme, code    string
	kinds           []radmark.Kind
}

var demoLabels = []demoLabel{
	{"lung-nodule", "Lung nodule", "#e6194b", "SCT", "27925004", []radmark.Kind{radmark.KindSegmentation, radmark.KindBox3D, radmark.KindLength, radmark.KindBidirectional, radmark.KindEllipseROI}},
	{"liver", "Liver", "#3cb44b", "SCT", "10200004", []radmark.Kind{radmark.KindSegmentation, radmark.KindContour}},
	{"lung", "Lung", "#4363d8", "SCT", "39607008", []radmark.Kind{radmark.KindSegmentation, radmark.KindContour}},
	{"mass", "Mass", "#f58231", "SCT", "4147007", []radmark.Kind{radmark.KindSegmentation, radmark.KindBox2D, radmark.KindBox3D, radmark.KindRectangleROI, radmark.KindEllipseROI, radmark.KindLength, radmark.KindAngle, radmark.KindLandmark}},
	{"vertebra", "Vertebra", "#911eb4", "SCT", "51282000", []radmark.Kind{radmark.KindSegmentation, radmark.KindLandmark, radmark.KindAngle}},
}

// createDemoProject adds the demo project with a coded label schema unless
// it exists, so a new install has something to annotate with.
func createDemoProject(ctx context.Context, store annotation.Store, stdout io.Writer) error {
	projects, err := store.Projects(ctx)
	if err != nil {
		return err
	}
	for _, p := range projects {
		if p.Name == demoProjectName {
			return nil
		}
	}
	labels, questions, err := demoSchema()
	if err != nil {
		return err
	}
	svc := &annotation.Service{Store: store}
	op := annotation.Op{Actor: "radmark-demo"}
	p, err := svc.CreateProject(ctx, op, demoProjectName, "Phantom CT, MR and chest X-ray with known geometry, to try every annotation kind.")
	if err != nil {
		return err
	}
	if _, err := svc.PutSchema(ctx, op, p.ID, 0, labels, questions); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "demo project %q created (%s)\n", p.Name, p.ID)
	return nil
}

// demoSchema is the label schema of the demo projects: coded labels and
// classification questions (one required, so submitting a read needs it).
func demoSchema() ([]radmark.Label, []radmark.Question, error) {
	ix := ontology.Default()
	var labels []radmark.Label
	for _, l := range demoLabels {
		c, ok := ix.Lookup(l.scheme, l.code)
		if !ok || len(c.Categories) == 0 {
			return nil, nil, fmt.Errorf("demo label %s: %s %s is not a segmentation type in the shipped ontology", l.id, l.scheme, l.code)
		}
		labels = append(labels, radmark.Label{ID: l.id, Name: l.name, Color: l.color, Category: c.Categories[0], Type: c.Coded(), Kinds: l.kinds})
	}
	questions := []radmark.Question{
		{ID: "quality", Text: "Is the image quality diagnostic?", Type: radmark.QuestionSingle, Level: radmark.LevelStudy, Required: true,
			Options: []radmark.Option{{Value: "diagnostic"}, {Value: "limited"}, {Value: "non-diagnostic"}}},
		{ID: "findings", Text: "Findings present", Type: radmark.QuestionMultiple, Level: radmark.LevelStudy,
			Options: []radmark.Option{{Value: "nodule"}, {Value: "mass"}, {Value: "effusion"}, {Value: "none"}}},
		{ID: "lung-rads", Text: "Lung-RADS category", Type: radmark.QuestionSingle, Level: radmark.LevelAnnotation, Labels: []string{"lung-nodule"},
			Options: []radmark.Option{{Value: "1"}, {Value: "2"}, {Value: "3"}, {Value: "4A"}, {Value: "4B"}, {Value: "4X"}}},
		{ID: "comment", Text: "Comment", Type: radmark.QuestionText, Level: radmark.LevelSeries},
	}
	return labels, questions, nil
}
