ALTER TABLE billing_status RESET (fillfactor);

--bun:split

ALTER TABLE billing_streams RESET (fillfactor);

--bun:split

ALTER TABLE billing_status ALTER COLUMN snapshot SET COMPRESSION pglz;

--bun:split

ALTER TABLE billing_status ALTER COLUMN snapshot TYPE jsonb USING snapshot::jsonb;

--bun:split

ALTER TABLE stripe_inbox ALTER COLUMN payload SET COMPRESSION pglz;

--bun:split

ALTER TABLE stripe_inbox ALTER COLUMN payload TYPE jsonb USING payload::jsonb;
