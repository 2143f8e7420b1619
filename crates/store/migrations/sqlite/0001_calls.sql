-- Call history, SQLite flavour. Kept column for column in step with ../postgres/0001_calls.sql.
--
-- `record` holds the whole call record (the JSON contract of DESIGN.md, timeline included):
-- it is what the API answers. The other columns are copies of the fields the history
-- filters and the newest-first keyset paging need, so those run on indexes.
CREATE TABLE calls (
    id           TEXT    NOT NULL PRIMARY KEY,  -- server:linkedid
    server       TEXT    NOT NULL,
    linkedid     TEXT    NOT NULL,
    direction    TEXT    NOT NULL,
    disposition  TEXT    NOT NULL,
    from_number  TEXT,
    to_number    TEXT,
    answered_by  TEXT,
    -- µs since the epoch; started_at, else answered_at, else ended_at, else 0 (see lib docs).
    started_at   INTEGER NOT NULL,
    ended_at     INTEGER,
    written_at   INTEGER NOT NULL,              -- µs, when this row was last upserted
    record       TEXT    NOT NULL
);
CREATE INDEX calls_newest ON calls (started_at DESC, id DESC);
CREATE INDEX calls_server ON calls (server, started_at DESC, id DESC);
CREATE INDEX calls_disposition ON calls (disposition, started_at DESC, id DESC);

-- Everyone who took part in a call (from, to, answered_by, transfer parties, legs'
-- endpoints), one row each: the `extension` filter is an indexed lookup here.
CREATE TABLE call_parties (
    call_id  TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    party    TEXT NOT NULL,
    PRIMARY KEY (call_id, party)
);
CREATE INDEX call_parties_party ON call_parties (party, call_id);
