package radmark

import (
	"context"
	"time"
)

// ID identifies a radmark object (project, annotation set, revision,
// audit event...): a UUIDv7 in its canonical text form, so IDs sort by
// creation time.
type ID string

// Code is a coded concept (PS3.3 8.8): CodeValue, CodingSchemeDesignator
// (SCT for SNOMED CT, RADLEX, DCM, I10 for ICD-10...) and CodeMeaning.
type Code struct {
	Value   string `json:"value"`
	Scheme  string `json:"scheme"`
	Meaning string `json:"meaning"`
}

// IsZero reports whether the code is empty.
func (c Code) IsZero() bool { return c.Value == "" && c.Scheme == "" && c.Meaning == "" }

// Project is a labelling effort: a set of cases annotated under one label
// schema.
type Project struct {
	ID          ID        `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	CreatedBy   string    `json:"createdBy"`
	// SchemaVersion is the current label schema version (0: none yet).
	SchemaVersion int `json:"schemaVersion"`
}

// Kind is an annotation kind.
type Kind string

// The annotation kinds radmark stores.
const (
	KindSegmentation   Kind = "segmentation"   // voxels of a labelmap layer on a series grid
	KindBox2D          Kind = "box2d"          // image pixel rectangle on an instance/frame
	KindBox3D          Kind = "box3d"          // patient-space (LPS mm) box
	KindContour        Kind = "contour"        // polygon (closed) or polyline on an image
	KindLandmark       Kind = "landmark"       // LPS mm point, with the image it was placed on
	KindLength         Kind = "length"         // two points
	KindAngle          Kind = "angle"          // three points, vertex in the middle
	KindBidirectional  Kind = "bidirectional"  // long axis and perpendicular short axis
	KindEllipseROI     Kind = "ellipse_roi"    // ellipse on an image, with pixel statistics
	KindRectangleROI   Kind = "rectangle_roi"  // rectangle on an image, with pixel statistics
	KindClassification Kind = "classification" // answers to schema questions
)

// Kinds lists every kind.
var Kinds = []Kind{KindSegmentation, KindBox2D, KindBox3D, KindContour, KindLandmark, KindLength,
	KindAngle, KindBidirectional, KindEllipseROI, KindRectangleROI, KindClassification}

// Label is one entry of a label schema: what annotators mark, coded the
// way DICOM SEG and SR describe segments and findings.
type Label struct {
	// ID is the label's stable key within the project ("liver",
	// "lung-nodule"); annotations refer to it.
	ID       string `json:"id"`
	Name     string `json:"name"`
	Color    string `json:"color"` // #rrggbb
	Category Code   `json:"category"`
	Type     Code   `json:"type"`
	// TypeModifier (e.g. laterality Left), AnatomicRegion and its
	// modifier are optional.
	TypeModifier           *Code `json:"typeModifier,omitempty"`
	AnatomicRegion         *Code `json:"anatomicRegion,omitempty"`
	AnatomicRegionModifier *Code `json:"anatomicRegionModifier,omitempty"`
	// Kinds are the annotation kinds allowed with this label.
	Kinds []Kind `json:"kinds"`
	// Description is guidance for annotators.
	Description string `json:"description,omitempty"`
}

// QuestionType is the type of a classification question's answer.
type QuestionType string

const (
	QuestionSingle   QuestionType = "single"   // one of Options
	QuestionMultiple QuestionType = "multiple" // any of Options
	QuestionNumber   QuestionType = "number"   // a number in [Min, Max]
	QuestionText     QuestionType = "text"     // free text
)

// Level is what a classification question is asked about.
type QuestionLevel string

const (
	LevelStudy      QuestionLevel = "study"
	LevelSeries     QuestionLevel = "series"
	LevelImage      QuestionLevel = "image"
	LevelAnnotation QuestionLevel = "annotation"
)

// Option is one allowed answer of a choice question.
type Option struct {
	Value string `json:"value"`
	Text  string `json:"text,omitempty"`
	Code  *Code  `json:"code,omitempty"`
}

// Question is a classification question of a label schema.
type Question struct {
	ID       string        `json:"id"`
	Text     string        `json:"text"`
	Type     QuestionType  `json:"type"`
	Level    QuestionLevel `json:"level"`
	Required bool          `json:"required,omitempty"`
	Options  []Option      `json:"options,omitempty"`
	Min      *float64      `json:"min,omitempty"`
	Max      *float64      `json:"max,omitempty"`
	Unit     *Code         `json:"unit,omitempty"` // UCUM unit of a number answer
	// Labels limits an annotation-level question to items of these
	// labels (empty: every label).
	Labels []string `json:"labels,omitempty"`
	// Concept codes the question itself (e.g. an SR concept name).
	Concept *Code `json:"concept,omitempty"`
}

// LabelSchema is one version of a project's label schema. Versions are
// immutable; a change makes a new version.
type LabelSchema struct {
	ProjectID ID         `json:"projectId"`
	Version   int        `json:"version"`
	Labels    []Label    `json:"labels"`
	Questions []Question `json:"questions,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
	CreatedBy string     `json:"createdBy"`
	// Hash is the sha256 of the schema's canonical content.
	Hash string `json:"hash"`
}

// Label returns the label with the given id.
func (s *LabelSchema) Label(id string) (Label, bool) {
	for _, l := range s.Labels {
		if l.ID == id {
			return l, true
		}
	}
	return Label{}, false
}

// Question returns the question with the given id.
func (s *LabelSchema) Question(id string) (Question, bool) {
	for _, q := range s.Questions {
		if q.ID == id {
			return q, true
		}
	}
	return Question{}, false
}

// ProjectStore keeps projects and their label schemas. Every mutation
// appends its audit event in the same transaction.
type ProjectStore interface {
	CreateProject(ctx context.Context, p *Project, ev *AuditEvent) error
	UpdateProject(ctx context.Context, p *Project, ev *AuditEvent) error
	Project(ctx context.Context, id ID) (*Project, error)
	Projects(ctx context.Context) ([]*Project, error)
	// PutSchema stores s as the project's next version: s.Version must be
	// the current version + 1 (else ECONFLICT), and the project's
	// SchemaVersion moves to it.
	PutSchema(ctx context.Context, s *LabelSchema, ev *AuditEvent) error
	// Schema returns a version; version 0 means the current one.
	Schema(ctx context.Context, project ID, version int) (*LabelSchema, error)
}
