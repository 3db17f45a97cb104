ALTER TABLE billing_streams DROP COLUMN IF EXISTS sealed_at;
