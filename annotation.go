package radmark

import (
	"context"
	"time"
)

// ImageRef names one image: an instance and, for multi-frame instances, a
// frame (1-based; 0 for single-frame instances).
type ImageRef struct {
	SOPInstanceUID UID `json:"sopInstanceUID"`
	Frame          int `json:"frame,omitempty"`
}

// Source says who or what made an annotation item.
type Source struct {
	Type    string `json:"type"`              // "human" or "model"
	Name    string `json:"name,omitempty"`    // model name
	Version string `json:"version,omitempty"` // model version
}

// SegmentRef places a segmentation item in a labelmap: voxels of Layer
// holding Value belong to it. Overlapping segments live in different
// layers.
type SegmentRef struct {
	Layer int `json:"layer"`
	Value int `json:"value"`
}

// Item is one annotation. Coordinates follow DICOM: image points are
// (column, row) in pixels with (0,0) the top-left corner of the top-left
// pixel, so the centre of pixel (i, j) is (i+0.5, j+0.5) (the SCOORD
// convention, PS3.3 C.18.6.1.1); patient points are LPS millimetres.
//
// Per kind: box2d, ellipse_roi and rectangle_roi take Image and two opposite
// corners in Points; contour takes Image, Points (3 or more for a closed
// polygon, 2 or more for a polyline) and Closed; length, angle and
// bidirectional take 2, 3 and 4 points either as Image+Points or as LPS
// (bidirectional: long axis first, then short axis); landmark takes one LPS
// point and the Image it was placed on; box3d takes two opposite LPS
// corners; segmentation takes Segment.
type Item struct {
	ID         string       `json:"id"`
	Kind       Kind         `json:"kind"`
	Label      string       `json:"label"`
	Source     Source       `json:"source"`
	Confidence *float64     `json:"confidence,omitempty"`
	Author     string       `json:"author,omitempty"`
	Image      *ImageRef    `json:"image,omitempty"`
	Points     [][2]float64 `json:"points,omitempty"`
	LPS        [][3]float64 `json:"lps,omitempty"`
	Closed     bool         `json:"closed,omitempty"`
	Segment    *SegmentRef  `json:"segment,omitempty"`
	Note       string       `json:"note,omitempty"`
}

// Answer answers a classification question. The target depends on the
// question's level: the set's study, a series (SeriesUID), an image
// (Image) or an annotation item (Item).
type Answer struct {
	Question  string    `json:"question"`
	SeriesUID UID       `json:"seriesUID,omitempty"`
	Image     *ImageRef `json:"image,omitempty"`
	Item      string    `json:"item,omitempty"`
	Choices   []string  `json:"choices,omitempty"` // single (one) and multiple choice
	Number    *float64  `json:"number,omitempty"`
	Text      string    `json:"text,omitempty"`
	Author    string    `json:"author,omitempty"`
}

// Labelmap is one layer of voxel labels on a series' grid, stored as one
// compressed chunk per slice (see package labelmap): Chunks[k] is the
// digest of slice k's chunk, "" for a slice with no label.
type Labelmap struct {
	Layer     int      `json:"layer"`
	SeriesUID UID      `json:"seriesUID"`
	Columns   int      `json:"columns"`
	Rows      int      `json:"rows"`
	Slices    int      `json:"slices"`
	Encoding  string   `json:"encoding"`
	Chunks    []string `json:"chunks"`
}

// Content is everything one revision holds.
type Content struct {
	SchemaVersion int        `json:"schemaVersion"`
	Items         []Item     `json:"items"`
	Answers       []Answer   `json:"answers,omitempty"`
	Labelmaps     []Labelmap `json:"labelmaps,omitempty"`
}

// Revision is an immutable snapshot of an annotation set. Revisions form
// a chain through Parent; the set's head is the newest.
type Revision struct {
	ID        ID        `json:"id"`
	SetID     ID        `json:"setId"`
	Parent    ID        `json:"parent,omitempty"`
	Number    int       `json:"number"` // 1 for the first revision of a set
	Author    string    `json:"author"`
	CreatedAt time.Time `json:"createdAt"`
	Message   string    `json:"message,omitempty"`
	// Submitted marks a revision the reader declared complete; it passed
	// the schema's required questions.
	Submitted bool `json:"submitted,omitempty"`
	// ContentHash is the sha256 of Content's canonical JSON.
	ContentHash string   `json:"contentHash"`
	Content     *Content `json:"content,omitempty"`
}

// AnnotationSet is everything one reader annotated on one study (or one
// series of it) in a project.
type AnnotationSet struct {
	ID         ID        `json:"id"`
	ProjectID  ID        `json:"projectId"`
	StudyUID   UID       `json:"studyUID"`
	SeriesUID  UID       `json:"seriesUID,omitempty"`
	Reader     string    `json:"reader"`
	Head       ID        `json:"head,omitempty"` // "" until the first save
	HeadNumber int       `json:"headNumber"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// SetFilter selects annotation sets; empty fields match all.
type SetFilter struct {
	ProjectID ID
	StudyUID  UID
	SeriesUID UID
	Reader    string
	Limit     int
	Offset    int
}

// AnnotationStore keeps annotation sets and their revisions. Every
// mutation appends its audit event in the same transaction.
type AnnotationStore interface {
	// CreateSet stores a new set; ECONFLICT if the project already has a
	// set for that reader, study and series.
	CreateSet(ctx context.Context, s *AnnotationSet, ev *AuditEvent) error
	Set(ctx context.Context, id ID) (*AnnotationSet, error)
	Sets(ctx context.Context, f SetFilter) ([]*AnnotationSet, error)
	// SaveRevision stores r (with its Content) as the set's new head,
	// provided the head is still r.Parent; otherwise it stores nothing and
	// returns an ECONFLICT *Error (see HeadConflict). r.Number is set by
	// the store.
	SaveRevision(ctx context.Context, r *Revision, ev *AuditEvent) error
	// Revision returns a revision with its content.
	Revision(ctx context.Context, id ID) (*Revision, error)
	// Revisions lists a set's revisions, newest first, without content.
	Revisions(ctx context.Context, set ID) ([]*Revision, error)
}

// HeadConflict is the error detail of a save against a stale head.
type HeadConflict struct {
	Expected ID // the parent the writer based its change on
	Head     ID // the set's actual head
}

func (h *HeadConflict) Error() string {
	return "the annotation set has moved on: head is " + string(h.Head) + ", not " + string(h.Expected)
}
