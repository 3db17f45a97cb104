-- Outbound events (docs/API.md, "Outbound events"): each endpoint follows
-- the ledger by (tx_id, position), as watermill-sql does, so that an
-- event whose transaction commits late is never skipped.
CREATE INDEX billing_events_tx_position ON billing_events (tx_id, position);

--bun:split

-- One row per endpoint, known by its URL: how far its follower has read
-- the ledger. A new endpoint starts at the head (the oldest running
-- transaction's id), so it receives the events appended from then on.
CREATE TABLE outbound_endpoints (
    url        text PRIMARY KEY,
    tx_id      xid8        NOT NULL,
    position   bigint      NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

--bun:split

-- Delivery state per endpoint and org: events up to delivered_version are
-- delivered or given up; the follower raises target_version to the last
-- version it has read. An instance delivering an org holds its lease
-- (lease_owner until lease_until).
CREATE TABLE outbound_orgs (
    endpoint          text        NOT NULL REFERENCES outbound_endpoints (url) ON DELETE CASCADE,
    org_id            text        NOT NULL,
    delivered_version bigint      NOT NULL,
    target_version    bigint      NOT NULL,
    pending_since     timestamptz,
    attempts          integer     NOT NULL DEFAULT 0,
    first_failed_at   timestamptz,
    next_attempt_at   timestamptz NOT NULL DEFAULT '-infinity',
    last_error        text,
    lease_owner       text,
    lease_until       timestamptz NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (endpoint, org_id)
) WITH (fillfactor = 70);

--bun:split

CREATE INDEX outbound_orgs_due ON outbound_orgs (endpoint, next_attempt_at)
    WHERE delivered_version < target_version;

--bun:split

CREATE INDEX outbound_orgs_oldest ON outbound_orgs (endpoint, pending_since)
    WHERE delivered_version < target_version;

--bun:split

-- Events given up after the retry window: `outbound replay` sends them again.
CREATE TABLE outbound_failures (
    endpoint   text        NOT NULL,
    org_id     text        NOT NULL,
    version    bigint      NOT NULL,
    attempts   integer     NOT NULL,
    last_error text,
    failed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (endpoint, org_id, version, failed_at)
);
