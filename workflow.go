package radmark

import (
	"context"
	"time"
)

// Assignment strategies of a project's workflow.
const (
	AssignPull       = "pull"        // readers ask for their next task
	AssignRoundRobin = "round_robin" // new tasks are pushed to eligible readers in turn
	AssignManual     = "manual"      // a manager assigns every task
)

// Agreement holds the bounds within which independent reads of a case
// agree. Reads that differ beyond any bound send the case to arbitration.
type Agreement struct {
	// Dice is the least Dice coefficient of each label's segmentation.
	Dice float64 `json:"dice"`
	// IoU is the least intersection over union of matched 2D/3D boxes.
	IoU float64 `json:"iou"`
	// LandmarkMM is the largest distance (LPS mm) of matched landmarks.
	LandmarkMM float64 `json:"landmarkMM"`
}

// WorkflowConfig is one version of a project's reading workflow. Versions
// are immutable; a change stores the next version. It applies to cases
// added after it.
type WorkflowConfig struct {
	ProjectID ID  `json:"projectId"`
	Version   int `json:"version"`
	// Readers is how many independent, blinded reads each case gets.
	Readers int `json:"readers"`
	// ReaderRoles and ReaderUsers say who may read: members holding one of
	// the roles, or the named users (who still need a reading role).
	ReaderRoles []Role   `json:"readerRoles"`
	ReaderUsers []string `json:"readerUsers,omitempty"`
	// Assignment is AssignPull, AssignRoundRobin or AssignManual.
	Assignment string `json:"assignment"`
	// Quota is the most read tasks one user may hold in the project over
	// its life (0: no limit).
	Quota int `json:"quota,omitempty"`
	// DueDays, when positive, sets a task's due date that many days after
	// its assignment (unless its case has a due date of its own).
	DueDays   int       `json:"dueDays,omitempty"`
	Priority  int       `json:"priority,omitempty"` // default priority of new cases
	Agree     Agreement `json:"agreement"`
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy"`
}

// CaseState is where a case is in the workflow.
type CaseState string

// Case states.
const (
	CaseReading     CaseState = "reading"     // some read is not submitted yet: reads are blinded
	CaseReview      CaseState = "review"      // every read was submitted; reviews are under way
	CaseArbitration CaseState = "arbitration" // the accepted reads disagree
	CaseDone        CaseState = "done"        // the case has its final result
)

// Case is a study (or one series of it) that a project reads.
type Case struct {
	ID        ID         `json:"id"`
	ProjectID ID         `json:"projectId"`
	StudyUID  UID        `json:"studyUID"`
	SeriesUID UID        `json:"seriesUID,omitempty"`
	State     CaseState  `json:"state"`
	Priority  int        `json:"priority"`
	Due       *time.Time `json:"due,omitempty"`
	// Readers is how many reads the case gets (the workflow's at addition).
	Readers int `json:"readers"`
	// ConfigVersion is the workflow version the case follows.
	ConfigVersion int `json:"configVersion"`
	// FinalSet and FinalRevision are the case's result once done.
	FinalSet      ID     `json:"finalSet,omitempty"`
	FinalRevision ID     `json:"finalRevision,omitempty"`
	Outcome       string `json:"outcome,omitempty"` // "agreed", "single", "picked", "merged", "edited"
	// Disagreement says why the reads went to arbitration.
	Disagreement string    `json:"disagreement,omitempty"`
	Source       string    `json:"source"` // how it was added: "uid" or "query" (by hand); "upload", "stow", "dimse" or "quarantine" (de-identified on the way in, see package intake)
	AddedBy      string    `json:"addedBy"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
	// Version counts the case's changes; every task transition of the
	// case moves it, which serialises them.
	Version int `json:"version"`
}

// TaskKind is what a task asks for.
type TaskKind string

// Task kinds. Review is a phase of a read task (submitted → in_review →
// accepted | changes_requested), taken by a reviewer.
const (
	TaskRead        TaskKind = "read"
	TaskArbitration TaskKind = "arbitration"
)

// TaskState is where a task is.
type TaskState string

// Task states.
const (
	TaskUnassigned       TaskState = "unassigned"
	TaskAssigned         TaskState = "assigned"
	TaskInProgress       TaskState = "in_progress"
	TaskSubmitted        TaskState = "submitted"
	TaskInReview         TaskState = "in_review"
	TaskAccepted         TaskState = "accepted"
	TaskChangesRequested TaskState = "changes_requested"
	TaskResolved         TaskState = "resolved" // an arbitration that set the case's result
)

// Task is one unit of work on a case.
type Task struct {
	ID        ID        `json:"id"`
	ProjectID ID        `json:"projectId"`
	CaseID    ID        `json:"caseId"`
	StudyUID  UID       `json:"studyUID"`
	SeriesUID UID       `json:"seriesUID,omitempty"`
	Kind      TaskKind  `json:"kind"`
	Slot      int       `json:"slot"` // read number 1..N (0 for arbitration)
	State     TaskState `json:"state"`
	Assignee  string    `json:"assignee,omitempty"`
	Reviewer  string    `json:"reviewer,omitempty"`
	// SetID is the assignee's annotation set (from the start of work);
	// Revision the revision submitted (or chosen as final).
	SetID    ID         `json:"setId,omitempty"`
	Revision ID         `json:"revision,omitempty"`
	Priority int        `json:"priority"`
	Due      *time.Time `json:"due,omitempty"`
	// WorkSeconds is the time spent in progress, over every period;
	// StartedAt the start of the current one.
	WorkSeconds float64    `json:"workSeconds"`
	StartedAt   *time.Time `json:"startedAt,omitempty"`
	AssignedAt  *time.Time `json:"assignedAt,omitempty"`
	SubmittedAt *time.Time `json:"submittedAt,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
	Version     int        `json:"version"`
}

