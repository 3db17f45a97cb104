-- Reconciliation runs, so the service can expose the last run's drift.
CREATE TABLE reconcile_runs (
    id          text PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    orgs        integer     NOT NULL,
    drifted     integer     NOT NULL,
    corrected   integer     NOT NULL,
    failed      integer     NOT NULL
);
