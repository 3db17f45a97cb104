-- Stripe payloads (a few KB each) are compressed with lz4 rather than
-- pglz when they are toasted: several times cheaper in CPU per webhook.
-- Rows already stored keep their compression until rewritten.
ALTER TABLE stripe_inbox ALTER COLUMN payload SET COMPRESSION lz4;

--bun:split

ALTER TABLE billing_status ALTER COLUMN snapshot SET COMPRESSION lz4;
