package release

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/dataset"
)

// Format names the manifest's layout.
const Format = "radmark-release/1"

// ManifestName is the manifest's file name in a release archive.
const ManifestName = "manifest.json"

// Manifest describes a release completely: what was frozen (instances
// by sha256, revisions by id and content hash, the schema version), how it
// was split, and every file with its sha256. Its canonical JSON's sha256
// is the release id, so any change to it, or through it to any file, makes
// another release.
type Manifest struct {
	Format  string     `json:"format"`
	Project ProjectRef `json:"project"`
	// SchemaVersion is the label schema version the exports use.
	SchemaVersion int `json:"schemaVersion"`
	// Selection says what "accepted" meant: "workflow" (the final result
	// of every done case) or "revisions" (the revisions named).
	Selection string    `json:"selection"`
	Split     SplitSpec `json:"split"`
	// FrozenAt is the time of the newest revision frozen (also the
	// modification time of every file in the archive).
	FrozenAt  time.Time  `json:"frozenAt"`
	Software  string     `json:"software,omitempty"`
	Cases     []Case     `json:"cases"`
	Instances []Instance `json:"instances"`
	Files     []File     `json:"files"`
}

// ProjectRef names the project released.
type ProjectRef struct {
	ID   radmark.ID `json:"id"`
	Name string     `json:"name"`
}

// SplitSpec is how patients were split.
type SplitSpec struct {
	Unit      string    `json:"unit"` // always "patient"
	Seed      int64     `json:"seed"`
	Fractions Fractions `json:"fractions"`
	Stratify  bool      `json:"stratify"`
	// Patients counts the patients of each part.
	Patients map[string]int `json:"patients"`
}

// Case is one frozen annotation result: a revision of a set on a study
// (or series), in one part of the split.
type Case struct {
	ID string `json:"case"`
	// Patient numbers the patient within the release ("patient_0001"); no
	// identifier of the archive leaves in the manifest.
	Patient      string      `json:"patient"`
	Split        string      `json:"split"`
	StudyUID     radmark.UID `json:"studyUID"`
	SeriesUID    radmark.UID `json:"seriesUID,omitempty"`
	SetID        radmark.ID  `json:"annotationSet"`
	Reader       string      `json:"reader"`
	Revision     radmark.ID  `json:"revision"`
	ContentHash  string      `json:"contentHash"`
	WorkflowCase radmark.ID  `json:"workflowCase,omitempty"`
	Outcome      string      `json:"outcome,omitempty"`
	Labels       []string    `json:"labels"`
	// Files lists the case's exported files (paths of Manifest.Files).
	Files []string `json:"files,omitempty"`
}

// Instance is one frozen image instance.
type Instance struct {
	SOPInstanceUID radmark.UID `json:"sopInstanceUID"`
	SeriesUID      radmark.UID `json:"seriesUID"`
	StudyUID       radmark.UID `json:"studyUID"`
	SHA256         string      `json:"sha256"`
	Size           int64       `json:"size"`
}

// File is one file of the release.
type File struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Encode returns the manifest's canonical bytes and their sha256, the
// release id.
func (m *Manifest) Encode() ([]byte, string, error) {
	b, err := dataset.JSON(m)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:]), nil
}

// CheckPath refuses file paths an archive must not hold: empty, absolute,
// with "." or ".." segments, backslashes or NUL, or not in clean form.
func CheckPath(p string) error {
	switch {
	case p == "" || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00"):
		return fmt.Errorf("file path %q is not a relative slash-separated path", p)
	case path.Clean(p) != p:
		return fmt.Errorf("file path %q is not clean", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("file path %q leaves its folder", p)
		}
	}
	return nil
}

// IsID reports whether s has the form of a release id (64 lower-case hex
// digits).
func IsID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Folder is the top folder of a release archive: every file lies under
// it, named by the release id so that the archive carries the hash its
// manifest must have.
func Folder(id string) string { return "release-" + id }
