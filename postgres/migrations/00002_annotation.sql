-- Projects and their label schemas, annotation sets and their revisions,
-- and the audit chain. internal/sqlstore keeps the rules (see its package
-- doc): version numbers, heads and the chain are maintained by the store,
-- each change in one transaction with its audit event.
--
-- Text columns use the "C" collation so both engines order alike (byte-wise).
-- JSON documents are json, not jsonb: stored exactly as written (the same
-- bytes as on SQLite, whatever strings they hold).

-- +goose Up
CREATE TABLE project (
	id             text COLLATE "C" PRIMARY KEY,
	name           text COLLATE "C" NOT NULL,
	description    text COLLATE "C" NOT NULL,
	created_at     timestamptz NOT NULL,
	created_by     text COLLATE "C" NOT NULL,
	-- The current label schema version; 0 until the first one.
	schema_version bigint NOT NULL DEFAULT 0 CHECK (schema_version >= 0)
);
-- Serves Projects' order.
CREATE INDEX project_name ON project (name, id);

-- One immutable version of a project's label schema. content is the JSON
-- object {"labels": [...], "questions": [...]}; hash is the caller's sha256
-- of its canonical form.
CREATE TABLE label_schema (
	project_id text COLLATE "C" NOT NULL REFERENCES project (id),
	version    bigint NOT NULL CHECK (version > 0),
	content    json NOT NULL,
	hash       text COLLATE "C" NOT NULL,
	created_at timestamptz NOT NULL,
	created_by text COLLATE "C" NOT NULL,
	PRIMARY KEY (project_id, version)
);

-- What one reader annotates on a study (series_uid '') or one series of it.
-- head is the newest revision (NULL before the first save), head_number its
-- number.
CREATE TABLE annotation_set (
	id          text COLLATE "C" PRIMARY KEY,
	project_id  text COLLATE "C" NOT NULL REFERENCES project (id),
	study_uid   text COLLATE "C" NOT NULL,
	series_uid  text COLLATE "C" NOT NULL,
	reader      text COLLATE "C" NOT NULL,
	head        text COLLATE "C",
	head_number bigint NOT NULL DEFAULT 0 CHECK (head_number >= 0),
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL,
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
	id           text COLLATE "C" PRIMARY KEY,
	set_id       text COLLATE "C" NOT NULL REFERENCES annotation_set (id),
	parent       text COLLATE "C" REFERENCES revision (id),
	number       bigint NOT NULL CHECK (number > 0),
	author       text COLLATE "C" NOT NULL,
	created_at   timestamptz NOT NULL,
	message      text COLLATE "C" NOT NULL,
	submitted    boolean NOT NULL,
	content_hash text COLLATE "C" NOT NULL,
	content      json NOT NULL,
	UNIQUE (set_id, number)
);
ALTER TABLE annotation_set ADD FOREIGN KEY (head) REFERENCES revision (id);

-- The audit chain: seq runs 1, 2, 3... without gaps; prev_hash is the hash of
-- event seq-1 (64 zeros for the first) and hash covers every column but
-- itself (radmark.AuditEvent.ComputeHash).
CREATE TABLE audit_event (
	seq         bigint PRIMARY KEY,
	id          text COLLATE "C" NOT NULL UNIQUE,
	occurred_at timestamptz NOT NULL,
	actor       text COLLATE "C" NOT NULL,
	action      text COLLATE "C" NOT NULL,
	object_type text COLLATE "C" NOT NULL,
	object_id   text COLLATE "C" NOT NULL,
	before_hash text COLLATE "C" NOT NULL,
	after_hash  text COLLATE "C" NOT NULL,
	request_id  text COLLATE "C" NOT NULL,
	detail      text COLLATE "C" NOT NULL,
	prev_hash   text COLLATE "C" NOT NULL,
	hash        text COLLATE "C" NOT NULL
);
-- Serve AuditEvents' filters in chain order.
CREATE INDEX audit_event_object ON audit_event (object_id, seq);
CREATE INDEX audit_event_type ON audit_event (object_type, seq);
CREATE INDEX audit_event_actor ON audit_event (actor, seq);
CREATE INDEX audit_event_action ON audit_event (action, seq);
CREATE INDEX audit_event_time ON audit_event (occurred_at);

-- The chain's head: the seq and hash of the last event. Every append locks
-- it (SELECT ... FOR UPDATE), which serialises appends across connections
-- and replicas, and moves it in the appending transaction.
CREATE TABLE audit_head (
	id   integer PRIMARY KEY CHECK (id = 1),
	seq  bigint NOT NULL,
	hash text COLLATE "C" NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- +goose Down
DROP TABLE audit_head;
DROP TABLE audit_event;
ALTER TABLE annotation_set DROP CONSTRAINT annotation_set_head_fkey;
DROP TABLE revision;
DROP TABLE annotation_set;
DROP TABLE label_schema;
DROP TABLE project;
