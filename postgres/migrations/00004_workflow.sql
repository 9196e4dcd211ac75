-- The reading workflow: versions of each project's workflow configuration,
-- the cases a project reads, their tasks (reads and arbitrations) and
-- review comments. internal/sqlstore keeps the rules (see workflow.go
-- there): every change in one transaction with its audit events, every
-- task and case change conditional on the version read before it.
--
-- Text columns use the "C" collation as in 00002; times are timestamptz,
-- NULL for an optional time; JSON documents are json.

-- +goose Up
CREATE TABLE workflow_config (
	project_id text COLLATE "C" NOT NULL REFERENCES project (id),
	version    bigint NOT NULL CHECK (version > 0),
	content    json NOT NULL,
	created_at timestamptz NOT NULL,
	created_by text COLLATE "C" NOT NULL,
	PRIMARY KEY (project_id, version)
);

CREATE TABLE reading_case (
	id             text COLLATE "C" PRIMARY KEY,
	project_id     text COLLATE "C" NOT NULL REFERENCES project (id),
	study_uid      text COLLATE "C" NOT NULL,
	series_uid     text COLLATE "C" NOT NULL,
	state          text COLLATE "C" NOT NULL,
	priority       bigint NOT NULL,
	due            timestamptz,
	readers        bigint NOT NULL CHECK (readers > 0),
	config_version bigint NOT NULL,
	final_set      text COLLATE "C" NOT NULL,
	final_revision text COLLATE "C" NOT NULL,
	outcome        text COLLATE "C" NOT NULL,
	disagreement   text COLLATE "C" NOT NULL,
	source         text COLLATE "C" NOT NULL,
	added_by       text COLLATE "C" NOT NULL,
	created_at     timestamptz NOT NULL,
	updated_at     timestamptz NOT NULL,
	version        bigint NOT NULL,
	UNIQUE (project_id, study_uid, series_uid)
);
CREATE INDEX reading_case_project ON reading_case (project_id, created_at, id);
CREATE INDEX reading_case_study ON reading_case (study_uid);

CREATE TABLE task (
	id           text COLLATE "C" PRIMARY KEY,
	project_id   text COLLATE "C" NOT NULL REFERENCES project (id),
	case_id      text COLLATE "C" NOT NULL REFERENCES reading_case (id),
	kind         text COLLATE "C" NOT NULL,
	slot         bigint NOT NULL,
	state        text COLLATE "C" NOT NULL,
	assignee     text COLLATE "C" NOT NULL,
	reviewer     text COLLATE "C" NOT NULL,
	set_id       text COLLATE "C" NOT NULL,
	revision     text COLLATE "C" NOT NULL,
	priority     bigint NOT NULL,
	due          timestamptz,
	work_seconds double precision NOT NULL,
	started_at   timestamptz,
	assigned_at  timestamptz,
	submitted_at timestamptz,
	created_at   timestamptz NOT NULL,
	updated_at   timestamptz NOT NULL,
	version      bigint NOT NULL,
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
	id          text COLLATE "C" PRIMARY KEY,
	project_id  text COLLATE "C" NOT NULL REFERENCES project (id),
	case_id     text COLLATE "C" NOT NULL REFERENCES reading_case (id),
	task_id     text COLLATE "C" NOT NULL,
	author      text COLLATE "C" NOT NULL,
	body        text COLLATE "C" NOT NULL,
	item        text COLLATE "C" NOT NULL,
	image       json,
	lps         json,
	resolved    boolean NOT NULL,
	resolved_by text COLLATE "C" NOT NULL,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL,
	version     bigint NOT NULL
);
CREATE INDEX review_comment_case ON review_comment (case_id, created_at, id);

-- +goose Down
DROP TABLE review_comment;
DROP TABLE task;
DROP TABLE reading_case;
DROP TABLE workflow_config;
