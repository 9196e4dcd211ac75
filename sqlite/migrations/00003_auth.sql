-- Accounts, project memberships, sessions, personal API tokens and failed
-- sign-ins. internal/sqlstore keeps the rules (see auth.go there); every
-- change is one transaction with its audit event. Secrets are never
-- stored: sessions and tokens by their SHA-256, passwords as argon2id
-- hashes (package auth).
--
-- Times are TEXT in the fixed-width UTC form of 00002.

-- +goose Up
CREATE TABLE app_user (
	id               TEXT PRIMARY KEY,
	name             TEXT NOT NULL UNIQUE,
	display_name     TEXT NOT NULL,
	email            TEXT NOT NULL,
	admin            INTEGER NOT NULL CHECK (admin IN (0, 1)),
	disabled         INTEGER NOT NULL CHECK (disabled IN (0, 1)),
	created_at       TEXT NOT NULL,
	-- The argon2id hash in PHC form; '' when the account has no password.
	password_hash    TEXT NOT NULL,
	-- The OpenID Connect identity ('' and '' when none).
	oidc_issuer      TEXT NOT NULL,
	oidc_subject     TEXT NOT NULL,
	-- Consecutive failed sign-ins and the lockout they caused.
	failures         INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
	last_failure_at  TEXT,
	locked_until     TEXT
);
CREATE UNIQUE INDEX app_user_oidc ON app_user (oidc_issuer, oidc_subject) WHERE oidc_subject <> '';

-- One row per role a user holds in a project.
CREATE TABLE project_member (
	project_id TEXT NOT NULL REFERENCES project (id),
	user_id    TEXT NOT NULL REFERENCES app_user (id),
	role       TEXT NOT NULL CHECK (role IN ('manager', 'annotator', 'radiologist', 'reviewer', 'viewer')),
	PRIMARY KEY (project_id, user_id, role)
);
CREATE INDEX project_member_user ON project_member (user_id, project_id);

CREATE TABLE user_session (
	id           TEXT PRIMARY KEY,
	secret_hash  TEXT NOT NULL UNIQUE,
	user_id      TEXT NOT NULL REFERENCES app_user (id),
	via          TEXT NOT NULL,
	address      TEXT NOT NULL,
	created_at   TEXT NOT NULL,
	last_seen_at TEXT NOT NULL,
	expires_at   TEXT NOT NULL,
	-- Idle timeout in microseconds (0: none).
	idle_us      INTEGER NOT NULL CHECK (idle_us >= 0)
);
CREATE INDEX user_session_user ON user_session (user_id);
CREATE INDEX user_session_expiry ON user_session (expires_at);

CREATE TABLE api_token (
	id           TEXT PRIMARY KEY,
	user_id      TEXT NOT NULL REFERENCES app_user (id),
	name         TEXT NOT NULL,
	hash         TEXT NOT NULL UNIQUE,
	prefix       TEXT NOT NULL,
	-- Scopes separated by spaces.
	scopes       TEXT NOT NULL,
	created_at   TEXT NOT NULL,
	expires_at   TEXT,
	last_used_at TEXT,
	revoked_at   TEXT
);
CREATE INDEX api_token_user ON api_token (user_id, created_at);

-- Failed sign-ins, for rate limiting by client address (the per-account
-- count lives in app_user).
CREATE TABLE login_failure (
	id         INTEGER PRIMARY KEY,
	at         TEXT NOT NULL,
	name       TEXT NOT NULL,
	user_id    TEXT,
	address    TEXT NOT NULL
);
CREATE INDEX login_failure_address ON login_failure (address, at);

-- +goose Down
DROP TABLE login_failure;
DROP TABLE api_token;
DROP TABLE user_session;
DROP TABLE project_member;
DROP TABLE app_user;
