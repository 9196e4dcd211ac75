package radmark

import (
	"context"
	"time"
)

// UID is a DICOM unique identifier (up to 64 characters of digits and dots).
type UID string

// Patient holds the patient-level attributes radmark indexes. In DICOM a
// patient is identified by PatientID within the namespace of its issuer.
type Patient struct {
	ID        string // PatientID (0010,0020)
	Issuer    string // IssuerOfPatientID (0010,0021)
	Name      string // PatientName (0010,0010), decoded to UTF-8, DICOM PN syntax
	BirthDate string // PatientBirthDate (0010,0030), DA
	Sex       string // PatientSex (0010,0040)
}

// Study is one indexed study with the attributes QIDO-RS matches on.
type Study struct {
	UID                    UID
	Patient                Patient
	Date                   string // StudyDate, DA (YYYYMMDD)
	Time                   string // StudyTime, TM
	AccessionNumber        string
	StudyID                string
	Description            string
	ReferringPhysicianName string
	// Derived from the study's series; maintained by the store.
	ModalitiesInStudy []string
	NumSeries         int
	NumInstances      int
	// Attributes is the DICOM JSON object (PS3.18 F.2) of the patient- and
	// study-level attributes, taken from the most recently stored instance.
	Attributes []byte
	UpdatedAt  time.Time
}

// Series is one indexed series.
type Series struct {
	UID                UID
	StudyUID           UID
	Modality           string
	Number             *int // SeriesNumber; nil when absent
	Description        string
	BodyPartExamined   string
	PerformedStartDate string // PerformedProcedureStepStartDate, DA
	PerformedStartTime string // PerformedProcedureStepStartTime, TM
	NumInstances       int    // maintained by the store
	// Attributes is the DICOM JSON object of the series-level attributes,
	// taken from the most recently stored instance.
	Attributes []byte
	UpdatedAt  time.Time
}

// Instance is one stored SOP instance. Its bytes are kept unchanged in the
// blob store under BlobKey; SHA256 is the hex digest of exactly those bytes.
type Instance struct {
	SOPInstanceUID    UID
	SOPClassUID       UID
	SeriesUID         UID
	StudyUID          UID
	InstanceNumber    *int
	TransferSyntaxUID UID
	NumberOfFrames    int // 0 for instances without pixel data
	Rows, Columns     int
	BlobKey           string
	Size              int64
	SHA256            string
	// Pixel locates the pixel data inside the stored bytes so frames can be
	// served with a range read; nil when the instance has no pixel data.
	Pixel *PixelLocation
	// Metadata is the instance's full DICOM JSON object, with bulk data
	// replaced by BulkDataURI placeholders (see the archive package), in the
	// encoding the archive package chose (it may be compressed).
	Metadata  []byte
	CreatedAt time.Time
}

// PixelLocation says where the pixel data of an instance lies in its stored
// bytes. Offsets are absolute file offsets.
type PixelLocation struct {
	// Tag is the pixel data element: (7FE0,0010), or float/double float
	// pixel data (7FE0,0008)/(7FE0,0009).
	Tag uint32 `json:"tag"`
	// Offset and Length give the element's value for native pixel data.
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
	// Encapsulated pixel data: Frames[i] lists the fragments of frame i.
	Encapsulated bool          `json:"encapsulated,omitempty"`
	Frames       [][]ByteRange `json:"frames,omitempty"`
	// Deflated is set when the dataset is deflate-compressed, so offsets are
	// meaningless and frames need the whole object inflated.
	Deflated bool `json:"deflated,omitempty"`
}

// ByteRange is a run of bytes in a stored object.
type ByteRange struct {
	Offset int64 `json:"o"`
	Length int64 `json:"n"`
}

// InstanceRecord is everything the archive indexes for one instance: the
// instance with the patient, study and series attributes it carries.
type InstanceRecord struct {
	Study    Study
	Series   Series
	Instance Instance
	// Linkage, if set, is the sealed original→pseudonym record of a
	// de-identified instance. It is kept in the same transaction that
	// indexes the instance (or finds it stored already), never without it.
	Linkage *SealedLinkage
}

