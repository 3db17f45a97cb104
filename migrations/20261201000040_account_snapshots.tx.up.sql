-- Periodic account snapshots (issue #17): every so many versions, the
-- account a stream's prefix folds to, so that asOf and knownAt answers
-- start from a snapshot instead of folding the whole stream. Derived data:
-- `projections rebuild` remakes it, and an answer never depends on a row
-- being here (without one it folds from the start).
--
-- A row at stream_version V covers the segment (from_version, V]:
--   max_occurred_at, max_recorded_at: the largest over versions 1..V, so a
--     snapshot whose maxima are within an instant's bounds holds exactly
--     the events of its prefix that the instant selects (all of them);
--   min_occurred_at, min_recorded_at: the smallest over the segment, so a
--     segment whose minimum is past the instant holds none of its events.
CREATE TABLE billing_account_snapshots (
    stream_id       text        NOT NULL,
    stream_version  bigint      NOT NULL CHECK (stream_version > 0),
    from_version    bigint      NOT NULL CHECK (from_version >= 0 AND from_version < stream_version),
    max_occurred_at timestamptz NOT NULL,
    max_recorded_at timestamptz NOT NULL,
    min_occurred_at timestamptz NOT NULL,
    min_recorded_at timestamptz NOT NULL,
    snapshot        json        NOT NULL,
    PRIMARY KEY (stream_id, stream_version)
);
