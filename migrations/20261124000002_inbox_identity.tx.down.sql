DROP TABLE IF EXISTS sessions;
--bun:split
DROP TABLE IF EXISTS memberships;
--bun:split
DROP TABLE IF EXISTS orgs;
--bun:split
DROP TABLE IF EXISTS users;
--bun:split
DROP TABLE IF EXISTS stripe_inbox;
