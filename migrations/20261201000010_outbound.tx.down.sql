DROP TABLE outbound_failures;

--bun:split

DROP TABLE outbound_orgs;

--bun:split

DROP TABLE outbound_endpoints;

--bun:split

DROP INDEX billing_events_tx_position;
