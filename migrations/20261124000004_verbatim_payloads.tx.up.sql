-- Stripe payloads are kept as the bytes Stripe signed (json, checked but
-- not converted: jsonb reordered keys and spaces, and parsing a payload of
-- a few KB into it cost more CPU than the rest of a webhook's writes), and
-- compressed with lz4 rather than pglz when toasted. Snapshots are only
-- ever read whole: json as well.
ALTER TABLE stripe_inbox ALTER COLUMN payload TYPE json USING payload::json;

--bun:split

ALTER TABLE stripe_inbox ALTER COLUMN payload SET COMPRESSION lz4;

--bun:split

ALTER TABLE billing_status ALTER COLUMN snapshot TYPE json USING snapshot::json;

--bun:split

ALTER TABLE billing_status ALTER COLUMN snapshot SET COMPRESSION lz4;

--bun:split

-- Every append updates its stream's row and its status row: room on each
-- page lets Postgres update in place (HOT), without touching the index.
ALTER TABLE billing_streams SET (fillfactor = 70);

--bun:split

ALTER TABLE billing_status SET (fillfactor = 70);
