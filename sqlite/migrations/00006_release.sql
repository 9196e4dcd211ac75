-- Dataset releases (package release) and background jobs (package job).
-- A release row is written once: the triggers refuse UPDATE and DELETE,
-- so a release can never change under its id (the sha256 of its
-- manifest). Jobs are leased: owner holds a running job until
-- lease_until and renews it while it works. Times are TEXT as in 00002.

-- +goose Up
CREATE TABLE release (
	id             TEXT PRIMARY KEY,
	project_id     TEXT NOT NULL REFERENCES project (id),
	schema_version INTEGER NOT NULL,
	selection      TEXT NOT NULL,
	seed           BIGINT NOT NULL,
	frac_train     DOUBLE PRECISION NOT NULL,
	frac_val       DOUBLE PRECISION NOT NULL,
	frac_test      DOUBLE PRECISION NOT NULL,
	stratify       INTEGER NOT NULL,
	cases_train    INTEGER NOT NULL,
	cases_val      INTEGER NOT NULL,
	cases_test     INTEGER NOT NULL,
	files          INTEGER NOT NULL,
	bytes          BIGINT NOT NULL,
	size           BIGINT NOT NULL,
	sha256         TEXT NOT NULL,
	created_at     TEXT NOT NULL,
	created_by     TEXT NOT NULL
);
CREATE INDEX release_project ON release (project_id, created_at);

CREATE TABLE job (
	id           TEXT PRIMARY KEY,
	kind         TEXT NOT NULL,
	project_id   TEXT REFERENCES project (id),
	params       TEXT NOT NULL,
	state        TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
	done         INTEGER NOT NULL DEFAULT 0,
	total        INTEGER NOT NULL DEFAULT 0,
	message      TEXT NOT NULL DEFAULT '',
	result       TEXT,
	error        TEXT NOT NULL DEFAULT '',
	attempts     INTEGER NOT NULL DEFAULT 0,
	max_attempts INTEGER NOT NULL CHECK (max_attempts > 0),
	owner        TEXT NOT NULL DEFAULT '',
	lease_until  TEXT,
	created_by   TEXT NOT NULL,
	created_at   TEXT NOT NULL,
	updated_at   TEXT NOT NULL,
	finished_at  TEXT
);
CREATE INDEX job_runnable ON job (state, created_at);
CREATE INDEX job_project ON job (project_id, created_at);

-- +goose StatementBegin
CREATE TRIGGER release_no_update BEFORE UPDATE ON release
BEGIN
	SELECT RAISE(ABORT, 'releases are immutable');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER release_no_delete BEFORE DELETE ON release
BEGIN
	SELECT RAISE(ABORT, 'releases are immutable');
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE job;
DROP TABLE release;
