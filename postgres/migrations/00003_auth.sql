-- Accounts, project memberships, sessions, personal API tokens and failed
-- sign-ins. internal/sqlstore keeps the rules (see auth.go there); every
-- change is one transaction with its audit event. Secrets are never
-- stored: sessions and tokens by their SHA-256, passwords as argon2id
-- hashes (package auth).

-- +goose Up
CREATE TABLE app_user (
	id               text COLLATE "C" PRIMARY KEY,
	name             text COLLATE "C" NOT NULL UNIQUE,
	display_name     text COLLATE "C" NOT NULL,
	email            text COLLATE "C" NOT NULL,
	admin            boolean NOT NULL,
	disabled         boolean NOT NULL,
	created_at       timestamptz NOT NULL,
	-- The argon2id hash in PHC form; '' when the account has no password.
	password_hash    text COLLATE "C" NOT NULL,
	-- The OpenID Connect identity ('' and '' when none).
	oidc_issuer      text COLLATE "C" NOT NULL,
	oidc_subject     text COLLATE "C" NOT NULL,
	-- Consecutive failed sign-ins and the lockout they caused.
	failures         bigint NOT NULL DEFAULT 0 CHECK (failures >= 0),
	last_failure_at  timestamptz,
	locked_until     timestamptz
);
CREATE UNIQUE INDEX app_user_oidc ON app_user (oidc_issuer, oidc_subject) WHERE oidc_subject <> '';

-- One row per role a user holds in a project.
CREATE TABLE project_member (
	project_id text COLLATE "C" NOT NULL REFERENCES project (id),
	user_id    text COLLATE "C" NOT NULL REFERENCES app_user (id),
	role       text COLLATE "C" NOT NULL CHECK (role IN ('manager', 'annotator', 'radiologist', 'reviewer', 'viewer')),
	PRIMARY KEY (project_id, user_id, role)
);
CREATE INDEX project_member_user ON project_member (user_id, project_id);

CREATE TABLE user_session (
	id           text COLLATE "C" PRIMARY KEY,
	secret_hash  text COLLATE "C" NOT NULL UNIQUE,
	user_id      text COLLATE "C" NOT NULL REFERENCES app_user (id),
	via          text COLLATE "C" NOT NULL,
	address      text COLLATE "C" NOT NULL,
	created_at   timestamptz NOT NULL,
	last_seen_at timestamptz NOT NULL,
	expires_at   timestamptz NOT NULL,
	-- Idle timeout in microseconds (0: none).
	idle_us      bigint NOT NULL CHECK (idle_us >= 0)
);
CREATE INDEX user_session_user ON user_session (user_id);
CREATE INDEX user_session_expiry ON user_session (expires_at);

CREATE TABLE api_token (
	id           text COLLATE "C" PRIMARY KEY,
	user_id      text COLLATE "C" NOT NULL REFERENCES app_user (id),
	name         text COLLATE "C" NOT NULL,
	hash         text COLLATE "C" NOT NULL UNIQUE,
	prefix       text COLLATE "C" NOT NULL,
	-- Scopes separated by spaces.
	scopes       text COLLATE "C" NOT NULL,
	created_at   timestamptz NOT NULL,
	expires_at   timestamptz,
	last_used_at timestamptz,
	revoked_at   timestamptz
);
CREATE INDEX api_token_user ON api_token (user_id, created_at);

-- Failed sign-ins, for rate limiting by client address (the per-account
-- count lives in app_user).
CREATE TABLE login_failure (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at         timestamptz NOT NULL,
	name       text COLLATE "C" NOT NULL,
	user_id    text COLLATE "C",
	address    text COLLATE "C" NOT NULL
);
CREATE INDEX login_failure_address ON login_failure (address, at);

-- +goose Down
DROP TABLE login_failure;
DROP TABLE api_token;
DROP TABLE user_session;
DROP TABLE project_member;
DROP TABLE app_user;
