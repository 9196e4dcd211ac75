package workflow

import (
	"context"
	"sort"

	"github.com/radmark/radmark"
)

// ReaderProgress is one user's share of a project's work.
type ReaderProgress struct {
	User    string                    `json:"user"`
	ByState map[radmark.TaskState]int `json:"byState"`
	// WorkSeconds is the time spent on their tasks; Finished counts the
	// tasks they finished (accepted reads, resolved arbitrations) and
	// MeanSeconds the mean time of those.
	WorkSeconds float64 `json:"workSeconds"`
	Finished    int     `json:"finished"`
	MeanSeconds float64 `json:"meanSeconds"`
	Overdue     int     `json:"overdue"`
}

// TaskTime is the time spent on one task.
type TaskTime struct {
	Task        radmark.ID        `json:"task"`
	Case        radmark.ID        `json:"case"`
	Kind        radmark.TaskKind  `json:"kind"`
	Assignee    string            `json:"assignee,omitempty"`
	State       radmark.TaskState `json:"state"`
	WorkSeconds float64           `json:"workSeconds"`
}

// Progress is a project's progress.
type Progress struct {
	Cases       int                       `json:"cases"`
	CasesBy     map[radmark.CaseState]int `json:"casesByState"`
	ReadsBy     map[radmark.TaskState]int `json:"readsByState"`
	ArbitrateBy map[radmark.TaskState]int `json:"arbitrationsByState"`
	Readers     []ReaderProgress          `json:"readers"`
	Tasks       []TaskTime                `json:"tasks"`
}

// Progress counts a project's cases and tasks by state and by reader,
// with the time spent per task (the running period of tasks in progress
// included).
func (s *Service) Progress(ctx context.Context, project radmark.ID) (*Progress, error) {
	cases, err := s.Store.Cases(ctx, radmark.CaseFilter{ProjectID: project})
	if err != nil {
		return nil, err
	}
	tasks, err := s.Store.Tasks(ctx, radmark.TaskFilter{ProjectID: project})
	if err != nil {
		return nil, err
	}
	now := s.now()
	p := &Progress{Cases: len(cases), CasesBy: map[radmark.CaseState]int{}, ReadsBy: map[radmark.TaskState]int{},
		ArbitrateBy: map[radmark.TaskState]int{}, Readers: []ReaderProgress{}, Tasks: []TaskTime{}}
	for _, c := range cases {
		p.CasesBy[c.State]++
	}
	by := map[string]*ReaderProgress{}
	for _, t := range tasks {
		if t.Kind == radmark.TaskRead {
			p.ReadsBy[t.State]++
		} else {
			p.ArbitrateBy[t.State]++
		}
		spent := t.WorkSeconds + timeSince(t.StartedAt, now)
		p.Tasks = append(p.Tasks, TaskTime{Task: t.ID, Case: t.CaseID, Kind: t.Kind, Assignee: t.Assignee, State: t.State, WorkSeconds: spent})
		if t.Assignee == "" {
			continue
		}
		r := by[t.Assignee]
		if r == nil {
			r = &ReaderProgress{User: t.Assignee, ByState: map[radmark.TaskState]int{}}
			by[t.Assignee] = r
		}
		r.ByState[t.State]++
		r.WorkSeconds += spent
		if t.State == radmark.TaskAccepted || t.State == radmark.TaskResolved {
			r.Finished++
			r.MeanSeconds += spent
		} else if t.Due != nil && t.Due.Before(now) {
			r.Overdue++
		}
	}
	for _, r := range by {
		if r.Finished > 0 {
			r.MeanSeconds /= float64(r.Finished)
		}
		p.Readers = append(p.Readers, *r)
	}
	sort.Slice(p.Readers, func(i, j int) bool { return p.Readers[i].User < p.Readers[j].User })
	return p, nil
}
