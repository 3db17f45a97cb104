DROP INDEX IF EXISTS stripe_inbox_prunable;

--bun:split

DROP INDEX IF EXISTS sessions_expires_at;

--bun:split

UPDATE stripe_inbox SET payload = '{}' WHERE payload IS NULL;

--bun:split

ALTER TABLE stripe_inbox ALTER COLUMN payload SET NOT NULL;
