-- The reading workflow: versions of each project's workflow configuration,
-- the cases a project reads, their tasks (reads and arbitrations) and
-- review comments. internal/sqlstore keeps the rules (see workflow.go
-- there): every change in one transaction with its audit events, every
-- task and case change conditional on the version read before it.
--
-- Times are TEXT as in 00002 (fixed-width UTC, microseconds); NULL for
-- an optional time. JSON documents are TEXT.

-- +goose Up
CREATE TABLE workflow_config (
	project_id TEXT NOT NULL REFERENCES project (id),
	version    INTEGER NOT NULL CHECK (version > 0),
	content    TEXT NOT NULL,
	created_at TEXT NOT NULL,
	created_by TEXT NOT NULL,
	PRIMARY KEY (project_id, version)
);

CREATE TABLE reading_case (
	id             TEXT PRIMARY KEY,
	project_id     TEXT NOT NULL REFERENCES project (id),
	study_uid      TEXT NOT NULL,
	series_uid     TEXT NOT NULL,
	state          TEXT NOT NULL,
	priority       INTEGER NOT NULL,
	due            TEXT,
	readers        INTEGER NOT NULL CHECK (readers > 0),
	config_version INTEGER NOT NULL,
	final_set      TEXT NOT NULL,
	final_revision TEXT NOT NULL,
	outcome        TEXT NOT NULL,
	disagreement   TEXT NOT NULL,
	source         TEXT NOT NULL,
	added_by       TEXT NOT NULL,
	created_at     TEXT NOT NULL,
	updated_at     TEXT NOT NULL,
	version        INTEGER NOT NULL,
	UNIQUE (project_id, study_uid, series_uid)
);
CREATE INDEX reading_case_project ON reading_case (project_id, created_at, id);
CREATE INDEX reading_case_study ON reading_case (study_uid);

CREATE TABLE task (
	id           TEXT PRIMARY KEY,
	project_id   TEXT NOT NULL REFERENCES project (id),
	case_id      TEXT NOT NULL REFERENCES reading_case (id),
	kind         TEXT NOT NULL,
	slot         INTEGER NOT NULL,
	state        TEXT NOT NULL,
	assignee     TEXT NOT NULL,
	reviewer     TEXT NOT NULL,
	set_id       TEXT NOT NULL,
	revision     TEXT NOT NULL,
	priority     INTEGER NOT NULL,
	due          TEXT,
	work_seconds REAL NOT NULL,
	started_at   TEXT,
	assigned_at  TEXT,
	submitted_at TEXT,
	created_at   TEXT NOT NULL,
	updated_at   TEXT NOT NULL,
	version      INTEGER NOT NULL,
	UNIQUE (case_id, kind, slot)
);
-- A reader never holds two reads of one case: blinding needs independent
-- readers, and the database decides it whatever the replicas do.
CREATE UNIQUE INDEX task_one_read_per_reader ON task (case_id, assignee) WHERE kind = 'read' AND assignee <> '';
-- The pull queue: unassigned tasks by priority, then age.
CREATE INDEX task_queue ON task (project_id, kind, state, priority DESC, created_at, case_id, slot);
CREATE INDEX task_assignee ON task (assignee, project_id);
CREATE INDEX task_case ON task (case_id);

CREATE TABLE review_comment (
	id          TEXT PRIMARY KEY,
	project_id  TEXT NOT NULL REFERENCES project (id),
	case_id     TEXT NOT NULL REFERENCES reading_case (id),
	task_id     TEXT NOT NULL,
	author      TEXT NOT NULL,
	body        TEXT NOT NULL,
	item        TEXT NOT NULL,
	image       TEXT,
	lps         TEXT,
	resolved    INTEGER NOT NULL CHECK (resolved IN (0, 1)),
	resolved_by TEXT NOT NULL,
	created_at  TEXT NOT NULL,
	updated_at  TEXT NOT NULL,
	version     INTEGER NOT NULL
);
CREATE INDEX review_comment_case ON review_comment (case_id, created_at, id);

-- +goose Down
DROP TABLE review_comment;
DROP TABLE task;
DROP TABLE reading_case;
DROP TABLE workflow_config;
