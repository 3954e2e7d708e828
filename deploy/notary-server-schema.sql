-- PostgreSQL schema for notary-server 0.7 (storage backend "postgres").
--
-- notary-server does not create its tables; apply this once to an empty database, as a role that
-- owns the schema, then grant the server's own login role only what it needs (see
-- docs/deploy.md and scripts/stack: SELECT, INSERT, UPDATE, DELETE on the tables, USAGE on the
-- sequences).
--
-- The column names and types are what notary-server's storage layer reads and writes.

-- Every version of every TUF role of every repository (GUN), as the exact bytes clients uploaded
-- or the server signed. This is the data that must never be lost.
CREATE TABLE tuf_files (
    id          serial       PRIMARY KEY,
    created_at  timestamp    NULL DEFAULT NULL,
    updated_at  timestamp    NULL DEFAULT NULL,
    deleted_at  timestamp    NULL DEFAULT NULL,
    gun         varchar(255) NOT NULL,      -- e.g. registry.example.com/team/app
    role        varchar(255) NOT NULL,      -- root, targets, snapshot, timestamp, targets/<name>
    version     integer      NOT NULL,
    data        bytea        NOT NULL,      -- the signed JSON document
    sha256      char(64)     DEFAULT NULL,  -- hex sha256 of data (served by-hash)
    -- two writers racing for the same version: exactly one INSERT wins, the other gets a
    -- conflict. This constraint is what makes concurrent publishing safe.
    CONSTRAINT tuf_files_gun_role_version_key UNIQUE (gun, role, version)
);
CREATE INDEX tuf_files_sha256_idx ON tuf_files (sha256);

-- The change feed (GET /v2/_trust/changefeed): one row per new timestamp or deleted repository.
CREATE TABLE change_category (
    category varchar(20) PRIMARY KEY
);
INSERT INTO change_category (category) VALUES ('update'), ('deletion');

CREATE TABLE changefeed (
    id          serial       PRIMARY KEY,
    created_at  timestamp    DEFAULT CURRENT_TIMESTAMP,
    gun         varchar(255) NOT NULL,
    version     integer      NOT NULL,
    sha256      char(64)     DEFAULT NULL,
    category    varchar(20)  NOT NULL DEFAULT 'update' REFERENCES change_category (category)
);
CREATE INDEX changefeed_gun_idx ON changefeed (gun);
