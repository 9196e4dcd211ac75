-- The archive index: patient 1-n study 1-n series 1-n instance.
-- *_lc columns hold strings.ToLower of the value (computed in Go) for
-- case-insensitive matching; counters and modalities are kept by the store.
-- Text columns use the "C" collation: DICOM values compare byte-wise (as on
-- SQLite, so both engines order alike), and plain btree indexes then serve
-- LIKE prefix patterns and ranges.

-- +goose Up
CREATE TABLE patient (
	pk          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	patient_id  text COLLATE "C" NOT NULL,
	issuer      text COLLATE "C" NOT NULL,
	name        text COLLATE "C" NOT NULL,
	name_lc     text COLLATE "C" NOT NULL,
	birth_date  text COLLATE "C" NOT NULL,
	sex         text COLLATE "C" NOT NULL,
	updated_at  timestamptz NOT NULL,
	UNIQUE (patient_id, issuer)
);
CREATE INDEX patient_name_lc ON patient (name_lc);
CREATE INDEX patient_birth_date ON patient (birth_date);

CREATE TABLE study (
	pk                          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	uid                         text COLLATE "C" NOT NULL UNIQUE,
	patient_pk                  bigint NOT NULL REFERENCES patient (pk),
	study_date                  text COLLATE "C" NOT NULL,
	study_time                  text COLLATE "C" NOT NULL,
	accession_number            text COLLATE "C" NOT NULL,
	study_id                    text COLLATE "C" NOT NULL,
	study_description           text COLLATE "C" NOT NULL,
	study_description_lc        text COLLATE "C" NOT NULL,
	referring_physician_name    text COLLATE "C" NOT NULL,
	referring_physician_name_lc text COLLATE "C" NOT NULL,
	modalities                  text COLLATE "C" NOT NULL,
	num_series                  bigint NOT NULL,
	num_instances               bigint NOT NULL,
	attributes                  bytea,
	updated_at                  timestamptz NOT NULL
);
CREATE INDEX study_patient ON study (patient_pk);
-- Serves the result order and StudyDate ranges.
CREATE INDEX study_date_order ON study (study_date DESC, study_time DESC, uid);
CREATE INDEX study_accession_number ON study (accession_number);
CREATE INDEX study_study_id ON study (study_id);
CREATE INDEX study_description_lc ON study (study_description_lc);
CREATE INDEX study_referring_physician_lc ON study (referring_physician_name_lc);

CREATE TABLE series (
	pk                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	uid                   text COLLATE "C" NOT NULL UNIQUE,
	study_pk              bigint NOT NULL REFERENCES study (pk),
	modality              text COLLATE "C" NOT NULL,
	series_number         bigint,
	series_description    text COLLATE "C" NOT NULL,
	series_description_lc text COLLATE "C" NOT NULL,
	body_part_examined    text COLLATE "C" NOT NULL,
	performed_start_date  text COLLATE "C" NOT NULL,
	performed_start_time  text COLLATE "C" NOT NULL,
	num_instances         bigint NOT NULL,
	attributes            bytea,
	updated_at            timestamptz NOT NULL
);
-- Serves the series of a study, and ModalitiesInStudy (EXISTS per study).
CREATE INDEX series_study_modality ON series (study_pk, modality);
CREATE INDEX series_modality ON series (modality);
CREATE INDEX series_description_lc ON series (series_description_lc);
CREATE INDEX series_body_part ON series (body_part_examined);
CREATE INDEX series_performed_start ON series (performed_start_date, performed_start_time);

CREATE TABLE instance (
	pk                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	sop_uid             text COLLATE "C" NOT NULL UNIQUE,
	sop_class_uid       text COLLATE "C" NOT NULL,
	series_pk           bigint NOT NULL REFERENCES series (pk),
	instance_number     bigint,
	transfer_syntax_uid text COLLATE "C" NOT NULL,
	number_of_frames    bigint NOT NULL,
	num_rows            bigint NOT NULL,
	num_columns         bigint NOT NULL,
	blob_key            text COLLATE "C" NOT NULL,
	size                bigint NOT NULL,
	sha256              text COLLATE "C" NOT NULL,
	pixel               text,
	metadata            bytea,
	created_at          timestamptz NOT NULL
);
CREATE INDEX instance_series_number ON instance (series_pk, instance_number);
CREATE INDEX instance_sop_class ON instance (sop_class_uid);

-- +goose Down
DROP TABLE instance;
DROP TABLE series;
DROP TABLE study;
DROP TABLE patient;
