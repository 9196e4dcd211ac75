-- The archive index: patient 1-n study 1-n series 1-n instance.
-- *_lc columns hold strings.ToLower of the value (computed in Go) for
-- case-insensitive matching; counters and modalities are kept by the store.
-- Text compares with the BINARY collation, which is what DICOM matching and
-- GLOB-based wildcard matching (with index use on prefixes) need.

-- +goose Up
CREATE TABLE patient (
	pk          INTEGER PRIMARY KEY,
	patient_id  TEXT NOT NULL,
	issuer      TEXT NOT NULL,
	name        TEXT NOT NULL,
	name_lc     TEXT NOT NULL,
	birth_date  TEXT NOT NULL,
	sex         TEXT NOT NULL,
	updated_at  TIMESTAMP NOT NULL,
	UNIQUE (patient_id, issuer)
);
CREATE INDEX patient_name_lc ON patient (name_lc);
CREATE INDEX patient_birth_date ON patient (birth_date);

CREATE TABLE study (
	pk                          INTEGER PRIMARY KEY,
	uid                         TEXT NOT NULL UNIQUE,
	patient_pk                  INTEGER NOT NULL REFERENCES patient (pk),
	study_date                  TEXT NOT NULL,
	study_time                  TEXT NOT NULL,
	accession_number            TEXT NOT NULL,
	study_id                    TEXT NOT NULL,
	study_description           TEXT NOT NULL,
	study_description_lc        TEXT NOT NULL,
	referring_physician_name    TEXT NOT NULL,
	referring_physician_name_lc TEXT NOT NULL,
	modalities                  TEXT NOT NULL,
	num_series                  INTEGER NOT NULL,
	num_instances               INTEGER NOT NULL,
	attributes                  BLOB,
	updated_at                  TIMESTAMP NOT NULL
);
CREATE INDEX study_patient ON study (patient_pk);
-- Serves the result order and StudyDate ranges.
CREATE INDEX study_date_order ON study (study_date DESC, study_time DESC, uid);
CREATE INDEX study_accession_number ON study (accession_number);
CREATE INDEX study_study_id ON study (study_id);
CREATE INDEX study_description_lc ON study (study_description_lc);
CREATE INDEX study_referring_physician_lc ON study (referring_physician_name_lc);

CREATE TABLE series (
	pk                    INTEGER PRIMARY KEY,
	uid                   TEXT NOT NULL UNIQUE,
	study_pk              INTEGER NOT NULL REFERENCES study (pk),
	modality              TEXT NOT NULL,
	series_number         INTEGER,
	series_description    TEXT NOT NULL,
	series_description_lc TEXT NOT NULL,
	body_part_examined    TEXT NOT NULL,
	performed_start_date  TEXT NOT NULL,
	performed_start_time  TEXT NOT NULL,
	num_instances         INTEGER NOT NULL,
	attributes            BLOB,
	updated_at            TIMESTAMP NOT NULL
);
-- Serves the series of a study, and ModalitiesInStudy (EXISTS per study).
CREATE INDEX series_study_modality ON series (study_pk, modality);
CREATE INDEX series_modality ON series (modality);
CREATE INDEX series_description_lc ON series (series_description_lc);
CREATE INDEX series_body_part ON series (body_part_examined);
CREATE INDEX series_performed_start ON series (performed_start_date, performed_start_time);

CREATE TABLE instance (
	pk                  INTEGER PRIMARY KEY,
	sop_uid             TEXT NOT NULL UNIQUE,
	sop_class_uid       TEXT NOT NULL,
	series_pk           INTEGER NOT NULL REFERENCES series (pk),
	instance_number     INTEGER,
	transfer_syntax_uid TEXT NOT NULL,
	number_of_frames    INTEGER NOT NULL,
	num_rows            INTEGER NOT NULL,
	num_columns         INTEGER NOT NULL,
	blob_key            TEXT NOT NULL,
	size                INTEGER NOT NULL,
	sha256              TEXT NOT NULL,
	pixel               TEXT,
	metadata            BLOB,
	created_at          TIMESTAMP NOT NULL
);
CREATE INDEX instance_series_number ON instance (series_pk, instance_number);
CREATE INDEX instance_sop_class ON instance (sop_class_uid);

-- +goose Down
DROP TABLE instance;
DROP TABLE series;
DROP TABLE study;
DROP TABLE patient;
