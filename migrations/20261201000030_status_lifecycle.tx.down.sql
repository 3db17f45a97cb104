ALTER TABLE billing_status DROP COLUMN IF EXISTS trial_end, DROP COLUMN IF EXISTS payment_action_url;