// SealedLinkage is a de-identified instance's original→pseudonym record,
// sealed (AES-GCM) with the linkage key KeyID names; package deid makes
// and opens it, the store only keeps it, per project and instance.
type SealedLinkage struct {
	ProjectID ID
	KeyID     string
	Sealed    []byte
}

// PutStatus says what storing one instance did.
type PutStatus int

const (
	PutStored    PutStatus = iota + 1 // a new instance was indexed
	PutDuplicate                      // the same SOP instance with identical bytes was already stored; nothing changed
	PutReplaced                       // an instance with the same SOP Instance UID and other bytes was replaced (overwrite)
)

func (s PutStatus) String() string {
	switch s {
	case PutStored:
		return "stored"
	case PutDuplicate:
		return "duplicate"
	case PutReplaced:
		return "replaced"
	}
	return "unknown"
}

// PutResult is the outcome of storing one InstanceRecord. When Err is set the
// instance was not indexed; it is an *Error with ECONFLICT when the SOP
// instance exists with other bytes and overwrite was not asked for.
type PutResult struct {
	Status PutStatus
	// PreviousBlobKey is the blob the replaced instance pointed to (PutReplaced);
	// the caller deletes it once it is no longer referenced.
	PreviousBlobKey string
	Err             error
}

// PutOptions changes how PutInstances treats existing instances.
type PutOptions struct {
	// Overwrite replaces an existing instance that has other bytes instead of
	// reporting a conflict.
	Overwrite bool
	// Unsynced lets the store commit without waiting for the disk: the
	// caller has made the records durable elsewhere (the blob journal
	// writes each with its instance's bytes and gives it back after a
	// crash) and makes the store durable later through a barrier. A store
	// that cannot do this commits durably as usual.
	Unsynced bool
	// BeforeCommit, if set, runs after the transaction's work and before
	// its commit; an error rolls it back. The blob journal's appends
	// finish their fdatasync meanwhile, so that the index commits only
	// once the records it names are durable. It may run more than once
	// (a retried transaction).
	BeforeCommit func() error
	// Audit are events appended to the audit chain in the same
	// transaction, after the records' work and BeforeCommit: a store
	// request and its record commit together. Each must be new to the
	// chain (an ID already there fails the transaction), unless Replay.
	// The events' Seq, PrevHash and Hash are set once the transaction
	// committed; the error return means none was appended.
	Audit []*AuditEvent
	// Replay says the records and events may have been committed already
	// (the blob journal indexing again what a crash may have lost): an
	// event whose ID is on the chain is then left as it is, so that the
	// replay is idempotent for events as it is for records. Only a replay
	// pays for looking the IDs up.
	Replay bool
}

// Level is a level of the DICOM information model.
type Level int

const (
	StudyLevel Level = iota + 1
	SeriesLevel
	InstanceLevel
)

func (l Level) String() string {
	switch l {
	case StudyLevel:
		return "STUDY"
	case SeriesLevel:
		return "SERIES"
	case InstanceLevel:
		return "IMAGE"
	}
	return "UNKNOWN"
}

// Key names an indexed attribute that queries can match on. Values are DICOM
// keywords.
type Key string

