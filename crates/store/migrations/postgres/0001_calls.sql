-- Call history, PostgreSQL flavour. Kept column for column in step with ../sqlite/0001_calls.sql.
--
-- `record` holds the whole call record (the JSON contract of DESIGN.md, timeline included)
-- as JSONB, so operators can query it in SQL. `id` uses the "C" collation so that the keyset
-- paging orders ids byte-wise, exactly as SQLite does, whatever the database's locale.
CREATE TABLE calls (
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,  -- server:linkedid
    server       TEXT    NOT NULL,
    linkedid     TEXT    NOT NULL,
    direction    TEXT    NOT NULL,
    disposition  TEXT    NOT NULL,
    from_number  TEXT,
    to_number    TEXT,
    answered_by  TEXT,
    -- µs since the epoch; started_at, else answered_at, else ended_at, else 0 (see lib docs).
    started_at   BIGINT  NOT NULL,
    ended_at     BIGINT,
    written_at   BIGINT  NOT NULL,                       -- µs, when this row was last upserted
    record       JSONB   NOT NULL
);
CREATE INDEX calls_newest ON calls (started_at DESC, id DESC);
CREATE INDEX calls_server ON calls (server, started_at DESC, id DESC);
CREATE INDEX calls_disposition ON calls (disposition, started_at DESC, id DESC);

CREATE TABLE call_parties (
    call_id  TEXT COLLATE "C" NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    party    TEXT NOT NULL,
    PRIMARY KEY (call_id, party)
);
CREATE INDEX call_parties_party ON call_parties (party, call_id);
