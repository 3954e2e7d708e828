-- PostgreSQL schema for notary-signer 0.7 (storage backend "postgres").
--
-- notary-signer does not create its table; apply this once to an empty database (a different
-- database from notary-server's), then grant the signer's login role SELECT, INSERT, UPDATE,
-- DELETE on the table and USAGE on its sequence.

-- The private timestamp (and server-managed snapshot) keys of every repository. `private` is
-- encrypted (JWE) with the passphrase named by passphrase_alias, which notary-signer reads from
-- the environment variable NOTARY_SIGNER_<ALIAS in upper case>. Losing this table, or the
-- passphrase, means every repository needs a root-key-signed key rotation.
CREATE TABLE private_keys (
    id                serial       PRIMARY KEY,
    created_at        timestamp    NULL DEFAULT NULL,
    updated_at        timestamp    NULL DEFAULT NULL,
    deleted_at        timestamp    NULL DEFAULT NULL,
    key_id            varchar(255) NOT NULL,
    encryption_alg    varchar(255) NOT NULL,
    keywrap_alg       varchar(255) NOT NULL,
    algorithm         varchar(50)  NOT NULL,
    passphrase_alias  varchar(50)  NOT NULL,
    public            bytea        NOT NULL,
    private           bytea        NOT NULL,
    gun               varchar(255) NOT NULL,
    role              varchar(255) NOT NULL,
    last_used         timestamp    NULL DEFAULT NULL,
    CONSTRAINT private_keys_key_id_key UNIQUE (key_id),
    CONSTRAINT private_keys_key_id_algorithm_key UNIQUE (key_id, algorithm)
);
