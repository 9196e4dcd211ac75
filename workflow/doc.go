// Package workflow owns the reading workflow of projects: the workflow
// configuration (how many independent blinded reads, who reads, how tasks
// are assigned, quotas, due dates, priorities, agreement bounds), the
// cases a project reads, their tasks and the state machine they follow
// (read: unassigned → assigned → in_progress → submitted → in_review →
// accepted | changes_requested → in_progress ...; arbitration: unassigned →
// assigned → in_progress → resolved), agreement between reads (exact
// Dice, IoU and landmark distances, answer equality), arbitration (pick,
// merge, edit), review comments, blinding (who may see or change which
// annotation set) and progress.
//
// Every transition is checked (the actor's roles and relation to the
// task, the task's state) and committed with its audit event, on the
// version of the task and case it was decided on, so concurrent
// transitions on any number of replicas never interleave; the database
// decides which reader gets a pulled task. The package knows neither
// HTTP nor SQL.
package workflow
