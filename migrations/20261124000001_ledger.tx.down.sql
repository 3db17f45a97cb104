DROP TABLE IF EXISTS stripe_links;
--bun:split
DROP TABLE IF EXISTS billing_status;
--bun:split
DROP TABLE IF EXISTS billing_event_keys;
--bun:split
DROP TABLE IF EXISTS billing_events;
--bun:split
DROP FUNCTION IF EXISTS billing_events_refuse_change();
--bun:split
DROP TABLE IF EXISTS billing_streams;
