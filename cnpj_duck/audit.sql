-- The audit hierarchy: run > table > file > batch, plus the rejected records.
-- One DDL file; columns are only ever added at the end of a table, so old catalogs keep working.
-- Status is one of: running, succeeded, failed, skipped, abandoned, interrupted.
CREATE SEQUENCE IF NOT EXISTS audit_runs_seq START 1;
CREATE SEQUENCE IF NOT EXISTS audit_tables_seq START 1;
CREATE SEQUENCE IF NOT EXISTS audit_files_seq START 1;
CREATE SEQUENCE IF NOT EXISTS audit_batches_seq START 1;
CREATE SEQUENCE IF NOT EXISTS rejects_seq START 1;

CREATE TABLE IF NOT EXISTS audit_runs (
    run_id          BIGINT PRIMARY KEY,
    command         VARCHAR NOT NULL,   -- what was run, e.g. 'build'
    release         VARCHAR,            -- YYYY-MM
    status          VARCHAR NOT NULL,
    started_at      TIMESTAMP NOT NULL,
    finished_at     TIMESTAMP,
    rows_read       BIGINT NOT NULL DEFAULT 0,
    rows_written    BIGINT NOT NULL DEFAULT 0,
    rows_rejected   BIGINT NOT NULL DEFAULT 0,
    bytes_in        BIGINT NOT NULL DEFAULT 0,   -- uncompressed bytes read
    bytes_out       BIGINT NOT NULL DEFAULT 0,   -- bytes of Parquet written
    error           VARCHAR,
    config          VARCHAR,            -- the effective configuration as JSON, secrets redacted
    version         VARCHAR,            -- cnpj-duck version
    partial         BOOLEAN NOT NULL DEFAULT false  -- a development run that read only part of the input
);

CREATE TABLE IF NOT EXISTS audit_tables (
    table_run_id    BIGINT PRIMARY KEY,
    run_id          BIGINT NOT NULL REFERENCES audit_runs (run_id),
    table_name      VARCHAR NOT NULL,
    release         VARCHAR,
    status          VARCHAR NOT NULL,
    started_at      TIMESTAMP NOT NULL,
    finished_at     TIMESTAMP,
    rows_read       BIGINT NOT NULL DEFAULT 0,
    rows_written    BIGINT NOT NULL DEFAULT 0,
    rows_rejected   BIGINT NOT NULL DEFAULT 0,
    bytes_in        BIGINT NOT NULL DEFAULT 0,
    bytes_out       BIGINT NOT NULL DEFAULT 0,
    error           VARCHAR,
    output_path     VARCHAR,            -- the table's partition folder
    note            VARCHAR             -- why it was skipped, or other context that is not an error
);

CREATE TABLE IF NOT EXISTS audit_files (
    file_id         BIGINT PRIMARY KEY,
    table_run_id    BIGINT NOT NULL REFERENCES audit_tables (table_run_id),
    run_id          BIGINT NOT NULL,
    release         VARCHAR,
    zip_name        VARCHAR NOT NULL,
    member_name     VARCHAR,
    zip_size        BIGINT,
    sha256          VARCHAR,
    status          VARCHAR NOT NULL,
    started_at      TIMESTAMP NOT NULL,
    finished_at     TIMESTAMP,
    rows_read       BIGINT NOT NULL DEFAULT 0,
    rows_written    BIGINT NOT NULL DEFAULT 0,
    rows_rejected   BIGINT NOT NULL DEFAULT 0,
    bytes_in        BIGINT NOT NULL DEFAULT 0,
    bytes_out       BIGINT NOT NULL DEFAULT 0,
    error           VARCHAR,
    zip_path        VARCHAR,
    output_path     VARCHAR,            -- the Parquet file this zip became
    values_nulled   VARCHAR,            -- JSON {column: count} of values that did not cast and became NULL
    note            VARCHAR             -- why it was skipped, or other context that is not an error
);

CREATE TABLE IF NOT EXISTS audit_batches (
    batch_id        BIGINT PRIMARY KEY,
    file_id         BIGINT NOT NULL REFERENCES audit_files (file_id),
    seq             INTEGER NOT NULL,   -- 0, 1, 2 ... within the file
    status          VARCHAR NOT NULL,
    started_at      TIMESTAMP NOT NULL,
    finished_at     TIMESTAMP,
    rows_read       BIGINT NOT NULL DEFAULT 0,
    rows_written    BIGINT NOT NULL DEFAULT 0,
    rows_rejected   BIGINT NOT NULL DEFAULT 0,
    bytes_in        BIGINT NOT NULL DEFAULT 0,
    bytes_out       BIGINT NOT NULL DEFAULT 0,
    error           VARCHAR,
    first_line      BIGINT,             -- physical lines of the member this batch covers (1-based)
    last_line       BIGINT
);

CREATE TABLE IF NOT EXISTS rejects (
    reject_id       BIGINT PRIMARY KEY,
    run_id          BIGINT NOT NULL,
    file_id         BIGINT NOT NULL REFERENCES audit_files (file_id),
    batch_id        BIGINT,
    release         VARCHAR,
    table_name      VARCHAR,
    zip_name        VARCHAR,
    member_name     VARCHAR,
    line            BIGINT,             -- physical line of the member where the record starts (1-based)
    reason          VARCHAR NOT NULL,
    raw             VARCHAR             -- the record's text as read (latin-1), cut at 64 KiB
);

-- Added later (old catalogs get it here): the process that ran a run, so that a run left `running` is marked
-- abandoned only when its process is gone, not while another command (a long download) is still at it.
ALTER TABLE audit_runs ADD COLUMN IF NOT EXISTS pid INTEGER;

-- Added later: for an export, the rows of the live table that a table replaced (NULL when there was none): the
-- numbers of the guard that stops an export whose tables shrink past export.max_shrink.
ALTER TABLE audit_tables ADD COLUMN IF NOT EXISTS rows_replaced BIGINT;
