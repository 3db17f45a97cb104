DROP TABLE IF EXISTS billing_account_snapshots;
