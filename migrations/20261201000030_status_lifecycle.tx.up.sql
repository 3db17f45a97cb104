-- The status body's trialEnd and paymentActionUrl (issue #14): read model
-- columns, derived from the ledger like the others. Existing rows get them
-- on their next append, or at once with `projections rebuild`.
ALTER TABLE billing_status ADD COLUMN trial_end timestamptz, ADD COLUMN payment_action_url text;
