-- Login attempts counted per key over a sliding window, shared by every
-- instance. A key is the SHA-256 of what it counts ("email:…", "addr:…"),
-- never the email or address itself. A row holds the attempts still
-- counted (at most the key's limit: a refused attempt is not recorded) and
-- is dead once expires_at (its newest attempt plus the window) has passed:
-- reservations delete a few dead rows each, so the table holds about the
-- last window's keys.
CREATE TABLE login_limits (
    key        bytea         PRIMARY KEY,
    attempts   timestamptz[] NOT NULL,
    expires_at timestamptz   NOT NULL
);

--bun:split

CREATE INDEX login_limits_expires ON login_limits (expires_at);
