-- Every verified Stripe event, for audit and replay.
CREATE TABLE stripe_inbox (
    id              text PRIMARY KEY,
    type            text        NOT NULL,
    api_version     text        NOT NULL,
    created         timestamptz NOT NULL,
    payload         jsonb       NOT NULL,
    received_at     timestamptz NOT NULL,
    deliveries      integer     NOT NULL DEFAULT 1,
    outcome         text        NOT NULL CHECK (outcome IN ('received', 'applied', 'duplicate', 'ignored', 'parked', 'refused')),
    org_id          text,
    detail          text        NOT NULL DEFAULT '',
    settled_at      timestamptz,
    fact_type       text        NOT NULL DEFAULT '',
    fact            jsonb,
    org_hint        text        NOT NULL DEFAULT '',
    customer_id     text        NOT NULL DEFAULT '',
    subscription_id text        NOT NULL DEFAULT ''
);

--bun:split

CREATE INDEX stripe_inbox_parked_customer ON stripe_inbox (customer_id) WHERE outcome = 'parked';

--bun:split

CREATE INDEX stripe_inbox_parked_subscription ON stripe_inbox (subscription_id) WHERE outcome = 'parked';

--bun:split

CREATE TABLE users (
    id            text PRIMARY KEY,
    email         text        NOT NULL,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL
);

--bun:split

CREATE UNIQUE INDEX users_email_key ON users (lower(email));

--bun:split

-- Read model: organizations (from OrgCreated). Derived, so no foreign keys.
CREATE TABLE orgs (
    id         text PRIMARY KEY,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL
);

--bun:split

-- Read model: who belongs to which org, with what rights (from Member* events).
CREATE TABLE memberships (
    org_id      text   NOT NULL,
    user_id     text   NOT NULL,
    role        text   NOT NULL CHECK (role IN ('owner', 'member')),
    permissions text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (org_id, user_id)
);

--bun:split

CREATE INDEX memberships_user ON memberships (user_id);

--bun:split

CREATE TABLE sessions (
    token_hash   bytea PRIMARY KEY,
    user_id      text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);

--bun:split

CREATE INDEX sessions_user ON sessions (user_id);
