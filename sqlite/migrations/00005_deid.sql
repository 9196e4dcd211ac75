-- De-identification (package deid): versions of each project's profile
-- (the JSON of deid.Profile), the sealed linkage of originals to
-- pseudonyms (AES-GCM ciphertext; its key is never in the database, only
-- its id), and the quarantine of instances that may carry burned-in text.
-- Times are TEXT as in 00002.

-- +goose Up
CREATE TABLE deid_profile (
	project_id TEXT NOT NULL REFERENCES project (id),
	version    INTEGER NOT NULL CHECK (version > 0),
	content    TEXT NOT NULL,
	created_at TEXT NOT NULL,
	created_by TEXT NOT NULL,
	PRIMARY KEY (project_id, version)
);

CREATE TABLE deid_linkage (
	project_id TEXT NOT NULL REFERENCES project (id),
	sop_uid    TEXT NOT NULL,
	key_id     TEXT NOT NULL,
	sealed     BLOB NOT NULL,
	created_at TEXT NOT NULL,
	PRIMARY KEY (project_id, sop_uid)
);

CREATE TABLE deid_quarantine (
	project_id TEXT NOT NULL REFERENCES project (id),
	sop_uid    TEXT NOT NULL,
	reason     TEXT NOT NULL,
	blob_key   TEXT NOT NULL,
	created_at TEXT NOT NULL,
	PRIMARY KEY (project_id, sop_uid)
);

-- +goose Down
DROP TABLE deid_quarantine;
DROP TABLE deid_linkage;
DROP TABLE deid_profile;