// Comment is a review comment on a case, optionally about one read (Task),
// pinned to an annotation item or to a point on an image.
type Comment struct {
	ID         ID          `json:"id"`
	ProjectID  ID          `json:"projectId"`
	CaseID     ID          `json:"caseId"`
	TaskID     ID          `json:"taskId,omitempty"`
	Author     string      `json:"author"`
	Body       string      `json:"body"`
	Item       string      `json:"item,omitempty"`
	Image      *ImageRef   `json:"image,omitempty"`
	LPS        *[3]float64 `json:"lps,omitempty"`
	Resolved   bool        `json:"resolved"`
	ResolvedBy string      `json:"resolvedBy,omitempty"`
	CreatedAt  time.Time   `json:"createdAt"`
	UpdatedAt  time.Time   `json:"updatedAt"`
	Version    int         `json:"version"`
}

// CaseFilter selects cases; empty fields match all.
type CaseFilter struct {
	ProjectID ID
	StudyUID  UID
	State     CaseState
	Limit     int
	Offset    int
}

// TaskFilter selects tasks; empty fields match all.
type TaskFilter struct {
	ProjectID ID
	CaseID    ID
	Kind      TaskKind
	States    []TaskState
	Assignee  string
	Reviewer  string
	SetID     ID
	Limit     int
	Offset    int
}

// NewCase is a case to add with its tasks.
type NewCase struct {
	Case  *Case
	Tasks []*Task
	Event *AuditEvent
}

// TaskChange is a task's new state, written only if the stored task is
// still at Expect (its Version before the change).
type TaskChange struct {
	Task   *Task
	Expect int
	Event  *AuditEvent
}

// WorkflowChange is one transition: task changes, a case change and new
// tasks, committed together or not at all. The case is written only if
// its stored Version is still CaseExpect.
type WorkflowChange struct {
	Case       *Case
	CaseExpect int
	CaseEvent  *AuditEvent
	Tasks      []TaskChange
	NewTasks   []*Task
	NewEvents  []*AuditEvent
}

// ClaimRequest asks the store to give the best unassigned task of a
// project to a user, atomically.
type ClaimRequest struct {
	ProjectID ID
	Kind      TaskKind
	Assignee  string
	// Quota, when positive, refuses a read once the user holds that many
	// reads of the project.
	Quota int
	// Exclude lists case IDs the user may not take a task of.
	Exclude []ID
	Now     time.Time
	Due     *time.Time
	Event   *AuditEvent
}

// StaleError is the detail of an ECONFLICT from a changed case or task.
type StaleError struct {
	Object string // "case" or "task"
	ID     ID
}

func (e *StaleError) Error() string {
	return "the " + e.Object + " " + string(e.ID) + " changed meanwhile"
}

// WorkflowStore keeps workflow configurations, cases, tasks and comments.
// Every mutation appends its audit events in the same transaction.
type WorkflowStore interface {
	// PutWorkflowConfig stores c as the project's next version: c.Version
	// must be the current one + 1 (else ECONFLICT).
	PutWorkflowConfig(ctx context.Context, c *WorkflowConfig, ev *AuditEvent) error
	// WorkflowConfig returns the current version (ENOTFOUND if none).
	WorkflowConfig(ctx context.Context, project ID) (*WorkflowConfig, error)
	// AddCases stores new cases with their tasks, skipping those whose
	// project already has a case on the same study and series; it reports
	// which were added.
	AddCases(ctx context.Context, cases []NewCase) ([]bool, error)
	Case(ctx context.Context, id ID) (*Case, error)
	Cases(ctx context.Context, f CaseFilter) ([]*Case, error)
	Task(ctx context.Context, id ID) (*Task, error)
	Tasks(ctx context.Context, f TaskFilter) ([]*Task, error)
	// ApplyWorkflowChange commits one transition (see WorkflowChange): a
	// stale case or task is ECONFLICT with a *StaleError.
	ApplyWorkflowChange(ctx context.Context, c *WorkflowChange) error
	// ClaimTask assigns the unassigned task of the highest priority
	// (then oldest case, then slot) to the claimer and returns it; nil
	// when none is left. No task is ever given to two claimers.
	ClaimTask(ctx context.Context, r ClaimRequest) (*Task, error)
	// ProjectsOfStudy lists the projects with a case on the study.
	ProjectsOfStudy(ctx context.Context, study UID) ([]ID, error)
	PutComment(ctx context.Context, c *Comment, expect int, ev *AuditEvent) error
	DeleteComment(ctx context.Context, id ID, expect int, ev *AuditEvent) error
	Comment(ctx context.Context, id ID) (*Comment, error)
	Comments(ctx context.Context, caseID ID) ([]*Comment, error)
}