// The indexed matching keys. Study-level keys may also be used in series and
// instance queries, and series-level keys in instance queries.
const (
	KeyStudyInstanceUID       Key = "StudyInstanceUID"
	KeyPatientName            Key = "PatientName"
	KeyPatientID              Key = "PatientID"
	KeyIssuerOfPatientID      Key = "IssuerOfPatientID"
	KeyPatientBirthDate       Key = "PatientBirthDate"
	KeyPatientSex             Key = "PatientSex"
	KeyStudyDate              Key = "StudyDate"
	KeyStudyTime              Key = "StudyTime"
	KeyAccessionNumber        Key = "AccessionNumber"
	KeyStudyID                Key = "StudyID"
	KeyStudyDescription       Key = "StudyDescription"
	KeyReferringPhysicianName Key = "ReferringPhysicianName"
	KeyModalitiesInStudy      Key = "ModalitiesInStudy"

	KeySeriesInstanceUID               Key = "SeriesInstanceUID"
	KeyModality                        Key = "Modality"
	KeySeriesNumber                    Key = "SeriesNumber"
	KeySeriesDescription               Key = "SeriesDescription"
	KeyBodyPartExamined                Key = "BodyPartExamined"
	KeyPerformedProcedureStepStartDate Key = "PerformedProcedureStepStartDate"
	KeyPerformedProcedureStepStartTime Key = "PerformedProcedureStepStartTime"

	KeySOPInstanceUID Key = "SOPInstanceUID"
	KeySOPClassUID    Key = "SOPClassUID"
	KeyInstanceNumber Key = "InstanceNumber"
)

// KeyLevel returns the level at which key is indexed, or 0 if key is not an
// indexed matching key.
func KeyLevel(key Key) Level {
	switch key {
	case KeyStudyInstanceUID, KeyPatientName, KeyPatientID, KeyIssuerOfPatientID,
		KeyPatientBirthDate, KeyPatientSex, KeyStudyDate, KeyStudyTime,
		KeyAccessionNumber, KeyStudyID, KeyStudyDescription,
		KeyReferringPhysicianName, KeyModalitiesInStudy:
		return StudyLevel
	case KeySeriesInstanceUID, KeyModality, KeySeriesNumber, KeySeriesDescription,
		KeyBodyPartExamined, KeyPerformedProcedureStepStartDate, KeyPerformedProcedureStepStartTime:
		return SeriesLevel
	case KeySOPInstanceUID, KeySOPClassUID, KeyInstanceNumber:
		return InstanceLevel
	}
	return 0
}

// MatchKind is the kind of DICOM attribute matching (PS3.4 C.2.2.2).
type MatchKind int

const (
	// MatchSingle: the value equals Values[0]. For person names and
	// descriptions the comparison ignores case.
	MatchSingle MatchKind = iota + 1
	// MatchList: the value equals one of Values (UID list matching, or
	// several modalities).
	MatchList
	// MatchWildcard: Values[0] is a pattern where '*' matches any run of
	// characters and '?' any one character.
	MatchWildcard
	// MatchRange: Lo <= value <= Hi, either bound may be empty (open). Used
	// for dates and times, compared as strings of the same DICOM format.
	MatchRange
)

// Filter matches one indexed key.
type Filter struct {
	Key    Key
	Kind   MatchKind
	Values []string
	Lo, Hi string
}

// Query selects studies, series or instances. StudyUID and SeriesUID narrow
// the search to one study or series (from the QIDO-RS path). Limit 0 means no
// limit.
type Query struct {
	Level     Level
	StudyUID  UID
	SeriesUID UID
	Filters   []Filter
	Limit     int
	Offset    int
}

// ArchiveStore is the archive index: it records what instances are stored
// and answers queries on them. Drivers: sqlite, postgres.
type ArchiveStore interface {
	// PutInstances indexes records, each independently: a failure of one
	// (see PutResult.Err) does not stop the others. The error return is for
	// failures of the store itself, in which case nothing was indexed.
	PutInstances(ctx context.Context, records []*InstanceRecord, opts PutOptions) ([]PutResult, error)
	// FindStudies, FindSeries and FindInstances answer queries ordered by
	// UID-independent stable keys (date, number) then UID.
	FindStudies(ctx context.Context, q Query) ([]*Study, error)
	FindSeries(ctx context.Context, q Query) ([]*Series, error)
	FindInstances(ctx context.Context, q Query) ([]*Instance, error)
	// Instance returns one instance; ENOTFOUND if it is not stored.
	Instance(ctx context.Context, sopInstanceUID UID) (*Instance, error)
	// Counts returns how many studies, series and instances are indexed.
	Counts(ctx context.Context) (studies, series, instances int, err error)
}
