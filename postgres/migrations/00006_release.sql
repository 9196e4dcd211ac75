-- Dataset releases (package release) and background jobs (package job).
-- A release row is written once: the triggers refuse UPDATE and DELETE,
-- so a release can never change under its id (the sha256 of its
-- manifest). Jobs are leased: owner holds a running job until
-- lease_until and renews it while it works. Times are timestamptz as in 00002.

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
	stratify       BOOLEAN NOT NULL,
	cases_train    INTEGER NOT NULL,
	cases_val      INTEGER NOT NULL,
	cases_test     INTEGER NOT NULL,
	files          INTEGER NOT NULL,
	bytes          BIGINT NOT NULL,
	size           BIGINT NOT NULL,
	sha256         TEXT NOT NULL,
	created_at     timestamptz NOT NULL,
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
	lease_until  timestamptz,
	created_by   TEXT NOT NULL,
	created_at   timestamptz NOT NULL,
	updated_at   timestamptz NOT NULL,
	finished_at  timestamptz
);
CREATE INDEX job_runnable ON job (state, created_at);
CREATE INDEX job_project ON job (project_id, created_at);

-- +goose StatementBegin
CREATE FUNCTION release_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'releases are immutable';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER release_immutable BEFORE UPDATE OR DELETE ON release
	FOR EACH ROW EXECUTE FUNCTION release_immutable();
CREATE TRIGGER release_immutable_truncate BEFORE TRUNCATE ON release
	FOR EACH STATEMENT EXECUTE FUNCTION release_immutable();

-- +goose Down
DROP TABLE job;
DROP TABLE release;
DROP FUNCTION release_immutable();
