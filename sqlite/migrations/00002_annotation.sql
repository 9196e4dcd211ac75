-- Projects and their label schemas, annotation sets and their revisions,
-- and the audit chain. internal/sqlstore keeps the rules (see its package
-- doc): version numbers, heads and the chain are maintained by the store,
-- each change in one transaction with its audit event.
--
-- Times are TEXT in one fixed-width UTC form, 2006-01-02T15:04:05.000000Z
-- (microseconds, as PostgreSQL keeps them), so text order is time order
-- and audit time ranges compare correctly. JSON documents are TEXT.

-- +goose Up
CREATE TABLE project (
	id             TEXT PRIMARY KEY,
	name           TEXT NOT NULL,
	description    TEXT NOT NULL,
	created_at     TEXT NOT NULL,
	created_by     TEXT NOT NULL,
	-- The current label schema version; 0 until the first one.
	schema_version INTEGER NOT NULL DEFAULT 0 CHECK (schema_version >= 0)
);
-- Serves Projects' order.
CREATE INDEX project_name ON project (name, id);

-- One immutable version of a project's label schema. content is the JSON
-- object {"labels": [...], "questions": [...]}; hash is the caller's sha256
-- of its canonical form.
CREATE TABLE label_schema (
	project_id TEXT NOT NULL REFERENCES project (id),
	version    INTEGER NOT NULL CHECK (version > 0),
	content    TEXT NOT NULL,
	hash       TEXT NOT NULL,
	created_at TEXT NOT NULL,
	created_by TEXT NOT NULL,
	PRIMARY KEY (project_id, version)
);

-- What one reader annotates on a study (series_uid '') or one series of it.
-- head is the newest revision (NULL before the first save), head_number its
-- number.
CREATE TABLE annotation_set (
	id          TEXT PRIMARY KEY,
	project_id  TEXT NOT NULL REFERENCES project (id),
	study_uid   TEXT NOT NULL,
	series_uid  TEXT NOT NULL,
	reader      TEXT NOT NULL,
	head        TEXT REFERENCES revision (id),
	head_number INTEGER NOT NULL DEFAULT 0 CHECK (head_number >= 0),
	created_at  TEXT NOT NULL,
	updated_at  TEXT NOT NULL,
	UNIQUE (project_id, study_uid, series_uid, reader)
);
-- Serve Sets' order (created_at, id), within a project or overall.
CREATE INDEX annotation_set_project_order ON annotation_set (project_id, created_at, id);
CREATE INDEX annotation_set_order ON annotation_set (created_at, id);
CREATE INDEX annotation_set_study ON annotation_set (study_uid);
CREATE INDEX annotation_set_reader ON annotation_set (reader);

-- An immutable snapshot of a set. number runs 1, 2, 3... along the chain of
-- parents; (set_id, number) being unique makes a lost update impossible
-- even if the store's head check were bypassed.
CREATE TABLE revision (
	id           TEXT PRIMARY KEY,
	set_id       TEXT NOT NULL REFERENCES annotation_set (id),
	parent       TEXT REFERENCES revision (id),
	number       INTEGER NOT NULL CHECK (number > 0),
	author       TEXT NOT NULL,
	created_at   TEXT NOT NULL,
	message      TEXT NOT NULL,
	submitted    INTEGER NOT NULL CHECK (submitted IN (0, 1)),
	content_hash TEXT NOT NULL,
	content      TEXT NOT NULL,
	UNIQUE (set_id, number)
);

-- The audit chain: seq runs 1, 2, 3... without gaps; prev_hash is the hash of
-- event seq-1 (64 zeros for the first) and hash covers every column but
-- itself (radmark.AuditEvent.ComputeHash).
CREATE TABLE audit_event (
	seq         INTEGER PRIMARY KEY,
	id          TEXT NOT NULL UNIQUE,
	occurred_at TEXT NOT NULL,
	actor       TEXT NOT NULL,
	action      TEXT NOT NULL,
	object_type TEXT NOT NULL,
	object_id   TEXT NOT NULL,
	before_hash TEXT NOT NULL,
	after_hash  TEXT NOT NULL,
	request_id  TEXT NOT NULL,
	detail      TEXT NOT NULL,
	prev_hash   TEXT NOT NULL,
	hash        TEXT NOT NULL
);
-- Serve AuditEvents' filters in chain order.
CREATE INDEX audit_event_object ON audit_event (object_id, seq);
CREATE INDEX audit_event_type ON audit_event (object_type, seq);
CREATE INDEX audit_event_actor ON audit_event (actor, seq);
CREATE INDEX audit_event_action ON audit_event (action, seq);
CREATE INDEX audit_event_time ON audit_event (occurred_at);

-- The chain's head: the seq and hash of the last event. Every append reads
-- and moves it in the appending transaction.
CREATE TABLE audit_head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	seq  INTEGER NOT NULL,
	hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- +goose Down
DROP TABLE audit_head;
DROP TABLE audit_event;
-- With foreign keys on, dropping a table deletes its rows first: sets must
-- let go of their heads before the revisions go.
UPDATE annotation_set SET head = NULL;
DROP TABLE revision;
DROP TABLE annotation_set;
DROP TABLE label_schema;
DROP TABLE project;
