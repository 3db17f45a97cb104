-- maintenance prune removes the payloads of settled Stripe events past
-- retention; their ids stay, so a late duplicate is still recognized.
ALTER TABLE stripe_inbox ALTER COLUMN payload DROP NOT NULL;

--bun:split

CREATE INDEX IF NOT EXISTS sessions_expires_at ON sessions (expires_at);

--bun:split

CREATE INDEX IF NOT EXISTS stripe_inbox_prunable ON stripe_inbox (received_at) WHERE payload IS NOT NULL AND outcome <> 'parked';
