-- A Stripe payload (3-8 KB of JSON, about 2 KB once lz4-compressed) stays
-- compressed in its inbox row instead of going to the TOAST table. Storage
-- MAIN compresses a value inline and moves it out of line only when the
-- compressed row would still not fit in a page. Every variable-length
-- column is MAIN: Postgres moves EXTENDED values out of line, the small
-- ones too, for as long as a row is over 2 KB, which a compressed payload
-- alone already is. Out of line, every webhook inserted TOAST rows and
-- their index entries: a ninth of Postgres's CPU per webhook under load
-- (perf), and WAL records more. Rows already written stay as they are (no
-- rewrite): the setting applies to the rows written from now on.
ALTER TABLE stripe_inbox
  ALTER COLUMN id SET STORAGE MAIN,
  ALTER COLUMN type SET STORAGE MAIN,
  ALTER COLUMN api_version SET STORAGE MAIN,
  ALTER COLUMN payload SET STORAGE MAIN,
  ALTER COLUMN outcome SET STORAGE MAIN,
  ALTER COLUMN org_id SET STORAGE MAIN,
  ALTER COLUMN detail SET STORAGE MAIN,
  ALTER COLUMN fact_type SET STORAGE MAIN,
  ALTER COLUMN fact SET STORAGE MAIN,
  ALTER COLUMN org_hint SET STORAGE MAIN,
  ALTER COLUMN customer_id SET STORAGE MAIN,
  ALTER COLUMN subscription_id SET STORAGE MAIN;
