-- The ledger: one stream per organization, append-only, hash-chained.
CREATE TABLE billing_streams (
    id        text PRIMARY KEY,
    version   bigint NOT NULL CHECK (version >= 0),
    last_hash bytea
);

--bun:split

CREATE TABLE billing_events (
    position       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id      text        NOT NULL,
    stream_version bigint      NOT NULL CHECK (stream_version > 0),
    type           text        NOT NULL,
    schema_version integer     NOT NULL,
    data           jsonb       NOT NULL,
    metadata       jsonb       NOT NULL,
    occurred_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL,
    hash           bytea       NOT NULL,
    tx_id          xid8        NOT NULL DEFAULT pg_current_xact_id(),
    CONSTRAINT billing_events_stream_version_key UNIQUE (stream_id, stream_version)
);

--bun:split

CREATE FUNCTION billing_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'billing_events is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;

--bun:split

CREATE TRIGGER billing_events_append_only
    BEFORE UPDATE OR DELETE ON billing_events
    FOR EACH ROW EXECUTE FUNCTION billing_events_refuse_change();

--bun:split

CREATE TRIGGER billing_events_no_truncate
    BEFORE TRUNCATE ON billing_events
    FOR EACH STATEMENT EXECUTE FUNCTION billing_events_refuse_change();

--bun:split

-- Idempotency keys (Stripe event ids) recorded in the append's transaction.
CREATE TABLE billing_event_keys (
    key         text PRIMARY KEY,
    stream_id   text        NOT NULL,
    recorded_at timestamptz NOT NULL
);

--bun:split

-- Read model: the billing status API. Derived; `projections rebuild` remakes it.
CREATE TABLE billing_status (
    org_id                 text PRIMARY KEY,
    plan_tier              text        NOT NULL,
    status                 text        NOT NULL,
    current_period_end     timestamptz,
    cancel_at_period_end   boolean     NOT NULL,
    stripe_customer_id     text,
    stripe_subscription_id text,
    ledger_version         bigint      NOT NULL,
    updated_at             timestamptz NOT NULL,
    snapshot               jsonb       NOT NULL
);

--bun:split

-- Read model: which org each Stripe customer and subscription belongs to.
CREATE TABLE stripe_links (
    stripe_id text PRIMARY KEY,
    org_id    text NOT NULL
);
